"""Photos a grown-up sends: a garden to become a drawing (``POST /drawing``), a sunset whose light a drawing is
painted in (``style_photo``).

A photo is decoded in memory and never written anywhere. JPEG and PNG are taken, as phones and tablets
make them: turned upright by their EXIF orientation, CMYK and grey made RGB. A JPEG is decoded at the
smallest of its 1/2, 1/4, 1/8 scales that still covers the size wanted, so a phone's 12-megapixel photo
costs a few milliseconds and little memory. Every refusal is an ``InputError`` with a stable code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .codec import CodecLimits, NotAnImageError, b64_to_bytes, open_image

PHOTO_MEDIA_TYPES = ("image/jpeg", "image/png")
PHOTO_FORMATS = ("JPEG", "PNG", "MPO")  # MPO: a JPEG with a second view, as some phone cameras write


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int = 4 * 1024 * 1024  # the page shrinks a photo before sending it; 4 MiB is a large JPEG
    max_pixels: int = 50_000_000  # checked from the header: a 48-megapixel phone photo, not a decompression bomb


def decode_photo(data: str | bytes, side: int, limits: PhotoLimits = PhotoLimits()) -> np.ndarray:
    """Base64 (bare or a data URL) JPEG or PNG -> (H, W, 3) uint8 RGB, upright, its short side at least
    ``side`` where the photo has that many pixels (a JPEG is decoded at a reduced scale when it can)."""
    return photo_from_bytes(b64_to_bytes(data, CodecLimits(max_bytes=limits.max_bytes), PHOTO_MEDIA_TYPES),
                            side, limits)


def photo_from_bytes(raw: bytes, side: int, limits: PhotoLimits = PhotoLimits()) -> np.ndarray:
    """JPEG or PNG bytes -> (H, W, 3) uint8 RGB; see :func:`decode_photo`."""
    with open_image(raw, limits.max_bytes, limits.max_pixels, "photo") as image:
        if image.format not in PHOTO_FORMATS:
            raise NotAnImageError(f"The photo is {image.format}; send a JPEG or PNG.")
        try:
            if image.format != "PNG":
                image.draft("RGB", (side, side))  # scale >= side on both axes (JPEG's DCT scaling)
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"))
        except (OSError, ValueError, SyntaxError, EOFError):
            raise NotAnImageError("The photo is damaged or cut short.") from None
    return rgb


def cover(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """The photo scaled to cover ``width`` x ``height`` (area-averaged when shrinking) and centre-cropped to it."""
    rows, cols = photo.shape[:2]
    scale = max(width / cols, height / rows)
    size = (max(width, round(cols * scale)), max(height, round(rows * scale)))
    image = Image.fromarray(photo).resize(size, Image.BOX if scale < 1 else Image.BICUBIC)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)))
