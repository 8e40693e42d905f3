"""Training throughput on this machine: ``python -m bench.train [train options] [--bench-steps N] [--against REV]``.

Takes the same options as ``python -m train`` (default: the shipped model's
settings from hub_module/miaobi/weights/generator.json) and runs ``python -m
train`` as a user would (data-parallel processes and all) for N steps on
procedural data, which costs the same per pixel as real photos. Prints the
configuration and images/second over the steps after the first logged ones
(start-up and first-call allocations excluded).

``--against REV`` first runs the same command in a git worktree of that
revision (the code before a change), so both figures come from one run on
one machine; options that revision does not know must be left out.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from miaobi_core.config import CONFIG_NAME, GeneratorConfig
from miaobi_core.runtime import configure_cpu
from miaobi_core.variants import FOLDERS, FULL

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "hub_module" / "miaobi" / FOLDERS[FULL] / CONFIG_NAME
WARM_STEPS = 2  # logged steps left out of the rate: imports, allocations, the first samples


def shipped_arguments() -> list[str]:
    """The trainer flags that reproduce the shipped model's architecture and data settings."""
    info = json.loads(SHIPPED.read_text())
    train = info["metadata"].get("train_config", {})
    gen = GeneratorConfig.from_dict(info["generator"]).to_dict()  # as the code of today reads it
    args = []
    for key, value in {**gen, "spectral_norm": True}.items():
        if key == "num_classes":
            continue
        flag = "--" + key.replace("_", "-")
        args += [flag if value else "--no-" + key.replace("_", "-")] if isinstance(value, bool) else [flag, str(value)]
    for key in ("image_size", "batch_size", "ndf", "n_layers_d", "num_d", "lambda_l1", "lambda_feat"):
        if key in train:
            args += ["--" + key.replace("_", "-"), str(train[key])]
    return args


def take_option(argv: list[str], flag: str, default):
    """(argv without ``flag VALUE``, VALUE or default)."""
    argv = list(argv)
    if flag not in argv:
        return argv, default
    i = argv.index(flag)
    return argv[:i] + argv[i + 2:], argv[i + 1]


def bench_steps(argv: list[str], default: int) -> tuple[list[str], int]:
    """(the trainer's options, N) from a command line that may hold ``--bench-steps N``."""
    argv, steps = take_option(argv, "--bench-steps", default)
    return argv, int(steps)


@contextmanager
def warm_trainer(argv: list[str]):
    """A Trainer for the shipped settings overridden by ``argv``, on procedural data, one step warmed up,
    its run folder a temporary one."""
    from miaobi_core.palette import load_palette
    from train.config import parse_configs

    with tempfile.TemporaryDirectory() as run_dir:
        gen_cfg, cfg = parse_configs(shipped_arguments() + argv + ["--run-dir", run_dir, "--data", "procedural"],
                                     load_palette().num_classes)
        configure_cpu(cfg.threads)
        from train.trainer import Trainer

        trainer = Trainer(gen_cfg, cfg)
        trainer.train_step(0)  # first-call allocations
        yield trainer


def images_per_second(code: Path, argv: list[str], steps: int) -> tuple[float, dict]:
    """Steady training throughput of ``python -m train`` run from the folder ``code``, and its resolved config."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [sys.executable, "-m", "train", *shipped_arguments(), *argv, "--data", "procedural",
                   "--run-dir", run_dir, "--steps", str(steps + WARM_STEPS), "--log-every", "1",
                   "--sample-every", str(10 ** 9), "--checkpoint-every", str(10 ** 9)]
        subprocess.run(command, cwd=code, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rows = [json.loads(line) for line in (Path(run_dir) / "log.jsonl").read_text().splitlines()]
        config = json.loads((Path(run_dir) / "config.json").read_text())
    batch = config["train"]["batch_size"]
    # Each row's images_per_s covers every step so far; the difference of two rows' clocks is the steady rate.
    clock = {row["step"]: row["step"] * batch / row["images_per_s"] for row in rows}
    first, last = WARM_STEPS, steps + WARM_STEPS
    return (last - first) * batch / (clock[last] - clock[first]), config


@contextmanager
def worktree(revision: str):
    """A temporary checkout of ``revision`` beside this one."""
    with tempfile.TemporaryDirectory() as parent:
        folder = Path(parent) / "code"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(folder), revision], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)], check=True)


def main(argv=None) -> int:
    argv, steps = bench_steps(sys.argv[1:] if argv is None else argv, 8)
    argv, against = take_option(argv, "--against", None)
    results = []
    if against:
        with worktree(against) as code:
            results.append((f"before ({against})", *images_per_second(code, argv, steps)))
    if "--processes" not in argv:  # the default spreads ranks over the cores: show one process too
        results.append(("now, one process", *images_per_second(REPO, argv + ["--processes", "1"], steps)))
    results.append(("now", *images_per_second(REPO, argv, steps)))
    from train.parallel import processes_for

    _, _, config = results[-1]
    gen, train = config["generator"], config["train"]
    print(f"{steps} steps after {WARM_STEPS} warm-up steps; norm {gen['norm']}, ngf {gen['ngf']}, "
          f"batch {train['batch_size']} at {train['image_size']} px, D ndf {train['ndf']} x {train['n_layers_d']} "
          f"layers x {train['num_d']} scales\n")
    print("| code | processes | images / second | seconds / step | speed-up |\n|---|---:|---:|---:|---:|")
    for name, rate, cfg in results:
        # What "auto" chose (no GPU here): one process per core that splits the batch.
        processes = cfg["train"].get("processes", 1) or processes_for(cfg["train"]["batch_size"], os.cpu_count() or 1)
        print(f"| {name} | {processes} | {rate:.2f} | {cfg['train']['batch_size'] / rate:.3f} | "
              f"{rate / results[0][1]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
