"""The learned upscaler: the shipped network's output, the size rules, and the off switch."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from miaobi_core.synthesizer import Synthesizer
from miaobi_core.upscale import Upscaler, UpscalerSpec, enlarge
from miaobi_core.variants import FOLDERS, UPSCALER_FOLDER

SHIPPED = Path(__file__).resolve().parent.parent / "hub_module" / "miaobi"


@pytest.fixture(scope="module")
def upscaler():
    return Upscaler(SHIPPED / UPSCALER_FOLDER)


@pytest.fixture
def probe(palette):
    """The mountain probe in palette colours at 32 px: hard edges, where an upscaler shows its hand."""
    ids = np.asarray(Image.open(SHIPPED.parent.parent / "miaobi_core" / "probes" / "mountain.png"))
    return np.asarray(Image.fromarray(palette.colorize(ids)).resize((32, 32), Image.NEAREST))


# Rows 60-61, columns 60-63 of the shipped network's 128 px output for the probe.
PINNED = [[[145, 72, 168], [141, 71, 166], [135, 66, 158], [136, 63, 154]],
          [[148, 78, 167], [147, 73, 163], [135, 60, 148], [126, 57, 140]]]


def test_the_shipped_upscaler_paints_the_pinned_pixels_and_keeps_the_colours(upscaler, probe):
    assert upscaler.spec.name == "Real-ESRGAN general x4 v3" and upscaler.factor == 4
    big = upscaler(probe)
    assert big.shape == (128, 128, 3) and big.dtype == np.uint8
    # Three levels of slack: ncnn picks other kernels (and fp16 paths) on other CPUs.
    assert np.abs(big[60:62, 60:64].astype(int) - np.array(PINNED)).max() <= 3
    assert np.abs(big.reshape(-1, 3).mean(0) - probe.reshape(-1, 3).mean(0)).max() < 6  # no colour cast


def test_the_licence_ships_beside_the_weights():
    notice = (SHIPPED / UPSCALER_FOLDER / "NOTICE").read_text()
    assert "BSD 3-Clause" in notice and "Xintao Wang" in notice
    spec = UpscalerSpec.read(SHIPPED / UPSCALER_FOLDER)
    assert (SHIPPED / UPSCALER_FOLDER / spec.param).is_file() and (SHIPPED / UPSCALER_FOLDER / spec.model).is_file()


def test_a_folder_without_a_spec_or_a_bad_picture_is_refused(upscaler, tmp_path):
    with pytest.raises(FileNotFoundError, match="not an upscaler folder"):
        Upscaler(tmp_path)
    with pytest.raises(ValueError, match="uint8 RGB"):
        upscaler(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        upscaler(np.zeros((8, 8, 3), np.float32))


class Doubler:
    """A stand-in network that repeats pixels and counts its calls."""

    factor = 2

    def __init__(self):
        self.calls = 0

    def __call__(self, picture):
        self.calls += 1
        return picture.repeat(2, 0).repeat(2, 1)


@pytest.mark.parametrize("height, width, calls", [
    (16, 16, 0),  # the picture's own size: untouched
    (12, 12, 0),  # smaller: Lanczos only
    (32, 32, 1),  # the network's own factor: its output as it is
    (64, 64, 1),  # larger still: the network once, then Lanczos
    (20, 40, 1),  # one side grows: the network runs
])
def test_enlarge_runs_the_network_once_when_a_side_grows(height, width, calls):
    picture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    doubler = Doubler()
    out = enlarge(picture, height, width, doubler)
    assert out.shape == (height, width, 3) and doubler.calls == calls
    if (height, width) == (32, 32):
        np.testing.assert_array_equal(out, doubler(picture))
    lanczos_only = enlarge(picture, height, width, None)
    assert lanczos_only.shape == (height, width, 3)
    if calls == 0:
        np.testing.assert_array_equal(out, lanczos_only)


def test_the_synthesizer_enlarges_with_the_upscaler_only_above_its_size(upscaler, scene_ids):
    plain = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle")
    learned = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle", upscaler=SHIPPED / UPSCALER_FOLDER)
    native = learned.native_size
    for size in (96, native):  # at or below the model's size the upscaler is not involved
        np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=size)[0],
                                      plain.generate([scene_ids], seeds=[1], size=size)[0])
    picture = plain.generate([scene_ids], seeds=[1], size=native)[0]
    np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=4 * native)[0], upscaler(picture))
    lanczos = plain.generate([scene_ids], seeds=[1], size=4 * native)[0]
    np.testing.assert_array_equal(learned.generate([scene_ids], seeds=[1], size=4 * native, upscale=False)[0], lanczos)
    assert np.abs(lanczos.astype(int) - upscaler(picture)).mean() > 1  # the off switch really is Lanczos
