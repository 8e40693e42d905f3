"""A scene class for the photos that come without one (``seg_pred``), from what the ADE20K segmenter sees.

The labelling rules are steered by the scene: a blue expanse is sea in a sea scene and a lake elsewhere,
white ground is snow on a glacier. So every photo needs one. Each photo is described by where the
segmenter's classes lie (their shares in the top and the bottom half) and by its colours (hue weighted by
saturation, and brightness), and an L2-regularised logistic regression (scikit-learn) fit on the training
photos that have a scene names the rest. Its accuracy on the held-out photos, which have a scene too, is
reported with the labels.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

ADE20K_IDS = 32  # the segmenter's 31 classes and 0, "anything else"
HUES, BRIGHTNESSES = 12, 8


def scene_features(rgb: np.ndarray, ade_ids: np.ndarray) -> np.ndarray:
    """(2 * ADE20K_IDS + HUES + BRIGHTNESSES,) float32 description of one photo."""
    half = ade_ids.shape[0] // 2
    shares = [np.bincount(part.ravel(), minlength=ADE20K_IDS)[:ADE20K_IDS] / part.size
              for part in (ade_ids[:half], ade_ids[half:])]
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), np.float32).reshape(-1, 3) / 255.0
    hues = np.histogram(hsv[:, 0], HUES, (0, 1), weights=hsv[:, 1])[0] / len(hsv)
    brightness = np.histogram(hsv[:, 2], BRIGHTNESSES, (0, 1))[0] / len(hsv)
    return np.concatenate(shares + [hues, brightness]).astype(np.float32)


class SceneClassifier:
    """``fit(features, scenes)``, then ``predict(features)`` -> scene names."""

    def __init__(self, strength: float = 1.0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=strength, max_iter=2000))

    def fit(self, features: np.ndarray, scenes: list[str]) -> "SceneClassifier":
        self.model.fit(features, scenes)
        return self

    def predict(self, features: np.ndarray) -> list[str]:
        return [str(s) for s in self.model.predict(features)]

    def accuracy(self, features: np.ndarray, scenes: list[str]) -> float:
        return float(np.mean(np.array(self.predict(features)) == np.array(scenes)))
