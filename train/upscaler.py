"""A small upscaler distilled from a photo upscaler on the generator's own pictures:
``python -m train.upscaler --teacher x4 --out hub_module/miaobi/upscaler/x4``.

Why: above 128 px the learned enlargement is most of a picture's time (Real-ESRGAN general x4 v3, 64
channels x 32 convolutions: ~110 of a 512 px picture's 146 ms here), yet it only ever sees one narrow kind
of picture, ours. A student of the same shape (Real-ESRGAN's SRVGG-compact: convolutions and PReLUs at the
small size, a pixel shuffle, plus the nearest-enlarged input) but a fraction of its width and depth learns
the teacher's answer on exactly those pictures: the generator paints held-in label maps and doodles as a
child draws them, with random seeds, looks and suns, and the teacher's enlargements are the targets, so no
high-resolution photos are needed.

The student trains in paddle and ships as an ncnn network (:func:`write_ncnn`), so serving runs it with
the code that runs the teachers (miaobi_core/upscale.py). It is accepted only if ncnn's pictures match
paddle's (:func:`parity`).
"""
from __future__ import annotations

import argparse
import json
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from miaobi_core.runtime import configure_cpu
from miaobi_core.upscale import SPEC_NAME, Upscaler, UpscalerSpec

from .files import PSEUDO_LABELS, SHARED_MODELS

# The two photo upscalers in ../shared/models/superres, as served before their students.
TEACHERS = {
    "x2": (SHARED_MODELS / "superres" / "waifu2x_photo",
           UpscalerSpec(name="waifu2x photo x2", param="noise0_scale2.0x_model.param",
                        model="noise0_scale2.0x_model.bin", factor=2, input_blob="Input1", output_blob="Eltwise4",
                        reflect_pad=7)),
    "x4": (SHARED_MODELS / "superres" / "realesr_general_x4v3",
           UpscalerSpec(name="Real-ESRGAN general x4 v3", param="RealESRGAN_General_x4_v3.param",
                        model="RealESRGAN_General_x4_v3.bin", factor=4, input_blob="data", output_blob="output")),
}
PARAM, MODEL = "student.param", "student.bin"
# The trained students (x2, x4), committed as candidates; not served until judged against their teachers.
STUDENTS = Path(__file__).resolve().parent / "upscalers"
PARITY_LEVELS = 2  # ncnn against paddle, in 0-255 levels: float rounding, never a wrong layer


def teacher(name: str) -> Upscaler:
    folder, spec = TEACHERS[name]
    return Upscaler(folder, spec)


def teachers_folder(folder: Path) -> Path:
    """A folder of upscaler folders holding the teachers (their files linked, not copied), for serving with
    them in place of the students (``--upscalers``): the bench's "before"."""
    for name, (source, spec) in TEACHERS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for file in (spec.param, spec.model):
            link = folder / name / file
            if not link.exists():
                link.symlink_to(source / file)
        (folder / name / SPEC_NAME).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return folder


@dataclass(frozen=True)
class StudentConfig:
    """The student's shape; saved in its upscaler.json with the recipe that trained it."""

    factor: int = 4
    features: int = 32  # channels of every convolution but the last (the teacher: 64)
    convs: int = 6  # convolutions between the first and the last (the teacher: 30)


def build_student(cfg: StudentConfig):
    """uint8-scaled RGB in [0, 1] (N, 3, H, W) -> (N, 3, factor*H, factor*W), the enlarged input plus what the
    network adds. The nearest enlargement is a fixed 1x1 convolution that copies each colour to its factor^2
    sub-pixels before the shuffle: it exports to ONNX and ncnn as one plain layer, where an interpolation of
    a dynamic shape did not convert."""
    import paddle
    import paddle.nn as nn
    import paddle.nn.functional as F

    class Student(nn.Layer):
        def __init__(self):
            super().__init__()
            self.cfg = cfg
            width, cells = cfg.features, cfg.factor ** 2
            layers = [nn.Conv2D(3, width, 3, padding=1), nn.PReLU(width)]
            for _ in range(cfg.convs):
                layers += [nn.Conv2D(width, width, 3, padding=1), nn.PReLU(width)]
            layers.append(nn.Conv2D(width, 3 * cells, 3, padding=1))
            self.body = nn.Sequential(*layers)
            # Starting at zero, the student starts as the nearest enlargement, not as noise around it.
            self.body[-1].weight.set_value(paddle.zeros_like(self.body[-1].weight))
            copy = np.zeros((3 * cells, 3, 1, 1), np.float32)
            for colour in range(3):
                copy[colour * cells:(colour + 1) * cells, colour] = 1.0
            self.register_buffer("copy", paddle.to_tensor(copy))

        def forward(self, x):
            return F.pixel_shuffle(self.body(x) + F.conv2d(x, self.copy), cfg.factor)

    return Student()


def paint_pictures(synthesizer, label_maps: np.ndarray, seed: int, batch: int = 16) -> np.ndarray:
    """The generator's pictures of ``label_maps`` at its own size: a random seed each, a random look (or
    none) per batch, and a sun on a quarter of the batches, as the page asks for them."""
    from miaobi_core.sun import Sun

    rng = np.random.default_rng(seed)
    looks = [None, *synthesizer.styles.names]
    pictures = []
    for start in tqdm(range(0, len(label_maps), batch), desc="pictures", unit="batch"):
        chunk = list(label_maps[start:start + batch])
        sun = Sun(rng.uniform(0.15, 0.85), rng.uniform(0.1, 0.4), rng.uniform(0.04, 0.15)) \
            if rng.random() < 0.25 else None
        look = looks[rng.integers(len(looks))]
        pictures += synthesizer.generate(chunk, seeds=rng.integers(0, 2**62, len(chunk)).tolist(), style=look,
                                         sun=sun, upscale=False)
    return np.stack(pictures)


def enlarge_all(upscaler, pictures: np.ndarray, desc: str) -> np.ndarray:
    return np.stack([upscaler(p) for p in tqdm(pictures, desc=desc, unit="picture")])


def student_pictures(student, pictures: np.ndarray) -> np.ndarray:
    """The paddle student's uint8 enlargements (the reference ncnn must match)."""
    import paddle

    out = []
    with paddle.no_grad():
        for picture in pictures:
            x = paddle.to_tensor(picture.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
            out.append(np.clip(student(x).numpy()[0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.stack(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def detail(picture: np.ndarray) -> float:
    """Fine detail: the mean absolute 4-neighbour Laplacian of the grey picture, in levels. A blur lowers it;
    invented texture raises it. PSNR cannot tell the two apart from one's average."""
    grey = picture.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(np.abs(laplacian).mean())


@dataclass(frozen=True)
class DistillSettings:
    steps: int = 3000
    batch: int = 16
    patch: int = 32  # side of a training crop of the small picture (the target's is factor x this)
    lr: float = 2e-3  # Adam, falling to 0 along a cosine
    seed: int = 0
    # Weight of an L1 between the Fourier amplitudes of the student's and the teacher's crops, beside the pixel
    # L1. A student too small to copy the teacher's strokes settles, under pixel L1 alone, for their average:
    # a blur. The amplitudes ask for the teacher's amount of fine detail wherever it falls.
    spectrum: float = 0.0


def distill(cfg: StudentConfig, pictures: np.ndarray, targets: np.ndarray, settings: DistillSettings,
            log_every: int = 100) -> tuple:
    """Train a student on (picture, teacher's enlargement) pairs by L1 on random crops, flipped at random (plus
    the spectrum term when weighted); returns (student, [(step, pixel L1), ...])."""
    import paddle

    paddle.seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    student = build_student(cfg)
    schedule = paddle.optimizer.lr.CosineAnnealingDecay(settings.lr, T_max=settings.steps)
    optimizer = paddle.optimizer.Adam(schedule, parameters=student.parameters())
    factor, patch = cfg.factor, settings.patch
    history, running = [], []
    bar = tqdm(range(1, settings.steps + 1), desc="distilling", unit="step")
    for step in bar:
        k = rng.integers(len(pictures), size=settings.batch)
        y = rng.integers(pictures.shape[1] - patch + 1, size=settings.batch)
        x = rng.integers(pictures.shape[2] - patch + 1, size=settings.batch)
        small = np.stack([pictures[i, r:r + patch, c:c + patch] for i, r, c in zip(k, y, x)])
        big = np.stack([targets[i, r * factor:(r + patch) * factor, c * factor:(c + patch) * factor]
                        for i, r, c in zip(k, y, x)])
        if rng.random() < 0.5:  # a landscape mirrored is a landscape (never upside down)
            small, big = small[:, :, ::-1], big[:, :, ::-1]
        to_tensor = lambda a: paddle.to_tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), "float32") / 255.0
        guess, truth = student(to_tensor(small)), to_tensor(big)
        pixel = paddle.abs(guess - truth).mean()
        loss = pixel
        if settings.spectrum:
            amplitude = lambda image: paddle.abs(paddle.fft.rfft2(image, norm="ortho"))
            loss = pixel + settings.spectrum * paddle.abs(amplitude(guess) - amplitude(truth)).mean()
        optimizer.clear_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(float(pixel))  # the history is the pixel L1 whatever else is weighted, to compare runs
        if step % log_every == 0 or step == settings.steps:
            history.append((step, float(np.mean(running))))
            bar.set_postfix(l1=f"{history[-1][1] * 255:.2f} levels")
            running = []
    student.eval()
    return student, history


def write_ncnn(student, folder: Path) -> None:
    """The student as an ncnn graph and weights (ncnn's documented param/bin format, float32). Written here
    rather than converted: the one converter for it (pnnx) needs PyTorch, ~1 GB, for eight plain layers."""
    cfg = student.cfg
    convs = [layer for layer in student.body if type(layer).__name__ == "Conv2D"]
    prelus = [layer for layer in student.body if type(layer).__name__ == "PReLU"]
    lines, weights = [], bytearray()

    def conv(name, source, out, layer_weight, bias, kernel, pad):
        w = np.ascontiguousarray(layer_weight, np.float32)
        lines.append(f"Convolution {name} 1 1 {source} {out} 0={w.shape[0]} 1={kernel} 11={kernel} 2=1 12=1 3=1 "
                     f"13=1 4={pad} 14={pad} 5={int(bias is not None)} 6={w.size}")
        weights.extend(struct.pack("<I", 0) + w.tobytes())  # flag 0: raw float32
        if bias is not None:
            weights.extend(np.asarray(bias, np.float32).tobytes())

    lines.append("Input input 0 1 in0")
    lines.append("Split split 1 2 in0 x_body x_copy")
    blob = "x_body"
    for k, layer in enumerate(convs[:-1]):
        conv(f"conv_{k}", blob, f"c{k}", layer.weight.numpy(), layer.bias.numpy(), 3, 1)
        lines.append(f"PReLU prelu_{k} 1 1 c{k} p{k} 0={prelus[k]._weight.shape[0]}")
        weights.extend(prelus[k]._weight.numpy().astype(np.float32).tobytes())
        blob = f"p{k}"
    last = convs[-1]
    conv("conv_last", blob, "residual", last.weight.numpy(), last.bias.numpy(), 3, 1)
    conv("copy", "x_copy", "copied", student.copy.numpy(), None, 1, 0)
    lines.append("BinaryOp add 2 1 residual copied cells 0=0")
    lines.append(f"PixelShuffle shuffle 1 1 cells out0 0={cfg.factor} 1=0")
    blobs = {token for line in lines for token in line.split()[4:] if "=" not in token and not token.isdigit()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARAM).write_text("\n".join(["7767517", f"{len(lines)} {len(blobs)}", *lines]) + "\n")
    (folder / MODEL).write_bytes(bytes(weights))


def parity(student, upscaler: Upscaler, pictures: np.ndarray) -> float:
    """Largest difference, in 0-255 levels, between ncnn's and paddle's enlargements of ``pictures``."""
    reference = student_pictures(student, pictures)
    return float(max(np.abs(upscaler(p).astype(int) - r.astype(int)).max() for p, r in zip(pictures, reference)))


def label_maps(data_root: str, split: str, count: int, size: int, num_classes: int, doodle_share: float,
               seed: int) -> np.ndarray:
    """``count`` maps at ``size``: held-in (or held-out) photos' label maps the model can paint, and a share of
    doodles as a child paints them."""
    from miaobi_core.palette import load_palette

    from .data import pseudo_labelled
    from .quality import load_pairs, paintable
    from .sheets import wobbly_doodles

    doodles = int(round(count * doodle_share))
    dataset, _ = paintable(pseudo_labelled(data_root, split), num_classes)
    maps, _ = load_pairs(dataset, size, count - doodles, f"{split} label maps")
    return np.concatenate([maps, wobbly_doodles(load_palette(), doodles, size, seed=seed)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.upscaler", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--teacher", choices=sorted(TEACHERS), required=True, help="the upscaler to distil")
    parser.add_argument("--out", required=True, help="the student's upscaler folder (written)")
    parser.add_argument("--model", default=None, help="the generator whose pictures it learns (default: the one "
                                                       "the hub module serves on a CPU)")
    parser.add_argument("--data-root", default=PSEUDO_LABELS, help="labels (python -m train.pseudolabel)")
    parser.add_argument("--pictures", type=int, default=1500, help="training pictures")
    parser.add_argument("--held-out", type=int, default=60, help="held-out pictures it is judged on")
    parser.add_argument("--doodle-share", type=float, default=0.3, help="share of doodles among the pictures")
    for field_, default in asdict(StudentConfig()).items():
        if field_ != "factor":
            parser.add_argument(f"--{field_}", type=int, default=default, help="the student's shape")
    for field_, default in asdict(DistillSettings()).items():
        parser.add_argument(f"--{field_}", type=type(default), default=default, help="distillation")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.synthesizer import Synthesizer
    from miaobi_core.variants import FOLDERS, resolve_variant

    model = args.model or str(Path(__file__).resolve().parent.parent / "hub_module" / "miaobi"
                              / FOLDERS[resolve_variant("auto")])
    synthesizer = Synthesizer(model)
    side, classes = synthesizer.native_size, synthesizer.num_classes
    big_teacher = teacher(args.teacher)
    cfg = StudentConfig(factor=big_teacher.factor, features=args.features, convs=args.convs)
    settings = DistillSettings(**{k: getattr(args, k) for k in asdict(DistillSettings())})

    train_pictures = paint_pictures(synthesizer, label_maps(args.data_root, "train", args.pictures, side, classes,
                                                            args.doodle_share, args.seed), args.seed)
    test_pictures = paint_pictures(synthesizer, label_maps(args.data_root, "test", args.held_out, side, classes,
                                                           args.doodle_share, args.seed + 1), args.seed + 1)
    train_targets = enlarge_all(big_teacher, train_pictures, "teacher")
    test_targets = enlarge_all(big_teacher, test_pictures, "teacher, held out")

    started = time.time()
    student, history = distill(cfg, train_pictures, train_targets, settings)
    minutes = (time.time() - started) / 60
    out = Path(args.out)
    write_ncnn(student, out)
    spec = UpscalerSpec(name=f"student of {big_teacher.spec.name} ({cfg.features} x {cfg.convs + 2})", param=PARAM,
                        model=MODEL, factor=cfg.factor, input_blob="in0", output_blob="out0")
    (out / SPEC_NAME).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    served = Upscaler(out)
    error = parity(student, served, test_pictures)
    if error > PARITY_LEVELS:
        raise SystemExit(f"ncnn's student differs from paddle's by {error:.0f} levels (> {PARITY_LEVELS}): "
                         f"not written as an upscaler")
    from PIL import Image

    lanczos = [np.asarray(Image.fromarray(p).resize(t.shape[1::-1], Image.LANCZOS)) for p, t in
               zip(test_pictures, test_targets)]
    students = [served(p) for p in test_pictures]
    report = {
        "student": asdict(cfg), "settings": asdict(settings), "teacher": big_teacher.spec.name,
        "generator": model, "pictures": args.pictures, "doodle_share": args.doodle_share, "minutes": round(minutes, 1),
        "held_out_psnr_to_teacher_db": {
            "student": round(float(np.mean([psnr(s, t) for s, t in zip(students, test_targets)])), 2),
            "lanczos": round(float(np.mean([psnr(a, t) for a, t in zip(lanczos, test_targets)])), 2)},
        "held_out_detail": {name: round(float(np.mean([detail(p) for p in pictures])), 2) for name, pictures in
                            (("student", students), ("teacher", test_targets),
                             ("lanczos", lanczos))},
        "ncnn_vs_paddle_levels": error, "l1_history_levels": [(s, round(v * 255, 3)) for s, v in history],
    }
    (out / "distilled.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "l1_history_levels"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
