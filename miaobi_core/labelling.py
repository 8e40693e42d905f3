"""Labelling a photo with the palette: the rules the training labels were made by (``train.pseudolabel``,
labels v1-v3) and, for a grown-up's photo, the drawing of it the page can edit (``POST /drawing``).

Labels v3 put the ADE20K segmenter (miaobi_core/ade20k.py) in charge of what it knows and keep colour rules
for what it lacks (snow and ice, rock, sand, cloud), steered by the photo's scene: a blue expanse is sea in
a sea scene and a lake elsewhere. A photo that comes without a scene gets one from a linear classifier of
what the segmenter sees and of the photo's colours (:class:`SceneModel`, fit by ``train.pseudolabel`` on
the training photos and shipped in the hub module).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import distance_transform_edt, uniform_filter
from scipy.ndimage import label as label_components

from .palette import Palette, load_palette
from .photo import cover

NATURAL_SCENES = ("forest", "glacier", "mountain", "sea")
BUILT_SCENES = ("buildings", "street")
SCENES = NATURAL_SCENES + BUILT_SCENES

SKY_THRESHOLD = 0.5
SMOOTHING = 7  # majority-vote window, pixels (of a 150 px photo)
TEXTURED = 0.07  # local 5x5 brightness std above which a pixel is too busy to be sky
PHOTO_SIDE = 150  # the rules' scale: the training photos' side
SCENES_FILE = "scenes.json"  # a SceneModel's file (the hub module ships one in drawing/)
STAND_INS = {"house": "rock"}  # in a drawing for a model without the class, the one that stands in for it

ADE20K_IDS = 32  # the segmenter's 31 classes and 0, "anything else"
HUES, BRIGHTNESSES = 12, 8


def scene_features(rgb: np.ndarray, ade_ids: np.ndarray) -> np.ndarray:
    """(2 * ADE20K_IDS + HUES + BRIGHTNESSES,) float32 description of one photo."""
    half = ade_ids.shape[0] // 2
    shares = [np.bincount(part.ravel(), minlength=ADE20K_IDS)[:ADE20K_IDS] / part.size
              for part in (ade_ids[:half], ade_ids[half:])]
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), np.float32).reshape(-1, 3) / 255.0
    hues = np.histogram(hsv[:, 0], HUES, (0, 1), weights=hsv[:, 1])[0] / len(hsv)
    brightness = np.histogram(hsv[:, 2], BRIGHTNESSES, (0, 1))[0] / len(hsv)
    return np.concatenate(shares + [hues, brightness]).astype(np.float32)


def label_photo(rgb: np.ndarray, sky_prob: np.ndarray, scene: str, palette: Palette) -> np.ndarray:
    """Labels v1: one photo -> (H, W) uint8 label map, by the colour rules in the module docstring."""
    label_map, sky = _colour_rules(_hsv(rgb), sky_prob, scene, palette)
    return _majority(label_map, sky, palette)


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
    label_map = palette.ade20k_lut()[ade_ids]
    unknown = label_map == palette.ignore_id
    if scene not in BUILT_SCENES:  # in a street, what no class names is a car or asphalt, not rock or dirt
        label_map[unknown] = rules[unknown]
    if scene == "sea":
        label_map[label_map == c("water")] = c("sea")
    else:
        label_map[label_map == c("sea")] = c("water")
    ice = (hsv[2] > 0.68) & (hsv[1] < 0.3)
    for name, under in FROM_RULES.items():
        where = np.isin(label_map, [c(n) for n in under]) & (rules == c(name))
        label_map[where & (np.isin(label_map, [c(n) for n in LAND]) | ice)] = c(name)
    # The sky net takes bright snow and ice for sky; where the segmenter sees open ground there, it wins.
    # Trees it does not overrule: the sky net draws the gaps in a canopy finer than the segmenter.
    sky &= ~np.isin(ade_ids, ADE20K_GROUND)
    # The segmenter's sky joins the sky net's where it reaches the top (hazy horizons).
    sky = _sky_from_top(sky | (ade_ids == ADE20K_SKY))
    label_map[sky] = _sky_or_cloud(hsv[1][sky], hsv[2][sky], palette)
    return _majority(label_map, sky, palette)


def label_photo_v3(rgb: np.ndarray, ade_ids: np.ndarray, scene: str, palette: Palette) -> np.ndarray:
    """Labels v3: labels v2 with the segmenter's sky in place of the sky net's."""
    return label_photo_v2(rgb, (ade_ids == ADE20K_SKY).astype(np.float32), ade_ids, scene, palette)


ADE20K_SKY = 3
ADE20K_GROUND = (4, 7, 10, 14, 17, 22, 27, 30)  # floor, road, grass, earth, mountain, water, sea, field


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hue in degrees, saturation, value in [0, 1])."""
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), np.float32) / 255.0
    return hsv[..., 0] * 360.0, hsv[..., 1], hsv[..., 2]


def _colour_rules(hsv: tuple[np.ndarray, np.ndarray, np.ndarray], sky_prob: np.ndarray, scene: str,
                  palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """(the label map by colour and position with sky and cloud filled in, the sky mask) before smoothing."""
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
    default = {"forest": "tree", "glacier": "snow", "mountain": "mountain", "sea": "sea", "buildings": "house",
               "street": "house"}[scene]
    label_map = np.full((height, width), c(default), np.uint8)
    high = y < 0.6
    label_map[grey & high] = c("mountain") if scene != "sea" else c("rock")
    label_map[grey & ~high] = c("rock")
    label_map[brown] = c("tree") if scene == "forest" else c("mountain")
    label_map[brown & (y > 0.7)] = c("dirt")
    label_map[beige] = c("sand") if scene == "sea" else c("dirt")
    label_map[green] = c("grass")
    label_map[green & ((val < 0.42) | (scene == "forest"))] = c("tree")
    if scene == "sea":
        label_map[blue] = c("sea")
        label_map[bright_pale] = c("sea")  # white foam on waves, not snow
    else:
        label_map[blue & (y > 0.55)] = c("water")
        label_map[blue & (y <= 0.55)] = c("mountain")  # hazy blue peaks far away
        label_map[bright_pale] = c("snow")
        if scene in ("glacier", "mountain"):
            label_map[blue & (val > 0.45)] = c("snow")  # blue glacier ice and snow in shade
    if scene == "forest":
        label_map[(label_map == c("mountain"))] = c("tree")  # grey-brown trunks and shade, not peaks
        label_map[(label_map == c("snow")) & (y < 0.6)] = c("sky")  # bright gaps in the canopy the sky net missed
        label_map[(label_map == c("rock")) & (y >= 0.6)] = c("dirt")  # grey-brown forest floor and paths

    label_map[sky] = _sky_or_cloud(sat[sky], val[sky], palette)
    return label_map, sky


def _sky_or_cloud(sat: np.ndarray, val: np.ndarray, palette: Palette) -> np.ndarray:
    """Inside the sky: pale, unsaturated pixels are cloud."""
    return np.where((sat < 0.12) & (val > 0.55), palette.id_of("cloud"), palette.id_of("sky"))


def _sky_from_top(sky: np.ndarray) -> np.ndarray:
    """Keep only sky connected to the top edge: the net sometimes calls a snowfield or a lake sky."""
    components, _ = label_components(sky)
    touching = np.unique(components[0][components[0] > 0])
    return np.isin(components, touching)


def _majority(label_map: np.ndarray, sky: np.ndarray, palette: Palette) -> np.ndarray:
    values = np.array(list(range(palette.num_classes)) + [palette.ignore_id], np.uint8)  # unlabelled votes too
    votes = np.stack([uniform_filter((label_map == k).astype(np.float32), SMOOTHING, mode="nearest") for k in values])
    sky_classes = np.isin(values, [palette.id_of("sky"), palette.id_of("cloud")])
    # Sky pixels choose between sky and cloud only, the rest among the other classes.
    inside = np.where(sky_classes[:, None, None], votes, -1.0)
    outside = np.where(sky_classes[:, None, None], -1.0, votes)
    return values[np.where(sky, inside.argmax(axis=0), outside.argmax(axis=0))]


class SceneModel:
    """A photo's scene from :func:`scene_features`: a linear classifier on standardized features, kept as plain
    numbers (``scenes.json``) so that naming a scene needs numpy only."""

    def __init__(self, scenes: list[str], mean, scale, coef, intercept):
        self.scenes = list(scenes)
        self.mean, self.scale = np.asarray(mean, np.float64), np.asarray(scale, np.float64)
        self.coef, self.intercept = np.asarray(coef, np.float64), np.asarray(intercept, np.float64)
        if self.coef.shape != (len(self.scenes), len(self.mean)) or set(self.scenes) - set(SCENES):
            raise ValueError(f"a scene model for {self.scenes} with coefficients {self.coef.shape}")

    @classmethod
    def load(cls, path: str | Path) -> "SceneModel":
        return cls(**json.loads(Path(path).read_text()))

    def save(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"scenes": self.scenes, **{k: np.round(getattr(self, k), 6).tolist()
                                          for k in ("mean", "scale", "coef", "intercept")}}))

    def predict(self, features: np.ndarray) -> list[str]:
        """(N, F) features -> N scene names."""
        scores = ((np.asarray(features, np.float64) - self.mean) / self.scale) @ self.coef.T + self.intercept
        return [self.scenes[i] for i in scores.argmax(axis=1)]


def drawing_from_photo(photo: np.ndarray, segmenter, scenes: SceneModel, palette: Palette, width: int,
                       height: int) -> np.ndarray:
    """A photo (H, W, 3 uint8 RGB) -> a (height, width) label map: class ids of ``palette`` (a model's classes).

    The photo is centre-cropped to the drawing's shape and labelled as the training photos were (labels v3,
    at their 150 px scale, its scene named by ``scenes``). A house becomes rock for a model without houses
    (a stone wall, not nothing); what no class names (a car, a road) takes the class of the nearest labelled
    pixel, so a child gets a whole drawing to change."""
    short = min(width, height)
    small = cover(photo, round(PHOTO_SIDE * width / short), round(PHOTO_SIDE * height / short))
    ade_ids = segmenter(small)
    scene = scenes.predict(scene_features(small, ade_ids)[None])[0]
    full = load_palette()
    label_map = label_photo_v3(small, ade_ids, scene, full)
    for name, stand_in in STAND_INS.items():
        if name not in palette.names:
            label_map[label_map == full.id_of(name)] = full.id_of(stand_in)
    known = label_map < palette.num_classes
    if not known.any():
        label_map[:] = palette.transparent_id
    elif not known.all():
        nearest = distance_transform_edt(~known, return_indices=True)[1]
        label_map = label_map[nearest[0], nearest[1]]
    return np.asarray(Image.fromarray(label_map).resize((width, height), Image.NEAREST))

