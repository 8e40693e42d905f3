"""Bad input, generated: the decoder and /predict answer every input with a documented 4xx, never a 500."""
import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from miaobi_core.codec import CodecLimits, InputError, decode_drawing, encode_png, png_to_b64

LIMITS = CodecLimits(max_pixels=256 * 256)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_refuses(data, palette):
    try:
        decoded = decode_drawing(data, palette, LIMITS)
    except InputError as error:
        assert error.code and str(error)
        return None
    assert decoded.label_map.dtype == np.uint8 and decoded.label_map.max() < palette.num_classes
    return decoded


@FAST
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_text_or_bytes(palette, data):
    decodes_or_refuses(data, palette)


@st.composite
def pngs(draw):
    mode = draw(st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"]))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if mode in ("I;16", "I"):
        image = Image.fromarray(rng.integers(0, 65535, (height, width)).astype(np.uint16), "I;16").convert(mode)
    else:
        image = Image.fromarray(rng.integers(0, 255, (height, width, 4), dtype=np.uint8), "RGBA").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@FAST
@given(pngs(), st.integers(0, 10_000), st.integers(0, 255))
def test_png_modes_truncation_and_corruption(palette, png, position, value):
    decodes_or_refuses(png_to_b64(png), palette)
    decodes_or_refuses(png_to_b64(png[: position % len(png)]), palette)
    corrupt = bytearray(png)
    corrupt[position % len(png)] = value
    decodes_or_refuses(png_to_b64(bytes(corrupt)), palette)


def test_animated_png_is_refused(palette):
    frames = [Image.new("RGB", (8, 8), tuple(int(v) for v in palette.colors[i])) for i in range(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="Animated"):
        decode_drawing(png_to_b64(buffer.getvalue()), palette)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def client(hub_module_installed):
    import paddlehub as hub

    from webapp import create_app

    return create_app({"MODEL": hub.Module(name="miaobi"), "DEFAULT_SIZE": 64, "RATE_LIMIT": None}).test_client()


@FAST
@given(body=st.one_of(json_values, st.fixed_dictionaries(
    {"image": st.one_of(st.text(max_size=50), json_values)},
    optional={"seed": json_values, "size": json_values, "extra": json_values})))
def test_predict_answers_any_json_with_a_documented_status(client, body, palette):
    response = client.post("/predict", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 413, 415, 429), response.data
    assert "error" in response.get_json() or response.status_code == 200


@FAST
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]))
def test_predict_answers_any_body_with_a_documented_status(client, raw, content_type):
    response = client.post("/predict", data=raw, content_type=content_type)
    assert response.status_code in (400, 413, 415), response.data


def test_unicode_junk_and_giant_base64(client, palette, label_map):
    assert client.post("/predict", json={"image": "😀" * 1000}).status_code == 400
    assert client.post("/predict", json={"image": "A" * 5_700_000}).status_code == 413  # > 4 MiB once decoded
    assert client.post("/predict", json={"image": "A" * 7_000_000}).status_code == 413  # > the request limit
    valid = png_to_b64(encode_png(palette.colorize(label_map)))
    assert client.post("/predict", json={"image": valid, "seed": 2**31}).status_code == 400
    assert client.post("/predict", json={"image": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()}).status_code == 400


def test_short_atheris_run_finds_nothing(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()  # the script seeds it with valid PNGs
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("fuzz_codec.py")), "-atheris_runs=3000",
                             "-rss_limit_mb=2048", str(corpus)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 3000" in result.stderr
    assert len(list(corpus.iterdir())) > 5  # seeds, plus the inputs that reached new code
