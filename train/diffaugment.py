"""DiffAugment (Zhao et al., NeurIPS 2020): the same random, differentiable changes to every picture a
discriminator sees, real or generated, so that D cannot memorise a small photo set and G is not
pushed towards the augmentations (they happen after G, and gradients pass through them).

For a conditional D the label map moves with its picture: translation and cutout apply to both,
colour only to the picture. The randomness is drawn from a numpy generator, as all of the trainer's
is, so a resumed run augments exactly as the unbroken run did; one draw per pair serves both its
real and its generated picture, which keeps feature matching comparing the same places.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn.functional as F

POLICIES = ("color", "translation", "cutout")


@dataclass(frozen=True)
class Draw:
    """One step's random parameters for a batch of B pairs."""

    brightness: np.ndarray  # (B,) added, in [-0.5, 0.5] of the [-1, 1] range's half
    saturation: np.ndarray  # (B,) factor in [0, 2]
    contrast: np.ndarray  # (B,) factor in [0.5, 1.5]
    shift: np.ndarray  # (B, 2) pixels (dy, dx), up to 1/8 of the height and of the width
    cutout: np.ndarray  # (B, 2) top-left corner of a rectangle half the height and half the width


def draw(rng: np.random.Generator, batch: int, height: int, width: int) -> Draw:
    """A batch's parameters for pictures of ``height`` x ``width`` (a square's are those of one side twice)."""
    sides = np.array([height, width])
    limit = sides // 8
    return Draw(brightness=rng.uniform(-0.5, 0.5, batch), saturation=rng.uniform(0, 2, batch),
                contrast=rng.uniform(0.5, 1.5, batch), shift=rng.integers(-limit, limit + 1, (batch, 2)),
                cutout=rng.integers(0, sides - sides // 2 + 1, (batch, 2)))


def parse_policy(text: str) -> tuple[str, ...]:
    """"color,translation,cutout" -> the policies, checked; "" -> none."""
    policies = tuple(p for p in text.split(",") if p)
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"--diffaugment {text!r}: unknown {unknown}; choose from {', '.join(POLICIES)}")
    return policies


def _per_sample(values: np.ndarray) -> paddle.Tensor:
    return paddle.to_tensor(values.astype(np.float32)).reshape([-1, 1, 1, 1])


def augment(onehot_map: paddle.Tensor, image: paddle.Tensor, policies: tuple[str, ...],
            params: Draw) -> tuple[paddle.Tensor, paddle.Tensor]:
    """(onehot_map, image) with each policy applied per sample; image in [-1, 1], onehot_map one-hot."""
    if "color" in policies:
        # DiffAugment's colour ops, written for [-1, 1] pictures (its brightness range is for [0, 1]: x2 here).
        image = image + _per_sample(params.brightness)
        mean = image.mean(axis=1, keepdim=True)
        image = (image - mean) * _per_sample(params.saturation) + mean
        mean = image.mean(axis=[1, 2, 3], keepdim=True)
        image = (image - mean) * _per_sample(params.contrast) + mean
    if "translation" in policies or "cutout" in policies:
        both = paddle.concat([onehot_map, image], axis=1)
        if "translation" in policies:
            both = _translate(both, params.shift)
        if "cutout" in policies:
            both = both * _cutout_mask(both.shape, params.cutout)
        # The label map never carries gradients (moved beside a picture, it would be tied to G's graph).
        onehot_map, image = both[:, :onehot_map.shape[1]].detach(), both[:, onehot_map.shape[1]:]
    return onehot_map, image


def _translate(x: paddle.Tensor, shift: np.ndarray) -> paddle.Tensor:
    """Each sample moved by its (dy, dx), zeros shifted in (an empty label, a mid-grey picture)."""
    _, _, height, width = x.shape
    pad = int(np.abs(shift).max()) if shift.size else 0
    if pad == 0:
        return x
    padded = F.pad(x, [pad, pad, pad, pad])
    rows = [padded[i:i + 1, :, pad - dy:pad - dy + height, pad - dx:pad - dx + width]
            for i, (dy, dx) in enumerate(shift.tolist())]
    return paddle.concat(rows, axis=0)


def _cutout_mask(shape, corners: np.ndarray) -> paddle.Tensor:
    batch, _, height, width = shape
    mask = np.ones((batch, 1, height, width), np.float32)
    for i, (top, left) in enumerate(corners.tolist()):
        mask[i, :, top:top + height // 2, left:left + width // 2] = 0
    return paddle.to_tensor(mask)
