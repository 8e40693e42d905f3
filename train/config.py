"""Every training setting is a documented keyword (``python -m train --help`` lists them all).

The generator's settings come from :class:`GeneratorConfig` (the one network
definition); the run's own settings are :class:`TrainConfig`. Each run writes
both, resolved, to ``<run_dir>/config.json``; ``--dry-run`` prints them and exits.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from miaobi_core.config import GeneratorConfig
from miaobi_core.options import add_arguments, pick

from .files import SHARED_MODELS


def _h(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class TrainConfig:
    run_dir: str = _h("folder for config, log, VisualDL scalars, samples and checkpoints", "runs/default")
    resume: bool = _h("continue the checkpoint in run_dir (same next-step losses as an unbroken run)", False)
    data: str = _h("procedural | pseudo | folder | ade20k: where (label, photo) pairs come from", "procedural")
    data_root: str = _h("pseudo: the label folder with manifest.json; folder: the photo folder; "
                        "ade20k: the ADEChallengeData2016 folder", "")
    label_dir: str = _h("folder: the parallel folder of class-id label PNGs", "")
    image_size: int = _h("training resolution in pixels (square crops)", 128)
    min_crop: float = _h("smallest random crop, as a fraction of the photo's short side", 0.85)
    wide_share: float = _h("share of the steps whose batch is of wide crops, 3:2 (image_size rows, 1.5 x image_size "
                           "columns; the photo's crop enlarged to fit): the page paints wide drawings natively, and "
                           "a generator that only saw squares smears the middle of a wide one (0 = squares only)",
                           0.0)
    batch_size: int = _h("pairs per step", 8)
    steps: int = _h("total optimisation steps (each one D step and one G step)", 20000)
    lr_g: float = _h("generator learning rate (TTUR: G 1e-4, D 4e-4)", 1e-4)
    lr_d: float = _h("discriminator learning rate", 4e-4)
    beta1: float = _h("Adam beta1 (SPADE with TTUR: 0)", 0.0)
    beta2: float = _h("Adam beta2", 0.999)
    decay_steps: int = _h("the last steps, over which both learning rates fall linearly to 0 at --steps "
                          "(SPADE's niter_decay; all of them in a shorter run; 0 = none)", 10000)
    warmup_steps: int = _h("steps over which the learning rates rise linearly from 0 whenever the optimizers "
                           "start with fresh moments (a new run, --continue-from): Adam's first updates on fresh "
                           "moments are as large as the rate itself in every weight, which shakes a trained "
                           "generator (0 = none)", 0)
    catch_up_classes: str = _h("comma-separated palette class names whose channels in the generator's weights that "
                               "read the label map learn --catch-up-lr times faster: a class the palette gained after "
                               "the run began catches up with classes trained for tens of thousands of steps", "")
    catch_up_lr: float = _h("learning-rate multiple for --catch-up-classes", 10.0)
    ndf: int = _h("discriminator width", 64)
    n_layers_d: int = _h("layers per PatchGAN discriminator", 4)
    num_d: int = _h("discriminators, each at half the previous resolution", 2)
    d_spectral_norm: bool = _h("spectral norm in the discriminator", True)
    d_antialias: bool = _h("the discriminators' first convolution runs at stride 1, then blurs and subsamples (no "
                           "new weights: a run may switch it on when resumed); at stride 2 it passes the generator "
                           "a period-2 checkerboard gradient", False)
    lambda_lecam: float = _h("weight of LeCam regularisation in the discriminators' loss: their scores on photos "
                             "and on pictures are pulled towards the moving average of the other side's, which keeps "
                             "a discriminator from memorising a few thousand photos (0 = off)", 0.0)
    lambda_gan: float = _h("weight of the hinge adversarial loss", 1.0)
    lambda_feat: float = _h("weight of discriminator feature matching (0 = off)", 10.0)
    lambda_vgg: float = _h("weight of the VGG19 perceptual loss (SPADE's: 10; needs --vgg-weights, which cannot "
                           "be had here)", 0.0)
    vgg_weights: str = _h("a VGG19Features .pdparams file; none can be downloaded here", "")
    lambda_squeezenet: float = _h("weight of the perceptual loss in the frozen ImageNet SqueezeNet's features "
                                  "(unit-normalised per pixel, L1; 0 = off)", 0.0)
    lambda_projected: float = _h("weight of a projected discriminator: trainable heads on the frozen SqueezeNet's "
                                 "features (Projected GAN), beside the PatchGAN ones (0 = off)", 0.0)
    squeezenet_dir: str = _h("the folder holding squeezenet_v1.1.param/.bin", str(SHARED_MODELS / "squeezenet"))
    lambda_semantic: float = _h("weight of the cross-entropy between a label map and a frozen reader's view of the "
                                "map painted in another photo's style code (the reader: a head on the frozen "
                                "SqueezeNet trained on real photos by python -m train.semantic; asks a painted "
                                "mountain to read as mountain whatever the light; costs a generator pass; 0 = off)",
                                0.0)
    semantic_head: str = _h("with --lambda-semantic: the reader's .pdparams", "train/semantic_head.pdparams")
    semantic_class_balanced: bool = _h("with --lambda-semantic: every class in the batch counts alike in the "
                                       "cross-entropy, as in mIoU (else every pixel: sky and sea outweigh grass)",
                                       False)
    diffaugment: str = _h("DiffAugment policies applied alike to every photo and picture the discriminators see, "
                          "comma-separated: color, translation, cutout (empty = none)", "")
    label_warp: float = _h("largest shift, as a fraction of the side, of a smooth random warp of the label map "
                           "alone (not the photo): teaches that a doodle's borders are approximate (0 = off)", 0.0)
    lambda_l1: float = _h("weight of L1 to the real photo (0 = off; helps on small compute)", 0.0)
    lambda_spectral: float = _h("weight of L1 between each picture's and its photo's log power spectra per axis "
                                "(removes upsampling stripes the discriminators miss, restores fine texture; 0 = off)",
                                0.0)
    lambda_kld: float = _h("weight of the VAE's KL loss (with --use-vae)", 0.05)
    student_ngf: int = _h("width of a slim student distilled online from the generator, OMGD-style (0 = none)", 0)
    lr_student: float = _h("the student's learning rate (it imitates, so it can learn faster than the GAN)", 5e-4)
    lambda_distill_l1: float = _h("weight of L1 between the student's and the teacher's pictures", 10.0)
    lambda_distill_ssim: float = _h("weight of (1 - SSIM) between student and teacher, on the pictures and on "
                                    "the tapped blocks' activations", 10.0)
    lambda_distill_feat: float = _h("weight of feature matching between the student's and the teacher's pictures "
                                    "in the teacher's discriminator, used as a perceptual network (0 = off)", 0.0)
    lambda_distill_gan: float = _h("with --freeze-teacher: weight of a hinge adversarial loss for the student; the "
                                   "discriminator then goes on training, on real photos vs the student's pictures "
                                   "(0 = off)", 0.0)
    freeze_teacher: bool = _h("distil only: the teacher users get (the EMA generator) stays fixed, its GAN steps "
                              "stop, and each step trains just the student to imitate it (needs --student-ngf)", False)
    continue_from: str = _h("go on from a committed continuation state (python -m train.continuation RUN OUT): "
                            "its networks and step, fresh optimizer moments; later restarts use --resume", "")
    init_from: str = _h("start the teacher (networks, optimizers, step) from this run folder's checkpoint; "
                        "with --student-ngf this adds a new student to a trained teacher. An exported generator "
                        "(e.g. hub_module/miaobi/weights) can be a --freeze-teacher teacher: D then starts anew", "")
    prune_student: bool = _h("begin the new student as the --init-from teacher's strongest channels (L1-norm filter "
                             "pruning) instead of random weights", False)
    init_student_from: str = _h("begin the new student as a student exported earlier (python -m train.export RUN OUT "
                                "--student) and go on training it, e.g. when its run folder was lost with a machine; "
                                "needs --init-from its teacher", "")
    ema_decay: float = _h("decay of the generator's exponential moving average (0 = no EMA)", 0.999)
    seed: int = _h("seed for data order, augmentation, z and initial weights", 0)
    processes: int = _h("data-parallel processes on this machine, each training on its share of every batch "
                        "(0 = one per GPU, or per CPU core on a CPU, as many as split the batch evenly; on a CPU "
                        "this is the fast path: see docs/performance.md)", 0)
    threads: int = _h("CPU threads per process (0 = the cores shared out among the processes)", 0)
    log_every: int = _h("steps between log lines and VisualDL scalars", 10)
    sample_every: int = _h("steps between sample grids (label | generated | real)", 500)
    checkpoint_every: int = _h("steps between checkpoints", 500)
    export: str = _h("when training ends, write the EMA generator here as an inference checkpoint", "")
    export_student: str = _h("when training ends, write the student's EMA here as an inference checkpoint", "")
    export_half: bool = _h("store exported weights as float16", True)
    dry_run: bool = _h("print the resolved config and exit", False)

    def __post_init__(self):
        if self.data not in ("procedural", "pseudo", "folder", "ade20k"):
            raise ValueError(f"--data {self.data!r}: choose procedural, pseudo, folder or ade20k")
        if self.data != "procedural" and not self.data_root:
            raise ValueError(f"--data {self.data} needs --data-root")
        if self.data == "folder" and not self.label_dir:
            raise ValueError("--data folder needs --label-dir")
        if self.processes < 0 or (self.processes and self.batch_size % self.processes):
            raise ValueError(f"--processes {self.processes} must be >= 0 and divide --batch-size {self.batch_size}")
        if self.steps < 0 or self.batch_size < 1 or self.image_size < 32:
            raise ValueError("steps >= 0, batch_size >= 1 and image_size >= 32 are required")
        if self.student_ngf < 0 or (self.export_student and not self.student_ngf):
            raise ValueError("--student-ngf must be >= 0, and --export-student needs a student")
        if self.freeze_teacher and not self.student_ngf:
            raise ValueError("--freeze-teacher trains only a student: give --student-ngf")
        if self.lambda_distill_gan > 0 and not self.freeze_teacher:
            raise ValueError("--lambda-distill-gan needs --freeze-teacher: while the teacher trains, D is its adversary")
        if self.prune_student and not (self.student_ngf and self.init_from):
            raise ValueError("--prune-student starts a student from a trained teacher: give --student-ngf and --init-from")
        if self.init_student_from and (not (self.student_ngf and self.init_from) or self.prune_student):
            raise ValueError("--init-student-from goes on with an exported student beside its teacher: give "
                             "--student-ngf and --init-from, and no --prune-student")
        if self.continue_from and (self.init_from or self.student_ngf):
            raise ValueError("--continue-from goes on with a whole run: no --init-from or --student-ngf beside it")
        if self.warmup_steps < 0 or self.decay_steps < 0:
            raise ValueError("--warmup-steps and --decay-steps must be >= 0")
        if self.lambda_semantic < 0 or self.lambda_lecam < 0:
            raise ValueError("--lambda-semantic and --lambda-lecam must be >= 0")
        if self.catch_up_lr < 1.0:
            raise ValueError("--catch-up-lr must be >= 1 (a multiple of --lr-g)")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("--ema-decay must lie in [0, 1)")

    @property
    def losses(self) -> "LossWeights":
        return LossWeights(**{f.name: getattr(self, "lambda_" + f.name) for f in dataclasses.fields(LossWeights)})

    @property
    def discriminators(self) -> dict:
        """MultiscaleDiscriminator's keyword arguments (beside the class count)."""
        return {"ndf": self.ndf, "n_layers": self.n_layers_d, "num_D": self.num_d,
                "spectral_norm": self.d_spectral_norm, "antialias": self.d_antialias}

    @property
    def betas(self) -> dict:
        """Adam's betas as paddle.optimizer.Adam takes them, for every optimizer of the run."""
        return {"beta1": self.beta1, "beta2": self.beta2}

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A run's saved ``train`` settings; runs before 2026-12-02 gave the decay as a fraction of the steps."""
        values = dict(values)
        if "decay_start" in values:
            values["decay_steps"] = round((1 - values.pop("decay_start")) * values["steps"])
        return cls(**values)


@dataclass(frozen=True)
class LossWeights:
    """The weight of each loss term (0 = off): TrainConfig's ``lambda_<term>`` settings, as the step reads them."""

    gan: float  # hinge, generator side
    feat: float  # discriminator feature matching
    vgg: float
    squeezenet: float  # perceptual, in the frozen SqueezeNet's features
    projected: float  # the projected discriminator's hinge, generator side
    semantic: float  # the frozen reader's cross-entropy on a restyled picture
    l1: float
    spectral: float
    kld: float  # the style encoder's KL term (with use_vae)
    lecam: float  # discriminators' side


# The run's settings by meaning: --help lists them so, and the loop reads the loss weights and the
# discriminators' shape as one thing each (:attr:`TrainConfig.losses`, :attr:`TrainConfig.discriminators`), as
# NVlabs/edm groups its kwargs at the loop's boundary and DistillConfig groups the student's. Every field is in
# exactly one section (tested); the flags, recipes and saved configs stay flat, one name per setting.
SECTIONS = {
    "run": ("run_dir", "resume", "seed", "processes", "threads", "log_every", "sample_every", "checkpoint_every",
            "dry_run"),
    "start": ("continue_from", "init_from"),
    "data": ("data", "data_root", "label_dir", "image_size", "min_crop", "wide_share", "batch_size", "label_warp", "diffaugment"),
    "optimisation": ("steps", "lr_g", "lr_d", "beta1", "beta2", "decay_steps", "warmup_steps", "catch_up_classes",
                     "catch_up_lr", "ema_decay"),
    "discriminators": ("ndf", "n_layers_d", "num_d", "d_spectral_norm", "d_antialias"),
    "losses": ("lambda_gan", "lambda_feat", "lambda_vgg", "vgg_weights", "lambda_squeezenet", "lambda_projected",
               "squeezenet_dir", "lambda_semantic", "semantic_head", "semantic_class_balanced", "lambda_l1",
               "lambda_spectral", "lambda_kld", "lambda_lecam"),
    "distillation": ("student_ngf", "lr_student", "lambda_distill_l1", "lambda_distill_ssim", "lambda_distill_feat",
                     "lambda_distill_gan", "freeze_teacher", "prune_student", "init_student_from"),
    "export": ("export", "export_student", "export_half"),
}


# Generator defaults for the shipped CPU model differ from the paper's; see README "Default model".
GENERATOR_FIELDS_FROM_PALETTE = ("num_classes",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m train", description="Train Miaobi's SPADE generator. Generator settings first, then the run's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", default="", help="a recipe file (train/recipes/*.toml) whose settings replace "
                        "the defaults; flags given beside it win")
    group = parser.add_argument_group("generator")
    add_arguments(group, GeneratorConfig, skip=GENERATOR_FIELDS_FROM_PALETTE)
    group.add_argument("--num-classes", type=int, default=0,
                       help="paint the palette's first N classes, as a model trained before the later ones were "
                            "added does; their pixels count as unlabelled (0 = every class)")
    for title, names in SECTIONS.items():
        add_arguments(parser.add_argument_group(title), TrainConfig, only=names)
    return parser


def read_recipe(path: str | Path, parser: argparse.ArgumentParser, seen: tuple = ()) -> dict:
    """A recipe file's settings: TOML, one key per option (``lambda_l1 = 5``), tables only to group them, and
    ``extends = "other.toml"`` (beside it) for the recipe it changes. Unknown keys are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such recipe")
    if path.resolve() in seen:
        raise ValueError(f"--config {path}: recipes extend each other in a circle")
    with open(path, "rb") as handle:
        text = tomllib.load(handle)
    base = text.pop("extends", None)
    settings = read_recipe(path.parent / base, parser, seen + (path.resolve(),)) if base else {}
    known = {action.dest for action in parser._actions} - {"help", "config"}
    for key, value in text.items():
        for name, setting in (value.items() if isinstance(value, dict) else [(key, value)]):
            if name not in known:
                raise ValueError(f"{path}: {name!r} is not an option of python -m train")
            settings[name] = os.path.expanduser(setting) if isinstance(setting, str) else setting
    return settings


def parse_configs(argv: list[str] | None, num_classes: int) -> tuple[GeneratorConfig, TrainConfig]:
    """The configs of a command line (a --config recipe, then the flags beside it, which win); ``num_classes``:
    the palette's, which --num-classes may lower."""
    parser = build_parser()
    recipe = parser.parse_known_args(argv)[0].config
    if recipe:
        parser.set_defaults(**read_recipe(recipe, parser))
    args = vars(parser.parse_args(argv))
    if not 0 <= args["num_classes"] <= num_classes:
        raise ValueError(f"--num-classes {args['num_classes']}: the palette has {num_classes} classes")
    args["num_classes"] = args["num_classes"] or num_classes
    return pick(GeneratorConfig, args), pick(TrainConfig, args)


def configs_to_json(generator: GeneratorConfig, train: TrainConfig) -> str:
    return json.dumps({"generator": generator.to_dict(), "train": dataclasses.asdict(train)}, indent=2)
