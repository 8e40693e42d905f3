"""Quality report on the held-out split: ``python -m train.quality`` writes docs/quality.md and an example grid.

Methods compared, each painting every held-out label map:
- the shipped generator (``hub_module/miaobi/weights``) and any other ``--model``, one seed per map;
- flat fill: every class region filled with that class's mean colour in training photos;
- oracle flat fill: every class region filled with the real held-out photo's own mean colour there;
- nearest neighbour: the training photo whose label map agrees with it on most pixels (at 32x32);
- the real held-out photos, as the reference row, and as many real training
  photos regardless of layout: the FD a perfect painter could reach.

Judged by networks nobody here trained (``train/mobilenet.py``, ``miaobi_core/ade20k.py``):
- FD-MNv2: Frechet distance in ImageNet MobileNetV2's 1280-d pooled features
  between the pictures and the real held-out photos (FID's formula);
- ADE mIoU: the shared ADE20K segmenter's labels of a picture against the label
  map it was painted from, over the palette classes it knows (sky, mountain,
  water, sea, grass, tree, dirt; its unknown labels count as wrong).

Kept for continuity, in the space of the segmenter trained here on the pseudo-labels
(``python -m train.segmenter``):
- label fidelity: mIoU and pixel accuracy of the segmenter's labels of a picture
  against the label map it was painted from (the SPADE paper's protocol);
- FD: Frechet distance between the pooled segmenter features of the pictures
  and of the real held-out photos (FID's formula, not FID's network);
- FJD: the same with each feature vector joined to an embedding of the label
  map it was painted from (class fractions in 4 x 4 cells, scaled to the
  features' norm: Frechet Joint Distance, DeVries et al. 2019). It also
  charges a picture for not matching its own label map: a retrieved real
  photo is realistic, but of another layout.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from miaobi_core.runtime import configure_cpu
from miaobi_core.variants import DISTILLED, FOLDERS, FULL

from .baselines import flat_fill, mean_class_colours, nearest_neighbours, oracle_flat_fill
from .files import PSEUDO_LABELS, SHARED_MODELS
from .metrics import (IndependentJudges, ade20k_label_fidelity, detector_accuracy, frechet_distance,
                      frechet_joint_distance, grid_score, label_fidelity, layout_embedding, seed_variety)
from .pseudolabel import SCENE_MODEL
from .sheets import day_grid, doodle_grid, grid, house_grid, photo_grid, style_grid, style_photo_grid, sun_grid, wide_grid


def evenly_spread(length: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``range(length)``, first and last included."""
    return np.linspace(0, length - 1, count).round().astype(int)


def load_pairs(dataset, size: int, limit: int, desc: str):
    from .data import center

    count = len(dataset) if not limit else min(limit, len(dataset))
    # An even spread over the split, so every scene class is represented when limited.
    indices = evenly_spread(len(dataset), count)
    pairs = [center(*dataset[int(i)], size) for i in tqdm(indices, desc=desc, unit="pair")]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def paintable(dataset, num_classes: int):
    """The held-out pairs whose maps hold only the first ``num_classes`` classes (those every judged model
    paints: a model trained before the palette grew has no House; unlabelled pixels no model paints), and how
    many were left out."""
    from .data import PairDataset

    keep = [pair for i, pair in enumerate(dataset.pairs) if int(dataset.labels(i).max()) < num_classes]
    return PairDataset(keep, dataset.id_lut), len(dataset) - len(keep)


def house_pairs(dataset, palette, size: int, count: int = 8, share: float = 0.25):
    """``count`` held-out pairs, evenly spread, whose maps are at least ``share`` house and fully labelled."""
    from .data import PairDataset

    house = palette.id_of("house")
    keep = [pair for i, pair in enumerate(dataset.pairs)
            if (labels := dataset.labels(i)).max() < palette.num_classes and (labels == house).mean() >= share]
    if not keep:
        raise ValueError(f"no held-out map is {share:.0%} house")
    return load_pairs(PairDataset(keep, dataset.id_lut), size, count, "house pairs")


SECOND_SEED = 1_000_000  # added to each map's seed for its second picture

FLAT, NEAREST, REAL = "flat fill (mean class colour)", "nearest-neighbour training photo", "real held-out photos (reference)"
ORACLE = "oracle flat fill (the real photo's own mean colours)"
OTHER_REAL = "real training photos, layouts ignored (reference)"


def evaluate(synthesizers: dict, segmenter, palette, train_pairs, test_pairs, judges) -> tuple[dict, dict, dict]:
    """Metric rows per method (each model, the baselines, the real photos), the pictures each painted,
    and how stable the real-vs-real FD-MNv2 floor is (a second, disjoint draw of training photos)."""
    from .segmenter import pooled_features, predict_labels

    train_labels, train_photos = train_pairs
    test_labels, test_photos = test_pairs
    if len(train_photos) < 2 * len(test_photos):
        raise ValueError(f"{len(train_photos)} training pairs: the floor needs two disjoint draws of "
                         f"{len(test_photos)} (raise --train-limit)")
    colours = mean_class_colours(train_labels, train_photos, palette.num_classes, palette.colors)
    pictures, variety = {}, {}
    for name, synthesizer in synthesizers.items():
        by_seed = []
        for offset in (0, SECOND_SEED):  # the second seeds measure how much the dice changes
            generated = []
            for start in tqdm(range(0, len(test_labels), 8), desc=name, unit="batch"):
                chunk = test_labels[start:start + 8]
                seeds = [offset + s for s in range(start, start + len(chunk))]
                generated += synthesizer.generate(list(chunk), seeds=seeds, size=test_labels.shape[1])
            by_seed.append(np.stack(generated))
        pictures[name] = by_seed[0]
        variety[name] = seed_variety(*by_seed)
    pictures[FLAT] = flat_fill(test_labels, colours)
    pictures[ORACLE] = oracle_flat_fill(test_labels, test_photos)
    pictures[NEAREST] = train_photos[nearest_neighbours(test_labels, train_labels)]
    pictures[REAL] = test_photos
    real_features = pooled_features(segmenter, test_photos)
    real_mnv2 = judges.features(test_photos)
    conditions = layout_embedding(test_labels, palette.num_classes)
    # How low FD goes for photos that are real but not the held-out ones: the floor any method can reach.
    # Two disjoint draws (every other training photo) show how much of it is sampling noise.
    draws = evenly_spread(len(train_photos) // 2, len(test_photos)) * 2
    other_real, second_draw = train_photos[draws], train_photos[draws + 1]
    rows = {}
    for name, images in tqdm([*pictures.items(), (OTHER_REAL, other_real)], desc="judging", unit="row"):
        miou, accuracy = label_fidelity(predict_labels(segmenter, images), test_labels, palette.num_classes)
        features, mnv2 = pooled_features(segmenter, images), judges.features(images)
        rows[name] = {
            "mIoU": miou, "pixel accuracy": accuracy,
            "FD": frechet_distance(features, real_features),
            "FJD": frechet_joint_distance(features, real_features, conditions),
            "FD-MNv2": frechet_distance(mnv2, real_mnv2),
            # the held-out photos against themselves would teach it nothing: no detector for that row
            "detector": float("nan") if name == REAL else detector_accuracy(real_mnv2, mnv2),
            "ADE mIoU": ade20k_label_fidelity(judges.segment(images), test_labels, palette),
            "grid p90": float(np.percentile([grid_score(image) for image in images], 90)),
            "variety": variety.get(name, float("nan")),
        }
    floor = {"first draw": rows[OTHER_REAL]["FD-MNv2"],
             "second draw": frechet_distance(judges.features(second_draw), real_mnv2)}
    return rows, pictures, floor


def verdicts(rows: dict, models: list[str]) -> list[str]:
    """The bars the project set, checked: each model against the baselines, a student against the first model."""
    lines = []
    for name in models:
        m = rows[name]
        for metric in ("FD", "FJD"):
            beaten = [b for b in (FLAT, NEAREST) if m[metric] < rows[b][metric]]
            lines.append(f"- {name}: {metric} {m[metric]:.2f} beats {len(beaten)} of 2 baselines "
                         f"(flat {rows[FLAT][metric]:.2f}, nearest {rows[NEAREST][metric]:.2f})")
        gap = 100 * (rows[FLAT]["mIoU"] - m["mIoU"])
        lines.append(f"- {name}: mIoU {m['mIoU']:.3f} is {abs(gap):.1f} points {'below' if gap > 0 else 'above'} "
                     f"flat fill's {rows[FLAT]['mIoU']:.3f}")
        lines.append(f"- {name}: FD-MNv2 {m['FD-MNv2']:.2f} closes {100 * gap_closed(rows, name):.0f}% of the gap "
                     f"from oracle flat fill ({rows[ORACLE]['FD-MNv2']:.2f}) to real photos "
                     f"({rows[OTHER_REAL]['FD-MNv2']:.2f}); the bar for a new default is 50%")
        points = 100 * (rows[REAL]["ADE mIoU"] - m["ADE mIoU"])
        lines.append(f"- {name}: ADE mIoU {m['ADE mIoU']:.3f} is {abs(points):.1f} points "
                     f"{'below' if points > 0 else 'above'} real photos' {rows[REAL]['ADE mIoU']:.3f} (bar: within 5)")
    teacher = models[0]
    lower, higher = ("FD", "FJD", "FD-MNv2"), ("mIoU", "pixel accuracy", "ADE mIoU")
    for name in models[1:]:
        worst = max((rows[name][k] - rows[teacher][k]) / rows[teacher][k] for k in lower)
        worst = max(worst, *((rows[teacher][k] - rows[name][k]) / rows[teacher][k] for k in higher))
        lines.append(f"- {name} vs {teacher}: worst relative loss over the six metrics {100 * worst:.1f}% "
                     f"({'within' if worst <= 0.10 else 'outside'} the 10% bar)")
    return lines


def gap_closed(rows: dict, name: str) -> float:
    """How much of the FD-MNv2 distance from oracle flat fill down to the real-vs-real floor a row covers."""
    oracle, floor = rows[ORACLE]["FD-MNv2"], rows[OTHER_REAL]["FD-MNv2"]
    return (oracle - rows[name]["FD-MNv2"]) / (oracle - floor)


def write_report(path: Path, rows: dict, info: dict) -> None:
    lines = [
        "# Quality report",
        "",
        f"Regenerate with `{info['command']}`. This file is written by `train.quality` (and its Ablations "
        "section by `train.ablate`); what its figures mean for the run is in the hand-kept "
        "[training.md](training.md).",
        "",
        f"Held-out pairs: {info['test_count']} pseudo-labelled test photos at {info['size']} px "
        f"(baselines drawn from {info['train_count']} training pairs"
        + (f"; {info['left_out']} held-out maps with unlabelled pixels or a class beyond the first "
           f"{info['classes']} were left out, since a judged model cannot paint them" if info.get("left_out")
           else "") + "). Models: "
        + "; ".join(f"{name} = `{where}`" for name, where in info["models"].items()) + ".",
        "",
        "**Judged by networks nobody here trained** (the last two columns): FD-MNv2 is the Frechet distance "
        "between the pictures and the real held-out photos in ImageNet MobileNetV2's 1280-d pooled features "
        "(a paddle port of the shared TFLite file, `python -m train.imagenet` checks it); ADE mIoU is the shared "
        "ADE20K segmenter's labels of each picture against the label map it was painted from, over the palette "
        "classes it knows (sky, mountain, water, sea, grass, tree, dirt). "
        f"The real-vs-real floor (training photos of other layouts) is {info['floor']['first draw']:.2f}; "
        f"a second, disjoint draw of as many training photos gives {info['floor']['second draw']:.2f}, so "
        "differences smaller than theirs are noise.",
        "",
        "Kept for continuity (the first four columns): the segmenter trained here on the pseudo-labels. "
        "FD uses FID's formula in its pooled bottleneck features, FJD joins each label map's "
        "4 x 4 layout of class fractions, scaled to the features' norm. Lower FD/FJD is better; its label "
        "fidelity is measured against the same noisy pseudo-labels it learned from.",
        "",
        "Grid p90 is the 90th percentile of the spectral grid score (`grid_score`: the largest ratio of a "
        "period-2/4/8/16 frequency line's energy to its neighbours', 1 = no grid); variety is the mean absolute "
        "pixel difference (0-255) between two seeds' pictures of the same maps.",
        "",
        "The detector is how often a linear real-vs-picture detector tells the held-out photos from the row's "
        "pictures of their own layouts (L2 logistic regression on standardised MobileNetV2 pooled features, "
        "5-fold; 0.5 = it cannot tell). Its floor is the row of real training photos: two sets of real photos "
        f"it tells apart {rows[OTHER_REAL]['detector']:.1%} of the time. MobileNetV2 only judges; nothing is "
        "trained against it.",
        "",
        "| method | mIoU | pixel accuracy | FD | FJD | FD-MNv2 | detector | ADE mIoU | grid p90 | variety |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in rows.items():
        variety = "-" if np.isnan(m["variety"]) else f"{m['variety']:.1f}"
        detector = "-" if np.isnan(m["detector"]) else f"{m['detector']:.3f}"
        lines.append(f"| {name} | {m['mIoU']:.3f} | {m['pixel accuracy']:.3f} | {m['FD']:.2f} | {m['FJD']:.2f} "
                     f"| {m['FD-MNv2']:.2f} | {detector} | {m['ADE mIoU']:.3f} | {m['grid p90']:.2f} | {variety} |")
    lines += ["", "## Against the bars", ""] + verdicts(rows, list(info["models"]))
    columns = " | ".join(["label", *[n for n in rows if n != OTHER_REAL]])  # the grid's columns
    lines += ["", f"![{columns}](quality_examples.png)", "",
              "Hand-drawn-style doodles (few blobs, wobbly borders), then the pictures of "
              + ", then of ".join(info["models"]) + ", with seeds 1 and 2:", "",
              "![doodles](quality_doodles.png)", ""]
    if info.get("styled"):
        looks = next(iter(info["styled"].values()))
        lines += [f"Every named look on hand-drawn-style doodles, seed 1 (columns: the doodle, then {', '.join(looks)}); "
                  "for each doodle a row of " + ", then one of ".join(info["styled"]) + ":", "",
                  "![looks](quality_styles.png)", ""]
    kept = section(path.read_text(), ABLATIONS) if path.is_file() else ""
    path.write_text("\n".join(lines) + (f"\n{kept}" if kept else ""))


ABLATIONS = "## Ablations"  # written by python -m train.ablate; a regenerated report keeps it


def section(text: str, title: str) -> str:
    """The part of a markdown text from the line ``title`` up to the next heading of its level ("" if absent)."""
    level = title.split(" ")[0] + " "
    lines = text.splitlines()
    if title not in lines:
        return ""
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    return "\n".join(lines[start:end]).rstrip() + "\n"


def replace_section(path: Path, title: str, body: str) -> None:
    """Put ``title`` + ``body`` into the markdown file in place of that section, or at its end."""
    text = path.read_text() if path.is_file() else ""
    new = f"{title}\n\n{body.strip()}\n"
    old = section(text, title)
    path.write_text(text.replace(old, new) if old else text.rstrip() + "\n\n" + new)


def paint_looks(synthesizers: dict, palette, size: int, path: Path) -> dict[str, list[str]]:
    """Write the sheet of every named look of the models that have looks, a row each per doodle, so a new
    model's looks sit beside the previous one's; -> {model name: its looks} of the models painted."""
    styled = {name: s for name, s in synthesizers.items() if s.styles.names}
    if styled:
        style_grid(list(styled.values()), palette, size).save(path)
    return {name: s.styles.names for name, s in styled.items()}


# Both generators users get; the first is the reference the student is held to.
DEFAULT_MODELS = [f"full model (default)=hub_module/miaobi/{FOLDERS[FULL]}",
                  f"distilled student of the previous model=hub_module/miaobi/{FOLDERS[DISTILLED]}"]


# Held-out photos for the photo sheets: a meadow and forest path, a lake under a glacier, a coast; and for the
# style sheet, three lights (a clear day, an overcast glacier, a sunset over the sea).
DRAWING_PHOTOS = ("test/forest/20056.jpg", "test/glacier/22942.jpg", "test/sea/20072.jpg")
STYLE_PHOTOS = ("test/mountain/20320.jpg", "test/glacier/21288.jpg", "test/sea/24122.jpg")


def photo_sheets(synthesizer, palette, size: int, models: Path, out: Path) -> None:
    """docs/photos.png (a photo -> a drawing -> a child's change -> the picture), docs/style_photos.png, and
    docs/wide.png and docs/day.png: what POST /drawing, style_photo, width/height and animate make."""
    from miaobi_core.ade20k import FILE, ADE20KSegmenter
    from miaobi_core.animation import PATHS
    from miaobi_core.labelling import SceneModel

    from .data import load_rgb
    from .photos import LANDSCAPES

    segmenter, scenes = ADE20KSegmenter(models / FILE), SceneModel.load(SCENE_MODEL)
    photos = lambda keys: [load_rgb(LANDSCAPES / key) for key in keys]  # noqa: E731
    photo_grid(synthesizer, palette, photos(DRAWING_PHOTOS), segmenter, scenes, size).save(out / "photos.png")
    wide_grid(synthesizer, palette, size).save(out / "wide.png")
    if synthesizer.generator.encoder is not None:  # a model without the style encoder takes no style photo
        style_photo_grid(synthesizer, palette, photos(STYLE_PHOTOS), size).save(out / "style_photos.png")
    if set(PATHS["day"]) <= set(synthesizer.styles.names):  # nor paints a day without the day's looks
        day_grid(synthesizer, palette, size).save(out / "day.png")


def parse_models(values: list[str] | None) -> dict[str, str]:
    """``NAME=PATH`` (or a bare PATH, named by its folder) -> {name: path}; default: both shipped models."""
    models = {}
    for value in values or DEFAULT_MODELS:
        name, _, path = value.rpartition("=")
        models[name or Path(path).name] = path
    return models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.quality", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", action="append", metavar="[NAME=]PATH",
                        help="inference checkpoint to judge; repeat to compare (the first is the reference a "
                             "student is held to). Default: both shipped models")
    parser.add_argument("--segmenter", default="docs/segmenter", help="from python -m train.segmenter")
    parser.add_argument("--data-root", default=PSEUDO_LABELS)
    parser.add_argument("--test-limit", type=int, default=1000, help="held-out pairs (0 = all)")
    parser.add_argument("--train-limit", type=int, default=3000,
                        help="training pairs for the baselines and two floor draws (at least twice --test-limit)")
    parser.add_argument("--models-root", default=str(SHARED_MODELS), help="the shared pretrained networks (judges)")
    parser.add_argument("--out", default="docs", help="folder for quality.md and the example grids")
    parser.add_argument("--doodles-only", action="store_true",
                        help="only paint the doodle grid and the sheet of every look (no data or segmenter needed)")
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.palette import load_palette
    from miaobi_core.synthesizer import Synthesizer

    from .data import pseudo_labelled
    from .segmenter import load_segmenter

    palette = load_palette()
    models = parse_models(args.model)
    synthesizers = {name: Synthesizer(path) for name, path in models.items()}
    size = next(iter(synthesizers.values())).native_size
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doodle_grid(list(synthesizers.values()), palette, size).save(out / "quality_doodles.png")
    styled = paint_looks(synthesizers, palette, size, out / "quality_styles.png")
    first = next(iter(synthesizers.values()))
    sun_grid(first, palette, size).save(out / "quality_sun.png")
    photo_sheets(first, palette, size, Path(args.models_root), out)
    if args.doodles_only:
        return 0
    train_pairs = load_pairs(pseudo_labelled(args.data_root, "train"), size, args.train_limit, "train pairs")
    classes = min(synthesizer.num_classes for synthesizer in synthesizers.values())
    held_out = pseudo_labelled(args.data_root, "test")
    test_set, left_out = paintable(held_out, classes)
    test_pairs = load_pairs(test_set, size, args.test_limit, "test pairs")
    painters = [s for s in synthesizers.values() if s.num_classes == palette.num_classes]
    if painters:  # the models that paint houses, on held-out maps of houses (docs/training.md judges them)
        house_grid(painters, palette, *house_pairs(held_out, palette, size)).save(
            out / "quality_houses.png")
    rows, pictures, floor = evaluate(synthesizers, load_segmenter(args.segmenter), palette, train_pairs, test_pairs,
                                     IndependentJudges(args.models_root))

    picks = evenly_spread(len(test_pairs[0]), 8)
    grid([[palette.colorize(test_pairs[0][i])] + [images[i] for images in pictures.values()] for i in picks]
         ).save(out / "quality_examples.png")
    write_report(out / "quality.md", rows, {
        "command": shlex.join(["python", "-m", "train.quality", *(argv if argv is not None else sys.argv[1:])]),
        "test_count": len(test_pairs[0]), "left_out": left_out, "classes": classes, "train_count": len(train_pairs[0]), "size": size, "models": models,
        "floor": floor, "styled": styled})
    print((out / "quality.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
