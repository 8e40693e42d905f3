"""Label-map codec: every palette colour round-trips, blurred edges snap, each bad input has its error."""
import base64
import io

import numpy as np
import pytest
from PIL import Image

from miaobi_core import codec
from miaobi_core.codec import CodecLimits, decode_drawing, encode_png, png_to_b64
from miaobi_core.palette import palette_json, parse_palette


def b64_png(array: np.ndarray, mode=None, **save) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format=save.pop("format", "PNG"), **save)
    return base64.b64encode(buffer.getvalue()).decode()


def test_palette_has_enough_distinct_kid_friendly_classes(palette):
    assert palette.num_classes >= 10
    assert {"sky", "cloud", "mountain", "snow", "rock", "water", "sea", "sand", "grass", "tree"} <= set(palette.names)
    distances = np.linalg.norm(palette.colors[:, None].astype(float) - palette.colors[None].astype(float), axis=2)
    assert distances[~np.eye(palette.num_classes, dtype=bool)].min() > 2 * CodecLimits().tolerance - 10
    assert all(palette.emojis) and all(palette.displays)


def test_a_model_of_fewer_classes_paints_the_palettes_first_ones(palette):
    older = palette.first(palette.num_classes - 1)  # a model trained before the last class was added
    assert older.names == palette.names[:-1] and len(older.colors) == older.num_classes
    assert older.id_of("sky") == palette.id_of("sky") and older.transparent_id == palette.transparent_id
    assert palette.num_classes - 1 not in older.ade20k_to_id.values()
    assert palette_json(older.num_classes)["classes"][-1]["name"] == older.names[-1]
    with pytest.raises(ValueError, match="does not fit"):
        palette.first(palette.num_classes + 1)


def test_palette_refuses_duplicate_colours():
    spec = {"transparent_class": "a", "ignore_id": 255, "classes": [
        {"id": 0, "name": "a", "display": "A", "rgb": [1, 2, 3], "emoji": "x"},
        {"id": 1, "name": "b", "display": "B", "rgb": [1, 2, 3], "emoji": "y"}]}
    with pytest.raises(ValueError, match="share a colour"):
        parse_palette(spec)


def test_every_palette_colour_round_trips(palette):
    ids = np.repeat(np.arange(palette.num_classes, dtype=np.uint8), 4)[None].repeat(3, axis=0)
    decoded = decode_drawing(b64_png(palette.colorize(ids)), palette)
    np.testing.assert_array_equal(decoded.label_map, ids)
    assert decoded.off_palette_pixels == 0


def test_data_url_and_indexed_png_round_trip(palette, label_map):
    indexed = encode_png(label_map, palette.colors)  # how pseudo-labels are stored
    decoded = decode_drawing("data:image/png;base64," + png_to_b64(indexed), palette)
    np.testing.assert_array_equal(decoded.label_map, label_map)
    # Unlabelled pixels keep their id in a label file (a 12-colour palette once made Pillow write 4 bits).
    labels = label_map.copy()
    labels[:4] = palette.ignore_id
    with Image.open(io.BytesIO(encode_png(labels, palette.colors))) as stored:
        np.testing.assert_array_equal(np.asarray(stored), labels)


def test_anti_aliased_edges_snap_to_a_neighbouring_class(palette):
    sky, tree = palette.id_of("sky"), palette.id_of("tree")
    ids = np.full((20, 20), sky, np.uint8)
    ids[:, 10:] = tree
    rgb = palette.colorize(ids).astype(float)
    rgb[:, 10] = 0.5 * rgb[:, 9] + 0.5 * rgb[:, 10]  # a blended column between sky and trees
    rgb[:, 11] = 0.9 * rgb[:, 11] + 0.1 * palette.colors[sky]  # a faint blend: within tolerance
    decoded = decode_drawing(b64_png(rgb.round().astype(np.uint8)), palette)
    assert decoded.off_palette_pixels == 20
    assert set(np.unique(decoded.label_map[:, 10])) <= {sky, tree}
    assert (decoded.label_map[:, 11] == tree).all()


def test_transparent_pixels_become_the_documented_default(palette):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = [*palette.colors[palette.id_of("sea")], 255]
    decoded = decode_drawing(b64_png(rgba), palette)
    assert decoded.label_map[0, 0] == palette.id_of("sea")
    assert (decoded.label_map.ravel()[1:] == palette.transparent_id).all() and palette.names[palette.transparent_id] == "sky"
    assert decoded.transparent_pixels == 15


def grey_png16() -> str:
    return b64_png(np.full((4, 4), 65535, np.uint16), "I;16")


@pytest.mark.parametrize("data, error", [
    ("not base64 at all!", codec.NotBase64Error),
    (b"\xff\xfe", codec.NotBase64Error),
    (12345, codec.NotBase64Error),
    (base64.b64encode(b"hello, this is text").decode(), codec.NotAnImageError),
    ("data:image/jpeg;base64,AAAA", codec.NotPNGError),
    (b64_png(np.zeros((8, 8, 3), np.uint8), format="JPEG"), codec.NotPNGError),
    ("", codec.EmptyImageError),
    ("data:image/png;base64,", codec.EmptyImageError),
    (b64_png(np.full((8, 8, 3), 37, np.uint8)), codec.OffPaletteError),
])
def test_bad_input_gets_its_specific_error(palette, data, error):
    with pytest.raises(error) as raised:
        decode_drawing(data, palette)
    assert raised.value.code == error.code and str(raised.value)


def test_truncated_png_is_not_an_image(palette, label_map):
    raw = encode_png(palette.colorize(label_map))
    with pytest.raises(codec.NotAnImageError):
        decode_drawing(png_to_b64(raw[: len(raw) // 2]), palette)


def test_too_many_bytes_is_refused_before_decoding(palette):
    with pytest.raises(codec.ImageTooLargeError) as raised:
        decode_drawing("A" * 200, palette, CodecLimits(max_bytes=100))
    assert raised.value.code == "too_large"


def test_too_many_pixels_is_refused_from_the_header(palette):
    # A decompression bomb: a small file that inflates to a huge image.
    big = b64_png(np.zeros((3000, 3000), np.uint8), "L", optimize=True)
    assert len(big) < 100_000
    with pytest.raises(codec.ImageTooLargeError):
        decode_drawing(big, palette, CodecLimits(max_pixels=1000 * 1000))


def test_grey_and_16_bit_pngs_decode_by_colour(palette):
    decoded = decode_drawing(grey_png16(), palette)
    assert (decoded.label_map == palette.id_of("snow")).all()  # white is snow


def test_class_id_maps_are_checked():
    with pytest.raises(codec.LabelMapError, match="0..10"):
        codec.check_label_map(np.full((4, 4), 11), 11)
    with pytest.raises(codec.LabelMapError, match="integers"):
        codec.check_label_map(np.zeros((4, 4), np.float32), 11)
    assert codec.check_label_map(np.zeros((4, 4), np.int64), 11).dtype == np.uint8
