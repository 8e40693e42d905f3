"""Export a run's EMA generator as an inference checkpoint: ``python -m train.export RUN_DIR OUT_DIR``.

The same export ``python -m train --export`` writes when a run ends, for a run that is paused or
copied from another machine: only the run folder's config.json and checkpoint are read (no training
data, no trainer). RUN_DIR may also be a committed continuation folder (``train/continuation/NAME``),
whose float16 networks sit beside its config.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from miaobi_core.runtime import configure_cpu


def export_run(run_dir: str | Path, out_dir: str | Path, half: bool = True, student: bool = False) -> dict:
    """Write the run's EMA generator (or its student's) to ``out_dir``; returns the checkpoint's state.json."""
    from miaobi_core.checkpoint import save_generator
    from miaobi_core.config import GeneratorConfig
    from miaobi_core.generator import SPADEGenerator

    from .config import TrainConfig
    from .distill import student_config
    from . import files
    from .continuation import read_float32
    from .trainer import export_metadata

    run_dir = Path(run_dir)
    saved = json.loads((run_dir / files.CONFIG).read_text())
    gen_cfg, cfg = GeneratorConfig.from_dict(saved["generator"]), TrainConfig.from_dict(saved["train"])
    checkpoint = run_dir / files.CHECKPOINT if (run_dir / files.CHECKPOINT).is_dir() else run_dir  # continuation
    state = json.loads((checkpoint / files.STATE).read_text())
    if student and not cfg.student_ngf:
        raise ValueError(f"{run_dir} trains no student (--student-ngf 0)")
    network = SPADEGenerator(student_config(gen_cfg, cfg.student_ngf) if student else gen_cfg)
    # The weight average users get when the run keeps one, else the live network.
    average, live = (files.STUDENT_EMA, files.STUDENT) if student else (files.EMA, files.GENERATOR)
    weights = checkpoint / (average if (checkpoint / average).is_file() else live)
    loaded = read_float32(weights)
    if weights.name == files.STUDENT:
        loaded = {k[len("0."):]: v for k, v in loaded.items() if k.startswith("0.")}  # the student, not its projections
    network.set_state_dict(loaded)
    save_generator(out_dir, network, half=half, metadata=export_metadata(gen_cfg, cfg, state, student))
    return state


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder with config.json and checkpoint/")
    parser.add_argument("out_dir", help="where to write generator.json and generator.pdparams")
    parser.add_argument("--student", action="store_true", help="export the distilled student instead of the teacher")
    parser.add_argument("--full-precision", action="store_true", help="store float32 instead of float16 weights")
    args = parser.parse_args(argv)
    configure_cpu()
    state = export_run(args.run_dir, args.out_dir, half=not args.full_precision, student=args.student)
    print(f"exported {'the student' if args.student else 'the generator'} at step {state['step']} of "
          f"{args.run_dir} to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
