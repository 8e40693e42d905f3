"""Near-duplicates of held-out photos among the training photos, found so that training never sees them.

The Intel set holds the same photo more than once (re-encoded, resized, cropped, mirrored, recoloured) and
burst shots of one scene, and ``seg_pred`` was never split against ``seg_test``. A thumbnail alone cannot
tell them: two different seascapes with a plain horizon have the same thumbnail as two copies of one. So a
thumbnail (the *layout*, 16 px grey) only picks each training photo's closest held-out photos, and what
decides is the same *things in the same places*: ORB corners (OpenCV) matched between the two photos, and how
many of the matches one shift, turn and zoom explains (RANSAC inliers). Smooth sky and sea have no corners,
so plain horizons share almost none; copies and burst shots share dozens to hundreds. A pair with fewer
corners counts when its colours are alike too (an 8 x 8 colour thumbnail), and a pair with none to speak of
when its thumbnails are the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

LAYOUT_SIDE, COLOUR_SIDE, CORNER_SIDE = 16, 8, 300
CANDIDATES = 5  # closest held-out layouts checked, per training photo and per mirror
# Measured on these sets (docs/data.md shows the closest pairs): copies and burst shots of one scene share
# 20-490 consistent corners; different photos of alike layouts up to ~19, which chance alone finds among 500.
SAME_CORNERS = 20
# With 16-19, burst shots and copies have colours within ~15 levels (an 8 x 8 thumbnail), look-alikes rarely.
SOME_CORNERS, ALIKE_COLOURS = 16, 15.0
# A copy of a photo with no corners to speak of (a plain horizon, a fog) is told by its thumbnails alone:
# the same layout and colours within a few levels.
SAME_LAYOUT, SAME_COLOURS = 0.95, 8.0


@dataclass(frozen=True)
class Signature:
    layout: np.ndarray  # (LAYOUT_SIDE ** 2,) unit vector of the mean-free grey thumbnail
    colours: np.ndarray  # (COLOUR_SIDE, COLOUR_SIDE, 3) float32 colour thumbnail
    corners: tuple  # ((N, 2) float32 positions, (N, 32) uint8 ORB descriptors), of the photo and of its mirror


def trim_bars(rgb: np.ndarray) -> np.ndarray:
    """The photo without its letterbox: flat black or white rows and columns at its edges."""
    grey = rgb.astype(np.float32).mean(axis=2)
    flat = lambda lines: (lines.std(axis=1) < 4) & ((lines.mean(axis=1) < 40) | (lines.mean(axis=1) > 235))
    rows, cols = np.flatnonzero(~flat(grey)), np.flatnonzero(~flat(grey.T))
    if len(rows) < grey.shape[0] // 2 or len(cols) < grey.shape[1] // 2:
        return rgb  # mostly flat: nothing to trim it to
    return rgb[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def _corners(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    keypoints, descriptors = cv2.ORB_create(nfeatures=500, fastThreshold=10).detectAndCompute(grey, None)
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return np.float32([k.pt for k in keypoints]), descriptors


def signature(rgb: np.ndarray) -> Signature:
    image = Image.fromarray(np.ascontiguousarray(trim_bars(rgb)))
    small = np.array(image.convert("L").resize((LAYOUT_SIDE, LAYOUT_SIDE), Image.BOX), np.float32).ravel()
    small -= small.mean()
    grey = np.asarray(image.convert("L").resize((CORNER_SIDE, CORNER_SIDE), Image.BICUBIC))
    return Signature(small / (np.linalg.norm(small) + 1e-6),
                     np.asarray(image.resize((COLOUR_SIDE, COLOUR_SIDE), Image.BOX), np.float32),
                     (_corners(grey), _corners(np.ascontiguousarray(grey[:, ::-1]))))


def shared_corners(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """How many of a's ORB corners match b's at the places one shift, turn and zoom maps them to."""
    import cv2

    (points_a, descriptors_a), (points_b, descriptors_b) = a, b
    if min(len(points_a), len(points_b)) < 8:
        return 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(descriptors_a, descriptors_b)
    if len(matches) < 8:
        return 0
    source = points_a[[m.queryIdx for m in matches]]
    target = points_b[[m.trainIdx for m in matches]]
    _, inliers = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=4.0)
    return 0 if inliers is None else int(inliers.sum())


@dataclass(frozen=True)
class Match:
    train: int  # index into the training signatures
    test: int  # index of its closest held-out photo
    layout: float  # their layouts' cosine similarity
    corners: int  # corners they share (the better of the photo and its mirror)
    colours: float  # mean absolute difference of their colour thumbnails, in levels (the same mirror)

    @property
    def duplicate(self) -> bool:
        return (self.corners >= SAME_CORNERS or (self.corners >= SOME_CORNERS and self.colours <= ALIKE_COLOURS)
                or (self.layout >= SAME_LAYOUT and self.colours <= SAME_COLOURS))


def closest_matches(train: list[Signature], test: list[Signature], rows: range | None = None) -> list[Match]:
    """The closest held-out photo (most shared corners) among its closest in layout, of each training photo
    (of those in ``rows``, all by default: a pool of processes can share the work out by rows)."""
    rows = range(len(train)) if rows is None else rows
    test_layouts = np.stack([s.layout for s in test])
    similarity = np.stack([train[i].layout for i in rows]) @ test_layouts.T
    mirrored = np.stack([train[i].layout.reshape(LAYOUT_SIDE, LAYOUT_SIDE)[:, ::-1].ravel() for i in rows])
    mirrored = mirrored @ test_layouts.T
    matches = []
    for row, i in enumerate(rows):
        best = Match(i, -1, -1.0, -1, np.inf)
        for sims, flip in ((similarity[row], 0), (mirrored[row], 1)):
            colours = train[i].colours[:, ::-1] if flip else train[i].colours
            for j in np.argsort(-sims)[:CANDIDATES]:
                found = Match(i, int(j), float(sims[j]), shared_corners(train[i].corners[flip], test[j].corners[0]),
                              float(np.abs(colours - test[j].colours).mean()))
                if (found.corners, -found.colours) > (best.corners, -best.colours):
                    best = found
        matches.append(best)
    return matches
