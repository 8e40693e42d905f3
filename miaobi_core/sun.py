"""A sun where the child placed it: painted onto the picture after the generator, with the sky's light
around it following it (a glow, and a warmer, brighter sky towards it).

Why a composite, and not a label class or a look (measured and looked at in docs/sun.md):
- a class needs photos that show one: the palette's rule asks for 2% of the labelled pixels, and a sun
  covers well under 1% of the few photos that have one in sight (the ADE20K segmenter has no sun class
  to label it with);
- a look changes the light of the whole picture and cannot say *where* the sun is;
- a composite is exactly where the child put it, works with every model, and hides behind a mountain
  drawn over it, because it is painted on sky and cloud pixels only. The synthesizer paints it at the
  model's own size (128 px: ~3 ms here), before the upscaler enlarges the picture.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from .codec import InputError

SUN_COLOUR = np.array([255, 246, 205], np.float32) / 255  # the disc: nearly white, warm
GLOW_COLOUR = np.array([255, 205, 130], np.float32) / 255  # the light around it: golden
MIN_RADIUS, MAX_RADIUS = 0.02, 0.25  # fractions of the picture's side


@dataclass(frozen=True)
class Sun:
    """Centre (x right, y down) and radius, as fractions of the picture's side."""

    x: float
    y: float
    radius: float


def parse_sun(value) -> Sun | None:
    """``{"x": 0..1, "y": 0..1, "radius": 0.02..0.25}`` (the API's ``sun``), or None for no sun."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"x", "y", "radius"} or not {"x", "y"} <= set(value):
        raise InputError('A sun must be {"x": 0..1, "y": 0..1, "radius": 0.02..0.25} (radius optional).')
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
        raise InputError("A sun's x, y and radius must be numbers.")
    sun = Sun(float(value["x"]), float(value["y"]), float(value.get("radius", 0.07)))
    if not (0 <= sun.x <= 1 and 0 <= sun.y <= 1 and MIN_RADIUS <= sun.radius <= MAX_RADIUS):
        raise InputError(f"A sun's x and y must lie in 0..1 and its radius in {MIN_RADIUS}..{MAX_RADIUS}.")
    return sun


WORK_SIDE = 256  # the glow and the sky mask are smooth: worked out at most this large, then enlarged


def add_sun(picture: np.ndarray, ids: np.ndarray, sky_ids, sun: Sun) -> np.ndarray:
    """``picture`` (S, S, 3) uint8 with the sun drawn on its sky: ``ids`` is the label map it was painted from
    (any size), ``sky_ids`` the classes a sun shines through (sky, cloud)."""
    side_y, side_x = picture.shape[:2]
    work_x, work_y = min(side_x, WORK_SIDE), min(side_y, WORK_SIDE)
    sky = Image.fromarray((np.isin(ids, sky_ids) * 255).astype(np.uint8)).resize((work_x, work_y), Image.BILINEAR)
    sky = np.asarray(sky.filter(ImageFilter.GaussianBlur(max(1.0, work_x / 200))), np.float32) / 255
    yy, xx = np.mgrid[0:work_y, 0:work_x].astype(np.float32)
    short = min(work_x, work_y)  # the radius is a fraction of the short side (the side, of a square picture)
    distance = np.hypot(xx + 0.5 - sun.x * work_x, yy + 0.5 - sun.y * work_y) / short
    edge = max(1.5 / short, 0.08 * sun.radius)  # a soft rim, a pixel or two wide
    disc = np.clip((sun.radius - distance) / edge + 0.5, 0, 1)
    glow = 0.9 * np.exp(-(distance / (3 * sun.radius)) ** 2) + 0.35 * np.exp(-(distance / 0.6) ** 2)
    enlarge = lambda a: np.asarray(Image.fromarray(a, "F").resize((side_x, side_y), Image.BILINEAR))[..., None]
    light, cover = enlarge(sky * glow), enlarge(sky * disc)
    image = picture.astype(np.float32) * (1 / 255)
    image = 1 - (1 - image) * (1 - light * GLOW_COLOUR)  # screen: brighter and warmer, never darker
    image += cover * (SUN_COLOUR - image)
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
