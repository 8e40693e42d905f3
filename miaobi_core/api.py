"""Validation of prediction requests, shared by the hub module's serving method and the web app."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from .codec import PICTURE_FORMATS, InputError

MAX_SEED = 2**31 - 1  # fits a JavaScript number and a C int


@dataclass(frozen=True)
class RequestLimits:
    max_images: int = 8  # per request
    min_size: int = 64
    max_size: int = 1024


class Busy(InputError):
    """Too much work is waiting already: the client should retry shortly."""

    code = "busy"
    status = 429

    def __init__(self, message: str = "Lots of children are painting right now. Please try again in a moment."):
        super().__init__(message)


class TimedOut(Busy):
    """A picture waited or took longer than the server allows; the client may try again."""

    code = "timeout"
    status = 503

    def __init__(self, message: str = "Painting took too long this time. Please try again."):
        super().__init__(message)


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
