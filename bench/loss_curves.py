"""Does faster training still learn the same? ``python -m bench.loss_curves --against REV [--steps 300]
[--seeds 0 1] [--out FILE.png] [train options]``.

Trains with the code of revision REV (a git worktree) and with the code here, once per seed, same options
(default: the shipped settings on procedural data), and compares the logged losses: the difference between
REV's runs with different seeds is the run-to-run noise; the difference between REV and now with the same seed
is what the change did. Prints the table and draws the curves (moving average over 50 steps) to ``--out``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .train import REPO, shipped_arguments, take_option, worktree

LOSSES = ("g_total", "g_gan", "g_feat", "d_hinge")
SMOOTHING = 50  # steps in the moving average of the drawn curves


def train_losses(code: Path, argv: list[str], steps: int, seed: int) -> dict[str, np.ndarray]:
    """Every step's logged losses of ``python -m train`` run from the folder ``code``."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "train", *shipped_arguments(), "--data", "procedural", *argv,
                   "--seed", str(seed), "--run-dir", run_dir, "--steps", str(steps), "--log-every", "1",
                   "--sample-every", str(10 ** 9), "--checkpoint-every", str(10 ** 9)]
        subprocess.run(command, cwd=code, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rows = [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]
    return {key: np.array([row[key] for row in rows]) for key in LOSSES}


def mean_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two loss curves after the moving average (single steps are mostly noise)."""
    kernel = np.ones(SMOOTHING) / SMOOTHING
    return float(np.abs(np.convolve(a, kernel, "valid") - np.convolve(b, kernel, "valid")).mean())


def draw(curves: dict[tuple[str, int], dict], out: Path):
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(LOSSES), figsize=(4 * len(LOSSES), 3.2))
    kernel = np.ones(SMOOTHING) / SMOOTHING
    for axis, key in zip(axes, LOSSES):
        for (code, seed), losses in curves.items():
            smooth = np.convolve(losses[key], kernel, "valid")
            axis.plot(np.arange(len(smooth)) + SMOOTHING, smooth, label=f"{code}, seed {seed}",
                      linestyle="-" if code == "now" else "--")
        axis.set_title(key)
        axis.set_xlabel("step")
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out, dpi=90)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    argv, against = take_option(argv, "--against", None)
    argv, steps = take_option(argv, "--steps", 300)
    argv, out = take_option(argv, "--out", None)
    seeds = [0, 1]
    if "--seeds" in argv:
        i = argv.index("--seeds")
        seeds = [int(argv[i + 1]), int(argv[i + 2])]
        argv = argv[:i] + argv[i + 3:]
    if not against:
        raise SystemExit("--against REV is required: the revision to compare with")
    steps = int(steps)
    if steps <= SMOOTHING:
        raise SystemExit(f"--steps must exceed the {SMOOTHING}-step moving average")
    curves = {}
    with worktree(against) as code:
        for seed in seeds:
            curves[(against, seed)] = train_losses(code, argv, steps, seed)
    for seed in seeds:
        curves[("now", seed)] = train_losses(REPO, argv, steps, seed)
    print(f"{steps} steps; mean absolute gap between {SMOOTHING}-step moving averages\n")
    print(f"| loss | {against}: seed {seeds[0]} vs seed {seeds[1]} (noise) | {against} vs now, same seed |")
    print("|---|---:|---:|")
    for key in LOSSES:
        noise = mean_gap(curves[(against, seeds[0])][key], curves[(against, seeds[1])][key])
        change = np.mean([mean_gap(curves[(against, s)][key], curves[("now", s)][key]) for s in seeds])
        print(f"| {key} | {noise:.4f} | {change:.4f} |")
    if out:
        draw(curves, Path(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
