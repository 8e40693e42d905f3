"""Online distillation in the spirit of OMGD (Ren et al., ICCV 2021): a slim student learns from the teacher.

The teacher is the generator being trained adversarially, seen through its
weight average (EMA): the network users get, and a steadier target than the
live weights. Each step the student sees the same label map and z and is
pulled towards the teacher's picture (L1 and SSIM) and towards the teacher's
intermediate activations (SSIM after a learned 1x1 projection from the
student's narrower channels).
While the teacher trains, the student is never trained adversarially: as
OMGD argues, a student that only imitates a still-improving teacher avoids
the instability of a small GAN and follows the teacher's progress for free.
It may borrow the teacher's discriminator as a perceptual network (OMGD uses
VGG, which cannot be had here): matching D's features of the teacher's
picture charges the student for lost texture that L1 and SSIM barely see.
Once the teacher is frozen, D is free, and the student may also meet it as
an adversary that goes on learning real photos vs the student's pictures
(GAN Compression, Li et al., CVPR 2020): regression losses average texture
away, and only an adversary asks for it back.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from miaobi_core.checkpoint import folded_state_dict, load_generator, read_checkpoint_info
from miaobi_core.generator import GeneratorConfig, SPADEGenerator

from .losses import feature_matching_loss, hinge_g_loss
from .parallel import Ranks

# Residual blocks whose outputs the student imitates, coarse to fine.
TAPPED_BLOCKS = ("G_middle_1", "up_0", "up_1", "up_2", "up_3")


@contextlib.contextmanager
def frozen(layer: nn.Layer):
    """No gradients reach ``layer``'s weights inside the block (it can still pass gradients through)."""
    params = layer.parameters()
    before = [p.stop_gradient for p in params]
    for p in params:
        p.stop_gradient = True
    try:
        yield layer
    finally:
        for p, stop in zip(params, before):
            p.stop_gradient = stop


def student_config(teacher: GeneratorConfig, ngf: int) -> GeneratorConfig:
    # The student takes the teacher's z, so it needs no style encoder of its own.
    return dataclasses.replace(teacher, ngf=ngf, use_vae=False)


def ssim(a: paddle.Tensor, b: paddle.Tensor, c1: float = 0.01 ** 2, c2: float = 0.03 ** 2) -> paddle.Tensor:
    """Mean structural similarity over 3x3 windows, per channel (1 = identical)."""
    pool = lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, exclusive=False)
    mu_a, mu_b = pool(a), pool(b)
    var_a = pool(a * a) - mu_a * mu_a
    var_b = pool(b * b) - mu_b * mu_b
    cov = pool(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    denominator = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return (numerator / denominator).mean()


class FeatureTaps:
    """Keeps the latest output of each tapped block of a generator (forward hooks, no change to the network)."""

    def __init__(self, generator: SPADEGenerator):
        self.features: dict[str, paddle.Tensor] = {}
        blocks = generator.residual_blocks()
        for name in TAPPED_BLOCKS:
            blocks[name].register_forward_post_hook(self._keeper(name))

    def _keeper(self, name):
        def keep(layer, inputs, output):
            self.features[name] = output
        return keep


@dataclass(frozen=True)
class DistillConfig:
    """How the student learns from the teacher: TrainConfig's student and lambda_distill settings, by meaning."""

    ngf: int  # the student's width
    lr: float
    betas: tuple[float, float]
    lambda_l1: float  # picture L1 to the teacher's
    lambda_ssim: float  # 1 - SSIM of the picture and of the tapped blocks' (projected) activations
    with_ema: bool  # keep a weight average of the student (what is exported)
    lambda_feat: float = 0.0  # D feature matching between the student's and the teacher's pictures
    lambda_gan: float = 0.0  # D's hinge verdict on the student's pictures

    @classmethod
    def from_train(cls, cfg) -> "DistillConfig":
        return cls(ngf=cfg.student_ngf, lr=cfg.lr_student, betas=(cfg.beta1, cfg.beta2),
                   lambda_l1=cfg.lambda_distill_l1, lambda_ssim=cfg.lambda_distill_ssim, with_ema=cfg.ema_decay > 0,
                   lambda_feat=cfg.lambda_distill_feat, lambda_gan=cfg.lambda_distill_gan)


class Distillation:
    """The student, its EMA, the channel projections and their optimizer; one :meth:`step` per teacher step."""

    def __init__(self, teacher: SPADEGenerator, config: DistillConfig, discriminator: nn.Layer | None = None):
        cfg = student_config(teacher.cfg, config.ngf)
        self.student = SPADEGenerator(cfg)
        self.ema = None
        if config.with_ema:
            self.ema = SPADEGenerator(cfg)
            self.ema.set_state_dict(self.student.state_dict())
            self.ema.eval()
        self.projections = nn.LayerList([
            nn.Conv2D(self.student.residual_blocks()[name].out_channels, teacher.residual_blocks()[name].out_channels, 1)
            for name in TAPPED_BLOCKS])
        self.trainable = nn.LayerList([self.student, self.projections])  # one unit for optimizer and checkpoint
        self.optimizer = paddle.optimizer.Adam(config.lr, beta1=config.betas[0], beta2=config.betas[1],
                                               parameters=self.trainable.parameters())
        self.config = config
        self.discriminator = discriminator if config.lambda_feat > 0 or config.lambda_gan > 0 else None
        self.teacher_taps = FeatureTaps(teacher)
        self.student_taps = FeatureTaps(self.student)
        self.ranks = Ranks()

    def step(self, onehot_map: paddle.Tensor, z: paddle.Tensor, teacher_picture: paddle.Tensor,
             lr: float) -> tuple[dict, paddle.Tensor]:
        """Call right after the teacher's forward pass on (onehot_map, z); returns the loss terms and the student's picture."""
        targets = {name: feature.detach() for name, feature in self.teacher_taps.features.items()}
        teacher_picture = teacher_picture.detach()
        self.student.train()
        picture = self.student(onehot_map, z.detach())
        feature_ssim = sum(ssim(projection(self.student_taps.features[name]), targets[name])
                           for name, projection in zip(TAPPED_BLOCKS, self.projections)) / len(TAPPED_BLOCKS)
        # Pictures live in [-1, 1]; SSIM's constants assume [0, 1].
        picture_ssim = ssim((picture + 1) / 2, (teacher_picture + 1) / 2)
        config = self.config
        terms = {"s_l1": config.lambda_l1 * F.l1_loss(picture, teacher_picture),
                 "s_ssim": config.lambda_ssim * ((1 - picture_ssim) + (1 - feature_ssim))}
        with contextlib.ExitStack() as stack:
            if self.discriminator is not None:
                judge = stack.enter_context(frozen(self.discriminator))
                judge.eval()  # its stored power-iteration vectors: judging the student must not change D
                verdict = judge(onehot_map, picture)
                if config.lambda_feat > 0:
                    with paddle.no_grad():
                        target = judge(onehot_map, teacher_picture)
                    terms["s_feat"] = config.lambda_feat * feature_matching_loss(target, verdict)
                if config.lambda_gan > 0:
                    terms["s_gan"] = config.lambda_gan * hinge_g_loss(verdict)
            loss = sum(terms.values())
            self.optimizer.set_lr(lr)
            loss.backward()
        self.ranks.step(self.optimizer)
        self.optimizer.clear_grad()
        return {key: float(value) for key, value in terms.items()}, picture.detach()

    @property
    def inference_generator(self) -> SPADEGenerator:
        return self.ema if self.ema is not None else self.student

    def start_from(self, teacher: SPADEGenerator):
        """Begin as the teacher's strongest channels (:func:`prune_into`) rather than random weights."""
        prune_into(self.student, teacher)
        self._average_from_student()

    def continue_from(self, folder: Path) -> int:
        """Begin as an exported student (live weights and average alike); returns the steps it had trained.

        An export holds only the student's weight average, so the live weights
        restart from it and the optimizer and channel projections start afresh.
        """
        exported = load_generator(folder)
        if exported.cfg != self.student.cfg:
            raise ValueError(f"--init-student-from {folder} holds a student with other settings: "
                             f"{self.student.cfg.differences(exported.cfg)}")
        self.student.set_state_dict(exported.state_dict())
        self._average_from_student()
        return read_checkpoint_info(folder)["metadata"].get("steps", 0)

    def _average_from_student(self):
        if self.ema is not None:
            self.ema.set_state_dict(self.student.state_dict())


# --------------------------------------------------------------------------- pruning

def prune_into(student: SPADEGenerator, teacher: SPADEGenerator):
    """Fill a narrower student with the teacher's weights on its strongest channels.

    L1-norm filter pruning (Li et al., ICLR 2017): in each channel group the
    channels whose writing filters have the largest L1 norm survive, so the
    student starts from the teacher's features instead of noise and
    distillation only has to repair what the dropped channels carried.
    Spectral-normalised student layers get the teacher's effective weights
    and freshly converged power-iteration vectors.
    """
    source = {key: value.numpy() for key, value in folded_state_dict(teacher).items()}
    target = student.state_dict()
    groups, sizes = teacher.channel_groups(), student.channel_groups().sizes
    scores: dict[str, np.ndarray] = {}
    for layer, group in groups.writers.items():
        weight = source[layer + ".weight"]
        norms = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1)
        scores[group] = scores.get(group, 0) + norms / norms.mean()  # each writer gets an equal say
    keep = {group: np.sort(np.argsort(-score, kind="stable")[:sizes[group]]) for group, score in scores.items()}

    state = {}
    for key, value in target.items():
        layer, name = key.rsplit(".", 1)
        if name in ("weight_u", "weight_v"):
            continue
        weight = source[f"{layer}.{'weight' if name == 'weight_orig' else name}"]
        first, second = groups.axes.get(layer, (None, None))
        if first is not None:
            weight = weight[keep[first]]
        if second is not None and weight.ndim > 1:
            weight = weight[:, keep[second]]
        if list(weight.shape) != list(value.shape):
            raise ValueError(f"{key}: the teacher's {weight.shape} cannot be pruned to the student's {value.shape}")
        state[key] = weight
        if name == "weight_orig":
            state[layer + ".weight_u"], state[layer + ".weight_v"] = _singular_vectors(weight)
    student.set_state_dict(state)


def _singular_vectors(weight: np.ndarray, iterations: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Converged power iteration (what spectral norm's u and v approach during training) for a new weight."""
    matrix = weight.reshape(weight.shape[0], -1).astype(np.float64)
    v = np.ones(matrix.shape[1]) / np.sqrt(matrix.shape[1])
    for _ in range(iterations):
        u = matrix @ v
        u /= np.linalg.norm(u) + 1e-12
        v = matrix.T @ u
        v /= np.linalg.norm(v) + 1e-12
    return u.astype(np.float32), v.astype(np.float32)

