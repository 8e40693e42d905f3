"""How good are the pseudo-labels? ``python -m train.goldset`` scores labels v1, v2 and v3 on hand-made gold labels.

There are no human pixel labels of these landscapes, so ``train/gold/labels.json``
holds coarse polygons drawn by looking at 24 held-out test photos (6 per scene
class). This rasterizes them and prints pixel accuracy and mIoU of each labelling
version side by side, with the IoU of every class.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from miaobi_core.palette import Palette, load_palette

from .files import PSEUDO_LABELS, SHARED_MODELS
from .photos import LANDSCAPES
from .metrics import class_iou, confusion, pixel_accuracy
from .pseudolabel import SKY_NET_VERSIONS, VERSIONS, label_file

GOLD = Path(__file__).with_name("gold") / "labels.json"


def rasterize(regions: list, size: tuple[int, int], palette: Palette) -> np.ndarray:
    """Polygons painted in order (later over earlier) -> (H, W) class ids; unpainted and 'ignore' -> ignore id."""
    canvas = Image.new("L", size, palette.ignore_id)
    draw = ImageDraw.Draw(canvas)
    for name, polygon in regions:
        value = palette.ignore_id if name == "ignore" else palette.id_of(name)
        draw.polygon([tuple(point) for point in polygon], fill=value)
    return np.asarray(canvas)


def load_gold(data_root: Path, palette: Palette, path: Path = GOLD) -> list[tuple[Path, str, np.ndarray]]:
    """(photo path, scene, gold class ids) for each annotated photo."""
    gold = []
    for entry in json.loads(path.read_text())["photos"]:
        photo = data_root / entry["photo"]
        with Image.open(photo) as image:
            size = image.size
        gold.append((photo, Path(entry["photo"]).parent.name, rasterize(entry["regions"], size, palette)))
    return gold


def scores(matrix: np.ndarray) -> dict:
    """Pixel accuracy, mIoU over classes present in gold or prediction, and each class's IoU (None if absent)."""
    iou = class_iou(matrix)
    return {"pixel accuracy": pixel_accuracy(matrix), "mIoU": float(np.nanmean(iou)),
            "IoU": [None if np.isnan(v) else float(v) for v in iou]}


def evaluate(label_root: Path, data_root: Path, palette: Palette, versions=VERSIONS,
             skyseg: Path = SHARED_MODELS / "skyseg") -> dict[int, dict]:
    """Scores of each labelling version against the gold labels, from label_root's caches (filled where missing)."""
    from .skyseg import cache_sky_probabilities

    gold = load_gold(data_root, palette)
    keys = [photo.relative_to(data_root).with_suffix(".png") for photo, _, _ in gold]
    if set(versions) & set(SKY_NET_VERSIONS):  # 24 photos: a minute of the sky net at most
        cache_sky_probabilities([(photo, label_root / "sky" / key) for (photo, _, _), key in zip(gold, keys)],
                                skyseg, workers=1)
    matrices = {v: np.zeros((palette.num_classes,) * 2, np.int64) for v in versions}
    for (photo, scene, target), key in zip(gold, keys):
        for version in versions:
            labels = label_file(photo, label_root / "sky" / key, label_root / "ade20k" / key, scene, version, palette)
            matrices[version] += confusion(labels, target, palette.num_classes)
    return {v: scores(m) for v, m in matrices.items()}


def table(results: dict[int, dict], palette: Palette) -> str:
    versions = list(results)
    lines = ["| | " + " | ".join(f"labels v{v}" for v in versions) + " |", "|---|" + "---:|" * len(versions)]
    for metric in ("pixel accuracy", "mIoU"):
        lines.append(f"| **{metric}** | " + " | ".join(f"**{results[v][metric]:.3f}**" for v in versions) + " |")
    for k, name in enumerate(palette.names):
        cells = [results[v]["IoU"][k] for v in versions]
        lines.append(f"| IoU {name} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.goldset", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default=str(LANDSCAPES))
    parser.add_argument("--label-root", default=PSEUDO_LABELS,
                        help="python -m train.pseudolabel's output (its ADE20K cache; sky probabilities are added for v1 and v2)")
    args = parser.parse_args(argv)
    palette = load_palette()
    print(table(evaluate(Path(args.label_root), Path(args.data_root), palette), palette))
    return 0


if __name__ == "__main__":
    sys.exit(main())
