"""Photos a grown-up sends (miaobi_core/photo.py): what phones make is read upright, and the rest is refused
with a clear error."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from miaobi_core.codec import EmptyImageError, ImageTooLargeError, NotAnImageError
from miaobi_core.photo import PhotoLimits, cover, decode_photo


def encoded(image: Image.Image, format="JPEG", **save) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **save)
    return base64.b64encode(buffer.getvalue()).decode()


def gradient(width=300, height=200) -> Image.Image:
    """Red grows to the right, green downwards: any turn or flip shows."""
    x, y = np.meshgrid(np.linspace(0, 255, width), np.linspace(0, 255, height))
    return Image.fromarray(np.stack([x, y, np.full_like(x, 60)], -1).astype(np.uint8))


def test_jpeg_and_png_photos_decode_as_rgb_in_their_own_size():
    for format in ("JPEG", "PNG"):
        photo = decode_photo(encoded(gradient(), format), side=200)
        assert photo.shape == (200, 300, 3) and photo.dtype == np.uint8
        assert photo[100, 290, 0] > 230 and photo[190, 150, 1] > 230
    data_url = "data:image/jpeg;base64," + encoded(gradient())
    assert decode_photo(data_url, side=200).shape == (200, 300, 3)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_that_still_covers_the_side():
    photo = decode_photo(encoded(gradient(4000, 3000), quality=70), side=256)
    assert photo.shape == (375, 500, 3)  # 1/8 is the smallest DCT scale with a short side >= 256


def test_exif_rotation_is_honoured():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view", as a phone held upright writes it
    photo = decode_photo(encoded(gradient(), exif=exif.tobytes()), side=200)
    assert photo.shape == (300, 200, 3)
    assert photo[290, 100, 0] > 230  # red grew to the right, so after the turn it grows downwards


def test_cmyk_and_grey_photos_become_rgb():
    cmyk = decode_photo(encoded(gradient().convert("CMYK")), side=200)
    assert cmyk.shape == (200, 300, 3) and cmyk[100, 290, 0] > 200
    grey = decode_photo(encoded(gradient().convert("L")), side=200)
    assert grey.shape == (200, 300, 3)


@pytest.mark.parametrize("data, error, words", [
    ("", EmptyImageError, "empty"),
    ("bm90IGEgcGhvdG8=", NotAnImageError, "not a photo we can read"),  # "not a photo"
    ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", NotAnImageError, "JPEG or PNG"),
    (encoded(gradient(), "GIF"), NotAnImageError, "GIF"),
])
def test_what_is_not_a_photo_is_refused(data, error, words):
    with pytest.raises(error, match=words):
        decode_photo(data, side=128)


def test_a_truncated_photo_is_refused():
    raw = base64.b64decode(encoded(gradient()))
    with pytest.raises(NotAnImageError, match="damaged or cut short"):
        decode_photo(base64.b64encode(raw[: len(raw) // 2]).decode(), side=128)


def test_too_many_bytes_and_too_many_pixels_are_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="larger than 0 KiB"):
        decode_photo(encoded(gradient()), side=128, limits=PhotoLimits(max_bytes=1000))
    with pytest.raises(ImageTooLargeError, match="at most 50,000 pixels"):
        decode_photo(encoded(gradient()), side=128, limits=PhotoLimits(max_pixels=50_000))
    # A decompression bomb: 2 kB of PNG that would inflate to 20,000 x 20,000 pixels.
    bomb = encoded(Image.new("1", (20_000, 20_000)), "PNG", optimize=True)
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLargeError):
        decode_photo(bomb, side=128)


def test_cover_scales_and_centre_crops():
    photo = np.asarray(gradient(300, 200))
    square = cover(photo, 100, 100)
    assert square.shape == (100, 100, 3)
    assert abs(int(square[50, 50, 0]) - int(photo[100, 150, 0])) < 8  # the centre stays the centre
    assert cover(photo, 150, 100).shape == (100, 150, 3)
