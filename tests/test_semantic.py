"""The frozen label reader behind --lambda-semantic: its shapes, its loss, its file, its command, its training."""
import json

import numpy as np
import paddle
import pytest

from train import semantic
from train.semantic import SemanticHead, load_semantic_head, semantic_loss

from tests.helpers import make_trainer, tiny_pseudo_labels
from tests.test_priors import SQUEEZENET, needs_squeezenet

IGNORE = 255


def stages(batch=2):
    paddle.seed(0)
    return [paddle.randn([batch, 8, 8, 8]), paddle.randn([batch, 16, 4, 4])]


def test_the_head_reads_every_pixel_at_the_pictures_size():
    logits = SemanticHead(5, stage_channels=(8, 16), width=4)(stages(), [32, 32])
    assert logits.shape == [2, 5, 32, 32]


def test_the_loss_leaves_out_pixels_without_a_class():
    head = SemanticHead(5, stage_channels=(8, 16), width=4)
    labels = np.random.default_rng(0).integers(0, 5, (2, 32, 32))
    half = labels.copy()
    half[:, :, 16:] = IGNORE
    changed = half.copy()
    changed[:, :, 16:] = (labels[:, :, 16:] + 1) % 5  # other classes where `half` has none
    loss = lambda ids: float(semantic_loss(head, stages(), paddle.to_tensor(ids), IGNORE))
    assert loss(half) != loss(changed)
    logits = head(stages(), [32, 32]).numpy()
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    kept = np.take_along_axis(log_p, labels[:, None], 1)[:, 0, :, :16]
    assert loss(half) == pytest.approx(-kept.mean(), rel=1e-4)


def test_the_class_balanced_loss_is_the_mean_of_each_present_class_mean():
    head = SemanticHead(5, stage_channels=(8, 16), width=4)
    labels = np.zeros((2, 32, 32), np.int64)
    labels[:, :4, :4] = 3  # a rare class: 1.6% of the pixels
    labels[:, 20:, :] = IGNORE
    logits = head(stages(), [32, 32]).numpy()
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    nll = -np.take_along_axis(log_p, np.where(labels == IGNORE, 0, labels)[:, None], 1)[:, 0]
    expected = np.mean([nll[labels == c].mean() for c in (0, 3)])  # classes 1, 2 and 4 are absent
    balanced = float(semantic_loss(head, stages(), paddle.to_tensor(labels), IGNORE, class_balanced=True))
    assert balanced == pytest.approx(expected, rel=1e-4)
    assert float(semantic_loss(head, stages(), paddle.to_tensor(labels), IGNORE)) == pytest.approx(
        nll[labels != IGNORE].mean(), rel=1e-4)


def test_a_head_file_is_checked_when_read(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m train.semantic"):
        load_semantic_head(tmp_path / "none.pdparams", 11)
    paddle.save(SemanticHead(5).state_dict(), str(tmp_path / "five.pdparams"))
    with pytest.raises(ValueError, match="not a SemanticHead for at most 4 classes"):
        load_semantic_head(tmp_path / "five.pdparams", 4)
    paddle.save({"lateral.0.weight": paddle.zeros([1])}, str(tmp_path / "other.pdparams"))
    with pytest.raises(ValueError, match="not a SemanticHead"):
        load_semantic_head(tmp_path / "other.pdparams", 11)
    head = load_semantic_head(tmp_path / "five.pdparams", 5)
    assert not head.training and all(p.stop_gradient for p in head.parameters())
    # A reader trained before the palette grew reads a generator with more classes; it knows its own five.
    assert load_semantic_head(tmp_path / "five.pdparams", 11).num_classes == 5


@needs_squeezenet
def test_the_command_trains_a_head_on_labelled_photos_and_reports_its_miou(tmp_path, palette, label_map):
    tiny_pseudo_labels(tmp_path, palette, label_map, ["train", "train", "test", "test"])
    out = tmp_path / "head" / "reader.pdparams"
    assert semantic.main([str(out), "--data-root", str(tmp_path), "--steps", "3", "--batch-size", "2",
                          "--test-limit", "2", "--squeezenet-dir", str(SQUEEZENET), "--class-balanced"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["held_out_photos"] == 2 and 0 <= report["miou_real"] <= 1 and report["class_balanced"]
    load_semantic_head(out, palette.num_classes)


def blank_reader_options(tmp_path, **options):
    """Trainer options that switch --lambda-semantic on with an untrained reader of the palette's classes."""
    from miaobi_core.config import GeneratorConfig

    paddle.save(SemanticHead(GeneratorConfig().num_classes).state_dict(), str(tmp_path / "reader.pdparams"))
    return dict(lambda_semantic=1.0, semantic_head=str(tmp_path / "reader.pdparams"),
                squeezenet_dir=str(SQUEEZENET), **options)


@needs_squeezenet
def test_the_semantic_loss_trains_the_generator_and_resumes_exactly(tmp_path):
    options = blank_reader_options(tmp_path, steps=4, label_warp=0.05)
    straight = make_trainer(tmp_path / "a", **options)
    values = straight.train_step(0)
    assert values["g_semantic"] > 0
    straight.step = 1
    straight.save_checkpoint()
    expected = straight.train_step(1)
    resumed = make_trainer(tmp_path / "a", **options)
    resumed.load_checkpoint()
    assert resumed.train_step(1) == expected


@needs_squeezenet
def test_the_generator_can_be_asked_for_every_class_alike(tmp_path):
    options = blank_reader_options(tmp_path, steps=1)
    plain = make_trainer(tmp_path / "plain", **options).train_step(0)["g_semantic"]
    balanced = make_trainer(tmp_path / "balanced", semantic_class_balanced=True, **options).train_step(0)
    assert balanced["g_semantic"] > 0 and balanced["g_semantic"] != pytest.approx(plain)


def test_a_negative_semantic_weight_is_refused():
    from train.config import TrainConfig

    with pytest.raises(ValueError, match="--lambda-semantic"):
        TrainConfig(lambda_semantic=-1.0)
