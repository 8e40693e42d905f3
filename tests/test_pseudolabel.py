"""Pseudo-labelling: colour rules on made-up photos, and the whole command on a tiny photo folder."""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.pseudolabel import label_photo, label_photo_v2, main

SKYSEG = Path(__file__).resolve().parent.parent.parent / "shared" / "models" / "skyseg"


def two_band_photo(top, bottom, size=60):
    photo = np.zeros((size, size, 3), np.uint8)
    photo[: size // 2], photo[size // 2:] = top, bottom
    return photo


def sky_on_top(size=60):
    prob = np.zeros((size, size), np.float32)
    prob[: size // 2] = 0.9
    return prob


@pytest.mark.parametrize("scene, bottom, expected", [
    ("mountain", (120, 200, 60), "grass"),
    ("forest", (30, 80, 30), "tree"),
    ("sea", (20, 60, 160), "sea"),
    ("glacier", (250, 250, 252), "snow"),
    ("sea", (230, 205, 140), "sand"),
])
def test_colour_rules_under_a_clear_sky(palette, scene, bottom, expected):
    ids = label_photo(two_band_photo((100, 170, 240), bottom), sky_on_top(), scene, palette)
    assert (ids[:25] == palette.id_of("sky")).mean() > 0.95
    assert (ids[35:] == palette.id_of(expected)).mean() > 0.95


def test_pale_sky_is_cloud_and_sky_must_touch_the_top(palette):
    prob = sky_on_top()
    prob[50:] = 0.9  # the net also calls a bright patch at the bottom sky
    ids = label_photo(two_band_photo((215, 215, 220), (250, 250, 252)), prob, "glacier", palette)
    assert (ids[:25] == palette.id_of("cloud")).mean() > 0.95
    assert not (ids[50:] == palette.id_of("sky")).any()


def test_unknown_scene_is_refused(palette):
    with pytest.raises(ValueError, match="scene"):
        label_photo(two_band_photo(0, 0), sky_on_top(), "desert", palette)


ADE = {"sky": 3, "building": 2, "tree": 5, "earth": 14, "mountain": 17, "water": 22, "sea": 27}


def ade_two_band(top, bottom, size=60):
    ids = np.zeros((size, size), np.uint8)
    ids[: size // 2], ids[size // 2:] = ADE[top], ADE[bottom]
    return ids


@pytest.mark.parametrize("scene, bottom_colour, ade_bottom, expected", [
    ("mountain", (120, 200, 60), "tree", "tree"),  # the segmenter knows trees from a green meadow
    ("glacier", (250, 250, 252), "mountain", "snow"),  # it has no snow: the rules name white terrain
    ("glacier", (250, 250, 252), "tree", "tree"),  # ... but never overrule a tree (snow-laden firs)
    ("sea", (230, 205, 140), "earth", "sand"),  # no sand either: beige ground in a sea scene
    ("glacier", (30, 110, 220), "water", "water"),  # a blue lake is not blue ice
    ("sea", (20, 60, 160), "water", "sea"),  # lakes and sea follow the scene
    ("mountain", (20, 60, 160), "sea", "water"),
    ("sea", (20, 60, 160), "building", "sea"),  # classes outside the palette fall back to the rules
])
def test_labels_v2_merge_the_segmenter_with_the_rules(palette, scene, bottom_colour, ade_bottom, expected):
    ids = label_photo_v2(two_band_photo((100, 170, 240), bottom_colour), sky_on_top(), ade_two_band("sky", ade_bottom),
                         scene, palette)
    assert (ids[:25] == palette.id_of("sky")).mean() > 0.95
    assert (ids[35:] == palette.id_of(expected)).mean() > 0.95


def test_labels_v2_take_the_segmenters_sky_where_it_reaches_the_top(palette):
    no_sky = np.zeros((60, 60), np.float32)
    ade = ade_two_band("sky", "mountain")
    ade[50:, :10] = ADE["sky"]  # a lake's reflection the segmenter calls sky: not connected to the top
    ids = label_photo_v2(two_band_photo((100, 170, 240), (90, 80, 70)), no_sky, ade, "mountain", palette)
    assert (ids[:25] == palette.id_of("sky")).mean() > 0.95
    assert not (ids[50:] == palette.id_of("sky")).any()


@pytest.mark.skipif(not SKYSEG.is_dir(), reason="needs ../shared/models/skyseg")
def test_the_command_labels_a_photo_folder(tmp_path, palette):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for scene in ("forest", "glacier", "mountain", "sea"):
            folder = tmp_path / "photos" / split / scene
            folder.mkdir(parents=True)
            photo = two_band_photo((100, 170, 240), rng.integers(0, 255, 3), size=150)
            Image.fromarray(photo).save(folder / "1.jpg")
    out = tmp_path / "labels"
    assert main(["--data-root", str(tmp_path / "photos"), "--skyseg", str(SKYSEG), "--out", str(out),
                 "--workers", "1", "--contact-sheet", str(tmp_path / "sheet.png")]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["photos"]) == 8
    assert abs(sum(manifest["class_fractions"].values()) - 1) < 1e-3
    label = Image.open(out / manifest["photos"][0]["label"])
    assert label.mode == "P" and label.size == (150, 150)
    assert np.asarray(label).max() < palette.num_classes
    assert Image.open(tmp_path / "sheet.png").size[0] > 500
    # sky probabilities and the ADE20K segmenter's labels are cached, so the rules re-run in seconds
    assert len(list((out / "sky").rglob("*.png"))) == 8
    assert len(list((out / "ade20k").rglob("*.png"))) == 8
    assert manifest["version"] == 2 and set(manifest["ade20k_support"]) >= {"sky", "building", "field"}
