"""A training run's compact continuation state, small enough to commit:
``python -m train.continuation RUN_DIR OUT_DIR``; ``python -m train --continue-from OUT_DIR`` goes on from it.

The machine that trains is replaced from time to time and nothing outside the repository survives
that, so a long run carries on from a committed folder. It holds the networks' weights (generator,
its EMA, the discriminators) in float16, the step and the run's configs, and no optimizer moments
(Adam re-estimates them within a few hundred steps; holding them would triple the size). So
continuing is not bit-exact like ``--resume``; it is the same networks, a float16 rounding away.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from miaobi_core.runtime import configure_cpu

from . import files
from .files import CONFIG, STATE

# The parts of a checkpoint worth carrying over; optimizer files stay behind.
NETWORKS = (files.GENERATOR, files.EMA, files.DISCRIMINATOR, files.PROJECTED)


def write(run_dir: str | Path, out_dir: str | Path) -> dict:
    """Copy the run's latest checkpoint into ``out_dir`` as float16 networks, its step and configs."""
    import paddle

    from miaobi_core.checkpoint import cast_state

    run_dir, out_dir = Path(run_dir), Path(out_dir)
    checkpoint = run_dir / files.CHECKPOINT
    if not (checkpoint / STATE).is_file():
        raise FileNotFoundError(f"{run_dir} has no checkpoint to continue from")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in NETWORKS:
        if (checkpoint / name).is_file():
            state = paddle.load(str(checkpoint / name), return_numpy=True)
            paddle.save(cast_state(state, "float32", "float16"), str(tmp / name))
    shutil.copy(checkpoint / STATE, tmp / STATE)
    shutil.copy(run_dir / CONFIG, tmp / CONFIG)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return json.loads((out_dir / STATE).read_text())


def read_float32(path: Path) -> dict:
    """One network's state dict as float32 numpy arrays (a continuation stores float16; a checkpoint float32)."""
    import paddle

    from miaobi_core.checkpoint import cast_state

    return cast_state(paddle.load(str(path), return_numpy=True), "float16", "float32")


def read_networks(folder: Path) -> dict[str, dict]:
    """{file name: float32 state dict} of the networks a continuation folder holds."""
    return {name: read_float32(folder / name) for name in NETWORKS if (folder / name).is_file()}


def grow_classes(saved: dict, fresh: dict, old: int, new: int, classes_last: bool = False) -> dict:
    """A network's saved weights for ``old`` classes made into weights for ``new`` (the palette grew since).

    Every weight that reads the one-hot label map has its class channels on axis 1: first in the generator
    (before z) and the PatchGAN discriminators (before the picture), last in the projected heads (after the
    features). Each added class starts as the mean of the old classes' channels, an average class the run then
    teaches; ``fresh`` (the new network's state) gives the shapes."""
    import numpy as np

    grown = {}
    for name, weight in saved.items():
        target = tuple(fresh[name].shape)
        if weight.shape == target:
            grown[name] = weight
        elif weight.ndim == 4 and target[:1] + target[2:] == weight.shape[:1] + weight.shape[2:] \
                and target[1] - weight.shape[1] == new - old:
            start = weight.shape[1] - old if classes_last else 0
            classes = weight[:, start:start + old]
            added = np.repeat(classes.mean(axis=1, keepdims=True), new - old, axis=1)
            grown[name] = np.concatenate([weight[:, :start + old], added, weight[:, start + old:]], axis=1)
        elif not name.endswith("weight_v"):
            raise ValueError(f"{name}: saved {weight.shape} cannot become {target} by adding {new - old} classes")
    for name in set(saved) - set(grown):
        # Spectral norm's right singular vector estimate, for the grown matrix: v = W^T u / |W^T u|, from the
        # saved left one. Eval mode divides by u^T W v without iterating, so a stale v would rescale the weight.
        prefix = name[:-len("weight_v")]
        u = saved[prefix + "weight_u"]
        v = grown[prefix + "weight_orig"].reshape(u.shape[0], -1).T @ u
        grown[name] = (v / max(np.linalg.norm(v), 1e-12)).astype(saved[name].dtype)
    return grown


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.continuation", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder with config.json and checkpoint/")
    parser.add_argument("out_dir", help="the folder to (re)write, e.g. train/continuation/quality")
    args = parser.parse_args(argv)
    configure_cpu()
    state = write(args.run_dir, args.out_dir)
    size = sum(f.stat().st_size for f in Path(args.out_dir).iterdir()) / 1e6
    print(f"wrote step {state['step']} of {args.run_dir} to {args.out_dir} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
