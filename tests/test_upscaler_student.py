"""Distilling a small upscaler (train/upscaler.py): ncnn runs the student as paddle trains it, training
learns, and each trained student is closer to its teacher than Lanczos is."""
import numpy as np
import paddle
import pytest
from PIL import Image

from miaobi_core.upscale import Upscaler, UpscalerSpec
from train.upscaler import (MODEL, PARAM, STUDENTS, DistillSettings, StudentConfig, build_student, detail, distill, parity,
                            psnr, student_pictures, teacher, write_ncnn)


def pictures(count=4, height=24, width=40):
    return np.random.default_rng(0).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("factor", [2, 4])
def test_ncnn_paints_what_paddle_paints_on_a_wide_picture(tmp_path, factor):
    student = build_student(StudentConfig(factor=factor, features=8, convs=2))
    rng = np.random.default_rng(1)
    for weight in student.parameters():  # every layer matters, the zero-started last one too
        weight.set_value(paddle.to_tensor(rng.normal(0, 0.2, weight.shape).astype(np.float32)))
    student.eval()
    write_ncnn(student, tmp_path)
    served = Upscaler(tmp_path, UpscalerSpec("test", PARAM, MODEL, factor, "in0", "out0"))
    assert served(pictures()[0]).shape == (24 * factor, 40 * factor, 3)
    assert parity(student, served, pictures()) <= 1  # rounding to levels only


def test_a_new_student_is_the_nearest_enlargement_and_learns_its_teacher():
    small = pictures(6, 32, 32)
    student = build_student(StudentConfig(factor=2, features=8, convs=1))
    x = paddle.to_tensor(small[:1].transpose(0, 3, 1, 2).astype(np.float32) / 255)
    np.testing.assert_allclose(student(x).numpy(), np.repeat(np.repeat(x.numpy(), 2, 2), 2, 3), atol=1e-6)
    targets = np.stack([np.asarray(Image.fromarray(p).resize((64, 64), Image.BICUBIC)) for p in small])
    _, history = distill(StudentConfig(factor=2, features=8, convs=1), small, targets,
                         DistillSettings(steps=60, batch=4, patch=16, lr=5e-3), log_every=10)
    assert history[-1][1] < 0.8 * history[0][1]


def test_the_spectrum_term_asks_for_the_teachers_detail_not_its_blur():
    """Against a teacher whose grain the student cannot predict, pixel L1 paints its average (none) and the
    Fourier amplitudes ask for as much of it."""
    small = pictures(6, 32, 32)
    smooth = np.stack([np.asarray(Image.fromarray(p).resize((64, 64), Image.BICUBIC)) for p in small])
    grain = np.random.default_rng(2).normal(0, 30, smooth.shape)
    targets = np.clip(smooth + grain, 0, 255).astype(np.uint8)
    shape = StudentConfig(factor=2, features=8, convs=1)
    trained = {weight: distill(shape, small, targets, DistillSettings(steps=80, batch=4, patch=16, lr=5e-3,
                                                                      spectrum=weight))[0] for weight in (0.0, 2.0)}
    details = {weight: np.mean([detail(p) for p in student_pictures(student, small)])
               for weight, student in trained.items()}
    assert details[2.0] > details[0.0]


@pytest.mark.parametrize("factor", [2, 4])
def test_each_trained_student_is_closer_to_its_teacher_than_lanczos(photo, factor):
    student = Upscaler(STUDENTS / f"x{factor}")
    truth = teacher(f"x{factor}")(photo)
    lanczos = np.asarray(Image.fromarray(photo).resize(truth.shape[1::-1], Image.LANCZOS))
    assert psnr(student(photo), truth) > psnr(lanczos, truth) + 1.0


@pytest.fixture
def photo():
    """A held-out photo at the model's size: what the students are judged on is never their training data."""
    from train.files import SHARED

    path = sorted((SHARED / "data" / "landscapes" / "test").rglob("*.jpg"))[0]
    return np.asarray(Image.open(path).convert("RGB").resize((128, 128), Image.BICUBIC))
