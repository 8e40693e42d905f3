"""A scene class for the photos that come without one (``seg_pred``), from what the ADE20K segmenter sees.

The labelling rules are steered by the scene: a blue expanse is sea in a sea scene and a lake elsewhere,
white ground is snow on a glacier. So every photo needs one. Each photo is described by where the
segmenter's classes lie (their shares in the top and the bottom half) and by its colours (hue weighted by
saturation, and brightness), and an L2-regularised logistic regression (scikit-learn) fit on the training
photos that have a scene names the rest. Its accuracy on the held-out photos, which have a scene too, is
reported with the labels. The features (``scene_features``) and the fitted model's numbers
(``SceneModel``) live in miaobi_core/labelling.py, which names the scene of a grown-up's photo the same way.
"""
from __future__ import annotations

import numpy as np

from miaobi_core.labelling import SceneModel


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

    def scene_model(self) -> SceneModel:
        """The fitted classifier as the plain numbers the hub module names a photo's scene with."""
        scaler, regression = self.model[0], self.model[-1]
        coef, intercept = regression.coef_, regression.intercept_
        if len(regression.classes_) == 2:  # one score, for the second class: as two, its argmax is the same
            coef, intercept = np.concatenate([-coef, coef]), np.concatenate([-intercept, intercept])
        return SceneModel(list(regression.classes_), scaler.mean_, scaler.scale_, coef, intercept)

