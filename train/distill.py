"""Online distillation in the spirit of OMGD (Ren et al., ICCV 2021): a slim student learns from the teacher.

The teacher is the generator being trained adversarially, seen through its
weight average (EMA): the network users get, and a steadier target than the
live weights. Each step the student sees the same label map and z and is
pulled towards the teacher's picture (L1 and SSIM) and towards the teacher's
intermediate activations (SSIM after a learned 1x1 projection from the
student's narrower channels).
The student never meets the discriminator: as OMGD argues, a student that
only imitates a still-improving teacher avoids the instability of a small
GAN and follows the teacher's progress for free.
"""
from __future__ import annotations

import dataclasses

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from miaobi_core.generator import GeneratorConfig, SPADEGenerator

# Residual blocks whose outputs the student imitates, coarse to fine.
TAPPED_BLOCKS = ("G_middle_1", "up_0", "up_1", "up_2", "up_3")


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
                 lambda_l1: float, lambda_ssim: float, with_ema: bool):
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
        self.teacher_taps = FeatureTaps(teacher)
        self.student_taps = FeatureTaps(self.student)

    def step(self, segmap: paddle.Tensor, z: paddle.Tensor, teacher_picture: paddle.Tensor, lr: float) -> dict:
        """Call right after the teacher's forward pass on (segmap, z); returns the student's loss terms."""
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
        loss = sum(terms.values())
        self.optimizer.set_lr(lr)
        loss.backward()
        self.optimizer.step()
        self.optimizer.clear_grad()
        return {key: float(value) for key, value in terms.items()}

    @property
    def inference_generator(self) -> SPADEGenerator:
        return self.ema if self.ema is not None else self.student


def _block_channels(generator: SPADEGenerator, name: str) -> int:
    return getattr(generator, name).conv_1._out_channels
