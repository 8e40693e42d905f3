"""Prediction requests, parsed the same way for the web app and the hub module's serving method, and the
two neutral ways a prediction can fail for want of time; each front end maps errors to its own answer."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable

from .animation import parse_animation
from .codec import PICTURE_FORMATS, InputError
from .sun import Sun, parse_sun

MAX_SEED = 2**31 - 1  # fits a JavaScript number and a C int


@dataclass(frozen=True)
class RequestLimits:
    max_images: int = 8  # per request
    min_size: int = 64
    max_size: int = 1024


class Unavailable(Exception):
    """The server cannot paint this now, but will shortly: the client should try again."""

    code = "unavailable"


class Busy(Unavailable):
    """Too much work is waiting already."""

    code = "busy"

    def __init__(self, message: str = "Lots of children are painting right now. Please try again in a moment."):
        super().__init__(message)


class TimedOut(Unavailable):
    """A picture waited or took longer than the server allows."""

    code = "timeout"

    def __init__(self, message: str = "Painting took too long this time. Please try again."):
        super().__init__(message)


@dataclass(frozen=True)
class Prediction:
    """A checked request: base64 drawings (decoded later, after the cheap checks) and how to paint them."""

    drawings: list
    seeds: list[int]
    size: int | None  # None: each drawing's own size (or ``shape``)
    style: str | None
    format: str
    sun: Sun | None = None  # where the child placed a sun (miaobi_core/sun.py), drawn on every picture
    style_photo: str | None = None  # base64 JPEG/PNG whose light and weather paint the drawings (decoded later)
    animate: str | None = None  # a path of looks (miaobi_core/animation.py): an animated WebP instead of a picture
    frames: bool = False  # with animate: the frames too, each as a picture in ``format``
    shape: tuple[int, int] | None = None  # (height, width) of a picture that need not be square, instead of size


FIELDS = ("seed", "size", "width", "height", "style", "style_photo", "sun", "animate", "frames", "format")


def parse_prediction(body: dict, drawings_field: str, style_names: Callable[[], list[str]],
                     default_size: int | None = None, limits: RequestLimits = RequestLimits()) -> Prediction:
    """``POST /predict``'s ``{"image": ...}`` (drawings_field "image") or ``POST /predict/miaobi``'s
    ``{"images": [...]}`` (drawings_field "images"), with optional seed, size, style or style_photo (or
    animate, with frames), sun and format.

    ``style_names`` is called only when a style is named: the model is asked for its looks only then.
    """
    drawings = _inputs(body, drawings_field, FIELDS, "drawing", "base64 PNG", limits)
    style, style_photo = body.get("style"), body.get("style_photo")
    if style is not None and style_photo is not None:
        raise InputError("Send a look as 'style' or a photo as 'style_photo', not both.")
    if style_photo is not None and not isinstance(style_photo, str):
        raise InputError("'style_photo' must be a base64 JPEG or PNG string.")
    animate, frames = parse_animation(body.get("animate")), body.get("frames", False)
    if animate is not None and (style is not None or style_photo is not None):
        raise InputError("An animation paints its own path of looks: send 'animate' without 'style' or 'style_photo'.")
    if not isinstance(frames, bool) or (frames and animate is None):
        raise InputError("'frames' is true or false, and asks for an animation's frames (with 'animate').")
    size, shape = parse_picture_size(body.get("size"), body.get("width"), body.get("height"), limits)
    return Prediction(drawings=drawings, seeds=parse_seeds(body.get("seed"), len(drawings)),
                      size=None if shape else size or default_size, shape=shape,
                      style=None if style is None else parse_style(style, style_names()),
                      format=parse_format(body.get("format")), sun=parse_sun(body.get("sun")),
                      style_photo=style_photo, animate=animate, frames=frames)


def _inputs(body: dict, field: str, others: tuple[str, ...], noun: str, kind: str, limits: RequestLimits) -> list:
    """The request's images: ``body["image"]`` (the web app's one), or a list, ``body["images"]`` (the hub
    serving's: a field named in the plural); refusing fields other than ``field`` and ``others``."""
    allowed = (field, *others)
    unknown = set(body) - set(allowed)
    if unknown:
        raise InputError(f"Unknown fields {sorted(unknown)}; send {', '.join(allowed[:-1])} and {allowed[-1]} only.")
    many = field.endswith("s")
    if body.get(field) is None:
        raise InputError(f"Send the {noun}s as '{field}': a list of {kind}s." if many
                         else f"Send the {noun} as '{field}': a {kind}.")
    return check_image_list(body[field], limits) if many else [body[field]]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_seeds(value, count: int) -> list[int]:
    """None -> a fresh random seed per picture; an int -> that seed for every picture; a list -> one each."""
    if value is None:
        return [secrets.randbelow(MAX_SEED + 1) for _ in range(count)]
    values = value if isinstance(value, list) else [value] * count
    if len(values) != count:
        raise InputError(f"Got {count} pictures but {len(values)} seeds.")
    for seed in values:
        if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
            raise InputError(f"A seed must be a whole number from 0 to {MAX_SEED}.")
    return list(values)


def parse_size(value, limits: RequestLimits = RequestLimits()) -> int | None:
    """None keeps each canvas's own size; otherwise a square side in pixels."""
    if value is None:
        return None
    if not _is_int(value) or not limits.min_size <= value <= limits.max_size:
        raise InputError(f"The size must be a whole number of pixels from {limits.min_size} to {limits.max_size}.")
    return value


MAX_ASPECT = 2.0  # a wide picture (or drawing) is at most twice as wide as it is high, or as high as wide


def parse_shape(width, height, limits: RequestLimits = RequestLimits()) -> tuple[int, int] | None:
    """None for neither; otherwise both, (width, height) in pixels, each within the size limits and at most
    MAX_ASPECT to 1 either way."""
    if width is None and height is None:
        return None
    if width is None or height is None:
        raise InputError("Send both 'width' and 'height', or neither.")
    for side in (width, height):
        if not _is_int(side) or not limits.min_size <= side <= limits.max_size:
            raise InputError(f"The width and height must be whole numbers of pixels from {limits.min_size} to "
                             f"{limits.max_size}.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"A picture can be at most {MAX_ASPECT:g} times as wide as it is high (or as high as wide).")
    return width, height


def parse_picture_size(size, width, height, limits: RequestLimits = RequestLimits()
                       ) -> tuple[int | None, tuple[int, int] | None]:
    """A picture's size as the API takes it: ``size`` (a square side) or ``width`` and ``height``, not both
    -> (size, (height, width) or None)."""
    shape = parse_shape(width, height, limits)
    if shape is not None and size is not None:
        raise InputError("Send 'size' for a square picture or 'width' and 'height', not both.")
    return parse_size(size, limits), shape and shape[::-1]


@dataclass(frozen=True)
class DrawingRequest:
    """A checked ``POST /drawing``: base64 photos (decoded later) and the drawing's shape."""

    photos: list
    width: int
    height: int


DRAWING_SIDE = 256  # the page's canvas


def parse_drawing(body: dict, photos_field: str, limits: RequestLimits = RequestLimits()) -> DrawingRequest:
    """``POST /drawing``'s ``{"photo": ...}`` (photos_field "photo") or the hub serving's ``{"photos": [...]}``,
    with optional width and height (default: the page's square canvas)."""
    photos = _inputs(body, photos_field, ("width", "height"), "photo", "base64 JPEG or PNG", limits)
    if not all(isinstance(photo, str) for photo in photos):
        raise InputError("A photo must be a base64 JPEG or PNG string.")
    width, height = parse_shape(body.get("width"), body.get("height"), limits) or (DRAWING_SIDE, DRAWING_SIDE)
    return DrawingRequest(photos, width, height)


def parse_format(value) -> str:
    """None -> PNG; otherwise one of PICTURE_FORMATS, for the pictures sent back."""
    if value is None:
        return "png"
    if value not in PICTURE_FORMATS:
        raise InputError(f"The format must be one of {', '.join(PICTURE_FORMATS)}.")
    return value


def parse_style(value, known: list[str]) -> str | None:
    """None -> no particular look; otherwise one of the model's style names."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in known:
        from .styles import UnknownStyle

        raise UnknownStyle(value, known)
    return value


def check_image_list(images, limits: RequestLimits = RequestLimits()) -> list:
    if not isinstance(images, list):
        raise InputError("'images' must be a list of base64 PNG strings.")
    if not images:
        raise InputError("'images' is empty: send at least one drawing.")
    if len(images) > limits.max_images:
        raise InputError(f"At most {limits.max_images} drawings per request, got {len(images)}.")
    return images
