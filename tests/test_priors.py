"""The picture-quality ingredients: DiffAugment, label warping, SqueezeNet losses, projected D, z modulation,
the spectral loss."""
import json
from pathlib import Path

import numpy as np
import paddle
import pytest

from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator, label_onehot
from train import diffaugment
from train.data import WIDE, BatchSampler, ProceduralLandscapes, warp_labels
from train.files import SHARED_MODELS
from train.discriminator import ProjectedDiscriminator
from train.losses import axis_log_spectra, feature_distance, spectral_loss

from tests.helpers import make_trainer

SQUEEZENET = SHARED_MODELS / "squeezenet"
needs_squeezenet = pytest.mark.skipif(not SQUEEZENET.is_dir(), reason="needs ../shared/models/squeezenet")


def pair(batch=2, size=16, classes=3):
    rng = np.random.default_rng(0)
    onehot_map = label_onehot(paddle.to_tensor(rng.integers(0, classes, (batch, size, size))), classes)
    image = paddle.to_tensor(rng.uniform(-1, 1, (batch, 3, size, size)).astype(np.float32), stop_gradient=False)
    return onehot_map, image


def test_diffaugment_policies_are_checked():
    assert diffaugment.parse_policy("color,cutout") == ("color", "cutout")
    assert diffaugment.parse_policy("") == ()
    with pytest.raises(ValueError, match="unknown.*'blur'"):
        diffaugment.parse_policy("color,blur")


def test_translation_and_cutout_move_label_map_and_picture_alike():
    onehot_map, image = pair()
    params = diffaugment.draw(np.random.default_rng(3), 2, 16, 16)
    params = diffaugment.Draw(params.brightness, params.saturation, params.contrast,
                              shift=np.array([[2, -1], [0, 0]]), cutout=np.array([[0, 0], [8, 8]]))
    seen_onehot_map, seen_image = diffaugment.augment(onehot_map, image, ("translation", "cutout"), params)
    s, i = seen_onehot_map.numpy(), seen_image.numpy()
    np.testing.assert_array_equal(s[0, :, 2:, :15], onehot_map.numpy()[0, :, :14, 1:][:, :, :15] * (s[0, :, 2:, :15] != 0))
    np.testing.assert_array_equal(i[0, :, 8:, 8:15], image.numpy()[0, :, 6:14, 9:16])  # outside the cut-out corner
    assert not s[1, :, 8:, 8:].any() and not i[1, :, 8:, 8:].any()  # cut out of both
    assert not s[0, :, :2].any()  # shifted in: no label
    assert seen_onehot_map.stop_gradient and not seen_image.stop_gradient


def test_color_changes_only_the_picture_and_passes_gradients():
    onehot_map, image = pair()
    params = diffaugment.draw(np.random.default_rng(1), 2, 16, 16)
    seen_onehot_map, seen_image = diffaugment.augment(onehot_map, image, ("color",), params)
    np.testing.assert_array_equal(seen_onehot_map.numpy(), onehot_map.numpy())
    assert not np.allclose(seen_image.numpy(), image.numpy())
    seen_image.sum().backward()
    assert image.grad is not None and np.abs(image.grad.numpy()).sum() > 0


def test_a_wide_draw_shifts_and_cuts_out_by_each_side():
    params = diffaugment.draw(np.random.default_rng(0), 400, 16, 48)
    assert np.abs(params.shift[:, 0]).max() == 2 and np.abs(params.shift[:, 1]).max() == 6
    assert params.cutout[:, 0].max() == 8 and params.cutout[:, 1].max() == 24
    square = diffaugment.draw(np.random.default_rng(0), 4, 16, 16)  # a square's draw is as it was with one side
    rng = np.random.default_rng(0)
    _ = [rng.uniform(size=4) for _ in ("brightness", "saturation", "contrast")]
    np.testing.assert_array_equal(square.shift, rng.integers(-2, 3, (4, 2)))
    np.testing.assert_array_equal(square.cutout, rng.integers(0, 9, (4, 2)))


def test_wide_steps_are_3_2_crops_and_the_square_steps_stay_as_they_were():
    from miaobi_core.palette import load_palette

    data = ProceduralLandscapes(load_palette(), size=96, length=8)
    plain = BatchSampler(data, 2, 64, seed=0, label_warp=0.05)
    mixed = BatchSampler(data, 2, 64, seed=0, label_warp=0.05, wide_share=0.5)
    aspects = [mixed.aspect(step) for step in range(40)]
    assert set(aspects) == {1.0, WIDE} and 10 < aspects.count(WIDE) < 30
    for step, aspect in enumerate(aspects[:8]):
        labels, photos = mixed.batch(step)
        if aspect == WIDE:
            assert labels.shape == (2, 64, 96) and photos.shape == (2, 64, 96, 3)
            assert set(np.unique(labels)) <= set(np.unique(np.concatenate([data[i][0] for i in range(8)])))
        else:
            for got, expected in zip((labels, photos), plain.batch(step)):
                np.testing.assert_array_equal(got, expected)
    assert BatchSampler(data, 2, 64, seed=0, augment_data=False, wide_share=1.0).batch(0)[0].shape == (2, 64, 64)
    with pytest.raises(ValueError, match="wide_share 1.5"):
        BatchSampler(data, 2, 64, seed=0, wide_share=1.5)


def test_label_warp_moves_borders_without_new_classes():
    ids = np.zeros((64, 64), np.uint8)
    ids[:, 32:] = 3
    ids[40:] = 7
    warped = warp_labels(ids, 0.1, np.random.default_rng(0))
    assert set(np.unique(warped)) <= {0, 3, 7}
    assert 0 < (warped != ids).mean() < 0.3
    np.testing.assert_array_equal(warped, warp_labels(ids, 0.1, np.random.default_rng(0)))


def test_feature_distance_is_zero_for_equal_features_and_ignores_scale():
    rng = np.random.default_rng(0)
    a = [paddle.to_tensor(rng.standard_normal((2, c, 4, 4)).astype(np.float32)) for c in (8, 16)]
    b = [paddle.to_tensor(rng.standard_normal((2, c, 4, 4)).astype(np.float32)) for c in (8, 16)]
    assert float(feature_distance(a, a)) == pytest.approx(0, abs=1e-6)
    assert float(feature_distance(a, [x * 100 for x in a])) == pytest.approx(0, abs=1e-5)
    assert 0 < float(feature_distance(a, b)) <= 4


def test_spectral_loss_sees_a_period_2_stripe_and_its_gradient_removes_it():
    rng = np.random.default_rng(0)
    photo = paddle.to_tensor(rng.uniform(-0.5, 0.5, (2, 3, 32, 32)).astype(np.float32))
    stripes = paddle.to_tensor(np.tile([0.3, -0.3], 16).astype(np.float32))  # varies along x: period 2
    picture = paddle.to_tensor((photo + stripes).numpy(), stop_gradient=False)
    assert axis_log_spectra(photo).shape == [2, 32]
    assert float(spectral_loss(photo, photo)) == pytest.approx(0, abs=1e-6)
    loss = spectral_loss(picture, photo)
    loss.backward()
    nyquist = lambda x: float(axis_log_spectra(x)[:, 15].mean())  # across, period 2
    stepped = picture - 0.01 * picture.grad / paddle.abs(picture.grad).mean()
    assert float(loss) > 0 and nyquist(photo) < nyquist(stepped) < nyquist(picture)


def test_projected_discriminator_scores_each_stage_beside_the_layout():
    onehot_map, _ = pair(classes=5)
    stages = [paddle.randn([2, 8, 6, 6]), paddle.randn([2, 16, 3, 3])]
    outputs = ProjectedDiscriminator([8, 16], 5, width=4)(onehot_map, stages)
    assert [o[-1].shape for o in outputs] == [[2, 1, 6, 6], [2, 1, 3, 3]]


def test_z_modulation_reaches_every_normalisation_layer():
    paddle.seed(0)
    generator = SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade_icpe", z_modulation=True))
    onehot_map, _ = pair(batch=1, size=64, classes=11)
    generator(onehot_map, paddle.randn([1, 8])).mean().backward()
    z_layers = [name for name, p in generator.named_parameters() if name.endswith(("gamma_z.weight", "beta_z.weight"))]
    assert len(z_layers) == 2 * len([n for n, _ in generator.named_sublayers() if n.endswith(("norm_0", "norm_1", "norm_s"))])
    assert all(p.grad is not None for name, p in generator.named_parameters() if name in z_layers)


@needs_squeezenet
def test_every_ingredient_trains_and_resumes_exactly(tmp_path):
    options = dict(steps=6, lambda_squeezenet=1.0, lambda_projected=0.5, squeezenet_dir=str(SQUEEZENET),
                   diffaugment="color,translation,cutout", label_warp=0.05, lambda_spectral=1.0)
    straight = make_trainer(tmp_path / "a", **options)
    for step in range(2):
        values = straight.train_step(step)
        straight.step = step + 1
    assert {"g_squeezenet", "g_projected", "d_projected", "g_spectral"} <= set(values)
    straight.save_checkpoint()
    expected = straight.train_step(2)
    resumed = make_trainer(tmp_path / "a", **options)
    resumed.load_checkpoint()
    assert resumed.train_step(2) == expected


@needs_squeezenet
def test_a_wide_step_trains_every_loss_and_the_style_encoder_reads_its_middle(tmp_path):
    from train.config import TrainConfig
    from train.trainer import Trainer

    from tests.helpers import TINY_G, TINY_T

    options = dict(lambda_squeezenet=1.0, lambda_projected=0.5, squeezenet_dir=str(SQUEEZENET), lambda_spectral=1.0,
                   diffaugment="color,translation,cutout", wide_share=1.0)
    trainer = Trainer(GeneratorConfig(**TINY_G, use_vae=True), TrainConfig(run_dir=str(tmp_path), **{**TINY_T, **options}))
    seen = []
    encode = trainer.generator.encode
    trainer.generator.encode = lambda image: seen.append(image.shape) or encode(image)
    values = trainer.train_step(0)
    assert seen == [[2, 3, 64, 64]] and trainer.sampler.batch(0)[0].shape == (2, 64, 96)
    assert {"g_squeezenet", "g_projected", "d_projected", "g_spectral", "g_kld"} <= set(values)
    assert all(np.isfinite(v) for v in values.values())


def test_a_committed_continuation_state_goes_on_from_its_step(tmp_path):
    import subprocess
    import sys

    from train.continuation import write

    common = ["--ngf", "4", "--z-dim", "8", "--ndf", "8", "--n-layers-d", "3", "--image-size", "64", "--batch-size",
              "2", "--lambda-vgg", "0", "--data", "procedural", "--processes", "1", "--log-every", "1"]
    first = subprocess.run([sys.executable, "-m", "train", "--run-dir", str(tmp_path / "a"), "--steps", "2", *common],
                           capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]
    state = write(tmp_path / "a", tmp_path / "carry")
    assert state["step"] == 2 and not list((tmp_path / "carry").glob("*.pdopt"))
    goes_on = subprocess.run([sys.executable, "-m", "train", "--run-dir", str(tmp_path / "b"), "--steps", "4",
                              "--warmup-steps", "2", "--decay-steps", "0", "--continue-from", str(tmp_path / "carry"),
                              *common], capture_output=True, text=True)
    assert goes_on.returncode == 0, goes_on.stderr[-2000:]
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    # Fresh optimizer moments: the rates climb again from the continued step, not from step 0.
    assert [(entry["step"], entry["lr_scale"]) for entry in log] == [(3, 0.5), (4, 1.0)]
    # A setting that holds no weights may change on the way (here: how coarse layers read the label map).
    mended = subprocess.run([sys.executable, "-m", "train", "--run-dir", str(tmp_path / "d"), "--steps", "3",
                             "--label-downsampling", "area", "--continue-from", str(tmp_path / "carry"), *common],
                            capture_output=True, text=True)
    assert mended.returncode == 0 and "goes on with {'label_downsampling': 'area'}" in mended.stdout, mended.stderr[-2000:]
    wrong = subprocess.run([sys.executable, "-m", "train", "--run-dir", str(tmp_path / "c"), "--steps", "3", "--ngf",
                            "8", "--continue-from", str(tmp_path / "carry"), *common[2:]], capture_output=True, text=True)
    assert wrong.returncode != 0 and "'ngf': 4" in wrong.stderr


def test_the_readmes_command_goes_on_from_the_committed_continuation():
    """The README's one-line command for the long run parses, and builds the generator the committed state holds
    (give or take settings that hold no weights, and classes the palette gained since), so a fresh machine can go
    on with it."""
    import dataclasses

    from miaobi_core.config import WEIGHT_FREE_SETTINGS
    from miaobi_core.palette import load_palette
    from train.config import parse_configs

    repo = Path(__file__).resolve().parent.parent
    command = "python -m train --config train/recipes/house_alone.toml --continue-from train/continuation/quality"
    assert command in (repo / "README.md").read_text()
    gen_cfg, cfg = parse_configs(command.split()[3:], load_palette().num_classes)
    committed = json.loads((repo / cfg.continue_from / "state.json").read_text())["step"]
    assert cfg.steps > committed, "nothing left to train"
    saved = GeneratorConfig.from_dict(json.loads((repo / cfg.continue_from / "config.json").read_text())["generator"])
    assert saved.num_classes <= gen_cfg.num_classes
    grown = dataclasses.replace(saved, num_classes=gen_cfg.num_classes)
    assert set(gen_cfg.differences(grown)) <= set(WEIGHT_FREE_SETTINGS)
