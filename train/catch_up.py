"""A class the palette gained after a run began, taught faster than the rest (``--catch-up-classes house``).

``--continue-from`` grows a run's networks to a palette with more classes, each added class starting as the
average class. At the run's rate Adam moves a weight at most ``lr_g`` a step, so a class that starts there
would need tens of thousands of steps to travel as far as the others did: 1,003 steps moved House's columns
0.003-0.015 from that average while the trained classes sit 0.29-0.33 from it (docs/training.md).

Here a second Adam, over the generator's weights that read the label map, sees only the added classes'
channels of their gradients and steps at ``(catch_up_lr - 1) * lr_g``. Adam's step on a gradient that is
always zero is zero, so every other weight moves exactly as the generator's own optimizer moves it, and the
added classes' channels move ``catch_up_lr`` times as fast.
"""
from __future__ import annotations

import numpy as np
import paddle

from miaobi_core.generator import SPADEGenerator
from miaobi_core.palette import Palette

from .config import TrainConfig


class CatchUp:
    def __init__(self, generator: SPADEGenerator, palette: Palette, cfg: TrainConfig):
        names = [name.strip() for name in cfg.catch_up_classes.split(",") if name.strip()]
        unknown = [name for name in names if name not in palette.names]
        if unknown or not names:
            raise ValueError(f"--catch-up-classes {cfg.catch_up_classes!r}: this model paints "
                             f"{', '.join(palette.names)}")
        self.class_ids = [palette.id_of(name) for name in names]
        self.cfg = cfg
        self.weights = generator.label_weights()
        self.masks = []
        for weight in self.weights:
            mask = np.zeros(weight.shape, np.float32)
            mask[:, self.class_ids] = 1.0
            self.masks.append(paddle.to_tensor(mask))
        self.optimizer = paddle.optimizer.Adam(self.rate(1.0), **cfg.betas,
                                               parameters=self.weights)

    def rate(self, lr_scale: float) -> float:
        return self.cfg.lr_g * (self.cfg.catch_up_lr - 1.0) * lr_scale

    def step(self, lr_scale: float):
        """After the generator's optimizer stepped, on the same (rank-averaged) gradients, before they are
        cleared: the extra step of the added classes' channels."""
        for weight, mask in zip(self.weights, self.masks):
            if weight.grad is not None:
                weight.grad.set_value(weight.grad * mask)
        self.optimizer.set_lr(self.rate(lr_scale))
        self.optimizer.step()
