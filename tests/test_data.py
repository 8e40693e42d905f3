"""Datasets: folder pairs, ADE20K layout, the pseudo-label manifest, batches that replay exactly."""
import json

import numpy as np
import pytest
from PIL import Image

from miaobi_core.codec import encode_png
from train.config import TrainConfig
from train.data import BatchSampler, ProceduralLandscapes, ade20k_pairs, folder_pairs, pseudo_labelled
from train.trainer import build_dataset


def write_pair(photo_path, label_path, ids, palette=None):
    photo_path.parent.mkdir(parents=True, exist_ok=True)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(ids.shape + (3,), 128, np.uint8)).save(photo_path)
    if palette is None:
        Image.fromarray(ids, "L").save(label_path)
    else:
        label_path.write_bytes(encode_png(ids, palette.colors))


def test_folder_pairs_match_by_name(tmp_path, label_map):
    write_pair(tmp_path / "photos/a/1.jpg", tmp_path / "labels/a/1.png", label_map)
    (tmp_path / "photos/a/2.jpg").write_bytes((tmp_path / "photos/a/1.jpg").read_bytes())  # no label: skipped
    dataset = folder_pairs(tmp_path / "photos", tmp_path / "labels")
    assert len(dataset) == 1
    ids, photo = dataset[0]
    np.testing.assert_array_equal(ids, label_map)
    assert photo.shape == (64, 64, 3)
    with pytest.raises(FileNotFoundError):
        folder_pairs(tmp_path / "photos", tmp_path / "nowhere")


def test_ade20k_ids_map_to_the_palette(tmp_path, palette):
    ade = np.array([[3, 5, 22, 1]], np.uint8).repeat(4, axis=0)  # sky, tree, water, wall (unmapped)
    write_pair(tmp_path / "images/training/x.jpg", tmp_path / "annotations/training/x.png", ade)
    ids, _ = ade20k_pairs(tmp_path, "train", palette)[0]
    assert ids[0].tolist() == [palette.id_of("sky"), palette.id_of("tree"), palette.id_of("water"), palette.ignore_id]


def test_pseudo_labels_come_from_the_manifest(tmp_path, palette, label_map):
    write_pair(tmp_path / "photos/1.jpg", tmp_path / "labels/train/1.png", label_map, palette)
    (tmp_path / "manifest.json").write_text(json.dumps({"photos": [
        {"photo": str(tmp_path / "photos/1.jpg"), "label": "labels/train/1.png", "split": "train", "scene": "sea"}]}))
    ids, _ = pseudo_labelled(tmp_path, "train")[0]
    np.testing.assert_array_equal(ids, label_map)
    with pytest.raises(ValueError, match="no test photos"):
        pseudo_labelled(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="pseudolabel"):
        pseudo_labelled(tmp_path / "missing", "train")
    cfg = TrainConfig(data="pseudo", data_root=str(tmp_path))
    assert len(build_dataset(cfg, palette)) == 1


def test_rgb_label_files_are_refused(tmp_path, label_map):
    write_pair(tmp_path / "p/1.jpg", tmp_path / "l/1.png", label_map)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "l/1.png")
    with pytest.raises(ValueError, match="single-channel"):
        folder_pairs(tmp_path / "p", tmp_path / "l")[0]


def test_batches_are_a_pure_function_of_seed_and_step(palette):
    sampler = BatchSampler(ProceduralLandscapes(palette, size=48, length=5), 3, 32, seed=1)
    a, b = sampler.batch(4), sampler.batch(4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (3, 32, 32) and a[1].shape == (3, 32, 32, 3)
    assert not np.array_equal(sampler.batch(5)[1], a[1])
