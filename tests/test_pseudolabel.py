"""Pseudo-labelling: colour rules on made-up photos, and the whole command on a tiny photo folder."""
import json

import numpy as np
import pytest
from PIL import Image

from scipy.ndimage import gaussian_filter

from train import duplicates
from miaobi_core.labelling import SCENES, SceneModel, label_photo, label_photo_v2, label_photo_v3
from train.files import SHARED_MODELS
from train.photos import intel_photos
from train.pseudolabel import main

MODELS = SHARED_MODELS
ADE20K, SKYSEG = MODELS / "ade20k_deeplab" / "deeplabv3_mnv2_ade20k_int8.tflite", MODELS / "skyseg"


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


ADE = {"sky": 3, "building": 2, "tree": 5, "road": 7, "earth": 14, "car": 21, "mountain": 17, "water": 22,
       "house": 26, "sea": 27}


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
    ("sea", (20, 60, 160), "car", "sea"),  # classes outside the palette fall back to the rules
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


def test_labels_v3_take_the_segmenters_sky(palette):
    ade = ade_two_band("sky", "mountain")
    ids = label_photo_v3(two_band_photo((100, 170, 240), (90, 80, 70)), ade, "mountain", palette)
    assert (ids[:25] == palette.id_of("sky")).mean() > 0.95
    assert (ids[35:] == palette.id_of("mountain")).mean() > 0.95


@pytest.mark.parametrize("scene, ade_bottom, expected", [
    ("street", "building", "house"),
    ("buildings", "house", "house"),
    ("street", "road", None),  # no class for asphalt: left unlabelled rather than guessed as rock
    ("street", "car", None),
    ("sea", "road", "sea"),  # a natural scene: the rules name it, as in labels v2
])
def test_built_scenes_label_houses_and_leave_what_the_palette_lacks_unlabelled(palette, scene, ade_bottom, expected):
    ids = label_photo_v3(two_band_photo((100, 170, 240), (20, 60, 160)), ade_two_band("sky", ade_bottom), scene,
                         palette)
    assert (ids[:25] == palette.id_of("sky")).mean() > 0.95
    assert (ids[35:] == (palette.ignore_id if expected is None else palette.id_of(expected))).mean() > 0.95


def photo_with_texture(seed, size=150):
    """Sky over land or water, each photo in colours of its own."""
    rng = np.random.default_rng(seed)
    photo = two_band_photo(rng.integers(60, 250, 3), rng.integers(0, 200, 3), size).astype(np.float32)
    photo += gaussian_filter(rng.normal(0, 40, (size, size, 1)), 1.0)
    return np.clip(photo, 0, 255).astype(np.uint8)


def fake_photo_folders(root):
    """Six held-out and six training landscapes, and an Intel folder: built scenes, and seg_pred with a copy of
    a held-out photo (re-encoded, a little cropped, mirrored) beside a photo of its own."""
    for split in ("train", "test"):
        for k, scene in enumerate(("forest", "glacier", "mountain", "sea")):
            folder = root / "landscapes" / split / scene
            folder.mkdir(parents=True)
            Image.fromarray(photo_with_texture(10 * k + (split == "test"))).save(folder / "1.jpg")
    datasets = root / "intel" / "datasets"
    for folder, scene, seed in (("seg_train", "buildings", 50), ("seg_train", "street", 51), ("seg_test", "street", 52)):
        (datasets / folder / scene).mkdir(parents=True)
        Image.fromarray(photo_with_texture(seed)).save(datasets / folder / scene / f"{seed}.jpg")
    (datasets / "seg_pred").mkdir()
    copy = Image.fromarray(photo_with_texture(31)).crop((3, 2, 150, 148)).resize((150, 150)).transpose(
        Image.FLIP_LEFT_RIGHT)
    copy.save(datasets / "seg_pred" / "900.jpg", quality=70)
    Image.fromarray(photo_with_texture(60)).save(datasets / "seg_pred" / "901.jpg")


@pytest.mark.skipif(not ADE20K.is_file(), reason="needs ../shared/models/ade20k_deeplab")
def test_the_command_labels_both_photo_folders_and_drops_copies_of_held_out_photos(tmp_path, palette, monkeypatch):
    fake_photo_folders(tmp_path)
    out, docs = tmp_path / "labels", tmp_path / "docs"
    command = ["--data-root", str(tmp_path / "landscapes"), "--intel", str(tmp_path / "intel"), "--out", str(out),
               "--ade20k", str(ADE20K), "--workers", "1", "--contact-sheet", str(docs / "sheet.png"),
               "--duplicates-sheet", str(docs / "duplicates.png"), "--report", str(docs / "data.md"),
               "--scene-model", str(tmp_path / "scenes.json")]
    assert main(command) == 0
    # The matches are kept beside the labels: judging them again (say by new rules) reads no photo's corners.
    monkeypatch.setattr(duplicates, "signature", lambda rgb: pytest.fail("matched again"))
    assert main(command) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    keys = {e["key"]: e for e in manifest["photos"]}
    assert [d["train"] for d in manifest["duplicates"]] == ["intel/seg_pred/900"]  # the copy, and only it
    assert manifest["duplicates"][0]["test"] == "test/sea/1"
    assert "intel/seg_pred/900" not in keys and "intel/seg_pred/901" in keys
    assert keys["intel/seg_test/street/52"]["split"] == "test"  # seg_test's built scenes are held out
    assert keys["intel/seg_pred/901"]["scene"] in SCENES and manifest["scenes"]["inferred_keys"] == [
        "intel/seg_pred/900", "intel/seg_pred/901"]
    assert set(SceneModel.load(tmp_path / "scenes.json").scenes) <= set(SCENES)  # the module's copy of it
    assert len(manifest["photos"]) == 8 + 3 + 1
    assert abs(sum(manifest["class_fractions"].values()) - 1) < 1e-3
    label = Image.open(out / keys["test/forest/1"]["label"])
    assert label.mode == "P" and label.size == (150, 150)
    assert set(np.unique(label)) <= set(range(palette.num_classes)) | {palette.ignore_id}
    assert Image.open(docs / "sheet.png").size[0] > 500 and Image.open(docs / "duplicates.png").size[0] > 500
    assert "near-duplicates of a held-out photo: **1** (0 landscapes, 1 Intel)" in (docs / "data.md").read_text()
    # the ADE20K segmenter's labels are cached, so the rules re-run in seconds; labels v3 need no sky net
    assert len(list((out / "ade20k").rglob("*.png"))) == 13 and not (out / "sky").exists()
    assert manifest["version"] == 3 and set(manifest["ade20k_support"]) >= {"sky", "building", "field"}


@pytest.mark.skipif(not SKYSEG.is_dir(), reason="needs ../shared/models/skyseg")
def test_labels_v2_still_use_the_sky_net_and_cache_it(tmp_path):
    fake_photo_folders(tmp_path)
    out = tmp_path / "labels"
    assert main(["--data-root", str(tmp_path / "landscapes"), "--intel", "", "--version", "2", "--skyseg", str(SKYSEG),
                 "--ade20k", str(ADE20K), "--out", str(out), "--workers", "1", "--contact-sheet", "",
                 "--duplicates-sheet", "", "--report", "", "--scene-model", ""]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == 2 and len(manifest["photos"]) == 8 and not manifest["scenes"]
    assert len(list((out / "sky").rglob("*.png"))) == 8


def test_a_missing_intel_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="fetch the Intel set"):
        intel_photos(tmp_path)
