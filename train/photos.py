"""The photos the model learns from and is judged on: the shared landscapes and the rest of the Intel set.

Both are *Intel Image Classification* photos at 150 px. ``../shared/data/landscapes`` holds its four natural
scene classes; the full set (README, "Training") adds buildings and street scenes and ``seg_pred``'s photos,
which carry no scene class. Neither folder is ever committed: the photos are not ours to redistribute.

Held out, for judging only: the shared ``test/`` split and ``seg_test``'s buildings and street. ``seg_train``'s and
``seg_test``'s natural classes are the shared landscapes themselves, so they are read from there alone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from miaobi_core.labelling import BUILT_SCENES, NATURAL_SCENES

from .files import SHARED

LANDSCAPES = SHARED / "data" / "landscapes"
# Where the README's command puts the fetched Intel set (its datasets/ folder inside).
INTEL = Path(os.path.expanduser("~/.cache/miaobi/intel"))

SPLITS = ("train", "test")
INTEL_SPLITS = {"seg_train": "train", "seg_test": "test"}
UNLABELLED = "seg_pred"  # the Intel set's photos without a scene class; all of them train
INTEL_KEYS = Path("intel")  # the Intel photos' keys start here; the shared landscapes' with their split


@dataclass(frozen=True)
class Photo:
    path: Path
    key: Path  # where its labels and caches live below a label folder, e.g. train/forest/123 or intel/seg_pred/7
    split: str  # train | test
    scene: str | None  # None until inferred (seg_pred)


def landscape_photos(root: str | Path = LANDSCAPES) -> list[Photo]:
    """The shared landscapes: ``<root>/<split>/<scene>/*.jpg``."""
    root = Path(root)
    photos = [Photo(p, p.relative_to(root).with_suffix(""), split, scene)
              for split in SPLITS for scene in NATURAL_SCENES
              for p in sorted((root / split / scene).glob("*.jpg"))]
    if not photos:
        raise FileNotFoundError(f"no photos under {root}/{{train,test}}/<scene>/*.jpg")
    return photos


def intel_photos(root: str | Path = INTEL) -> list[Photo]:
    """The Intel set's photos that the shared landscapes lack: built scenes of both splits, and ``seg_pred``."""
    datasets = Path(root) / "datasets"
    photos = [Photo(p, INTEL_KEYS / p.relative_to(datasets).with_suffix(""), split, scene)
              for folder, split in INTEL_SPLITS.items() for scene in BUILT_SCENES
              for p in sorted((datasets / folder / scene).glob("*.jpg"))]
    photos += [Photo(p, INTEL_KEYS / p.relative_to(datasets).with_suffix(""), "train", None)
               for p in sorted((datasets / UNLABELLED).glob("*.jpg"))]
    if not photos:
        raise FileNotFoundError(f"no photos under {datasets}/{{seg_train,seg_test}}/{{buildings,street}} or "
                                f"{datasets}/{UNLABELLED}: fetch the Intel set as the README's 'Training' says")
    return photos


def source(key: str | Path) -> str:
    """Which folder a photo's key comes from: "Intel" or "landscapes"."""
    return "Intel" if Path(key).parts[0] == INTEL_KEYS.name else "landscapes"
