"""Short ablations of the picture-quality ingredients: ``python -m train.ablate [--steps N] [--image-size S]
[--variants a,b] [--test-limit N] [--runs DIR]``.

Each variant trains from scratch with the same seed, steps and small scale (``python -m train`` on the
pseudo-labelled photos), then paints held-out label maps with two seeds and is judged by the networks
nobody here trained: FD-MNv2 (lower is better), ADE mIoU (higher), the seed variety (mean absolute
pixel difference between the two seeds' pictures) and the grid score's 90th percentile (1 = none).
Prints one markdown table; docs/quality.md keeps it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from miaobi_core.config import CONFIG_NAME
from miaobi_core.runtime import configure_cpu

from .files import PSEUDO_LABELS, SHARED_MODELS

BASE = ["--norm", "clade_icpe", "--ngf", "16", "--z-dim", "64", "--no-spectral-norm", "--batch-size", "4",
        "--ndf", "32", "--n-layers-d", "3", "--num-d", "2", "--lambda-vgg", "0", "--seed", "0"]
# L1 to the photo stays: with the encoder's z it asks for that photo's look, which the picture can now have.
VARIETY = ["--lambda-l1", "5", "--use-vae", "--z-modulation", "--encoder-nef", "16"]
# Each row adds one ingredient to the one above it, or to "variety" (marked), so its effect stands alone.
VARIANTS = {
    "shipped recipe (L1 to the photo, z in the first layer)": ["--lambda-l1", "5"],
    "variety: VAE style encoder, z in every layer": VARIETY,
    "variety + DiffAugment": VARIETY + ["--diffaugment", "color,translation,cutout"],
    "variety + label warping": VARIETY + ["--label-warp", "0.06"],
    "variety + SqueezeNet perceptual loss": VARIETY + ["--lambda-squeezenet", "10"],
    "variety + projected D (SqueezeNet)": VARIETY + ["--lambda-projected", "1"],
    "variety + all four": VARIETY + ["--diffaugment", "color,translation,cutout", "--label-warp", "0.06",
                                     "--lambda-squeezenet", "10", "--lambda-projected", "1"],
    "variety + bilinear upsampling": VARIETY + ["--upsampling", "bilinear"],
}


def train_variant(run_dir: Path, options: list[str], steps: int, size: int, data_root: str, models: str):
    export = run_dir / "export"
    if (export / CONFIG_NAME).is_file():
        return export  # trained by an earlier call: the table can be redone without retraining
    command = [sys.executable, "-m", "train", *BASE, *options, "--image-size", str(size), "--steps", str(steps),
               "--data", "pseudo", "--data-root", data_root, "--squeezenet-dir", str(Path(models) / "squeezenet"),
               "--run-dir", str(run_dir), "--export", str(export), "--no-export-half", "--sample-every", str(steps),
               "--checkpoint-every", str(steps), "--log-every", "50"]
    if (run_dir / "checkpoint").exists():
        command.append("--resume")
    subprocess.run(command, check=True)
    return export


def paint(export: Path, labels: np.ndarray, seed: int) -> np.ndarray:
    import paddle

    from miaobi_core.checkpoint import load_generator
    from miaobi_core.codec import pictures_from_unit
    from miaobi_core.generator import label_onehot

    generator = load_generator(export)
    pictures = []
    with paddle.no_grad():
        for start in range(0, len(labels), 16):
            chunk = labels[start:start + 16]
            z = np.random.default_rng((seed, start)).standard_normal((len(chunk), generator.cfg.z_dim))
            out = generator(label_onehot(paddle.to_tensor(chunk.astype(np.int64)), generator.cfg.num_classes),
                            paddle.to_tensor(z.astype(np.float32)))
            pictures.append(pictures_from_unit(out.numpy()))
    return np.concatenate(pictures)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.ablate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="training steps per variant")
    parser.add_argument("--image-size", type=int, default=64, help="training and judging resolution")
    parser.add_argument("--variants", default="", help="comma-separated row numbers (0-based) to run; all if empty")
    parser.add_argument("--test-limit", type=int, default=400, help="held-out maps judged per variant")
    parser.add_argument("--runs", default=os.path.expanduser("~/.cache/miaobi/runs/ablate"), help="run folders")
    parser.add_argument("--data-root", default=PSEUDO_LABELS,
                        help="the labels of python -m train.pseudolabel")
    parser.add_argument("--models-root", default=str(SHARED_MODELS), help="the shared pretrained networks")
    parser.add_argument("--report", default="docs/quality.md", help="the report whose Ablations section the "
                        "table replaces (empty: print only)")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.palette import load_palette

    from .data import pseudo_labelled
    from .metrics import IndependentJudges, ade20k_label_fidelity, frechet_distance, grid_score, seed_variety
    from .quality import ABLATIONS, load_pairs, replace_section

    names = list(VARIANTS)
    if args.variants:
        names = [names[int(i)] for i in args.variants.split(",")]
    exports = {name: train_variant(Path(args.runs) / f"v{list(VARIANTS).index(name)}", VARIANTS[name], args.steps,
                                   args.image_size, args.data_root, args.models_root) for name in names}
    palette = load_palette()
    labels, photos = load_pairs(pseudo_labelled(args.data_root, "test"), args.image_size, args.test_limit, "held-out")
    judges = IndependentJudges(args.models_root)
    real = judges.features(photos)
    table = [f"`{' '.join(['python -m train.ablate', *(argv if argv is not None else sys.argv[1:])])}`: "
             f"{args.steps} steps at {args.image_size} px, batch 4, seed 0, from scratch; judged on {len(labels)} "
             "held-out maps (seeds 0 and 1 for variety).", "",
             "| variant | FD-MNv2 | ADE mIoU | seed variety | grid p90 |", "|---|---:|---:|---:|---:|"]
    for name, export in exports.items():
        first, second = paint(export, labels, 0), paint(export, labels, 1)
        table.append(f"| {name} | {frechet_distance(judges.features(first), real):.1f} | "
                     f"{ade20k_label_fidelity(judges.segment(first), labels, palette):.3f} | "
                     f"{seed_variety(first, second):.1f} | {np.percentile([grid_score(p) for p in first], 90):.2f} |")
        print(table[-1], flush=True)
    table.append(f"| real held-out photos | 0 | {ade20k_label_fidelity(judges.segment(photos), labels, palette):.3f} "
                 f"| - | {np.percentile([grid_score(p) for p in photos], 90):.2f} |")
    print("\n".join(table))
    if args.report:
        replace_section(Path(args.report), ABLATIONS, "\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
