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
        for name in TAPPED_BLOCKS:
            getattr(generator, name).register_forward_post_hook(self._keeper(name))

    def _keeper(self, name):
        def keep(layer, inputs, output):
            self.features[name] = output
        return keep


class Distillation:
    """The student, its EMA, the channel projections and their optimizer; one :meth:`step` per teacher step."""

    def __init__(self, teacher: SPADEGenerator, ngf: int, lr: float, betas: tuple[float, float],
                 lambda_l1: float, lambda_ssim: float, with_ema: bool,
                 discriminator: nn.Layer | None = None, lambda_feat: float = 0.0, lambda_gan: float = 0.0):
        cfg = student_config(teacher.cfg, ngf)
        self.student = SPADEGenerator(cfg)
        self.ema = None
        if with_ema:
            self.ema = SPADEGenerator(cfg)
            self.ema.set_state_dict(self.student.state_dict())
            self.ema.eval()
        self.projections = nn.LayerList([
            nn.Conv2D(_block_channels(self.student, name), _block_channels(teacher, name), 1)
            for name in TAPPED_BLOCKS])
        self.trainable = nn.LayerList([self.student, self.projections])  # one unit for optimizer and checkpoint
        self.optimizer = paddle.optimizer.Adam(lr, beta1=betas[0], beta2=betas[1],
                                               parameters=self.trainable.parameters())
        self.lambda_l1, self.lambda_ssim = lambda_l1, lambda_ssim
        self.discriminator = discriminator if lambda_feat > 0 or lambda_gan > 0 else None
        self.lambda_feat, self.lambda_gan = lambda_feat, lambda_gan
        self.teacher_taps = FeatureTaps(teacher)
        self.student_taps = FeatureTaps(self.student)
        self.ranks = Ranks()

    def step(self, segmap: paddle.Tensor, z: paddle.Tensor, teacher_picture: paddle.Tensor,
             lr: float) -> tuple[dict, paddle.Tensor]:
        """Call right after the teacher's forward pass on (segmap, z); returns the loss terms and the student's picture."""
        targets = {name: feature.detach() for name, feature in self.teacher_taps.features.items()}
        teacher_picture = teacher_picture.detach()
        self.student.train()
        picture = self.student(segmap, z.detach())
        feature_ssim = sum(ssim(projection(self.student_taps.features[name]), targets[name])
                           for name, projection in zip(TAPPED_BLOCKS, self.projections)) / len(TAPPED_BLOCKS)
        # Pictures live in [-1, 1]; SSIM's constants assume [0, 1].
        picture_ssim = ssim((picture + 1) / 2, (teacher_picture + 1) / 2)
        terms = {"s_l1": self.lambda_l1 * F.l1_loss(picture, teacher_picture),
                 "s_ssim": self.lambda_ssim * ((1 - picture_ssim) + (1 - feature_ssim))}
        with contextlib.ExitStack() as stack:
            if self.discriminator is not None:
                judge = stack.enter_context(frozen(self.discriminator))
                judge.eval()  # its stored power-iteration vectors: judging the student must not change D
                verdict = judge(segmap, picture)
                if self.lambda_feat > 0:
                    with paddle.no_grad():
                        target = judge(segmap, teacher_picture)
                    terms["s_feat"] = self.lambda_feat * feature_matching_loss(target, verdict)
                if self.lambda_gan > 0:
                    terms["s_gan"] = self.lambda_gan * hinge_g_loss(verdict)
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

RESIDUAL_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3", "up_4")


def _channel_groups(generator: SPADEGenerator) -> tuple[dict[str, tuple[str | None, str | None]], dict[str, str]]:
    """Which channel group each layer's output and input dimensions index, and which layers write each group.

    A group is a set of channels that must be kept or dropped together: the
    trunk that identity shortcuts carry through head_0 .. G_middle_1, each
    block's middle, and each widening block's output. Modulation layers read
    their input's group (they make one gamma and beta per channel).
    """
    dims = {"fc": ("trunk", None)}
    writers = {"fc": "trunk"}
    stream = "trunk"
    for name in RESIDUAL_BLOCKS:
        block = getattr(generator, name, None)
        if block is None:
            continue
        middle, out = f"{name}.middle", (f"{name}.out" if block.learned_shortcut else stream)
        for norm, group in (("norm_0", stream), ("norm_1", middle), ("norm_s", stream)):
            for table in ("gamma", "beta", "mlp_gamma", "mlp_beta"):  # CLADE's lookup tables, SPADE's last convs
                dims[f"{name}.{norm}.{table}"] = (group, None)
        dims.update({f"{name}.conv_0": (middle, stream), f"{name}.conv_1": (out, middle),
                     f"{name}.conv_s": (out, stream)})
        writers.update({f"{name}.conv_0": middle, f"{name}.conv_1": out, f"{name}.conv_s": out})
        stream = out
    dims["conv_img"] = (None, stream)
    return dims, writers


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
    student_layers = dict(student.named_sublayers())
    dims, writers = _channel_groups(teacher)
    scores: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    for layer, group in writers.items():
        if layer not in student_layers:
            continue  # conv_s exists only in widening blocks
        weight = source[layer + ".weight"]
        norms = np.abs(weight).reshape(weight.shape[0], -1).sum(axis=1)
        scores[group] = scores.get(group, 0) + norms / norms.mean()  # each writer gets an equal say
        sizes[group] = student_layers[layer]._out_channels
    keep = {group: np.sort(np.argsort(-score, kind="stable")[:sizes[group]]) for group, score in scores.items()}

    state = {}
    for key, value in target.items():
        layer, name = key.rsplit(".", 1)
        if name in ("weight_u", "weight_v"):
            continue
        weight = source[f"{layer}.{'weight' if name == 'weight_orig' else name}"]
        out_group, in_group = dims.get(layer, (None, None))
        if out_group is not None:
            weight = weight[keep[out_group]]
        if in_group is not None and weight.ndim > 1:
            weight = weight[:, keep[in_group]]
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


def _block_channels(generator: SPADEGenerator, name: str) -> int:
    return getattr(generator, name).conv_1._out_channels
