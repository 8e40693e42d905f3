"""The scene classifier names the scenes of photos that have none, from the segmenter's view and the colours."""
import numpy as np

from miaobi_core.labelling import ADE20K_IDS, BRIGHTNESSES, HUES, SceneModel, scene_features
from train.scenes import SceneClassifier


def scene(kind, seed):
    """A made-up photo and segmenter view: sea scenes are blue with sea below, forests green with trees."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((40, 40, 3), np.uint8)
    ade = np.full((40, 40), 3, np.uint8)  # sky on top
    colour, below = {"sea": ((20, 60, 160), 27), "forest": ((30, 110, 40), 5)}[kind]
    rgb[:] = (120, 170, 230)
    rgb[20:] = np.clip(np.array(colour) + rng.normal(0, 10, (20, 40, 3)), 0, 255)
    ade[20 + rng.integers(-3, 3):] = below
    return rgb, ade


def test_features_describe_where_the_classes_are_and_the_colours():
    features = scene_features(*scene("sea", 0))
    assert features.shape == (2 * ADE20K_IDS + HUES + BRIGHTNESSES,)
    top, bottom = features[:ADE20K_IDS], features[ADE20K_IDS: 2 * ADE20K_IDS]
    assert top[3] > 0.8 and bottom[27] > 0.8 and abs(features[: 2 * ADE20K_IDS].sum() - 2) < 1e-5


def test_the_classifier_learns_scenes_and_says_how_often_it_is_right():
    def batch(seeds):
        kinds = ["sea", "forest"] * len(seeds)
        return np.stack([scene_features(*scene(k, s)) for k, s in zip(kinds, np.repeat(seeds, 2))]), kinds

    classifier = SceneClassifier().fit(*batch(range(10)))
    features, kinds = batch(range(100, 106))
    assert classifier.predict(features) == kinds and classifier.accuracy(features, kinds) == 1.0


def test_the_fitted_classifier_as_plain_numbers_names_the_same_scenes_after_a_round_trip(tmp_path):
    kinds = ["sea", "forest", "glacier"]
    colours = {"glacier": ((235, 240, 250), 0)}

    def photo(kind, seed):
        if kind != "glacier":
            return scene(kind, seed)
        rgb, ade = scene("sea", seed)
        rgb[20:] = np.clip(np.array(colours["glacier"][0]) - np.random.default_rng(seed).integers(0, 20), 0, 255)
        ade[20:] = 0
        return rgb, ade

    for names in (kinds[:2], kinds):  # two scenes (one score in scikit-learn) and three
        features = np.stack([scene_features(*photo(k, s)) for s in range(12) for k in names])
        labels = [k for _ in range(12) for k in names]
        classifier = SceneClassifier().fit(features, labels)
        classifier.scene_model().save(tmp_path / "scenes.json")
        shipped = SceneModel.load(tmp_path / "scenes.json")
        assert shipped.predict(features) == classifier.predict(features) == labels

