"""(label map, photo) pairs: folder pairs, ADE20K, the pseudo-labelled landscapes, a procedural toy set.

Every dataset yields ``(label_map (H, W) uint8, photo (H, W, 3) uint8)``.
Randomness is passed in as a numpy Generator so that a run resumed from a
checkpoint draws exactly the crops and flips the uninterrupted run would have.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from miaobi_core.palette import Palette

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _load_ids(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode not in ("L", "P"):
            raise ValueError(f"{path} is a {image.mode} image; label maps are single-channel class-id PNGs")
        return np.asarray(image)  # P-mode pixel values are the palette indices, i.e. class ids


@dataclass
class PairDataset:
    """Photos with a parallel folder of class-id label PNGs of the same stem (layout (a))."""

    pairs: list[tuple[Path, Path]]
    id_lut: np.ndarray | None = None  # maps stored label values to palette class ids (ADE20K)

    def __len__(self):
        return len(self.pairs)

    def labels(self, index: int) -> np.ndarray:
        """The pair's class ids alone (its photo is not read)."""
        label_map = _load_ids(self.pairs[index][1])
        return label_map if self.id_lut is None else self.id_lut[label_map]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        photo_path, label_path = self.pairs[index]
        label_map, photo = self.labels(index), load_rgb(photo_path)
        if label_map.shape != photo.shape[:2]:
            raise ValueError(f"{label_path} is {label_map.shape}, its photo {photo_path} is {photo.shape[:2]}")
        return label_map, photo


def folder_pairs(photo_dir: str | Path, label_dir: str | Path) -> PairDataset:
    photo_dir, label_dir = Path(photo_dir), Path(label_dir)
    pairs = []
    for photo in sorted(p for p in photo_dir.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES):
        label = label_dir / photo.relative_to(photo_dir).with_suffix(".png")
        if label.is_file():
            pairs.append((photo, label))
    if not pairs:
        raise FileNotFoundError(f"no photo in {photo_dir} has a label PNG of the same name in {label_dir}")
    return PairDataset(pairs)


def ade20k_pairs(root: str | Path, split: str, palette: Palette) -> PairDataset:
    """ADE20K SceneParsing layout: images/{training,validation}/*.jpg + annotations/.../*.png (layout (b))."""
    root = Path(root)
    folder = {"train": "training", "test": "validation"}[split]
    dataset = folder_pairs(root / "images" / folder, root / "annotations" / folder)
    dataset.id_lut = palette.ade20k_lut()
    return dataset


def pseudo_labelled(label_root: str | Path, split: str) -> PairDataset:
    """The landscapes labelled by ``python -m train.pseudolabel`` (layout (c)), read from its manifest."""
    manifest = Path(label_root) / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing: run `python -m train.pseudolabel` first")
    entries = json.loads(manifest.read_text())["photos"]
    pairs = [(Path(e["photo"]), Path(label_root) / e["label"]) for e in entries if e["split"] == split]
    if not pairs:
        raise ValueError(f"{manifest} lists no {split} photos")
    return PairDataset(pairs)


class ProceduralLandscapes:
    """A tiny made-up dataset for tests and smoke runs: sky, a mountain ridge, a shore, water or grass.

    Each class gets its palette colour plus class-specific texture, so a
    generator can learn something in a few steps; the same index always gives
    the same pair.
    """

    def __init__(self, palette: Palette, size: int = 64, length: int = 16, seed: int = 0):
        self.palette, self.size, self.length, self.seed = palette, size, length, seed

    def __len__(self):
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, index))
        s, p = self.size, self.palette
        y = np.arange(s)[:, None]
        x = np.linspace(0, 2 * np.pi, s)[None, :]
        ridge = s * (0.35 + 0.1 * np.sin(x * rng.uniform(0.5, 2) + rng.uniform(0, 6)))
        shore = s * rng.uniform(0.6, 0.8)
        label_map = np.full((s, s), p.id_of("sky"), np.uint8)
        label_map[(y >= ridge)] = p.id_of(rng.choice(["mountain", "rock", "tree"]))
        label_map[(y >= ridge) & (y < ridge + s * 0.06)] = p.id_of("snow") if rng.random() < 0.5 else label_map[-1, 0]
        label_map[np.broadcast_to(y >= shore, (s, s))] = p.id_of(rng.choice(["water", "sea", "grass", "sand"]))
        photo = p.colors[label_map].astype(np.float32)
        photo += rng.normal(0, 12, photo.shape) * (label_map != p.id_of("sky"))[..., None]  # texture off the sky
        photo *= (0.8 + 0.2 * y / s)[..., None]  # light falls off toward the top, as in photos
        return label_map, np.clip(photo, 0, 255).astype(np.uint8)


WIDE = 1.5  # a wide batch's width / height: the page's wide canvas, 3:2
WIDE_STREAM = 7  # the random stream that picks a step's shape


def augment(label_map: np.ndarray, photo: np.ndarray, size: int, rng: np.random.Generator,
            min_crop: float = 0.85, flip: bool = True, aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Random crop, resized to ``size`` rows and ``aspect`` x ``size`` columns, horizontal flip.

    The crop's width is in [min_crop, 1] of the short side and its height that width / ``aspect``: a wide
    crop (``aspect`` 1.5) of a square photo is its full height's middle two thirds or less, enlarged to fit.
    The label map and the photo get the same crop and flip; labels resize with nearest-neighbour only,
    so no new class values appear.
    """
    height, width = label_map.shape
    short = min(height, width)
    side = max(1, int(round(short * rng.uniform(min_crop, 1.0))))
    tall = max(1, int(round(side / aspect)))
    top, left = rng.integers(0, height - tall + 1), rng.integers(0, width - side + 1)
    box = (int(left), int(top), int(left) + side, int(top) + tall)
    out = (int(round(size * aspect)), size)
    label_map = np.asarray(Image.fromarray(label_map).resize(out, Image.NEAREST, box=box))
    photo = np.asarray(Image.fromarray(photo).resize(out, Image.BICUBIC, box=box))
    if flip and rng.random() < 0.5:
        label_map, photo = label_map[:, ::-1], photo[:, ::-1]
    return np.ascontiguousarray(label_map), np.ascontiguousarray(photo)


def warp_labels(label_map: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """The label map pushed around by a smooth random displacement of up to ``strength`` x its side.

    A 4x4 grid of random shifts, smoothly interpolated over the map, moves each border by a
    different amount: the map stops matching its photo exactly, as a child's doodle never does, so
    the generator learns to paint a believable border near the drawn one instead of copying it.
    Nearest-neighbour sampling: no new class values appear.
    """
    from scipy.ndimage import map_coordinates, zoom

    height, width = label_map.shape
    shifts = rng.uniform(-strength, strength, (2, 4, 4)) * np.array([height, width]).reshape(2, 1, 1)
    field = np.stack([zoom(s, (height / 4, width / 4), order=3, mode="nearest") for s in shifts])
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coords = np.stack([rows + field[0], cols + field[1]])
    return map_coordinates(label_map, coords, order=0, mode="nearest").astype(label_map.dtype)


def center(label_map: np.ndarray, photo: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic centre square resized to size x size (evaluation and sample grids)."""
    height, width = label_map.shape
    short = min(height, width)
    top, left = (height - short) // 2, (width - short) // 2
    box = (left, top, left + short, top + short)
    return (np.asarray(Image.fromarray(label_map).resize((size, size), Image.NEAREST, box=box)),
            np.asarray(Image.fromarray(photo).resize((size, size), Image.BICUBIC, box=box)))


class BatchSampler:
    """Batches as a pure function of (seed, step): resuming at step k replays exactly what step k would see.

    With ``wide_share``, that share of the steps (drawn per step) is a batch of wide crops, 3:2 (``WIDE``): a
    fully convolutional generator trained on squares alone paints the middle of a wider map as a smear.
    """

    def __init__(self, dataset, batch_size: int, image_size: int, seed: int, augment_data: bool = True,
                 label_warp: float = 0.0, min_crop: float = 0.85, wide_share: float = 0.0):
        if len(dataset) == 0:
            raise ValueError("the dataset is empty")
        if not 0.0 <= wide_share <= 1.0:
            raise ValueError(f"wide_share {wide_share}: a share of the steps, in [0, 1]")
        self.dataset, self.batch_size, self.image_size = dataset, batch_size, image_size
        self.seed, self.augment_data, self.label_warp, self.min_crop = seed, augment_data, label_warp, min_crop
        self.wide_share = wide_share

    def aspect(self, step: int) -> float:
        """The step's width / height: WIDE on a ``wide_share`` of the steps, else 1 (one draw per step, so every
        data-parallel rank agrees, and a stream of its own, so the squares' crops are those of a run without)."""
        if self.augment_data and self.wide_share and \
                np.random.default_rng((self.seed, step, WIDE_STREAM)).random() < self.wide_share:
            return WIDE
        return 1.0

    def batch(self, step: int, part: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """The step's pairs, or just the slots ``part`` of them (one data-parallel rank's share)."""
        n = len(self.dataset)
        first = step * self.batch_size
        slots = range(self.batch_size)[part]
        aspect = self.aspect(step)
        labels, photos = [], []
        for slot in slots:
            epoch, offset = divmod(first + slot, n)
            index = int(np.random.default_rng((self.seed, epoch)).permutation(n)[offset])
            label_map, photo = self.dataset[index]
            if self.augment_data:
                rng = np.random.default_rng((self.seed, step, slot))
                label_map, photo = augment(label_map, photo, self.image_size, rng, self.min_crop, aspect=aspect)
                if self.label_warp:
                    label_map = warp_labels(label_map, self.label_warp, rng)
            else:
                label_map, photo = center(label_map, photo, self.image_size)
            labels.append(label_map)
            photos.append(photo)
        return np.stack(labels), np.stack(photos)
