"""Pseudo-label the landscape photos with our palette: ``python -m train.pseudolabel``.

The photos carry a scene class (forest, glacier, mountain, sea) but no pixel
labels. As the original project did with a segmentation model, we make them.

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

Labels v2 (the default) put the shared ADE20K segmenter (DeepLabV3+) in charge
of what it knows (tree, plant, grass, field, earth, road, mountain, water, sea,
sky) and keep the v1 rules for what it lacks: snow and ice, rock, sand and
cloud, plus every pixel it calls something else (buildings, people, boats):

- sky is the sky net's (v1) less what the segmenter sees as ground (snowfields,
  ice), joined by the segmenter's sky where it reaches the top;
- lakes vs sea follow the scene (the segmenter mixes them up);
- snow, rock and sand from the colour rules replace land classes (mountain,
  earth, grass) but never trees; on water only pale ice becomes snow;
- the same majority vote smooths the result.

Writes ``<out>/labels/<split>/<scene>/<id>.png`` (indexed PNGs whose pixel
values are class ids and whose colours are the palette's), ``<out>/manifest.json``
and a contact sheet (photo | label) for inspection.
"""
from __future__ import annotations

import argparse
import json
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import label as label_components
from scipy.ndimage import uniform_filter
from tqdm import tqdm

from miaobi_core.codec import encode_png
from miaobi_core.palette import Palette, load_palette

from .ade20k import MODEL as ADE20K_MODEL
from .files import PSEUDO_LABELS
from .skyseg import cache_sky_probabilities, load_sky_probability

SCENES = ("forest", "glacier", "mountain", "sea")
SPLITS = ("train", "test")
SKY_THRESHOLD = 0.5
SMOOTHING = 7  # majority-vote window, pixels (of a 150 px photo)
TEXTURED = 0.07  # local 5x5 brightness std above which a pixel is too busy to be sky


def label_photo(rgb: np.ndarray, sky_prob: np.ndarray, scene: str, palette: Palette) -> np.ndarray:
    """Labels v1: one photo -> (H, W) uint8 class ids, by the colour rules in the module docstring."""
    ids, sky = _colour_rules(_hsv(rgb), sky_prob, scene, palette)
    return _majority(ids, sky, palette)


# Where the ADE20K segmenter sees land, the colour rules may say snow, rock or sand (classes it lacks);
# where it sees water, only floating ice: blue lakes are not snow, grey waves are not rock.
LAND, WATER = ("mountain", "dirt", "grass"), ("water", "sea")
FROM_RULES = {"snow": LAND + WATER, "rock": LAND, "sand": LAND}


def label_photo_v2(rgb: np.ndarray, sky_prob: np.ndarray, ade_ids: np.ndarray, scene: str,
                   palette: Palette) -> np.ndarray:
    """Labels v2: the ADE20K segmenter's classes merged with the sky net and the v1 rules (module docstring)."""
    hsv = _hsv(rgb)
    rules, sky = _colour_rules(hsv, sky_prob, scene, palette)
    c = palette.id_of
    ids = palette.ade20k_lut()[ade_ids]
    unknown = ids == palette.ignore_id
    ids[unknown] = rules[unknown]
    if scene == "sea":
        ids[ids == c("water")] = c("sea")
    else:
        ids[ids == c("sea")] = c("water")
    ice = (hsv[2] > 0.68) & (hsv[1] < 0.3)
    for name, under in FROM_RULES.items():
        where = np.isin(ids, [c(n) for n in under]) & (rules == c(name))
        ids[where & (np.isin(ids, [c(n) for n in LAND]) | ice)] = c(name)
    # The sky net takes bright snow and ice for sky; where the segmenter sees open ground there, it wins.
    # Trees it does not overrule: the sky net draws the gaps in a canopy finer than the segmenter.
    sky &= ~np.isin(ade_ids, ADE20K_GROUND)
    # The segmenter's sky joins the sky net's where it reaches the top (hazy horizons).
    sky = _sky_from_top(sky | (ade_ids == ADE20K_SKY))
    ids[sky] = _sky_or_cloud(hsv[1][sky], hsv[2][sky], palette)
    return _majority(ids, sky, palette)


ADE20K_SKY = 3
ADE20K_GROUND = (4, 7, 10, 14, 17, 22, 27, 30)  # floor, road, grass, earth, mountain, water, sea, field


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hue in degrees, saturation, value in [0, 1])."""
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), np.float32) / 255.0
    return hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]


def _colour_rules(hsv: tuple[np.ndarray, np.ndarray, np.ndarray], sky_prob: np.ndarray, scene: str,
                  palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """(class ids by colour and position with sky and cloud filled in, the sky mask) before smoothing."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}; expected one of {SCENES}")
    c = palette.id_of
    hue, sat, val = hsv
    height, width = val.shape
    y = np.broadcast_to(np.linspace(0.0, 1.0, height)[:, None], (height, width))
    # The sky net calls some textured ice walls and snowfields sky; real sky is smooth.
    texture = np.sqrt(np.maximum(uniform_filter(val**2, 5) - uniform_filter(val, 5) ** 2, 0))
    sky = _sky_from_top((sky_prob > SKY_THRESHOLD) & ~((texture > TEXTURED) & (y > 0.25)))

    blue = (hue >= 185) & (hue <= 255) & (sat > 0.25)
    green = (hue >= 55) & (hue < 170) & (sat > 0.18)
    beige = (hue >= 20) & (hue < 55) & (sat >= 0.12) & (sat < 0.6) & (val > 0.55)
    brown = (hue < 45) & (sat > 0.25) & (val >= 0.12) & (val <= 0.6)
    grey = sat < 0.2
    bright_pale = (val > 0.68) & ((sat < 0.16) | ((sat < 0.3) & (hue >= 170) & (hue <= 240)))

    # Scene default first, then ever more specific rules overwrite it.
    default = {"forest": "tree", "glacier": "snow", "mountain": "mountain", "sea": "sea"}[scene]
    ids = np.full((height, width), c(default), np.uint8)
    high = y < 0.6
    ids[grey & high] = c("mountain") if scene != "sea" else c("rock")
    ids[grey & ~high] = c("rock")
    ids[brown] = c("tree") if scene == "forest" else c("mountain")
    ids[brown & (y > 0.7)] = c("dirt")
    ids[beige] = c("sand") if scene == "sea" else c("dirt")
    ids[green] = c("grass")
    ids[green & ((val < 0.42) | (scene == "forest"))] = c("tree")
    if scene == "sea":
        ids[blue] = c("sea")
        ids[bright_pale] = c("sea")  # white foam on waves, not snow
    else:
        ids[blue & (y > 0.55)] = c("water")
        ids[blue & (y <= 0.55)] = c("mountain")  # hazy blue peaks far away
        ids[bright_pale] = c("snow")
        if scene in ("glacier", "mountain"):
            ids[blue & (val > 0.45)] = c("snow")  # blue glacier ice and snow in shade
    if scene == "forest":
        ids[(ids == c("mountain"))] = c("tree")  # grey-brown trunks and shade, not peaks
        ids[(ids == c("snow")) & (y < 0.6)] = c("sky")  # bright gaps in the canopy the sky net missed
        ids[(ids == c("rock")) & (y >= 0.6)] = c("dirt")  # grey-brown forest floor and paths

    ids[sky] = _sky_or_cloud(sat[sky], val[sky], palette)
    return ids, sky


def _sky_or_cloud(sat: np.ndarray, val: np.ndarray, palette: Palette) -> np.ndarray:
    """Inside the sky: pale, unsaturated pixels are cloud."""
    return np.where((sat < 0.12) & (val > 0.55), palette.id_of("cloud"), palette.id_of("sky"))


def _sky_from_top(sky: np.ndarray) -> np.ndarray:
    """Keep only sky connected to the top edge: the net sometimes calls a snowfield or a lake sky."""
    components, _ = label_components(sky)
    touching = np.unique(components[0][components[0] > 0])
    return np.isin(components, touching)


def _majority(ids: np.ndarray, sky: np.ndarray, palette: Palette) -> np.ndarray:
    votes = np.stack([uniform_filter((ids == k).astype(np.float32), SMOOTHING, mode="nearest")
                      for k in range(palette.num_classes)])
    sky_classes = np.zeros(palette.num_classes, bool)
    sky_classes[[palette.id_of("sky"), palette.id_of("cloud")]] = True
    # Sky pixels choose between sky and cloud only, the rest among the other classes.
    inside = np.where(sky_classes[:, None, None], votes, -1.0)
    outside = np.where(sky_classes[:, None, None], -1.0, votes)
    return np.where(sky, inside.argmax(axis=0), outside.argmax(axis=0)).astype(np.uint8)


def list_photos(data_root: Path) -> list[tuple[str, str, Path]]:
    photos = []
    for split in SPLITS:
        for scene in SCENES:
            photos += [(split, scene, p) for p in sorted((data_root / split / scene).glob("*.jpg"))]
    if not photos:
        raise FileNotFoundError(f"no photos under {data_root}/{{train,test}}/<scene>/*.jpg")
    return photos


def _groups(photos):
    groups = {}
    for p in photos:
        groups.setdefault(p[:2], []).append(p)
    return list(groups.values())


_ade20k = None  # one segmenter per worker process


def ade20k_ids(rgb: np.ndarray, cache_path: Path, model: Path = ADE20K_MODEL) -> np.ndarray:
    """The ADE20K segmenter's ids for a photo, cached as a PNG so the merge rules re-run in seconds."""
    global _ade20k
    if cache_path.is_file():
        return np.asarray(Image.open(cache_path))
    if _ade20k is None:
        from .ade20k import ADE20KSegmenter

        _ade20k = ADE20KSegmenter(model)
    ids = _ade20k(rgb)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path.with_suffix(".tmp.png")
    Image.fromarray(ids).save(tmp)
    os.replace(tmp, cache_path)  # a killed run never leaves a half-written cache file
    return ids


def label_file(photo: Path, sky_path: Path, ade_path: Path, scene: str, version: int, palette: Palette,
               ade_model: Path = ADE20K_MODEL) -> np.ndarray:
    """Labels of one photo file by ``version`` (1 or 2) from its cached sky probabilities (and ADE20K ids)."""
    rgb = np.asarray(Image.open(photo).convert("RGB"))
    sky = load_sky_probability(sky_path)
    if version == 1:
        return label_photo(rgb, sky, scene, palette)
    return label_photo_v2(rgb, sky, ade20k_ids(rgb, ade_path, ade_model), scene, palette)


def _label_one(job):
    photo, sky_path, ade_path, label_path, scene, version, ade_model = job
    palette = load_palette()
    ids = label_file(Path(photo), Path(sky_path), Path(ade_path), scene, version, palette, Path(ade_model))
    Path(label_path).parent.mkdir(parents=True, exist_ok=True)
    Path(label_path).write_bytes(encode_png(ids, palette.colors))
    return np.bincount(ids.ravel(), minlength=palette.num_classes)


SUPPORT_SHARE, SUPPORT_PHOTOS = 0.02, 300  # a class earns a palette entry on >= 2% of >= 300 training photos


def palette_support(ade_paths: list[Path]) -> dict[str, int]:
    """For every ADE20K class the segmenter knows: on how many of these photos it covers >= 2% of the pixels."""
    from .ade20k import NAMES

    counts = np.zeros(256, np.int64)
    for path in tqdm(ade_paths, desc="palette support", unit="photo"):
        ids = np.asarray(Image.open(path))
        counts += np.bincount(ids.ravel(), minlength=256) >= SUPPORT_SHARE * ids.size
    return {name: int(counts[k]) for k, name in sorted(NAMES.items(), key=lambda kv: -counts[kv[0]])}


def contact_sheet(entries: list[dict], out_dir: Path, palette: Palette, per_scene: int = 4, tile: int = 128) -> Image.Image:
    """Rows of (photo | label) pairs, ``per_scene`` test photos of each scene."""
    chosen = []
    for scene in SCENES:
        chosen += [e for e in entries if e["scene"] == scene and e["split"] == "test"][:per_scene]
    cells = []
    for e in chosen:
        photo = Image.open(e["photo"]).convert("RGB").resize((tile, tile), Image.BICUBIC)
        label = Image.fromarray(palette.colorize(np.asarray(Image.open(out_dir / e["label"])))).resize(
            (tile, tile), Image.NEAREST)
        pair = Image.new("RGB", (2 * tile + 4, tile), "white")
        pair.paste(photo, (0, 0))
        pair.paste(label, (tile + 4, 0))
        cells.append(pair)
    columns = per_scene
    sheet = Image.new("RGB", (columns * (2 * tile + 12), (len(cells) + columns - 1) // columns * (tile + 8)), "white")
    for i, cell in enumerate(cells):
        sheet.paste(cell, ((i % columns) * (2 * tile + 12), (i // columns) * (tile + 8)))
    return sheet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.pseudolabel", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data/landscapes", help="photos: <root>/<split>/<scene>/*.jpg")
    parser.add_argument("--skyseg", default="../shared/models/skyseg", help="folder with skyseg.param/.bin")
    parser.add_argument("--ade20k", default=str(ADE20K_MODEL), help="the ADE20K segmenter's TFLite file (labels v2)")
    parser.add_argument("--out", default=PSEUDO_LABELS,
                        help="output folder (kept outside the repo: it is derived from photos we may not commit)")
    parser.add_argument("--version", type=int, choices=(1, 2), default=2,
                        help="1: sky net + colour rules; 2: the ADE20K segmenter merged with them")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS, help="which splits to label")
    parser.add_argument("--limit", type=int, default=0, help="label only the first N photos of each split/scene (0 = all)")
    parser.add_argument("--contact-sheet", default="docs/pseudo_labels.png", help="where to write photo | label pairs")
    args = parser.parse_args(argv)

    data_root, out = Path(args.data_root), Path(args.out)
    palette = load_palette()
    photos = [p for p in list_photos(data_root) if p[0] in args.splits]
    if args.limit:
        photos = [p for group in _groups(photos) for p in group[: args.limit]]
    entries, jobs = [], []
    for split, scene, photo in photos:
        rel = photo.relative_to(data_root).with_suffix(".png")
        entries.append({"photo": str(photo.resolve()), "label": str(Path("labels") / rel), "split": split, "scene": scene})
        jobs.append((str(photo), str(out / "sky" / rel), str(out / "ade20k" / rel), str(out / "labels" / rel), scene,
                     args.version, args.ade20k))
    cache_sky_probabilities([(Path(j[0]), Path(j[1])) for j in jobs], Path(args.skyseg), args.workers)
    with Pool(args.workers) as pool:
        counts = sum(tqdm(pool.imap(_label_one, jobs, chunksize=32), total=len(jobs), desc="labels", unit="photo"))
    fractions = {name: round(float(n) / float(counts.sum()), 4) for name, n in zip(palette.names, counts)}
    manifest = {"version": args.version, "class_fractions": fractions}
    if args.version == 2:
        support = palette_support([Path(j[2]) for e, j in zip(entries, jobs) if e["split"] == "train"])
        manifest["ade20k_support"] = support
        print(f"training photos on which each ADE20K class covers >= {SUPPORT_SHARE:.0%} "
              f"(a new palette class needs >= {SUPPORT_PHOTOS}):", json.dumps(support))
    (out / "manifest.json").write_text(json.dumps({**manifest, "photos": entries}, indent=1))
    if args.contact_sheet:
        Path(args.contact_sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(entries, out, palette).save(args.contact_sheet)
    print(json.dumps(fractions, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
