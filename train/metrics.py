"""How pictures are judged: Frechet distances, label fidelity, the periodic-grid score, seed variety,
and the independent judges (ImageNet MobileNetV2 and the ADE20K segmenter) that give them features and labels."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import linalg
from tqdm import tqdm

from .files import SHARED_MODELS


LAYOUT_GRID = 4  # FJD's condition embedding: class fractions in 4 x 4 cells


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) for two (N, D) feature sets."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():  # nearly singular product: nudge both as the FID reference code does
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root.real))


GRID_PERIODS = (2, 4, 8, 16)
TINY = 1e-12


def grid_score(picture: np.ndarray, periods=GRID_PERIODS) -> float:
    """How much a picture's spectrum peaks on the lines of a periodic grid (1 = no more than nearby frequencies).

    The grey picture, mean removed and Hann-windowed (so its borders add no lines), is Fourier
    transformed; its power is summed per horizontal and per vertical frequency. For each period p
    (2, 4, 8, 16 pixels) the frequency side/p is compared with the mean of its neighbours (+-1, +-2);
    the score is the largest of those eight ratios. Upsampling and strided-convolution artefacts
    repeat every 2^k pixels and stand out here; natural photos score about 1.3 (median) and 1.5
    (90th percentile) at 128 px.
    """
    gray = np.asarray(picture, np.float64).mean(axis=2)
    height, width = gray.shape
    power = np.abs(np.fft.fft2((gray - gray.mean()) * np.outer(np.hanning(height), np.hanning(width)))) ** 2
    ratios = []
    for energy, side in ((power.sum(axis=0), width), (power.sum(axis=1), height)):
        for period in periods:
            k = side // period
            neighbours = [energy[k + d] for d in (-2, -1, 1, 2) if 0 < k + d <= side // 2]
            ratios.append((energy[k] + TINY) / (np.mean(neighbours) + TINY))  # a flat picture has no grid: 1
    return float(max(ratios))


def detector_accuracy(real: np.ndarray, pictures: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """How often a linear real-vs-picture detector is right, held out: L2 logistic regression on standardised
    features (MobileNetV2's pooled ones in the report), ``folds``-fold cross-validated on balanced classes.

    0.5 is chance; two disjoint sets of real photos give the floor (sampling alone lets it learn a little).
    Unlike a distance to the photos, it cannot be flattered by pictures that copy the photos' layouts.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    count = min(len(real), len(pictures))
    features = np.concatenate([real[:count], pictures[:count]])
    truth = np.repeat([1, 0], count)
    detector = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(detector, features, truth, cv=splits).mean())


def seed_variety(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute pixel difference (0-255) between pictures of the same maps painted with different seeds."""
    return float(np.abs(first.astype(np.float64) - second.astype(np.float64)).mean())


def confusion(predicted: np.ndarray, target: np.ndarray, num_classes: int) -> np.ndarray:
    """(target class, predicted class) pixel counts; target pixels with ids >= num_classes are left out."""
    valid = target < num_classes
    index = target[valid].astype(np.int64) * num_classes + predicted[valid].astype(np.int64)
    return np.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def class_iou(matrix: np.ndarray) -> np.ndarray:
    """Each class's IoU from a confusion matrix; NaN for a class in neither target nor prediction."""
    intersection = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    return np.divide(intersection, union, out=np.full(len(union), np.nan), where=union > 0)


def pixel_accuracy(matrix: np.ndarray) -> float:
    return float(np.trace(matrix) / max(1, matrix.sum()))


def label_fidelity(predicted: np.ndarray, target: np.ndarray, num_classes: int) -> tuple[float, float]:
    """(mIoU over classes present in either, pixel accuracy); pixels with ignore ids are left out."""
    matrix = confusion(predicted, target, num_classes)
    return float(np.nanmean(class_iou(matrix))), pixel_accuracy(matrix)


def ade20k_label_fidelity(ade_ids: np.ndarray, target: np.ndarray, palette) -> float:
    """mIoU of the ADE20K segmenter's labels (mapped to the palette) against the label maps, over the
    palette classes it knows that occur in either; pixels of other classes in the maps are left out,
    and a label outside the palette counts as wrong."""
    from miaobi_core.ade20k import NAMES

    known = sorted({palette.ade20k_to_id[a] for a in NAMES if a in palette.ade20k_to_id})
    outside = palette.num_classes  # a class of its own that no map has
    predicted = palette.ade20k_lut()[ade_ids]
    predicted = np.where(predicted == palette.ignore_id, outside, predicted)
    matrix = confusion(predicted, np.where(np.isin(target, known), target, 255), palette.num_classes + 1)
    return float(np.nanmean(class_iou(matrix)[known]))


class IndependentJudges:
    """The networks nobody here trained: MobileNetV2 for FD-MNv2, the ADE20K segmenter for ADE mIoU."""

    def __init__(self, models: str | Path = SHARED_MODELS):
        from miaobi_core import ade20k

        from . import mobilenet

        models = Path(models)
        self.mobilenet = mobilenet.load_mobilenet_v2(models / mobilenet.MOBILENET_V2)
        self.ade20k = ade20k.ADE20KSegmenter(models / ade20k.FILE, threads=os.cpu_count() or 1)

    def features(self, images: np.ndarray, batch: int = 32) -> np.ndarray:
        """(N, 1280) MobileNetV2 pooled features of (N, H, W, 3) uint8 pictures (resized to 224 px)."""
        import paddle

        from .mobilenet import MOBILENET_V2_SIZE, mobilenet_v2_input
        from .ports import resized

        out = []
        with paddle.no_grad():
            for start in tqdm(range(0, len(images), batch), desc="MobileNetV2", unit="batch", leave=False):
                chunk = resized(list(images[start:start + batch]), MOBILENET_V2_SIZE)
                out.append(self.mobilenet.pooled(mobilenet_v2_input(chunk)).numpy())
        return np.concatenate(out).astype(np.float64)

    def segment(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self.ade20k(image) for image in tqdm(images, desc="ADE20K", unit="picture", leave=False)])


def layout_embedding(labels: np.ndarray, num_classes: int, grid: int = LAYOUT_GRID) -> np.ndarray:
    """Each label map as its class fractions in a grid x grid layout of cells: where each class is, coarsely."""
    n, height, width = labels.shape
    cells = labels[:, :height - height % grid, :width - width % grid].reshape(
        n, grid, height // grid, grid, width // grid).transpose(0, 1, 3, 2, 4).reshape(n, grid * grid, -1)
    onehot = cells[..., None] == np.arange(num_classes)  # ignore ids match no class
    return onehot.mean(axis=2).reshape(n, -1)


def frechet_joint_distance(features, real_features, conditions) -> float:
    """FJD (DeVries et al. 2019): FD of [image features, alpha * condition embedding], alpha balancing the norms."""
    alpha = np.linalg.norm(real_features, axis=1).mean() / max(np.linalg.norm(conditions, axis=1).mean(), 1e-12)
    return frechet_distance(np.hstack([features, alpha * conditions]), np.hstack([real_features, alpha * conditions]))
