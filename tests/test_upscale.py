"""The learned upscalers: the shipped networks' output, which one each size takes, and the off switch."""

import numpy as np
import pytest
from PIL import Image

from miaobi_core.synthesizer import Synthesizer
from miaobi_core.upscale import Upscaler, Upscalers, UpscalerSpec, enlarge
from miaobi_core.variants import FOLDERS, UPSCALER_FOLDER
from tests.helpers import SHIPPED


@pytest.fixture(scope="module")
def upscalers():
    return Upscalers(SHIPPED / UPSCALER_FOLDER)


@pytest.fixture
def probe(palette):
    """The mountain probe in palette colours at 32 px: hard edges, where an upscaler shows its hand."""
    ids = np.asarray(Image.open(SHIPPED.parent.parent / "miaobi_core" / "probes" / "mountain.png"))
    return np.asarray(Image.fromarray(palette.colorize(ids)).resize((32, 32), Image.NEAREST))


# A 2 x 4 slice of each shipped network's output for the probe: (factor, rows, columns, pixels).
PINNED = {
    2: (slice(30, 32), slice(28, 32), [[[135, 84, 162], [138, 86, 161], [131, 73, 154], [107, 61, 148]],
                                       [[130, 77, 164], [127, 63, 159], [124, 61, 152], [180, 108, 186]]]),
    4: (slice(60, 62), slice(60, 64), [[[145, 72, 168], [141, 71, 166], [135, 66, 158], [136, 63, 154]],
                                       [[148, 78, 167], [147, 73, 163], [135, 60, 148], [126, 57, 140]]]),
}


@pytest.mark.parametrize("factor", sorted(PINNED))
def test_the_shipped_upscalers_paint_the_pinned_pixels_and_keep_the_colours(upscalers, probe, factor):
    network = upscalers.by_factor[factor]
    big = network(probe)
    assert big.shape == (32 * factor, 32 * factor, 3) and big.dtype == np.uint8
    rows, columns, pixels = PINNED[factor]
    # Three levels of slack: ncnn picks other kernels (and fp16 paths) on other CPUs.
    assert np.abs(big[rows, columns].astype(int) - np.array(pixels)).max() <= 3
    assert np.abs(big.reshape(-1, 3).mean(0) - probe.reshape(-1, 3).mean(0)).max() < 6  # no colour cast


def test_every_network_runs_on_one_thread_whoever_asks(upscalers, probe, monkeypatch):
    """ncnn's OpenMP keeps a team of workers per calling thread: requests from a server's many threads must
    not each wake their own."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    ran_on = set()
    extract = Upscaler._extract
    monkeypatch.setattr(Upscaler, "_extract", lambda self, mat: ran_on.add(threading.get_ident()) or extract(self, mat))
    with ThreadPoolExecutor(4) as requests:
        pictures = list(requests.map(lambda factor: upscalers.by_factor[factor](probe), [2, 4, 2, 4, 2, 4]))
    assert len(ran_on) == 1 and threading.get_ident() not in ran_on
    assert [p.shape[0] for p in pictures] == [64, 128] * 3


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


def test_the_synthesizer_enlarges_with_the_upscalers_only_above_its_size(upscalers, label_map):
    plain = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle")
    learned = Synthesizer(SHIPPED / FOLDERS["distilled"], backend="paddle", upscale=True,
                          upscalers=SHIPPED / UPSCALER_FOLDER)
    native = learned.native_size
    for size in (96, native):  # at or below the model's size no network is involved
        np.testing.assert_array_equal(learned.generate([label_map], seeds=[1], size=size)[0],
                                      plain.generate([label_map], seeds=[1], size=size)[0])
    picture = plain.generate([label_map], seeds=[1], size=native)[0]
    for factor in (2, 4):
        np.testing.assert_array_equal(learned.generate([label_map], seeds=[1], size=factor * native)[0],
                                      upscalers.by_factor[factor](picture))
    lanczos = plain.generate([label_map], seeds=[1], size=4 * native)[0]
    np.testing.assert_array_equal(learned.generate([label_map], seeds=[1], size=4 * native, upscale=False)[0], lanczos)
    assert np.abs(lanczos.astype(int) - upscalers.by_factor[4](picture)).mean() > 1  # the off switch is Lanczos
