"""The learned upscalers: the shipped networks' output, which one each size takes, and the off switch."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miaobi_core.synthesizer import Synthesizer
from miaobi_core.upscale import INT8_MIN_PSNR, SPEC_NAME, Upscaler, Upscalers, UpscalerSpec, enlarge, psnr
from miaobi_core.variants import FOLDERS, UPSCALER_FOLDER
from train import quantize_upscaler as quantize

SHIPPED = Path(__file__).resolve().parent.parent / "hub_module" / "miaobi"


@pytest.fixture(scope="module")
def upscalers():
    return Upscalers(SHIPPED / UPSCALER_FOLDER)


@pytest.fixture
def probe(palette):
    """The mountain probe in palette colours at 32 px: hard edges, where an upscaler shows its hand."""
    ids = np.asarray(Image.open(SHIPPED.parent.parent / "miaobi_core" / "probes" / "mountain.png"))
    return np.asarray(Image.fromarray(palette.colorize(ids)).resize((32, 32), Image.NEAREST))


# A 2 x 4 slice of each shipped network's output for the probe: (factor, runtime) -> (rows, columns, pixels).
PINNED = {
    (2, "openvino int8"): (slice(30, 32), slice(28, 32), [[[132, 84, 162], [134, 86, 161], [129, 72, 155], [108, 58, 148]],
                                                          [[127, 80, 166], [124, 64, 157], [127, 62, 153], [186, 110, 189]]]),
    (2, "ncnn"): (slice(30, 32), slice(28, 32), [[[135, 84, 162], [138, 86, 161], [131, 73, 154], [107, 61, 148]],
                                                 [[130, 77, 164], [127, 63, 159], [124, 61, 152], [180, 108, 186]]]),
    (4, "ncnn"): (slice(60, 62), slice(60, 64), [[[145, 72, 168], [141, 71, 166], [135, 66, 158], [136, 63, 154]],
                                                 [[148, 78, 167], [147, 73, 163], [135, 60, 148], [126, 57, 140]]]),
}


@pytest.mark.parametrize("factor, runtime", sorted(PINNED))
def test_the_shipped_upscalers_paint_the_pinned_pixels_and_keep_the_colours(probe, factor, runtime):
    folder = SHIPPED / UPSCALER_FOLDER / f"x{factor}"
    network = Upscaler(folder, int8=runtime != "ncnn")
    assert network.runtime == runtime
    big = network(probe)
    assert big.shape == (32 * factor, 32 * factor, 3) and big.dtype == np.uint8
    rows, columns, pixels = PINNED[factor, runtime]
    # Three levels of slack: ncnn picks other kernels (and fp16 paths) on other CPUs.
    assert np.abs(big[rows, columns].astype(int) - np.array(pixels)).max() <= 3
    assert np.abs(big.reshape(-1, 3).mean(0) - probe.reshape(-1, 3).mean(0)).max() < 6  # no colour cast


def test_serving_runs_the_x2_networks_int8_copy_within_the_parity_bar(upscalers, probe):
    fast, reference = upscalers.by_factor[2], Upscaler(SHIPPED / UPSCALER_FOLDER / "x2", int8=False)
    assert upscalers.runtimes() == {"waifu2x photo x2": f"openvino int8 ({fast.parity_note})",
                                    "Real-ESRGAN general x4 v3": "ncnn (no int8 copy)"}
    assert psnr(fast(probe), reference(probe)) >= INT8_MIN_PSNR


def int8_free_copy(tmp_path) -> Path:
    """The shipped x2 folder as it was before its int8 copy was made."""
    folder = shutil.copytree(SHIPPED / UPSCALER_FOLDER / "x2", tmp_path / "x2")
    spec = json.loads((folder / SPEC_NAME).read_text())
    (folder / spec.pop("int8_onnx")).unlink()
    (folder / SPEC_NAME).write_text(json.dumps(spec))
    return folder


def test_quantizing_writes_an_int8_copy_that_serving_takes(tmp_path, probe):
    import onnx

    folder = int8_free_copy(tmp_path)
    assert Upscaler(folder).runtime == "ncnn"
    path = quantize.quantize(folder, [probe, probe[::-1]])
    assert UpscalerSpec.read(folder).int8_onnx == path.name
    types = {t.name: t.data_type for t in onnx.load(str(path)).graph.initializer}
    assert all(types[f"weight{i}_q"] == onnx.TensorProto.INT8 for i in range(6))  # six int8 convolutions,
    assert types["weight6"] == onnx.TensorProto.FLOAT and "weight6_q" not in types  # the last one in float
    upscaler = Upscaler(folder)
    assert upscaler.runtime == "openvino int8" and "dB from ncnn's picture" in upscaler.parity_note


def test_an_int8_copy_that_paints_otherwise_or_is_missing_is_not_served(tmp_path, probe):
    folder = int8_free_copy(tmp_path)
    # Calibrated on black pictures, the activation ranges are far too small: the probe's are clipped.
    quantize.quantize(folder, [np.zeros((16, 16, 3), np.uint8)])
    upscaler = Upscaler(folder)
    assert upscaler.runtime == "ncnn" and f"(< {INT8_MIN_PSNR})" in upscaler.parity_note
    np.testing.assert_array_equal(upscaler(probe), Upscaler(folder, int8=False)(probe))
    (folder / UpscalerSpec.read(folder).int8_onnx).unlink()
    upscaler = Upscaler(folder)
    assert upscaler.runtime == "ncnn" and upscaler.parity_note.startswith("int8 copy not used")


def test_only_plain_convolution_chains_are_quantized(tmp_path):
    x4 = SHIPPED / UPSCALER_FOLDER / "x4"
    spec = UpscalerSpec.read(x4)
    with pytest.raises(ValueError, match="only plain upconv chains"):
        quantize.read_ncnn(x4 / spec.param, x4 / spec.model)


def test_the_quantize_command_calibrates_on_a_models_pictures_of_training_maps(tmp_path, palette, scene_ids, capsys):
    from miaobi_core.codec import encode_png

    folder = int8_free_copy(tmp_path)
    entries = []
    for i in range(2):
        Image.fromarray(np.full(scene_ids.shape + (3,), 90 * i, np.uint8)).save(tmp_path / f"{i}.jpg")
        (tmp_path / f"{i}.png").write_bytes(encode_png(scene_ids, palette.colors))
        entries.append({"photo": str(tmp_path / f"{i}.jpg"), "label": f"{i}.png", "split": "train", "scene": "sea"})
    (tmp_path / "manifest.json").write_text(json.dumps({"photos": entries}))
    assert quantize.main([str(folder), "--model", str(SHIPPED / FOLDERS["distilled"]), "--data-root", str(tmp_path),
                          "--count", "2"]) == 0
    # Two pictures of one plain map calibrate too narrow a range for the probe's hard palette edges: written,
    # and said, but not served (the shipped copy was calibrated on 64 pictures of varied training maps).
    assert "(< 35.0))" in capsys.readouterr().out
    assert UpscalerSpec.read(folder).int8_onnx and Upscaler(folder).runtime == "ncnn"


def test_each_network_ships_with_its_licence(upscalers):
    assert upscalers.names == ["waifu2x photo x2", "Real-ESRGAN general x4 v3"]
    assert "BSD 3-Clause" in (SHIPPED / UPSCALER_FOLDER / "x4" / "NOTICE").read_text()
    assert "MIT License" in (SHIPPED / UPSCALER_FOLDER / "x2" / "LICENSE").read_text()
    for folder in ("x2", "x4"):
        spec = UpscalerSpec.read(SHIPPED / UPSCALER_FOLDER / folder)
        assert (SHIPPED / UPSCALER_FOLDER / folder / spec.param).is_file()
        assert (SHIPPED / UPSCALER_FOLDER / folder / spec.model).is_file()


def test_a_folder_without_networks_or_a_bad_picture_is_refused(upscalers, tmp_path):
    with pytest.raises(FileNotFoundError, match="not an upscaler folder"):
        Upscaler(tmp_path)
    with pytest.raises(FileNotFoundError, match="no upscalers there"):
        Upscalers(tmp_path)
    with pytest.raises(ValueError, match="uint8 RGB"):
        upscalers.by_factor[4](np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        upscalers.by_factor[4](np.zeros((8, 8, 3), np.float32))


class Repeater:
    """A stand-in network that repeats pixels ``factor`` times and counts its calls."""

    def __init__(self, factor):
        self.factor, self.calls = factor, 0

    def __call__(self, picture):
        self.calls += 1
        return picture.repeat(self.factor, 0).repeat(self.factor, 1)


@pytest.mark.parametrize("height, width, used", [
    (16, 16, None),  # the picture's own size: untouched
    (12, 12, None),  # smaller: Lanczos only
    (32, 32, 2),  # the x2 network's own output
    (24, 24, 2),  # up to twice: x2, then Lanczos down
    (48, 48, 4),  # beyond twice: x4, then Lanczos down
    (64, 64, 4),  # the x4 network's own output
    (128, 128, 4),  # beyond every network: the largest, then Lanczos up
    (20, 40, 4),  # one side grows 2.5x: the x4 network
])
def test_enlarge_runs_the_smallest_network_that_reaches_the_size_once(height, width, used):
    picture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    networks = Upscalers.__new__(Upscalers)
    networks.by_factor = {2: Repeater(2), 4: Repeater(4)}
    out = enlarge(picture, height, width, networks)
    assert out.shape == (height, width, 3)
    assert {f: n.calls for f, n in networks.by_factor.items()} == {2: int(used == 2), 4: int(used == 4)}
    if used and (height, width) == (16 * used,) * 2:
        np.testing.assert_array_equal(out, Repeater(used)(picture))
    if used is None:
        np.testing.assert_array_equal(out, enlarge(picture, height, width, None))


def test_the_synthesizer_enlarges_with_the_upscalers_only_above_its_size(upscalers, scene_ids):
    plain = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle")
    learned = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle", upscalers=SHIPPED / UPSCALER_FOLDER)
    native = learned.native_size
    for size in (96, native):  # at or below the model's size no network is involved
        np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=size)[0],
                                      plain.generate([scene_ids], seeds=[1], size=size)[0])
    picture = plain.generate([scene_ids], seeds=[1], size=native)[0]
    for factor in (2, 4):
        np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=factor * native)[0],
                                      upscalers.by_factor[factor](picture))
    lanczos = plain.generate([scene_ids], seeds=[1], size=4 * native)[0]
    np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=4 * native, upscale=False)[0], lanczos)
    assert np.abs(lanczos.astype(int) - upscalers.by_factor[4](picture)).mean() > 1  # the off switch is Lanczos
