"""Which enlargement for pictures above the model's size: ``python -m bench.upscale``.

Prints three tables and writes the side-by-side sheet (docs/upscaler.jpg):

1. Restoration of held-out photos, the only place with a right answer: each test
   photo at the model's size is shrunk by the factor, enlarged back by each method,
   and compared with itself (PSNR; and FD-MNv2 of the enlarged set against the
   originals, MobileNetV2 being nobody's training judge).
2. The model's own pictures enlarged to 4x (512 px for a 128 px model): time per
   picture, the periodic-grid score's 90th percentile, and how far the mean colour moves.
3. ``POST /predict`` end to end on the web app (one worker, held-out label maps),
   at 256, 512 and 1024 px: with the teachers (before), the shipped students (after) and Lanczos only.

Timings on a shared machine are noisy: compare within one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from miaobi_core.runtime import configure_cpu
from miaobi_core.variants import FOLDERS, resolve_variant
from train.files import PSEUDO_LABELS
from train.upscaler import STUDENTS, detail, psnr

REPO = Path(__file__).resolve().parent.parent


def candidates() -> dict:
    """name -> upscaler (or None for Lanczos): the two photo upscalers from the shared folder and their
    students (train/upscaler.py; trained, not yet served: train/upscalers/)."""
    from miaobi_core.upscale import Upscaler
    from train.upscaler import teacher

    return {"Lanczos": None, "waifu2x x2": teacher("x2"), "student x2": Upscaler(STUDENTS / "x2"),
            "Real-ESRGAN x4": teacher("x4"), "student x4": Upscaler(STUDENTS / "x4")}


def enlarge_by(picture: np.ndarray, factor: int, upscaler) -> np.ndarray:
    """``factor`` times larger: the network until the picture is that large (x2 twice for 4x), then Lanczos."""
    from miaobi_core.upscale import enlarge

    target = picture.shape[0] * factor
    while upscaler is not None and picture.shape[0] < target:
        picture = upscaler(picture)
    return enlarge(picture, target, target, None)


def restoration_table(methods: dict, photos: np.ndarray, judges) -> list[str]:
    from train.metrics import frechet_distance

    side = photos.shape[1]
    real = judges.features(photos)
    lines = ["| factor | method | PSNR dB | FD-MNv2 to the originals |", "| --- | --- | --- | --- |"]
    for factor in (2, 4):
        small = [np.asarray(Image.fromarray(p).resize((side // factor,) * 2, Image.BICUBIC)) for p in photos]
        for name, upscaler in methods.items():
            restored = np.stack([enlarge_by(s, factor, upscaler) for s in small])
            lines.append(f"| x{factor} | {name} | {np.mean([psnr(r, p) for r, p in zip(restored, photos)]):.2f} | "
                         f"{frechet_distance(judges.features(restored), real):.2f} |")
    return lines


def picture_table(methods: dict, pictures: list[np.ndarray], photos: np.ndarray) -> list[str]:
    """Time, colour and the periodic-grid score at 4x, of the model's pictures and of real photos enlarged the
    same way (what the method itself adds). The score looks at periods of 2-16 px, where an upscaler's own
    pixel-shuffle patterns fall, and at 8-64 px, where the model's 2-16 px grid lands when enlarged 4x."""
    from train.metrics import GRID_PERIODS, grid_score

    enlarged_periods = tuple(4 * p for p in GRID_PERIODS)
    lines = ["| method | ms per picture (p50) | mean colour shift | detail (mean Laplacian, levels) | "
             "grid p90, 2-16 px: model / real photos | grid p90, 8-64 px: model / real photos |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, upscaler in methods.items():
        times, shifts, details, scores = [], [], [], {"model": [], "real": []}
        for picture in pictures:
            started = time.perf_counter()
            big = enlarge_by(picture, 4, upscaler)
            times.append((time.perf_counter() - started) * 1000)
            shifts.append(np.abs(big.reshape(-1, 3).mean(0) - picture.reshape(-1, 3).mean(0)).max())
            details.append(detail(big))
            scores["model"].append((grid_score(big), grid_score(big, enlarged_periods)))
        for photo in photos:
            big = enlarge_by(photo, 4, upscaler)
            scores["real"].append((grid_score(big), grid_score(big, enlarged_periods)))
        p90 = {k: np.percentile(np.array(v), 90, axis=0) for k, v in scores.items()}
        lines.append(f"| {name} | {statistics.median(times):.0f} | {np.mean(shifts):.1f} levels | {np.mean(details):.2f} | "
                     f"{p90['model'][0]:.2f} / {p90['real'][0]:.2f} | {p90['model'][1]:.2f} / {p90['real'][1]:.2f} |")
    return lines


def sheet(methods: dict, doodles: list[np.ndarray], pictures: list[np.ndarray], palette, side: int = 512):
    """Rows of: doodle | the model's picture (nearest, to show its own pixels) | each method at 4x, under a
    header naming the columns; under each row the centre enlarged twice more, where invented detail shows."""
    from PIL import ImageDraw, ImageFont

    from train.sheets import grid

    rows = []
    crop = slice(side // 4, side // 4 + side // 2)
    for doodle, picture in zip(doodles, pictures):
        big = [enlarge_by(picture, 4, u) for u in methods.values()]
        native = np.asarray(Image.fromarray(picture).resize((side, side), Image.NEAREST))
        label = np.asarray(Image.fromarray(palette.colorize(doodle)).resize((side, side), Image.NEAREST))
        rows.append([label, native, *big])
        zoom = lambda image: np.asarray(Image.fromarray(image[crop, crop]).resize((side, side), Image.NEAREST))
        rows.append([np.full_like(label, 255), zoom(native), *[zoom(b) for b in big]])
    body = grid(rows, gap=8)
    header = 48
    out = Image.new("RGB", (body.width, body.height + header), "white")
    out.paste(body, (0, header))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=30)
    names = ["doodle", f"model, {pictures[0].shape[0]} px", *methods]
    for column, name in enumerate(names):
        draw.text((column * (side + 8) + 10, 8), name, fill="black", font=font)
    return out


def predict_table(url: str, doodles: list[np.ndarray], palette, repeats: int) -> dict[tuple, list[float]]:
    """ms per POST /predict, by (size, format): the page shows JPEG at its frame's size and saves PNG at 1024."""
    import requests

    from miaobi_core.codec import encode_png, png_to_b64

    bodies = [png_to_b64(encode_png(d, palette.colors)) for d in doodles]
    times = {}
    for size, picture_format in ((256, "jpeg"), (512, "jpeg"), (1024, "jpeg"), (512, "png"), (1024, "png")):
        measured = []
        for i in range(-1, repeats):  # the first is a warm-up
            started = time.perf_counter()
            requests.post(url + "/predict", timeout=60, json={"image": bodies[i % len(bodies)], "seed": 1, "size": size,
                                                              "format": picture_format}).raise_for_status()
            if i >= 0:
                measured.append((time.perf_counter() - started) * 1000)
        times[size, picture_format] = measured
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.upscale", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default=PSEUDO_LABELS,
                        help="labels v2 (python -m train.pseudolabel): held-out label maps and photos")
    parser.add_argument("--model", default=str(REPO / "hub_module" / "miaobi" / FOLDERS[resolve_variant("auto")]),
                        help="the generator whose pictures are enlarged (default: the one auto serves)")
    parser.add_argument("--count", type=int, default=200, help="held-out photos and label maps")
    parser.add_argument("--requests", type=int, default=40, help="POST /predict calls per size and setting")
    parser.add_argument("--sheet", default=str(REPO / "docs" / "upscaler.jpg"),
                        help="the side-by-side sheet (JPEG at quality 90 without chroma subsampling keeps it ~1.5 MB)")
    parser.add_argument("--skip-server", action="store_true", help="leave out the end-to-end table")
    parser.add_argument("--workers", type=int, default=1, help="web app workers in the end-to-end table; with more "
                        "than one it adds a row whose workers do not share the cores (miaobi_core/cores.py)")
    parser.add_argument("--server-only", action="store_true", help="only the end-to-end table, on doodles (no judges, no sheet, no training data)")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.checkpoint import read_checkpoint_info
    from miaobi_core.palette import load_palette
    from train.data import pseudo_labelled
    from train.quality import load_pairs
    from train.sheets import wobbly_doodles

    palette = load_palette()
    side = read_checkpoint_info(args.model)["metadata"]["image_size"]
    if args.server_only:  # a latency bench needs no training data: doodles as a child paints them will do
        labels = wobbly_doodles(palette, args.count, side)
    else:
        labels, photos = load_pairs(pseudo_labelled(args.data_root, "test"), side, args.count, "test pairs")
        judge(args, labels, photos, palette)
    if not args.skip_server:
        end_to_end(labels, palette, args.requests, args.workers)
    return 0


def judge(args, labels, photos, palette) -> None:
    from miaobi_core.synthesizer import Synthesizer
    from train.metrics import IndependentJudges
    from train.quality import evenly_spread

    methods = candidates()
    synthesizer = Synthesizer(args.model)
    side = synthesizer.native_size
    pictures = synthesizer.generate(list(labels), seeds=list(range(len(labels))))

    print(f"## Restoration of {len(photos)} held-out photos at {side} px\n")
    print("\n".join(restoration_table(methods, photos, IndependentJudges())))
    print(f"\n## {len(pictures)} pictures of {args.model} enlarged from {side} to {4 * side} px\n")
    print("\n".join(picture_table(methods, pictures, photos)))
    picks = evenly_spread(len(labels), 4)
    sheet(methods, [labels[i] for i in picks], [pictures[i] for i in picks], palette).save(
        args.sheet, quality=90, subsampling=0)
    print(f"\nwrote {args.sheet}")


def end_to_end(labels, palette, requests: int, workers: int) -> None:
    """The table with the served upscalers, with their students (train/upscalers/) and with Lanczos only, in
    one run; with several workers also the served upscalers on each worker's share of the cores alone."""
    from miaobi_core.cores import ENV

    from .servers import web_app

    print(f"\n## POST /predict end to end ({workers} worker(s), one client, ms)\n")
    print("| size | format | enlarged by | p50 | p95 |\n| --- | --- | --- | --- | --- |")
    # The server's threads as `make run` has them: the supervisor gives each worker its share of the cores
    # (this process's configure_cpu set them for all cores).
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    settings = {"the served upscalers": ([], env), "their students": (["--upscalers", str(STUDENTS)], env),
                "Lanczos only": (["--no-upscale"], env)}
    if workers > 1:
        settings["the served upscalers, cores not shared"] = ([], {**env, ENV: ""})
    for name, (flags, server_env) in settings.items():
        with web_app(["--workers", str(workers), "--rate-limit", "none", *flags], env=server_env) as (url, _):
            for (size, picture_format), measured in predict_table(url, list(labels), palette, requests).items():
                print(f"| {size} | {picture_format} | {name} | {np.percentile(measured, 50):.0f} | "
                      f"{np.percentile(measured, 95):.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
