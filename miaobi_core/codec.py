"""Drawing codec: base64 PNG drawings <-> label maps (class ids), and PNG encoding.

Label maps travel as lossless PNG only: a JPEG's ringing invents colours at
every border, which would turn a lake's edge into sand. A child's canvas is
painted without anti-aliasing, but other clients (a resized screenshot, a
drawing app) blur borders, so colours within ``tolerance`` of a palette
colour snap to it, and the few blended border pixels that are further away
take the majority class of their on-palette neighbours.

Every rejection is a :class:`LabelMapError` subclass with a ``code`` and a message
a client can show to a child's parent; each front end picks its own status for it.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .palette import Palette


class InputError(ValueError):
    """Bad input from a client: ``code`` is a stable machine-readable name, the message fit for a parent."""

    code = "bad_request"


class LabelMapError(InputError):
    code = "bad_label_map"


class NotBase64Error(LabelMapError):
    code = "not_base64"


class NotAnImageError(LabelMapError):
    code = "not_an_image"


class NotPNGError(LabelMapError):
    code = "not_png"


class EmptyImageError(LabelMapError):
    code = "empty"


class ImageTooLargeError(LabelMapError):
    code = "too_large"


class OffPaletteError(LabelMapError):
    code = "off_palette"


@dataclass(frozen=True)
class CodecLimits:
    max_bytes: int = 4 * 1024 * 1024  # decoded PNG size
    max_pixels: int = 2048 * 2048  # checked from the header, before any pixel is inflated
    tolerance: float = 40.0  # RGB distance within which a colour snaps to a palette colour
    max_off_palette_fraction: float = 0.25  # more than this is not a palette drawing at all


@dataclass(frozen=True)
class DecodedDrawing:
    label_map: np.ndarray  # (H, W) uint8 class ids
    off_palette_pixels: int  # pixels further than the tolerance from every palette colour
    transparent_pixels: int  # fully transparent pixels given the palette's transparent class


def pictures_from_unit(images: np.ndarray) -> np.ndarray:
    """Generator output (N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 RGB pictures."""
    return ((np.asarray(images).transpose(0, 2, 3, 1) + 1) * 127.5).clip(0, 255).round().astype(np.uint8)


def pictures_to_unit(photos: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB photos -> (N, 3, H, W) float32 in [-1, 1], the generator's range."""
    return np.asarray(photos).transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0


_DATA_URL = re.compile(r"^data:([\w/+.-]+)?(;[\w=.-]+)*;base64,", re.IGNORECASE)


def b64_to_bytes(data: str | bytes, limits: CodecLimits = CodecLimits(),
                 media_types: tuple[str, ...] = ("image/png",)) -> bytes:
    """Bare base64 or a ``data:<one of media_types>;base64,`` URL -> bytes."""
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError:
            raise NotBase64Error("The picture is not base64 text.") from None
    if not isinstance(data, str):
        raise NotBase64Error(f"The picture must be a base64 string, not {type(data).__name__}.")
    match = _DATA_URL.match(data)
    if match:
        media = (match.group(1) or "").lower()
        if media and media not in media_types:
            if media_types == ("image/png",):
                raise NotPNGError(f"The picture is {media}; send a PNG (other formats blur the colours).")
            raise NotAnImageError(f"The picture is {media}; send a JPEG or PNG photo.")
        data = data[match.end():]
    data = "".join(data.split())  # line-wrapped base64 is still base64
    if not data:
        raise EmptyImageError("The picture is empty.")
    # 4 base64 characters carry 3 bytes: refuse before allocating anything big.
    if len(data) // 4 * 3 > limits.max_bytes:
        raise ImageTooLargeError(f"The picture is larger than {limits.max_bytes // 1024} KiB.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise NotBase64Error("The picture is not valid base64.") from None
    if not raw:
        raise EmptyImageError("The picture is empty.")
    return raw


def open_image(raw: bytes, max_bytes: int, max_pixels: int, noun: str = "picture") -> Image.Image:
    """Uploaded bytes -> a Pillow image, opened but not decoded, after the checks every upload needs: not
    empty, not too many bytes, readable, and with pixels but not too many (read from the header, so a
    decompression bomb is refused before anything is inflated). ``noun`` names it in the messages."""
    if not raw:
        raise EmptyImageError(f"The {noun} is empty.")
    if len(raw) > max_bytes:
        raise ImageTooLargeError(f"The {noun} is larger than {max_bytes // 1024} KiB.")
    try:
        image = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"The {noun} has far too many pixels.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise NotAnImageError(f"That is not a {noun} we can read.") from None
    width, height = image.size
    if width == 0 or height == 0:
        image.close()
        raise EmptyImageError(f"The {noun} has no pixels.")
    if width * height > max_pixels:
        image.close()
        raise ImageTooLargeError(f"The {noun} is {width}x{height}; at most {max_pixels:,} pixels are accepted.")
    return image


def png_to_rgba(raw: bytes, limits: CodecLimits = CodecLimits()) -> np.ndarray:
    """PNG bytes -> (H, W, 4) uint8, refusing other formats and oversized images."""
    with open_image(raw, limits.max_bytes, limits.max_pixels) as image:
        if image.format != "PNG":
            raise NotPNGError(f"The picture is {image.format}; send a PNG (other formats blur the colours).")
        if getattr(image, "is_animated", False):
            raise NotAnImageError("Animated pictures are not drawings; send one frame.")
        try:
            image.load()
            if image.mode in ("I;16", "I;16B", "I", "F"):
                # 16-bit grey: keep the high byte so white stays white.
                grey = np.asarray(image, np.float64)
                top = 65535.0 if grey.max() > 255 else 255.0
                grey8 = np.clip(grey / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                image = Image.fromarray(grey8, "L")
            rgba = np.asarray(image.convert("RGBA"))
        except (OSError, ValueError, SyntaxError, EOFError):
            raise NotAnImageError("The picture is damaged or cut short.") from None
    return rgba


def snap_to_palette(rgba: np.ndarray, palette: Palette, limits: CodecLimits = CodecLimits()) -> DecodedDrawing:
    """(H, W, 3|4) uint8 colours -> a label map of class ids, see the module docstring."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or rgba.dtype != np.uint8:
        raise NotAnImageError(f"Expected an (H, W, 3 or 4) uint8 colour image, got {rgba.dtype} {rgba.shape}.")
    height, width = rgba.shape[:2]
    if height == 0 or width == 0:
        raise EmptyImageError("The picture has no pixels.")
    rgb = rgba[..., :3].reshape(-1, 3)
    transparent = (rgba[..., 3].reshape(-1) == 0) if rgba.shape[2] == 4 else np.zeros(len(rgb), bool)

    # Distances for each distinct colour only: a drawing has few colours.
    packed = (rgb[:, 0].astype(np.int32) << 16) | (rgb[:, 1].astype(np.int32) << 8) | rgb[:, 2]
    unique, inverse = np.unique(packed, return_inverse=True)
    unique_rgb = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    dist = np.linalg.norm(unique_rgb[:, None, :].astype(np.float32) - palette.colors[None].astype(np.float32), axis=2)
    nearest = dist.argmin(axis=1).astype(np.uint8)
    within = dist.min(axis=1) <= limits.tolerance

    label_map = nearest[inverse]
    on_palette = within[inverse] | transparent
    label_map[transparent] = palette.transparent_id
    off = int((~on_palette).sum())
    if off > limits.max_off_palette_fraction * len(label_map):
        raise OffPaletteError(
            f"{100.0 * off / len(label_map):.0f}% of the picture uses colours that are not on the palette; "
            "please paint with the palette colours.")
    label_map = label_map.reshape(height, width)
    if off:
        label_map = _vote_off_palette(label_map, on_palette.reshape(height, width), palette.num_classes)
    return DecodedDrawing(label_map=label_map, off_palette_pixels=off, transparent_pixels=int(transparent.sum()))


def _vote_off_palette(label_map: np.ndarray, on_palette: np.ndarray, num_classes: int) -> np.ndarray:
    """Give each off-palette pixel the most common class among its on-palette 8-neighbours.

    A blended border pixel between sky and trees can be nearest to grass; its
    neighbours know better. Pixels with no on-palette neighbour keep the
    nearest colour's class.
    """
    rows, cols = np.nonzero(~on_palette)
    padded = np.pad(label_map, 1)
    padded_ok = np.pad(on_palette, 1)
    votes = np.zeros((len(rows), num_classes), np.int32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            r, c = rows + 1 + dy, cols + 1 + dx
            ok = padded_ok[r, c]
            np.add.at(votes, (np.nonzero(ok)[0], padded[r, c][ok]), 1)
    has_vote = votes.sum(axis=1) > 0
    out = label_map.copy()
    out[rows[has_vote], cols[has_vote]] = votes[has_vote].argmax(axis=1)
    return out


def decode_drawing(data: str | bytes, palette: Palette, limits: CodecLimits = CodecLimits()) -> DecodedDrawing:
    """A base64 PNG drawing (bare or data URL) -> its label map, with an off-palette report."""
    return snap_to_palette(png_to_rgba(b64_to_bytes(data, limits), limits), palette, limits)


def check_label_map(label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """Validate a label map of class ids given directly (not as colours)."""
    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.size == 0:
        raise LabelMapError(f"A label map must be a non-empty (H, W) array, got shape {label_map.shape}.")
    if not np.issubdtype(label_map.dtype, np.integer):
        raise LabelMapError(f"A label map must hold integers, got {label_map.dtype}.")
    low, high = int(label_map.min()), int(label_map.max())
    if low < 0 or high >= num_classes:
        raise LabelMapError(f"Class ids must lie in 0..{num_classes - 1}, got {low}..{high}.")
    return label_map.astype(np.uint8)


def encode_png(image: np.ndarray, palette_colors: np.ndarray | None = None) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG bytes; (H, W) ids with ``palette_colors`` -> indexed PNG (8 bits a pixel,
    so every id up to 255, the unlabelled one too, survives; ids without a colour show black)."""
    if palette_colors is None:
        pil = Image.fromarray(np.asarray(image, np.uint8), "RGB")
    else:
        pil = Image.fromarray(np.asarray(image, np.uint8), "P")
        # All 256 entries: Pillow stores as few bits as the palette needs, and with 12 colours it wrote 4-bit
        # pixels, turning the unlabelled id 255 into 15.
        colours = np.zeros((256, 3), np.uint8)
        colours[:len(palette_colors)] = np.asarray(palette_colors, np.uint8)
        pil.putpalette(colours.reshape(-1).tolist())
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG", compress_level=3)  # level 3: near-best size at a fraction of 9's time
    return buffer.getvalue()


def onehot(ids: np.ndarray, num_classes: int) -> np.ndarray:
    """(B, H, W) class ids -> (B, C, H, W) float32, the generator's input (every backend's, and training's);
    ids >= num_classes (ignore) become all-zero pixels."""
    table = np.eye(num_classes + 1, num_classes, dtype=np.float32)
    table[num_classes] = 0
    return table[np.minimum(ids, num_classes)].transpose(0, 3, 1, 2)


# What a picture can be sent back as: PNG is lossless; JPEG is about 6x smaller for these photo-like
# pictures and 10-30x faster to encode at 512-1024 px (docs/performance.md, "Upscaler").
PICTURE_FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}
JPEG_QUALITY = 90


def encode_picture(picture: np.ndarray, format: str) -> bytes:
    """(H, W, 3) uint8 RGB -> bytes in one of PICTURE_FORMATS."""
    if format == "png":
        return encode_png(picture)
    if format != "jpeg":
        raise ValueError(f"unknown picture format {format!r}; choose one of {', '.join(PICTURE_FORMATS)}")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8), "RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def png_to_b64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
