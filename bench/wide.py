"""Wide pictures against square ones on held-out maps, as a table: ``python -m bench.wide``.

Each held-out label map (150 px, labels of ``python -m train.pseudolabel``) is painted twice: square, its
whole map at the model's own 128 x 128; and wide, its middle 150 x 100 rows painted natively at 128 x 192
(``Synthesizer.native_shape``). For each: the grid score's 90th percentile (upsampling artefacts; photos
about 1.5) and seed variety (how much the dice changes a picture), each with seeds 0 and 1,000,000; and the
held-out photos cropped and resized alike, whose grid score is the shape's own floor.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from miaobi_core.runtime import configure_cpu


def wide_and_square(synthesizer, maps: np.ndarray, photos: np.ndarray, second_seed: int) -> dict[str, dict]:
    """Rows of pictures and, for reference, of the held-out photos themselves cropped and resized alike (the
    grid score depends on a picture's shape)."""
    from train.metrics import grid_score, seed_variety

    side, rows = synthesizer.native_size, {}
    for name, crop, shape in (("square", slice(None), (side, side)), ("wide 3:2", slice(25, 125), (side, 3 * side // 2))):
        fitted = [np.asarray(Image.fromarray(m[crop]).resize(shape[::-1], Image.NEAREST)) for m in maps]
        by_seed = [np.stack(synthesizer.generate(fitted, seeds=[offset + i for i in range(len(fitted))],
                                                 upscale=False)) for offset in (0, second_seed)]
        real = [np.asarray(Image.fromarray(p[crop]).resize(shape[::-1], Image.BICUBIC)) for p in photos]
        for label, pictures, variety in ((name, by_seed[0], seed_variety(*by_seed)), (f"{name}, real photos", real, None)):
            rows[label] = {"pictures": len(pictures), "shape": "x".join(map(str, pictures[0].shape[:2])),
                           "grid p90": float(np.percentile([grid_score(p) for p in pictures], 90)),
                           "variety": variety}
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wide", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="hub_module/miaobi/weights", help="an inference checkpoint")
    parser.add_argument("--data-root", default=None, help="python -m train.pseudolabel's output (default: its own)")
    parser.add_argument("--limit", type=int, default=200, help="held-out maps, spread evenly over the split")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.synthesizer import Synthesizer
    from train.data import pseudo_labelled
    from train.files import PSEUDO_LABELS
    from train.quality import SECOND_SEED, evenly_spread, paintable

    synthesizer = Synthesizer(args.model)
    held_out = paintable(pseudo_labelled(args.data_root or PSEUDO_LABELS, "test"), synthesizer.num_classes)[0]
    pairs = [held_out[int(i)] for i in evenly_spread(len(held_out), min(args.limit, len(held_out)))]
    rows = wide_and_square(synthesizer, np.stack([m for m, _ in pairs]), np.stack([p for _, p in pairs]), SECOND_SEED)
    print(f"{args.model}, {len(pairs)} held-out maps")
    print("| | pictures | shape | grid p90 | variety |\n|---|---:|---|---:|---:|")
    for name, row in rows.items():
        variety = "-" if row["variety"] is None else f"{row['variety']:.1f}"
        print(f"| {name} | {row['pictures']} | {row['shape']} | {row['grid p90']:.2f} | {variety} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
