"""Export a run's EMA generator as an inference checkpoint: ``python -m train.export RUN_DIR OUT_DIR``.

The same export ``python -m train --export`` writes when a run ends, for a run
that is paused (its checkpoint is read, nothing is trained).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from miaobi_core.runtime import configure_cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder with config.json and checkpoint/")
    parser.add_argument("out_dir", help="where to write generator.json and generator.pdparams")
    parser.add_argument("--student", action="store_true", help="export the distilled student instead of the teacher")
    parser.add_argument("--full-precision", action="store_true", help="store float32 instead of float16 weights")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.config import GeneratorConfig

    from .config import TrainConfig
    from .trainer import Trainer

    saved = json.loads((Path(args.run_dir) / "config.json").read_text())
    train_cfg = dataclasses.replace(TrainConfig(**saved["train"]), run_dir=args.run_dir)
    trainer = Trainer(GeneratorConfig.from_dict(saved["generator"]), train_cfg)
    trainer.load_checkpoint()
    trainer.export(args.out_dir, half=not args.full_precision, student=args.student)
    print(f"exported {'the student' if args.student else 'the generator'} at step {trainer.step} of "
          f"{args.run_dir} to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
