"""The PaddleHub module as users meet it: hub.Module API, `hub run`, and a real `hub serving start`."""
import base64
import dataclasses
import subprocess

import numpy as np
import pytest
import requests
from PIL import Image

from bench.servers import HUB, hub_serving
from miaobi_core.codec import InputError, encode_png, png_to_b64
from miaobi_core.variants import resolve_variant
from tests.helpers import decode_b64_image, png_b64
from train.upscaler import teachers_folder


@pytest.fixture(scope="module")
def module(hub_module_installed):
    import paddlehub as hub

    return hub.Module(name="miaobi")


def test_module_metadata(module):
    assert module.name == "miaobi" and module.type == "image/gan"
    assert str(module.version).count(".") == 2


def test_variant_auto_serves_the_full_model_and_the_student_is_there_to_choose(module, hub_module_installed, label_map,
                                                                              tmp_path):
    import paddlehub as hub

    assert resolve_variant("auto") == "full" and resolve_variant("distilled") == "distilled"
    assert module.describe()["variant"] == "full"
    # the synthesizer serves with every one of the module's options, the module's own upscalers filled in
    assert dataclasses.replace(module.synthesizer.options, upscalers="") == module.options
    student = hub.Module(name="miaobi", variant="distilled", backend="paddle", upscale=False)
    assert student.describe()["variant"] == "distilled"
    assert module.describe()["upscalers"] == ["waifu2x photo x2", "Real-ESRGAN general x4 v3"]
    assert student.describe()["upscalers"] == []
    teachers = hub.Module(name="miaobi", variant="distilled", backend="paddle",
                          upscalers=str(teachers_folder(tmp_path)))  # what the shipped students learnt from
    assert teachers.describe()["upscalers"] == ["waifu2x photo x2", "Real-ESRGAN general x4 v3"]
    native = student.synthesizer.native_size  # with the upscaler off, larger sizes are Lanczos only
    picture = student.generate([label_map], seed=1, size=native)[0]
    np.testing.assert_array_equal(student.generate([label_map], seed=1, size=2 * native)[0],
                                  np.asarray(Image.fromarray(picture).resize((2 * native,) * 2, Image.LANCZOS)))
    assert module.synthesizer.cfg.ngf > student.synthesizer.cfg.ngf  # the student is the slim one
    assert student.generate([label_map], seed=1)[0].shape == (64, 64, 3)
    with pytest.raises(ValueError, match="choose one of auto, full, distilled"):
        hub.Module(name="miaobi", variant="fast")


def test_generate_accepts_ids_colours_and_paths(module, palette, label_map, tmp_path):
    path = tmp_path / "doodle.png"
    Image.fromarray(palette.colorize(label_map)).save(path)
    pictures = module.generate(label_maps=[label_map, palette.colorize(label_map), str(path)], seed=3,
                               output_dir=str(tmp_path / "out"))
    assert [p.shape for p in pictures] == [(64, 64, 3)] * 3 and pictures[0].dtype == np.uint8
    np.testing.assert_array_equal(pictures[0], pictures[1])  # the same drawing, however it is given
    np.testing.assert_array_equal(pictures[0], pictures[2])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["miaobi_0.png", "miaobi_1.png", "miaobi_2.png"]


def test_generate_seeds_styles_and_sizes(module, label_map):
    a, b = module.generate([label_map, label_map], seed=[1, 2], size=96)
    assert a.shape == (96, 96, 3) and not np.array_equal(a, b)
    z_dim = module.synthesizer.cfg.z_dim
    styled = module.generate([label_map], style=np.zeros(z_dim))
    np.testing.assert_array_equal(styled[0], module.generate([label_map], style=[np.zeros(z_dim)])[0])


def test_generate_refuses_bad_input_clearly(module):
    with pytest.raises(InputError, match="non-empty list"):
        module.generate([])
    with pytest.raises(InputError, match="No file"):
        module.generate(["/nonexistent.png"])
    with pytest.raises(InputError):
        module.generate([np.zeros((4, 4, 7))])


def test_use_gpu_without_a_gpu_fails_clearly_and_the_model_stays_where_it_was(module, label_map):
    import paddle

    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        assert module.generate([label_map], use_gpu=True)[0].shape == (64, 64, 3)
        assert module.describe()["device"].startswith("gpu")
        module.generate([label_map], use_gpu=False)
    else:
        with pytest.raises(RuntimeError, match="use_gpu"):
            module.generate([label_map], use_gpu=True)
    assert module.describe()["device"] == "cpu" and module.generate([label_map])[0].shape == (64, 64, 3)


def test_the_device_belongs_to_the_model_and_moves_once_when_hub_serving_says_gpu(hub_module_installed, monkeypatch,
                                                                                    palette, label_map):
    """hub serving --use_gpu builds the module without use_gpu, then passes use_gpu=True with every request."""
    import paddlehub as hub

    from miaobi_core import synthesizer

    asked, cpu = [], synthesizer.select_device
    monkeypatch.setattr(synthesizer, "select_device", lambda use_gpu: asked.append(use_gpu) or cpu(False))
    module = hub.Module(name="miaobi", backend="paddle", upscale=False)
    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    for _ in range(3):
        assert len(module.serving_method(images=[drawing], use_gpu=True)) == 1
    module.generate([label_map])  # the Python API keeps to the device the model is on
    assert asked == [False, True]  # loaded on the CPU, moved to the GPU once, never back


def test_hub_run_writes_a_png(hub_module_installed, palette, label_map, tmp_path):
    doodle = tmp_path / "doodle.png"
    Image.fromarray(palette.colorize(label_map)).save(doodle)
    result = subprocess.run([str(HUB), "run", "miaobi", "--input_path", str(doodle), "--output_dir",
                             str(tmp_path / "out"), "--seed", "5", "--size", "80", "--no-use_gpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with Image.open(tmp_path / "out" / "miaobi_0.png") as picture:
        assert picture.size == (80, 80) and picture.mode == "RGB"


def test_hub_run_help_documents_the_flags(hub_module_installed):
    result = subprocess.run([str(HUB), "run", "miaobi", "--help"], capture_output=True, text=True, timeout=300)
    for flag in ("--input_path", "--output_dir", "--seed", "--size", "--use_gpu"):
        assert flag in result.stdout


@pytest.fixture(scope="module")
def serving(hub_module_installed):
    """A real `hub serving start -m miaobi` on a free loopback port, stopped at the end."""
    with hub_serving() as url:
        yield url


def test_serving_paints_each_drawing_in_order(serving, palette, label_map):
    drawings = [png_to_b64(encode_png(palette.colorize(ids))) for ids in (label_map, label_map[::-1])]
    body = requests.post(serving, json={"images": drawings, "seed": 7, "size": 96}, timeout=120).json()
    assert body["status"] == "000", body
    pictures = [decode_b64_image(b) for b in body["results"]]
    assert [p.size for p in pictures] == [(96, 96), (96, 96)] and all(p.format == "PNG" for p in pictures)
    assert np.asarray(pictures[0]).tobytes() != np.asarray(pictures[1]).tobytes()
    single = requests.post(serving, json={"images": drawings[:1], "seed": 7, "size": 96}, timeout=120).json()
    assert single["results"][0] == body["results"][0]  # in order: picture i belongs to drawing i
    large = requests.post(serving, json={"images": drawings[:1], "seed": 7, "size": 1024, "format": "jpeg"},
                          timeout=120).json()
    picture = decode_b64_image(large["results"][0])
    assert picture.size == (1024, 1024) and picture.format == "JPEG"


@pytest.mark.parametrize("payload, words", [
    ({"images": ["%%%"]}, "base64"),
    ({"images": [png_b64(np.zeros((8, 8, 3), np.uint8), "JPEG")]}, "PNG"),
    ({"images": "not a list"}, "list"),
    ({"images": []}, "empty"),
    ({"images": ["x"] * 9}, "At most"),
    ({"images": ["x"], "seed": "abc"}, "seed"),
    ({"images": ["x"], "size": 99999}, "size"),
    ({"images": ["x"], "colour": 1}, "Unknown"),
    ({"images": ["x"], "style": "sepia"}, "no style 'sepia'"),
    ({"images": ["x"], "format": "gif"}, "format must be one of png, jpeg"),
])
def test_serving_bad_input_is_a_clear_error_and_the_server_keeps_serving(serving, payload, words, palette, label_map):
    body = requests.post(serving, json=payload, timeout=60).json()
    assert body["status"] != "000" and words.lower() in body["msg"].lower()
    ok = requests.post(serving, json={"images": [png_to_b64(encode_png(palette.colorize(label_map)))]}, timeout=120)
    assert ok.json()["status"] == "000"


def test_serving_refuses_a_huge_image(serving):
    huge = png_b64(np.zeros((3000, 3000, 3), np.uint8))
    body = requests.post(serving, json={"images": [huge]}, timeout=60).json()
    assert body["status"] != "000" and "pixels" in body["msg"]


def test_serving_admits_by_expected_wait_and_answers_429_to_the_rest(serving, palette, label_map):
    """40 children at once at 1024 px: far more than 2 s of work (the default max_wait_s). hub serving takes
    them all at once (threaded), paints those whose wait fits, and turns the rest away at once with HTTP 429,
    instead of making each new child wait longer."""
    from concurrent.futures import ThreadPoolExecutor
    import time

    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    requests.post(serving, json={"images": [drawing], "size": 1024}, timeout=120)  # the estimate learns 1024 px

    def ask(seed):
        started = time.perf_counter()
        reply = requests.post(serving, json={"images": [drawing], "seed": seed, "size": 1024}, timeout=120)
        return reply, time.perf_counter() - started

    with ThreadPoolExecutor(40) as pool:
        replies = list(pool.map(ask, range(40)))
    refused = [(r, s) for r, s in replies if r.status_code == 429]
    painted = [(r, s) for r, s in replies if r.status_code == 200]
    assert refused and painted and len(refused) + len(painted) == 40
    assert all(r.json()["status"] == "000" and len(r.json()["results"]) == 1 for r, _ in painted)
    assert all(r.headers["Retry-After"] == "1" and "try again" in r.json()["msg"] for r, _ in refused)
    assert min(s for _, s in refused) < max(s for _, s in painted)  # refused without waiting for the others
    assert requests.post(serving, json={"images": [drawing], "size": 96}, timeout=120).json()["status"] == "000"


def test_generate_and_serving_take_a_sun(module, serving, palette, label_map):
    sun = {"x": 0.3, "y": 0.1, "radius": 0.05}
    plain, sunny = (module.generate([label_map], seed=5, size=128, **extra)[0] for extra in ({}, {"sun": sun}))
    assert sunny[8:18, 33:43].mean() > plain[8:18, 33:43].mean() + 30
    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    body = requests.post(serving, json={"images": [drawing], "seed": 5, "size": 128, "sun": sun}, timeout=120).json()
    served = np.asarray(decode_b64_image(body["results"][0]), np.float32)
    assert served[8:18, 33:43].mean() > plain[8:18, 33:43].mean() + 30


def test_generate_and_serving_take_a_style_from_a_photo(module, serving, palette, label_map):
    from train.photos import LANDSCAPES

    path = sorted((LANDSCAPES / "test" / "glacier").glob("*.jpg"))[0]
    photo = np.asarray(Image.open(path).convert("RGB"))
    from_path, from_array = (module.generate([label_map], seed=5, size=128, style_photo=given)[0]
                             for given in (path, photo))
    np.testing.assert_array_equal(from_path, from_array)
    assert np.abs(from_path.astype(int) - module.generate([label_map], seed=5, size=128)[0]).mean() > 3
    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    body = requests.post(serving, json={"images": [drawing], "seed": 5, "size": 128,
                                        "style_photo": base64.b64encode(path.read_bytes()).decode()}, timeout=120)
    served = np.asarray(decode_b64_image(body.json()["results"][0]), np.int16)
    assert np.abs(served - from_path).max() <= 2  # PNG of the same picture, a backend's rounding aside
    with pytest.raises(InputError, match="not both"):
        module.generate([label_map], style="dusk", style_photo=photo)
    with pytest.raises(InputError, match="uint8 RGB"):
        module.generate([label_map], style_photo=np.zeros((4, 4)))


def test_animate_and_serving_paint_a_day(module, serving, palette, label_map):
    import io

    frames = module.animate(label_map, "day", seed=2, size=128)
    assert len(frames) == 12 and frames[0].shape == (128, 128, 3)
    np.testing.assert_array_equal(frames[-1], module.generate([label_map], seed=2, size=128, style="dusk")[0])
    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    body = requests.post(serving, json={"images": [drawing], "seed": 2, "size": 128, "animate": "day"}, timeout=120)
    animation = Image.open(io.BytesIO(base64.b64decode(body.json()["results"][0])))
    assert animation.format == "WEBP" and animation.n_frames == 12
    with pytest.raises(InputError, match="must be one of day"):
        module.animate(label_map, "seasons")


def test_a_photo_becomes_a_drawing_as_good_as_labels_v2_on_the_gold_photos(module, tmp_path):
    from miaobi_core.palette import load_palette
    from train import goldset, metrics
    from train.photos import LANDSCAPES

    palette = load_palette()
    gold = goldset.load_gold(LANDSCAPES, palette)
    v2 = goldset.evaluate(tmp_path, LANDSCAPES, palette, versions=(2,))[2]["pixel accuracy"]
    matrix = sum(metrics.confusion(module.drawing_from_photo(photo, 150, 150), target, palette.num_classes)
                 for photo, _, target in gold)  # its own scene for each photo, where v2 was told the scene
    print(f"gold pixel accuracy: the module's drawings {metrics.pixel_accuracy(matrix):.3f}, labels v2 {v2:.3f}")
    assert metrics.pixel_accuracy(matrix) >= v2


def test_drawing_from_photo_and_serving_give_a_whole_drawing_in_the_models_classes(module, serving, palette):
    from train.photos import LANDSCAPES

    path = sorted((LANDSCAPES / "test" / "mountain").glob("*.jpg"))[0]
    drawing = module.drawing_from_photo(path)
    assert drawing.shape == (256, 256) and drawing.max() < module.palette.num_classes
    assert len(np.unique(drawing)) >= 2
    assert module.drawing_from_photo(path, width=384, height=256).shape == (256, 384)  # a wide canvas's
    body = requests.post(serving, json={"photos": [base64.b64encode(path.read_bytes()).decode()]}, timeout=120)
    served = decode_b64_image(body.json()["results"][0])
    assert served.mode == "P"  # an indexed PNG in the palette's colours, whose pixel values are the class ids
    np.testing.assert_array_equal(np.asarray(served), drawing)
    np.testing.assert_array_equal(np.asarray(served.convert("RGB")), module.palette.colorize(drawing))
    with pytest.raises(InputError, match="64 to 1024"):
        module.drawing_from_photo(path, width=32)
    with pytest.raises(InputError, match="at most 2 times"):
        module.drawing_from_photo(path, width=1024, height=256)


def test_generate_and_serving_paint_wide_pictures(module, serving, palette, label_map):
    wide = module.generate([label_map], seed=1, width=192, height=128)[0]
    assert wide.shape == (128, 192, 3)
    drawing = png_to_b64(encode_png(palette.colorize(label_map)))
    body = requests.post(serving, json={"images": [drawing], "seed": 1, "width": 192, "height": 128}, timeout=120)
    assert decode_b64_image(body.json()["results"][0]).size == (192, 128)
    with pytest.raises(InputError, match="not both"):
        module.generate([label_map], size=128, width=192, height=128)
    with pytest.raises(InputError, match="not both"):
        module.animate(label_map, size=128, width=192, height=128)
