"""The gold labels that judge the pseudo-labels: well-formed, rasterized as drawn, scored as stated."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from train import goldset, metrics

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "landscapes"


def test_gold_file_covers_six_test_photos_of_each_scene(palette):
    photos = json.loads(goldset.GOLD.read_text())["photos"]
    assert Counter(Path(p["photo"]).parent.name for p in photos) == {s: 6 for s in ("forest", "glacier", "mountain", "sea")}
    assert all(p["photo"].startswith("test/") for p in photos)  # held out: never trained on
    for p in photos:
        for name, polygon in p["regions"]:
            assert name == "ignore" or name in palette.names
            assert all(0 <= x <= 150 and 0 <= y <= 150 for x, y in polygon)


def test_rasterize_paints_in_order_and_ignores_what_is_unpainted(palette):
    ids = goldset.rasterize([["sky", [[0, 0], [10, 0], [10, 10], [0, 10]]],
                             ["sea", [[0, 5], [10, 5], [10, 10], [0, 10]]],
                             ["ignore", [[0, 9], [3, 9], [3, 10], [0, 10]]]], (20, 12), palette)
    assert ids.shape == (12, 20)
    assert ids[2, 2] == palette.id_of("sky") and ids[7, 2] == palette.id_of("sea")
    assert ids[9, 1] == palette.ignore_id and ids[2, 15] == palette.ignore_id


def test_scores_leave_out_ignored_pixels_and_absent_classes():
    target = np.array([[0, 0, 1, 255]])
    matrix = metrics.confusion(np.array([[0, 1, 1, 0]]), target, 3)
    result = goldset.scores(matrix)
    assert result["pixel accuracy"] == pytest.approx(2 / 3)
    assert result["IoU"] == [pytest.approx(1 / 2), pytest.approx(1 / 2), None]
    assert result["mIoU"] == pytest.approx(1 / 2)


@pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/landscapes")
def test_every_gold_photo_exists_and_is_mostly_labelled(palette):
    gold = goldset.load_gold(DATA, palette)
    assert len(gold) == 24
    for photo, scene, ids in gold:
        assert photo.is_file() and scene in photo.parts
        assert (ids != palette.ignore_id).mean() > 0.8
