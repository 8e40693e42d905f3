"""Quality report pieces: metrics by hand, baselines, and an end-to-end tiny evaluation."""
import numpy as np
import paddle
import pytest

from miaobi_core.checkpoint import save_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator
from miaobi_core.synthesizer import Synthesizer
from train import baselines, metrics, quality, sheets
from train.data import ProceduralLandscapes
from train.segmenter import load_segmenter, predict_labels, save_segmenter, train_segmenter


def test_frechet_distance_is_zero_for_the_same_set_and_sees_a_shift():
    a = np.random.default_rng(0).normal(size=(500, 4))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)  # 4 dims x 2^2


def test_label_fidelity_by_hand():
    target = np.array([[0, 0, 1, 1]])
    predicted = np.array([[0, 1, 1, 1]])
    miou, accuracy = metrics.label_fidelity(predicted, target, 3)
    assert accuracy == pytest.approx(0.75)
    assert miou == pytest.approx((1 / 2 + 2 / 3) / 2)  # class 0: 1/2, class 1: 2/3; class 2 absent


def test_flat_fill_and_nearest_neighbour(palette):
    labels = np.zeros((2, 4, 4), np.uint8)
    labels[1] = 3
    photos = np.zeros((2, 4, 4, 3), np.uint8)
    photos[1] = 200
    colours = baselines.mean_class_colours(labels, photos, palette.num_classes, palette.colors)
    assert colours[3].tolist() == [200, 200, 200] and colours[5].tolist() == palette.colors[5].tolist()
    assert (baselines.flat_fill(labels, colours)[1] == 200).all()
    assert baselines.nearest_neighbours(labels[::-1], labels).tolist() == [1, 0]


def test_oracle_flat_fill_uses_each_photos_own_colours():
    labels = np.array([[[0, 0, 1, 1]]], np.uint8)
    photos = np.array([[[[10, 0, 0], [30, 0, 0], [0, 100, 0], [0, 200, 0]]]], np.uint8)
    assert baselines.oracle_flat_fill(labels, photos)[0, 0].tolist() == [[20, 0, 0]] * 2 + [[0, 150, 0]] * 2


def test_ade20k_label_fidelity_counts_only_classes_it_knows(palette):
    sky, snow, tree = palette.id_of("sky"), palette.id_of("snow"), palette.id_of("tree")
    target = np.array([[sky, sky, snow, tree]])
    ade = np.array([[3, 5, 17, 21]])  # sky, tree, mountain (on snow: not judged), car (not in the palette)
    # sky: 1 right of 2 painted, +1 predicted on a tree -> 1/2; tree: 0/(1 + 1 wrong) -> 0
    assert quality.ade20k_label_fidelity(ade, target, palette) == pytest.approx((1 / 2 + 0) / 2)


class ColourJudges:
    """Stand-ins for the pretrained judges: mean colours as features, 'sky' everywhere as segmentation."""

    def features(self, images):
        return np.concatenate([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=1).astype(np.float64)

    def segment(self, images):
        return np.full(images.shape[:3], 3, np.uint8)


@pytest.mark.skipif(not (quality.SHARED_MODELS / "mobilenet_v2").is_dir(), reason="needs ../shared/models")
def test_independent_judges_load_the_shared_networks():
    judges = metrics.IndependentJudges()
    pictures = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3)).astype(np.uint8)
    assert judges.features(pictures).shape == (2, 1280)
    assert judges.segment(pictures).shape == (2, 64, 64)


def test_wobbly_doodles_are_few_big_blobs(palette):
    doodles = sheets.wobbly_doodles(palette, 3, 64)
    assert doodles.shape == (3, 64, 64)
    assert all(len(np.unique(d)) <= 4 for d in doodles)


def test_tiny_end_to_end_evaluation(tmp_path, palette):
    data = ProceduralLandscapes(palette, size=64, length=16)
    segmenter = train_segmenter(data, palette.num_classes, steps=3, image_size=64, batch_size=4, width=4, seed=0,
                                ignore_id=palette.ignore_id)
    save_segmenter(tmp_path / "seg", segmenter, {})
    segmenter = load_segmenter(tmp_path / "seg")
    assert predict_labels(segmenter, np.zeros((2, 64, 64, 3), np.uint8)).shape == (2, 64, 64)

    paddle.seed(0)
    folder = save_generator(tmp_path / "g", SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade")),
                            metadata={"image_size": 64})
    train_pairs, test_pairs = quality.load_pairs(data, 64, 16, "pairs"), quality.load_pairs(data, 64, 8, "pairs")
    models = {"tiny": Synthesizer(folder), "tiny again": Synthesizer(folder)}
    with pytest.raises(ValueError, match="two disjoint draws"):
        quality.evaluate(models, segmenter, palette, test_pairs, test_pairs, ColourJudges())
    rows, pictures, floor = quality.evaluate(models, segmenter, palette, train_pairs, test_pairs, ColourJudges())
    assert set(rows) == {*pictures, quality.OTHER_REAL} and len(rows) == 7
    real = rows["real held-out photos (reference)"]
    assert real["FD"] == pytest.approx(0.0, abs=1e-6) and real["FD-MNv2"] == pytest.approx(0.0, abs=1e-6)
    assert floor["first draw"] == rows[quality.OTHER_REAL]["FD-MNv2"] and np.isfinite(floor["second draw"])
    assert all(0 <= m["mIoU"] <= 1 and 0 <= m["ADE mIoU"] <= 1 and np.isfinite(m["FJD"]) for m in rows.values())
    quality.write_report(tmp_path / "quality.md", rows, {"command": "x", "test_count": 8, "train_count": 16,
                                                         "size": 64, "models": {"tiny": "a", "tiny again": "b"},
                                                         "floor": floor})
    assert rows["tiny"]["variety"] > 0 and np.isnan(rows[quality.FLAT]["variety"])
    assert all(m["grid p90"] > 0 for m in rows.values())
    quality.replace_section(tmp_path / "quality.md", quality.ABLATIONS, "| variant | FD-MNv2 |")
    quality.write_report(tmp_path / "quality.md", rows, {"command": "x", "test_count": 8, "train_count": 16,
                                                         "size": 64, "models": {"tiny": "a", "tiny again": "b"},
                                                         "floor": floor, "styled": {"tiny": ["sunny", "misty"]},
                                                         "left_out": 3, "classes": 11})
    report = (tmp_path / "quality.md").read_text()
    assert "3 held-out maps with unlabelled pixels or a class beyond the first 11 were left out" in report
    assert "(columns: the doodle, then sunny, misty); for each doodle a row of tiny:" in report
    assert report.count(quality.ABLATIONS) == 1 and "| variant | FD-MNv2 |" in report  # kept by a new report
    assert "| tiny |" in report and "beats" in report and "| FD-MNv2 | detector | ADE mIoU | grid p90 |" in report
    assert np.isnan(real["detector"]) and all(0 <= m["detector"] <= 1 for n, m in rows.items() if m is not real)
    assert "tiny again vs tiny: worst relative loss over the six metrics 0.0% (within the 10% bar)" in report
    assert "of the gap from oracle flat fill" in report
    assert "then the pictures of tiny, then of tiny again, with seeds 1 and 2:" in report
    assert sheets.doodle_grid([Synthesizer(folder)] * 2, palette, 64, count=2).size == (5 * 68, 2 * 68)


def test_doodles_only_needs_no_data(tmp_path):
    paddle.seed(0)
    folder = save_generator(tmp_path / "g", SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade")),
                            metadata={"image_size": 64})
    assert quality.main(["--model", f"tiny={folder}", "--out", str(tmp_path), "--doodles-only"]) == 0
    assert (tmp_path / "quality_doodles.png").is_file() and not (tmp_path / "quality.md").exists()
    assert not (tmp_path / "quality_styles.png").exists()  # the model has no named looks
    assert (tmp_path / "photos.png").is_file() and (tmp_path / "wide.png").is_file()
    assert not (tmp_path / "style_photos.png").exists() and not (tmp_path / "day.png").exists()  # nor an encoder


def test_each_models_named_looks_are_painted_beside_the_others(tmp_path):
    from PIL import Image

    from miaobi_core.styles import Style, write_styles

    paddle.seed(0)
    folder = save_generator(tmp_path / "g", SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade")),
                            metadata={"image_size": 64})
    write_styles(folder, [Style("sunny", "Sunny", np.full(8, 2.0, np.float32), None)], 0.3, {"sunny": 5}, {})
    assert quality.main(["--model", f"new={folder}", "--model", f"old={folder}", "--out", str(tmp_path),
                         "--doodles-only"]) == 0
    assert Image.open(tmp_path / "quality_styles.png").size == (2 * 68, 4 * 2 * 68)  # doodle, sunny; 4 doodles x 2


def test_layout_embedding_and_fjd_charge_a_wrong_layout():
    labels = np.zeros((2, 8, 8), np.uint8)
    labels[0, 4:] = 1  # top half class 0, bottom half class 1
    labels[1, :, 4:] = 1  # left / right instead
    labels[1, 0, 0] = 255  # ignored pixels count for no class
    layout = metrics.layout_embedding(labels, 2, grid=2)
    np.testing.assert_allclose(layout[0], [1, 0, 1, 0, 0, 1, 0, 1])
    np.testing.assert_allclose(layout[1], [15 / 16, 0, 0, 1, 1, 0, 0, 1])
    rng = np.random.default_rng(0)
    conditions = rng.random((300, 4))
    real = np.hstack([conditions, rng.normal(size=(300, 4))])  # features that follow their layout
    shuffled = real[rng.permutation(300)]  # the same pictures, for other layouts
    assert metrics.frechet_distance(shuffled, real) == pytest.approx(0, abs=1e-9)
    assert metrics.frechet_joint_distance(shuffled, real, conditions) > 0.1
    assert metrics.frechet_joint_distance(real, real, conditions) == pytest.approx(0, abs=1e-6)


def test_grid_score_sees_a_periodic_grid_and_not_photo_like_noise():
    # 1/f noise: the spectrum natural photos have, without any period.
    frequency = np.fft.fftfreq(128)
    radius = np.hypot(*np.meshgrid(frequency, frequency))
    radius[0, 0] = 1
    field = np.real(np.fft.ifft2(np.fft.fft2(np.random.default_rng(0).standard_normal((128, 128))) / radius))
    natural = np.repeat(((field - field.mean()) / field.std() * 40 + 128)[..., None], 3, axis=2)
    gridded = natural.copy()
    gridded[::4] += 30  # a line every 4 pixels
    assert metrics.grid_score(natural) < 1.6 < metrics.grid_score(gridded)
    assert metrics.grid_score(np.full((64, 64, 3), 90)) == 1.0  # a flat fill has no grid (and no 0/0)


def test_the_detector_tells_pictures_apart_only_when_they_differ():
    rng = np.random.default_rng(0)
    real, same_kind = rng.normal(0, 1, (100, 20)), rng.normal(0, 1, (100, 20))
    shifted = rng.normal(0, 1, (100, 20)) + np.r_[1.5, np.zeros(19)]
    assert metrics.detector_accuracy(real, same_kind) < 0.65
    assert metrics.detector_accuracy(real, shifted) > 0.7
    assert metrics.detector_accuracy(real, real + 10) == 1.0


def test_seed_variety_is_the_mean_absolute_difference():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    assert metrics.seed_variety(a, a) == 0
    assert metrics.seed_variety(a, a + 20) == pytest.approx(20)


def test_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "r.md"
    path.write_text("# R\n\n## Ablations\n\nold\n\n## Later\n\nkeep\n")
    quality.replace_section(path, "## Ablations", "new")
    assert path.read_text() == "# R\n\n## Ablations\n\nnew\n\n## Later\n\nkeep\n"


def test_maps_a_judged_model_cannot_paint_are_left_out(tmp_path, palette):
    from PIL import Image

    from train.data import PairDataset

    pairs = []
    for name, top in (("natural", palette.id_of("sky")), ("town", palette.id_of("house"))):
        ids = np.full((8, 8), palette.id_of("grass"), np.uint8)
        ids[:3] = top
        Image.fromarray(ids).save(tmp_path / f"{name}.png")
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / f"{name}.jpg")
        pairs.append((tmp_path / f"{name}.jpg", tmp_path / f"{name}.png"))
    kept, left_out = quality.paintable(PairDataset(pairs), palette.id_of("house"))
    assert [p[0].stem for p in kept.pairs] == ["natural"] and left_out == 1
    assert quality.paintable(PairDataset(pairs), palette.num_classes)[1] == 0
    houses, _ = quality.house_pairs(PairDataset(pairs), palette, 8, count=1)  # the town, the one map of houses
    assert (houses[0] == palette.id_of("house")).mean() == 3 / 8
    with pytest.raises(ValueError, match="50% house"):
        quality.house_pairs(PairDataset(pairs), palette, 8, share=0.5)


def test_the_house_sheet_paints_held_out_houses_then_drawn_ones(tmp_path, palette):
    paddle.seed(0)
    folder = save_generator(tmp_path, SPADEGenerator(GeneratorConfig(num_classes=palette.num_classes, ngf=4, z_dim=8,
                                                                     norm="clade")), metadata={"image_size": 64})
    doodles = sheets.house_doodles(palette, 2, 64)
    assert all(0.1 < (d == palette.id_of("house")).mean() < 0.2 for d in doodles)
    assert not np.array_equal(doodles[0], doodles[1])  # one house on the left, one on the right
    sheet = sheets.house_grid([Synthesizer(folder)] * 2, palette, doodles[:1], np.zeros((1, 64, 64, 3), np.uint8))
    assert sheet.size == (4 * 68, 3 * 68)
