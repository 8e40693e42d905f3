"""Training throughput on this machine: ``python -m bench.train [train options] [--bench-steps N]``.

Takes the same options as ``python -m train`` (default: the shipped model's
settings from hub_module/miaobi/weights/generator.json) and times full steps
(one D step + one G step) on procedural data, which costs the same per pixel
as real photos. Prints the configuration and images/second.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from miaobi_core.runtime import configure_cpu

SHIPPED = Path(__file__).resolve().parent.parent / "hub_module" / "miaobi" / "weights" / "generator.json"


def shipped_arguments() -> list[str]:
    """The trainer flags that reproduce the shipped model's architecture and data settings."""
    info = json.loads(SHIPPED.read_text())
    train = info["metadata"].get("train_config", {})
    gen = info["generator"]
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


def bench_steps(argv: list[str], default: int) -> tuple[list[str], int]:
    """(the trainer's options, N) from a command line that may hold ``--bench-steps N``."""
    argv = list(argv)
    if "--bench-steps" not in argv:
        return argv, default
    i = argv.index("--bench-steps")
    return argv[:i] + argv[i + 2:], int(argv[i + 1])


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


def main(argv=None) -> int:
    argv, steps = bench_steps(sys.argv[1:] if argv is None else argv, 5)
    with warm_trainer(argv) as trainer:
        import paddle

        gen_cfg, cfg = trainer.gen_cfg, trainer.cfg
        started = time.perf_counter()
        for step in range(1, steps + 1):
            trainer.train_step(step)
        seconds = (time.perf_counter() - started) / steps
    g_params = sum(p.size for p in trainer.generator.parameters()) / 1e6
    d_params = sum(p.size for p in trainer.discriminator.parameters()) / 1e6
    print("| setting | value |\n|---|---|")
    for key, value in [("norm", gen_cfg.norm), ("ngf", gen_cfg.ngf), ("z_dim", gen_cfg.z_dim),
                       ("use_vae", gen_cfg.use_vae), ("attention", gen_cfg.attention),
                       ("image_size", cfg.image_size), ("batch_size", cfg.batch_size), ("ndf", cfg.ndf),
                       ("num_d", cfg.num_d), ("G params (M)", f"{g_params:.2f}"), ("D params (M)", f"{d_params:.2f}"),
                       ("threads", cfg.threads or "all"), ("paddle", paddle.__version__),
                       ("seconds / step", f"{seconds:.3f}"), ("images / second", f"{cfg.batch_size / seconds:.2f}")]:
        print(f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
