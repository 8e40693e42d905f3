"""The files of a training run, named once: the trainer writes them; export, continuation and resume read them.

A run folder holds ``config.json`` (the resolved settings), ``log.jsonl``, ``samples/`` and ``checkpoint/``;
the checkpoint holds each network's weights and optimizer state and ``state.json`` (step and student history).
"""
import os
from pathlib import Path

from miaobi_core import ade20k

# Where `python -m train.pseudolabel` writes labels v2, and where every tool that reads them looks by default.
PSEUDO_LABELS = os.path.expanduser("~/.cache/miaobi/pseudo_labels")

# The shared pretrained networks (each with its licence and input recipe), beside the repository: the default
# wherever a tool reads one, found from this file so that a command works from any working directory.
SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SHARED_MODELS = SHARED / "models"
ADE20K_MODEL = SHARED_MODELS / ade20k.FILE

CHECKPOINT = "checkpoint"
CONFIG = "config.json"
STATE = "state.json"

GENERATOR, EMA = "generator.pdparams", "ema.pdparams"  # the live generator and its weight average
DISCRIMINATOR, PROJECTED = "discriminator.pdparams", "projected.pdparams"
STUDENT, STUDENT_EMA = "student.pdparams", "student_ema.pdparams"  # student + channel projections; its average
OPT_G, OPT_D, OPT_PROJECTED, OPT_STUDENT = "opt_g.pdopt", "opt_d.pdopt", "opt_projected.pdopt", "opt_student.pdopt"
OPT_CATCH_UP = "opt_catch_up.pdopt"  # the generator's second optimizer, for --catch-up-classes
