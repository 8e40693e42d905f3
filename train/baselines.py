"""What the generator is measured against: flat fills and nearest-neighbour retrieval (train/quality.py)."""
from __future__ import annotations

import numpy as np
from PIL import Image

RETRIEVAL_SIDE = 32


def mean_class_colours(labels: np.ndarray, photos: np.ndarray, num_classes: int, fallback: np.ndarray) -> np.ndarray:
    """Each class's mean photo colour over the training pairs (the palette colour if a class never occurs)."""
    colours = fallback.astype(np.float64).copy()
    for k in range(num_classes):
        mask = labels == k
        if mask.any():
            colours[k] = photos[mask].mean(axis=0)
    return colours.round().astype(np.uint8)


def flat_fill(labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colours)] = colours
    return lut[labels]


def oracle_flat_fill(labels: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Each class region of each map filled with the mean colour of its own real photo there."""
    out = np.empty_like(photos)
    for i, (label_map, photo) in enumerate(zip(labels, photos)):
        for k in np.unique(label_map):
            out[i][label_map == k] = photo[label_map == k].mean(axis=0).round().astype(np.uint8)
    return out


def small(labels: np.ndarray) -> np.ndarray:
    return np.stack([np.asarray(Image.fromarray(l).resize((RETRIEVAL_SIDE,) * 2, Image.NEAREST)) for l in labels])


def nearest_neighbours(test_labels: np.ndarray, train_labels: np.ndarray) -> np.ndarray:
    """Index of the training label map agreeing with each test map on the most pixels (at 32x32)."""
    train_small = small(train_labels).reshape(len(train_labels), -1)
    return np.array([int((train_small == t).sum(axis=1).argmax())
                     for t in small(test_labels).reshape(len(test_labels), -1)])
