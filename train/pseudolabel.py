"""Pseudo-label the photos with our palette: ``python -m train.pseudolabel``.

The photos carry a scene class (forest, glacier, mountain, sea, buildings, street; ``seg_pred``'s none) but
no pixel labels. As the original project did with a segmentation model, we make them.

Labels v1 (``--version 1``), colour rules:

1. sky vs the rest from the shared ncnn sky network (cached, see skyseg.py);
2. inside the sky, cloud (pale, unsaturated) vs clear sky;
3. below it, colour rules in HSV, steered by the photo's scene class and the
   pixel's height in the frame (snow and ice are bright and grey-blue; water
   is blue and low in the frame, sea in sea scenes; vegetation is green, dark
   green is trees; beige in sea scenes is sand; grey and brown are mountain
   high up and rock or dirt low down);
4. a 7x7 majority vote, kept separately inside and outside the sky, removes
   speckle while leaving the sky line where the network put it.

Labels v2 (``--version 2``) put the shared ADE20K segmenter (DeepLabV3+) in charge
of what it knows (tree, plant, grass, field, earth, road, mountain, water, sea,
sky, building and house) and keep the v1 rules for what it lacks: snow and ice, rock, sand and
cloud, plus every pixel it calls something else in a natural scene (people, boats):

- sky is the sky net's (v1) less what the segmenter sees as ground (snowfields,
  ice), joined by the segmenter's sky where it reaches the top;
- lakes vs sea follow the scene (the segmenter mixes them up);
- snow, rock and sand from the colour rules replace land classes (mountain,
  earth, grass) but never trees; on water only pale ice becomes snow;
- in buildings and street scenes, what no palette class names (roads, cars,
  people) stays unlabelled (the ignore id) instead of being guessed by colour;
- the same majority vote smooths the result.

Labels v3 (the default) are v2 with the segmenter's own sky in place of the sky
net's: on the 24 hand-labelled photos they score as well as v2 or better
(``python -m train.goldset``), and without the sky net (about 1 s a photo on one
core here) labelling every photo takes minutes instead of hours.

Photos come from the shared landscapes and, with ``--intel``, the rest of the
Intel set (train/photos.py). Photos without a scene get one from the scene
classifier (train/scenes.py); training photos that are near-duplicates of
held-out photos are left out (train/duplicates.py).

Writes ``<out>/labels/<key>.png`` (indexed PNGs whose pixel values are class ids
and whose colours are the palette's), ``<out>/manifest.json``, a contact sheet
(photo | label), a sheet of the closest training/held-out pairs and a report of
the counts (docs/data.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from miaobi_core.codec import encode_png
from miaobi_core.labelling import SCENES, SCENES_FILE, label_photo, label_photo_v2, label_photo_v3, scene_features
from miaobi_core.palette import Palette, load_palette

from . import duplicates
from .data import load_rgb
from .files import ADE20K_MODEL, PSEUDO_LABELS, SHARED_MODELS
from .photos import INTEL, LANDSCAPES, Photo, intel_photos, landscape_photos, source
from .scenes import SceneClassifier
from .sheets import grid
from .skyseg import cache_sky_probabilities, load_sky_probability

SCENE_MODEL = Path("hub_module/miaobi/drawing") / SCENES_FILE  # shipped: the module's drawings of photos
VERSIONS = (1, 2, 3)
SKY_NET_VERSIONS = (1, 2)


_ade20k = None  # one segmenter per worker process


def ade20k_ids(rgb: np.ndarray, cache_path: Path, model: Path = ADE20K_MODEL) -> np.ndarray:
    """The ADE20K segmenter's class ids for a photo, cached as a PNG so the merge rules re-run in seconds."""
    global _ade20k
    if cache_path.is_file():
        return np.asarray(Image.open(cache_path))
    if _ade20k is None:
        from miaobi_core.ade20k import ADE20KSegmenter

        _ade20k = ADE20KSegmenter(model)
    ade_ids = _ade20k(rgb)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp.png")
    Image.fromarray(ade_ids).save(tmp)
    os.replace(tmp, cache_path)  # a killed run never leaves a half-written cache file
    return ade_ids


def label_file(photo: Path, sky_path: Path | None, ade_path: Path, scene: str, version: int, palette: Palette,
               ade_model: Path = ADE20K_MODEL) -> np.ndarray:
    """Labels of one photo file by ``version`` from its cached ADE20K class ids (and, for v1 and v2, sky probabilities)."""
    rgb = load_rgb(photo)
    if version == 1:
        return label_photo(rgb, load_sky_probability(sky_path), scene, palette)
    ade = ade20k_ids(rgb, ade_path, ade_model)
    if version == 2:
        return label_photo_v2(rgb, load_sky_probability(sky_path), ade, scene, palette)
    return label_photo_v3(rgb, ade, scene, palette)


@dataclasses.dataclass(frozen=True)
class Folders:
    """Where one labelling run keeps each photo's caches and labels, by the photo's key."""

    out: Path

    def ade20k(self, photo: Photo) -> Path:
        return self.out / "ade20k" / f"{photo.key}.png"

    def sky(self, photo: Photo) -> Path:
        return self.out / "sky" / f"{photo.key}.png"

    def label(self, photo: Photo) -> Path:
        return self.out / "labels" / f"{photo.key}.png"


def _describe(job) -> np.ndarray:
    """Caches a photo's ADE20K class ids; returns what the scene classifier reads of it."""
    photo, ade_path, ade_model = job
    rgb = load_rgb(photo)
    return scene_features(rgb, ade20k_ids(rgb, ade_path, ade_model))


def _signature(photo: Path) -> duplicates.Signature:
    return duplicates.signature(load_rgb(photo))


def _label_one(job) -> np.ndarray:
    photo, sky_path, ade_path, label_path, scene, version, ade_model = job
    palette = load_palette()
    label_map = label_file(photo, sky_path, ade_path, scene, version, palette, ade_model)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.write_bytes(encode_png(label_map, palette.colors))
    return np.bincount(label_map.ravel(), minlength=256)


SUPPORT_SHARE, SUPPORT_PHOTOS = 0.02, 300  # a class earns a palette entry on >= 2% of >= 300 training photos


def palette_support(ade_paths: list[Path]) -> dict[str, int]:
    """For every ADE20K class the segmenter knows: on how many of these photos it covers >= 2% of the pixels."""
    from miaobi_core.ade20k import NAMES

    counts = np.zeros(256, np.int64)
    for path in tqdm(ade_paths, desc="palette support", unit="photo"):
        label_map = np.asarray(Image.open(path))
        counts += np.bincount(label_map.ravel(), minlength=256) >= SUPPORT_SHARE * label_map.size
    return {name: int(counts[k]) for k, name in sorted(NAMES.items(), key=lambda kv: -counts[kv[0]])}


def infer_scenes(photos: list[Photo], features: np.ndarray, scene_model: str = "") -> tuple[list[Photo], dict]:
    """Photos without a scene get the scene classifier's; with its accuracy on the held-out photos. The
    classifier is also written to ``scene_model`` (if given) for the hub module's drawings of photos."""
    known = [i for i, p in enumerate(photos) if p.scene and p.split == "train"]
    held_out = [i for i, p in enumerate(photos) if p.scene and p.split == "test"]
    unknown = [i for i, p in enumerate(photos) if p.scene is None]
    if not unknown and not scene_model:
        return photos, {}
    classifier = SceneClassifier().fit(features[known], [photos[i].scene for i in known])
    if scene_model:
        classifier.scene_model().save(scene_model)
    accuracy = classifier.accuracy(features[held_out], [photos[i].scene for i in held_out]) if held_out else None
    named = dict(zip(unknown, classifier.predict(features[unknown])))
    photos = [dataclasses.replace(p, scene=named[i]) if i in named else p for i, p in enumerate(photos)]
    counts = {scene: sum(1 for s in named.values() if s == scene) for scene in SCENES}
    return photos, {"held_out_accuracy": accuracy, "inferred": counts,
                    "inferred_keys": sorted(str(photos[i].key) for i in unknown)}


_matching = None  # (training, held-out signatures), set before a pool forks so that its workers share them


def _closest(rows: range) -> list:
    return duplicates.closest_matches(*_matching, rows)


MATCHES = "near_duplicates.json"  # in the label folder: each training photo's closest held-out photo


def find_duplicates(photos: list[Photo], workers: int, out: Path) -> list[tuple[Photo, Photo, duplicates.Match]]:
    """(training photo, its closest held-out photo, their match) for every training photo, most alike first.

    The matches are kept in ``out`` (they take a quarter of an hour here), so the rules that judge them
    (duplicates.Match.duplicate) re-run in seconds; they are found anew when the photos change.
    """
    global _matching
    train = [p for p in photos if p.split == "train"]
    test = [p for p in photos if p.split == "test"]
    keys = {"train": [str(p.key) for p in train], "test": [str(p.key) for p in test]}
    cache = out / MATCHES
    saved = json.loads(cache.read_text()) if cache.is_file() else {}
    if {k: saved.get(k) for k in keys} == keys:
        matches = [duplicates.Match(*m) for m in saved["matches"]]
    else:
        with Pool(workers) as pool:
            signatures = list(tqdm(pool.imap(_signature, [p.path for p in train + test], chunksize=32),
                                   total=len(train) + len(test), desc="signatures", unit="photo"))
        _matching = signatures[: len(train)], signatures[len(train):]
        chunks = [range(start, min(start + 256, len(train))) for start in range(0, len(train), 256)]
        with Pool(workers) as pool:  # forked now: the workers read the signatures without a copy each
            matches = [m for chunk in tqdm(pool.imap(_closest, chunks), total=len(chunks), desc="near-duplicates",
                                           unit="chunk") for m in chunk]
        _matching = None
        out.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({**keys, "matches": [dataclasses.astuple(m) for m in matches]}))
    pairs = [(train[m.train], test[m.test], m) for m in matches]
    return sorted(pairs, key=lambda pair: (-pair[2].duplicate, -pair[2].corners, pair[2].colours))


def _tile(photo_path: Path, tile: int) -> Image.Image:
    with Image.open(photo_path) as image:
        return image.convert("RGB").resize((tile, tile), Image.BICUBIC)


def _pair(left: Image.Image, right: Image.Image, caption: str = "") -> np.ndarray:
    from PIL import ImageDraw

    tile = left.size[0]
    cell = Image.new("RGB", (2 * tile + 4, tile + (14 if caption else 0)), "white")
    cell.paste(left, (0, 0))
    cell.paste(right, (tile + 4, 0))
    if caption:
        ImageDraw.Draw(cell).text((2, tile + 1), caption, fill="black")
    return np.asarray(cell)


def _rows(cells: list[np.ndarray], columns: int) -> list[list[np.ndarray]]:
    return [cells[i: i + columns] for i in range(0, len(cells), columns)]


def contact_sheet(photos: list[Photo], folders: Folders, palette: Palette, per_scene: int = 4,
                  tile: int = 128) -> Image.Image:
    """Rows of (photo | label) pairs: ``per_scene`` held-out photos of each scene, and photos given a scene."""
    chosen = []
    for scene in SCENES:
        chosen += [p for p in photos if p.scene == scene and p.split == "test"][:per_scene]
    cells = []
    for photo in chosen:
        label = palette.colorize(np.asarray(Image.open(folders.label(photo))))
        cells.append(_pair(_tile(photo.path, tile), Image.fromarray(label).resize((tile, tile), Image.NEAREST),
                           photo.scene))
    return grid(_rows(cells, per_scene), gap=8)


def duplicates_sheet(pairs: list, tile: int = 96, rows: int = 6, columns: int = 6) -> Image.Image:
    """The closest training / held-out pairs, each captioned with its scores: the least alike of those dropped,
    the most alike of those kept, and the kept pairs with the most alike layouts (plain horizons)."""
    kept = [pair for pair in pairs if not pair[2].duplicate]
    dropped = [pair for pair in pairs if pair[2].duplicate]
    horizons = sorted(kept, key=lambda pair: -pair[2].layout)
    share = rows * columns // 3
    chosen = dropped[-share:] + kept[:share] + horizons[:share]
    cells = [_pair(_tile(a.path, tile), _tile(b.path, tile),
                   f"{'DROP' if m.duplicate else 'keep'} {m.corners} pts, colour {m.colours:.0f}, layout {m.layout:.2f}")
             for a, b, m in chosen]
    return grid(_rows(cells, columns), gap=8)


SOURCES = ("landscapes", "Intel")  # the report's rows, in photos.source's names


def report(manifest: dict, kept: list[Photo], args) -> str:
    """docs/data.md: what was labelled, what was left out and why (generated; nothing in it is written by hand)."""
    lines = ["# The training data (generated by `python -m train.pseudolabel`; do not edit)", "",
             f"Labels v{manifest['version']}. Photos per scene, after near-duplicates of held-out photos were left "
             "out of training (`seg_pred`'s scenes are the scene classifier's):", "",
             "| source | split | " + " | ".join(SCENES) + " | all |", "|---|---|" + "---:|" * (len(SCENES) + 1)]
    for folder in SOURCES:
        for split in ("train", "test"):
            row = [sum(1 for p in kept if source(p.key) == folder and p.split == split and p.scene == s) for s in SCENES]
            if sum(row):
                lines.append(f"| {folder} | {split} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    total = {split: sum(1 for p in kept if p.split == split) for split in ("train", "test")}
    lines += ["", f"In all: **{total['train']:,} training photos** and {total['test']:,} held-out photos.", ""]
    dropped = manifest["duplicates"]
    by_source = {folder: sum(1 for d in dropped if source(d["train"]) == folder) for folder in SOURCES}
    lines += ["## Near-duplicates of held-out photos", "",
              f"Left out of training as near-duplicates of a held-out photo: **{len(dropped)}** "
              f"({', '.join(f'{n} {folder}' for folder, n in by_source.items())}): pairs that share at least "
              f"{duplicates.SAME_CORNERS} ORB corners under one shift, turn and zoom, or {duplicates.SOME_CORNERS} "
              f"with colours within {duplicates.ALIKE_COLOURS:.0f} levels, or the same layout (cosine >= "
              f"{duplicates.SAME_LAYOUT}) with colours within {duplicates.SAME_COLOURS:.0f} levels "
              "(train/duplicates.py says why a thumbnail alone would match plain horizons). Below: the dropped "
              "pairs that are least alike, the kept pairs that are most alike, and the kept pairs with the most "
              "alike layouts, each with its shared corners (pts), colour difference and layout similarity:", "",
              f"![closest pairs]({Path(args.duplicates_sheet).name})", ""]
    scenes = manifest["scenes"]
    if scenes:
        accuracy = scenes["held_out_accuracy"]
        lines += ["## Scenes for the photos without one", "",
                  f"The scene classifier (train/scenes.py) names {accuracy:.1%} of the held-out photos' scenes "
                  "correctly (glacier and mountain are the classes the set itself mixes up most). It gave `seg_pred`: "
                  + ", ".join(f"{scene} {n}" for scene, n in scenes["inferred"].items()) + ".", ""]
    lines += ["## Classes", "", "Share of the labelled pixels of every kept photo, and of all pixels left unlabelled "
              f"(roads, cars and people in built scenes): {manifest['unlabelled_share']:.1%}.", "",
              "| class | share |", "|---|---:|"]
    lines += [f"| {name} | {share:.1%} |" for name, share in manifest["class_fractions"].items()]
    if "ade20k_support" in manifest:
        lines += ["", f"Training photos on which each ADE20K class covers >= {SUPPORT_SHARE:.0%} of the pixels (a "
                  f"palette class needs >= {SUPPORT_PHOTOS}):", "", "| ADE20K class | photos |", "|---|---:|"]
        lines += [f"| {name} | {n} |" for name, n in manifest["ade20k_support"].items() if n]
    lines += ["", f"![held-out photos and their labels]({Path(args.contact_sheet).name})", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.pseudolabel", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default=str(LANDSCAPES), help="the shared landscapes: <root>/<split>/<scene>/*.jpg")
    parser.add_argument("--intel", default=str(INTEL),
                        help="the fetched Intel set (its datasets/ folder inside; README, 'Training'); '' for none")
    parser.add_argument("--skyseg", default=str(SHARED_MODELS / "skyseg"), help="labels v1 and v2: the sky net's folder")
    parser.add_argument("--ade20k", default=str(ADE20K_MODEL), help="the ADE20K segmenter's TFLite file")
    parser.add_argument("--out", default=PSEUDO_LABELS,
                        help="output folder (kept outside the repo: it is derived from photos we may not commit)")
    parser.add_argument("--version", type=int, choices=VERSIONS, default=3,
                        help="1: sky net + colour rules; 2: the ADE20K segmenter merged with them; 3: v2 with the "
                             "segmenter's sky")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--contact-sheet", default="docs/pseudo_labels.png", help="where to write photo | label pairs")
    parser.add_argument("--duplicates-sheet", default="docs/duplicates.png",
                        help="where to write the closest training / held-out pairs")
    parser.add_argument("--report", default="docs/data.md", help="where to write the counts (generated)")
    parser.add_argument("--scene-model", default=str(SCENE_MODEL),
                        help="where to write the scene classifier the hub module names photos' scenes with ('' for "
                             "nowhere)")
    args = parser.parse_args(argv)

    palette, folders, ade_model = load_palette(), Folders(Path(args.out)), Path(args.ade20k)
    photos = landscape_photos(args.data_root) + (intel_photos(args.intel) if args.intel else [])
    if args.version in SKY_NET_VERSIONS:
        cache_sky_probabilities([(p.path, folders.sky(p)) for p in photos], Path(args.skyseg), args.workers)
    with Pool(args.workers) as pool:
        features = list(tqdm(pool.imap(_describe, [(p.path, folders.ade20k(p), ade_model) for p in photos],
                                       chunksize=32), total=len(photos), desc="ADE20K", unit="photo"))
    photos, scenes = infer_scenes(photos, np.stack(features), args.scene_model)
    pairs = find_duplicates(photos, args.workers, folders.out)
    dropped = {pair[0].key for pair in pairs if pair[2].duplicate}
    kept = [p for p in photos if p.key not in dropped]
    jobs = [(p.path, folders.sky(p), folders.ade20k(p), folders.label(p), p.scene, args.version, ade_model)
            for p in kept]
    with Pool(args.workers) as pool:
        counts = sum(tqdm(pool.imap(_label_one, jobs, chunksize=32), total=len(jobs), desc="labels", unit="photo"))
    labelled = counts[: palette.num_classes].sum()
    fractions = {name: round(float(n) / float(labelled), 4) for name, n in zip(palette.names, counts)}
    manifest = {"version": args.version, "class_fractions": fractions,
                "unlabelled_share": round(float(counts[palette.ignore_id]) / float(counts.sum()), 4),
                "scenes": scenes,
                "duplicates": [{"train": str(a.key), "test": str(b.key), "corners": m.corners,
                                "colours": round(m.colours, 1), "layout": round(m.layout, 3)}
                               for a, b, m in pairs if m.duplicate]}
    if args.version != 1:
        manifest["ade20k_support"] = palette_support([folders.ade20k(p) for p in kept if p.split == "train"])
    entries = [{"photo": str(p.path.resolve()), "label": str(folders.label(p).relative_to(folders.out)),
                "split": p.split, "scene": p.scene, "key": str(p.key)} for p in kept]
    (folders.out / "manifest.json").write_text(json.dumps({**manifest, "photos": entries}, indent=1))
    for path, draw in ((args.contact_sheet, lambda: contact_sheet(kept, folders, palette)),
                       (args.duplicates_sheet, lambda: duplicates_sheet(pairs))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            draw().save(path)
    if args.report:
        Path(args.report).write_text(report(manifest, kept, args))
    print(f"{len(kept):,} photos labelled, {len(dropped)} near-duplicates of held-out photos left out",
          f"(report: {args.report or 'none'})", json.dumps(fractions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
