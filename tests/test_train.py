"""train/: losses by hand, step isolation, smoke run, exact resume, overfitting one pair."""
import dataclasses
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from miaobi_core.checkpoint import load_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator, label_onehot
from miaobi_core.palette import load_palette
from train import files, losses
from train.config import TrainConfig, parse_configs
from train.data import ProceduralLandscapes, augment
from train.trainer import Trainer, run

from tests.helpers import TINY_G, TINY_T, make_trainer, snapshot, stop_a_run



def t(values):
    return paddle.to_tensor(np.asarray(values, np.float32))


def test_hinge_losses_match_hand_computation():
    real = [[t([0.0]), t([[0.5, 2.0]])]]
    fake = [[t([0.0]), t([[-2.0, 0.5]])]]
    # D: mean(relu(1 - [0.5, 2])) + mean(relu(1 + [-2, 0.5])) = 0.25 + 0.75
    assert float(losses.hinge_d_loss(real, fake)) == pytest.approx(1.0)
    # G: -mean([-2, 0.5]) = 0.75
    assert float(losses.hinge_g_loss(fake)) == pytest.approx(0.75)


def test_losses_average_over_discriminator_scales():
    one = [[t([0.0]), t([[0.0]])]]
    assert float(losses.hinge_g_loss(one + [[t([0.0]), t([[-2.0]])]])) == pytest.approx(1.0)


def test_feature_matching_skips_the_score_and_averages_scales():
    real = [[t([1.0, 1.0]), t([5.0])], [t([0.0]), t([5.0])]]
    fake = [[t([0.0, 3.0]), t([-5.0])], [t([4.0]), t([9.0])]]
    # scale 1: mean(|[0,3]-[1,1]|) = 1.5; scale 2: 4; averaged: 2.75
    assert float(losses.feature_matching_loss(real, fake)) == pytest.approx(2.75)


def test_kl_matches_hand_computation():
    mu, logvar = t([[1.0, 0.0]]), t([[0.0, np.log(2.0)]])
    # -0.5 * sum(1 + logvar - mu^2 - exp(logvar)) = -0.5 * ((1 + 0 - 1 - 1) + (1 + ln2 - 0 - 2))
    expected = -0.5 * ((1 - 1 - 1) + (1 + np.log(2.0) - 2))
    assert float(losses.kl_loss(mu, logvar)) == pytest.approx(expected, rel=1e-5)


def test_perceptual_loss_is_off_with_a_clear_message_without_weights(capsys):
    assert losses.load_vgg19("") is None
    assert "no --vgg-weights" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError):
        losses.load_vgg19("/nonexistent/vgg19.pdparams")


def test_perceptual_loss_with_given_weights(tmp_path):
    paddle.seed(0)
    path = tmp_path / "vgg.pdparams"
    paddle.save(losses.VGG19Features().state_dict(), str(path))
    vgg = losses.load_vgg19(path)
    a = paddle.rand([1, 3, 32, 32]) * 2 - 1
    assert float(losses.perceptual_loss(vgg, a, a)) == 0.0
    assert float(losses.perceptual_loss(vgg, a, -a)) > 0.0


def test_augment_crops_label_and_photo_alike(palette):
    ids, photo = ProceduralLandscapes(palette, size=64)[0]
    out_ids, out_photo = augment(ids, photo, 48, np.random.default_rng(0))
    assert out_ids.shape == (48, 48) and out_photo.shape == (48, 48, 3)
    assert set(np.unique(out_ids)) <= set(np.unique(ids))  # nearest only: no invented classes
    # each label region keeps its colour family in the photo
    for k in np.unique(out_ids):
        mean = out_photo[out_ids == k].mean(axis=0)
        assert np.linalg.norm(mean - palette.colors[k]) < 90


def test_d_and_g_steps_update_only_their_own_parameters(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, steps=10)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    monkeypatch.setattr(trainer.opt_d, "step", lambda: None)  # G step alone
    trainer.train_step(0)
    assert any(not np.array_equal(v, snapshot(trainer.generator)[k]) for k, v in g0.items() if "weight_u" not in k)
    d1 = snapshot(trainer.discriminator)
    changed = [k for k, v in d0.items() if not np.array_equal(v, d1[k])]
    assert all(k.endswith(("weight_u", "weight_v")) for k in changed)  # only spectral-norm power iteration

    trainer = make_trainer(tmp_path / "b", steps=10)
    g0, d0 = snapshot(trainer.generator), snapshot(trainer.discriminator)
    monkeypatch.setattr(trainer.opt_g, "step", lambda: None)  # D step alone
    trainer.train_step(0)
    g1 = snapshot(trainer.generator)
    changed = [k for k, v in g0.items() if not np.array_equal(v, g1[k])]
    assert all(k.endswith(("weight_u", "weight_v")) for k in changed)
    assert any(not np.array_equal(v, snapshot(trainer.discriminator)[k]) for k, v in d0.items())


def test_smoke_run_writes_everything_and_exports_a_loadable_model(tmp_path):
    export = tmp_path / "export"
    trainer = run(GeneratorConfig(**TINY_G, use_vae=True),
                  TrainConfig(run_dir=str(tmp_path / "run"), steps=2, export=str(export), lambda_l1=1.0, **TINY_T))
    lines = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(np.isfinite(v) for line in lines for v in line.values())
    assert {"g_gan", "g_feat", "g_l1", "g_kld", "d_hinge"} <= set(lines[-1])
    # label | from a seed | from the photo's own style code | real, 64 px each
    assert Image.open(tmp_path / "run/samples/step_0000002.png").width == 4 * 64
    assert (tmp_path / "run/checkpoint/state.json").is_file()
    assert list((tmp_path / "run/visualdl").iterdir())
    assert json.loads((tmp_path / "run/config.json").read_text())["train"]["steps"] == 2
    generator = load_generator(export)
    assert generator.cfg.norm == "clade_icpe" and trainer.step == 2
    with pytest.raises(FileExistsError, match="--resume"):
        run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "run"), steps=2, **TINY_T))


def test_resume_gives_identical_next_step_losses(tmp_path):
    straight = make_trainer(tmp_path / "a", steps=6)
    for step in range(3):
        straight.train_step(step)
        straight.step = step + 1
    straight.save_checkpoint()
    expected = straight.train_step(3)

    resumed = make_trainer(tmp_path / "a", steps=6)
    resumed.load_checkpoint()
    assert resumed.step == 3
    assert resumed.train_step(3) == expected


def test_learning_rates_warm_up_then_decay_and_a_resumed_run_keeps_its_ramp(tmp_path):
    trainer = make_trainer(tmp_path / "a", steps=12, warmup_steps=4, decay_steps=6)
    assert [trainer.learning_rate_scale(step) for step in (0, 1, 3, 6, 9)] == [0.25, 0.5, 1.0, 1.0, 0.5]
    trainer.step = trainer.moments_born = 5  # as --continue-from leaves it: fresh moments at step 5
    trainer.save_checkpoint()
    resumed = make_trainer(tmp_path / "a", steps=12, warmup_steps=4, decay_steps=6)
    resumed.load_checkpoint()
    assert [resumed.learning_rate_scale(step) for step in (5, 6, 9)] == [0.25, 0.5, 0.5]


def test_the_discriminator_blur_pool_halves_without_aliasing_period_two():
    from train.discriminator import BlurPool

    stripes = paddle.to_tensor(np.tile([1.0, -1.0], (1, 2, 6, 3)).astype(np.float32))  # (1, 2, 6, 6), period 2
    assert BlurPool(2)(stripes).shape == [1, 2, 3, 3]
    np.testing.assert_allclose(BlurPool(2)(stripes).numpy(), 0.0, atol=1e-6)  # a plain slice would keep +1
    plain = paddle.full([1, 2, 6, 6], 0.7)
    np.testing.assert_allclose(BlurPool(2)(plain).numpy(), 0.7, rtol=1e-6)


def test_a_run_switches_the_discriminator_blur_on_when_resumed(tmp_path):
    plain = make_trainer(tmp_path / "a", steps=6)
    plain.train_step(0)
    plain.step = 1
    plain.save_checkpoint()
    blurred = make_trainer(tmp_path / "a", steps=6, d_antialias=True)
    assert blurred.discriminator.state_dict().keys() == plain.discriminator.state_dict().keys()  # no new weights
    blurred.load_checkpoint()
    onehot_map = paddle.nn.functional.one_hot(paddle.zeros([1, 64, 64], "int64"), 11).transpose([0, 3, 1, 2])
    image = paddle.rand([1, 3, 64, 64])
    first, second = plain.discriminator(onehot_map, image), blurred.discriminator(onehot_map, image)
    assert [f.shape for scale in first for f in scale] == [f.shape for scale in second for f in scale]
    assert not np.allclose(first[0][-1].numpy(), second[0][-1].numpy())
    # It sees a period-2 texture as a texture: stripes and their half-pixel shift (the same texture) are
    # judged alike; at stride 2 the two land as different plain shifts.
    stripes = paddle.to_tensor(np.tile([0.5, -0.5], (1, 3, 64, 32)).astype(np.float32))
    shifted = -stripes
    gap = lambda d: float(paddle.abs(d(onehot_map, stripes)[0][0] - d(onehot_map, shifted)[0][0]).mean())
    assert gap(blurred.discriminator) < 0.2 * gap(plain.discriminator)
    assert np.isfinite(list(blurred.train_step(1).values())).all()


def test_overfitting_one_pair_drives_l1_down(tmp_path, palette):
    class OnePair:
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return ProceduralLandscapes(palette, size=64)[0]

    trainer = make_trainer(tmp_path, steps=40, lambda_l1=10.0, lambda_feat=0.0, lambda_gan=0.1, batch_size=1,
                           lr_g=2e-3)
    trainer.sampler.dataset = OnePair()
    trainer.sampler.augment_data = False
    l1 = [trainer.train_step(step)["g_l1"] for step in range(40)]
    assert np.mean(l1[-5:]) < 0.5 * np.mean(l1[:3])


def test_cli_dry_run_prints_the_resolved_config():
    out = subprocess.run([sys.executable, "-m", "train", "--dry-run", "--ngf", "8", "--norm", "clade"],
                         capture_output=True, text=True, check=True).stdout
    config = json.loads(out)
    assert config["generator"]["ngf"] == 8 and config["generator"]["num_classes"] == load_palette().num_classes
    assert config["train"]["lr_d"] == 4e-4


def test_a_model_of_the_palettes_first_classes_reads_later_classes_as_unlabelled(tmp_path, palette):
    labels, photos = tmp_path / "labels", tmp_path / "photos"
    labels.mkdir(), photos.mkdir()
    ids = np.full((64, 64), palette.id_of("sky"), np.uint8)
    ids[32:] = palette.num_classes - 1  # the newest class (a house), unknown to a model of one class fewer
    Image.fromarray(ids).save(labels / "1.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photos / "1.png")
    older = palette.num_classes - 1
    gen_cfg, cfg = parse_configs(["--num-classes", str(older), "--data", "folder", "--data-root", str(photos),
                                  "--label-dir", str(labels), "--run-dir", str(tmp_path / "run")],
                                 palette.num_classes)
    trainer = Trainer(dataclasses.replace(gen_cfg, **TINY_G),
                      dataclasses.replace(cfg, **{**TINY_T, "data": "folder", "batch_size": 1}))
    assert gen_cfg.num_classes == older and trainer.palette.names == palette.names[:older]
    seen, _ = trainer.sampler.dataset[0]
    assert (seen[:32] == palette.id_of("sky")).all() and (seen[32:] == palette.ignore_id).all()
    with pytest.raises(ValueError, match="--num-classes"):
        parse_configs(["--num-classes", str(palette.num_classes + 1)], palette.num_classes)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="data-root"):
        parse_configs(["--data", "pseudo"], 11)
    with pytest.raises(SystemExit):
        parse_configs(["--ngf", "lots"], 11)


def test_ctrl_c_saves_a_checkpoint_to_resume_from(tmp_path):
    import signal

    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "train", "--run-dir", str(run_dir), "--steps", "100000", "--ngf", "4",
               "--z-dim", "8", "--ndf", "8", "--n-layers-d", "3", "--image-size", "64", "--batch-size", "1",
               "--lambda-vgg", "0", "--log-every", "1", "--checkpoint-every", "100000", "--sample-every", "100000"]
    stop_a_run(command, run_dir, signal.SIGINT)
    step = json.loads((run_dir / "checkpoint/state.json").read_text())["step"]
    assert step >= 1
    resumed = subprocess.run(command[:6] + [str(step + 1)] + command[7:] + ["--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir / "checkpoint/state.json").read_text())["step"] == step + 1


def test_ema_warms_up_then_lags_behind(tmp_path):
    trainer = make_trainer(tmp_path, steps=10, ema_decay=0.999)
    initial = snapshot(trainer.ema)
    trainer.train_step(0)  # decay min(0.999, 1/10): the average moves 90% of the way at once
    live, ema = snapshot(trainer.generator), snapshot(trainer.ema)
    key = next(k for k in live if k.endswith("weight_orig") and not np.array_equal(live[k], initial[k]))
    np.testing.assert_allclose(ema[key], 0.1 * initial[key] + 0.9 * live[key], rtol=1e-4, atol=1e-6)


def test_export_command_writes_the_ema_of_a_paused_run(tmp_path):
    import shutil

    from train.continuation import write
    from train.export import main as export_main

    trainer = run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "run"), steps=2, **TINY_T))
    trainer.export(tmp_path / "by_trainer")
    # A run folder copied to a machine without its training data exports all the same.
    shutil.copytree(tmp_path / "run", tmp_path / "copied")
    saved = json.loads((tmp_path / "copied/config.json").read_text())
    saved["train"].update(data="pseudo", data_root=str(tmp_path / "no-such-labels"))
    (tmp_path / "copied/config.json").write_text(json.dumps(saved))
    assert export_main([str(tmp_path / "copied"), str(tmp_path / "out")]) == 0
    info = json.loads((tmp_path / "out/generator.json").read_text())
    assert info["metadata"]["steps"] == 2 and info["dtype"] == "float16"
    assert load_generator(tmp_path / "out").cfg.ngf == 4
    exported, by_trainer = (paddle.load(str(tmp_path / f"{d}/generator.pdparams"), return_numpy=True)
                            for d in ("out", "by_trainer"))
    assert exported.keys() == by_trainer.keys() and all(np.array_equal(exported[k], by_trainer[k]) for k in exported)
    # So does a committed continuation state (float16 networks beside the config): the same EMA, a float16
    # rounding away.
    write(tmp_path / "run", tmp_path / "carry")
    assert export_main([str(tmp_path / "carry"), str(tmp_path / "from_carry")]) == 0
    carried = paddle.load(str(tmp_path / "from_carry/generator.pdparams"), return_numpy=True)
    assert carried.keys() == exported.keys()
    for key in carried:  # spectral norm's power-iteration vectors were rounded too, hence not bit-exact
        np.testing.assert_allclose(carried[key].astype(np.float32), exported[key].astype(np.float32), rtol=1e-2,
                                   atol=1e-3)


def test_lecam_pulls_each_side_towards_the_other_sides_average():
    anchors = losses.LeCamAnchors(decay=0.5)
    anchors.update([1.0, 2.0], [-1.0, 0.0])  # the first step starts the averages there
    anchors.update([3.0, 2.0], [-3.0, 0.0])
    assert anchors.real == [2.0, 2.0] and anchors.fake == [-2.0, 0.0]
    real = [[t([0.0]), t([[1.0, 3.0]])], [t([0.0]), t([[2.0]])]]
    fake = [[t([0.0]), t([[-2.0]])], [t([0.0]), t([[1.0]])]]
    # head 0: mean((1+2)^2, (3+2)^2) + (-2-2)^2 = 17 + 16; head 1: (2-0)^2 + (1-2)^2 = 5; averaged
    assert float(losses.lecam_loss(real, fake, anchors)) == pytest.approx((33 + 5) / 2)
    assert losses.LeCamAnchors(**anchors.state()).real == anchors.real


def test_a_run_with_lecam_and_catch_up_classes_resumes_exactly_and_watches_for_memorising(tmp_path):
    straight = make_trainer(tmp_path / "a", steps=6, lambda_lecam=0.3, catch_up_classes="sand")
    for step in range(3):
        values = straight.train_step(step)
        straight.step = step + 1
    assert values["d_lecam"] > 0
    straight.save_checkpoint()
    expected = straight.train_step(3)
    assert (tmp_path / "a" / files.CHECKPOINT / files.OPT_CATCH_UP).is_file()
    resumed = make_trainer(tmp_path / "a", steps=6, lambda_lecam=0.3, catch_up_classes="sand")
    resumed.load_checkpoint()
    assert resumed.lecam.real and resumed.train_step(3) == expected
    watched = resumed.memorisation()
    assert watched["d_gap"] == pytest.approx(watched["d_train"] - watched["d_heldout"])


def test_continuing_a_run_after_the_palette_grew_keeps_its_pictures_of_the_old_classes(tmp_path, palette):
    from train.continuation import write

    old_classes = palette.num_classes - 1
    trainer = run(GeneratorConfig(**TINY_G, num_classes=old_classes),
                  TrainConfig(run_dir=str(tmp_path / "run"), steps=2, lambda_projected=1.0, **TINY_T))
    write(tmp_path / "run", tmp_path / "carry")
    grown = Trainer(GeneratorConfig(**TINY_G, num_classes=palette.num_classes), TrainConfig(run_dir=str(tmp_path / "grown"), steps=4,
                                                            lambda_projected=1.0, continue_from=str(tmp_path / "carry"),
                                                            **TINY_T))
    grown.continue_from(tmp_path / "carry")
    assert grown.step == 2
    ids = np.zeros((1, 64, 64), np.int64)
    ids[:, 32:] = 3  # old classes only: the added class's channel is zero, so nothing it reads has changed
    z = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32))
    before = [net(label_onehot(ids, old_classes), z).numpy() for net in (trainer.ema, trainer.generator)]
    after = [net(label_onehot(ids, palette.num_classes), z).numpy() for net in (grown.ema, grown.generator)]
    for old, new in zip(before, after):
        # A float16 rounding away, and the added class's column's small share of the spectral norm of G's first
        # convolution.
        assert np.abs(new - old).mean() < 3e-3 and np.abs(new - old).max() < 0.06
    table = grown.ema.head_0.norm_0.gamma.weight.numpy()[:, :, 0, 0]
    np.testing.assert_allclose(table[:, -1], table[:, :-1].mean(axis=1), atol=1e-6)  # the new class: their mean
    grown.train_step(2)
    with pytest.raises(ValueError, match="--num-classes"):
        Trainer(GeneratorConfig(**TINY_G, num_classes=old_classes - 1),
                TrainConfig(run_dir=str(tmp_path / "less"), **TINY_T)).continue_from(tmp_path / "carry")


def test_catch_up_classes_move_their_channels_faster_and_nothing_else(palette):
    from train.catch_up import CatchUp

    cfg = TrainConfig(catch_up_classes="house", catch_up_lr=10.0, lr_g=1e-3)
    house = palette.id_of("house")
    ids = np.zeros((1, 64, 64), np.int64)
    ids[:, 32:], ids[:, 48:, :16] = house, palette.id_of("grass")
    z = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 8)).astype(np.float32))
    moved = {}
    for catching_up in (False, True):
        paddle.seed(0)
        generator = SPADEGenerator(GeneratorConfig(**TINY_G, num_classes=palette.num_classes))
        start = [w.numpy().copy() for w in generator.label_weights()]
        optimizer = paddle.optimizer.Adam(cfg.lr_g, beta1=0.0, parameters=generator.parameters())
        catch_up = CatchUp(generator, palette, cfg) if catching_up else None
        (generator(label_onehot(paddle.to_tensor(ids), palette.num_classes), z) ** 2).mean().backward()
        optimizer.step()
        if catch_up is not None:
            catch_up.step(1.0)
        moved[catching_up] = [w.numpy() - s for w, s in zip(generator.label_weights(), start)]
    assert len(moved[True]) == 1 + 2 * (3 * 2 + 4 * 3)  # the first convolution; gamma and beta of every norm
    for plain, fast in zip(moved[False], moved[True]):
        np.testing.assert_allclose(np.delete(fast, house, axis=1), np.delete(plain, house, axis=1), atol=1e-7)
        np.testing.assert_allclose(fast[:, house], 10 * plain[:, house], rtol=1e-3, atol=1e-7)
    # (at the tiny map's 2x2 px head, instance norm leaves some of the first layers almost nothing to learn)
    assert sum(np.abs(plain[:, house]).max() > 1e-5 for plain in moved[False]) > 30
    with pytest.raises(ValueError, match="paints sky, cloud"):
        CatchUp(generator, palette, TrainConfig(catch_up_classes="castle"))


def test_a_reader_trained_before_the_palette_grew_is_not_asked_about_the_new_class(tmp_path):
    trainer = make_trainer(tmp_path, steps=2)
    trainer.semantic = types.SimpleNamespace(num_classes=3)
    ignore = trainer.palette.ignore_id
    assert trainer.semantic_labels(np.array([[0, 2, 3, ignore]])).tolist() == [[0, 2, ignore, ignore]]


def test_a_recipe_file_sets_the_options_and_flags_beside_it_win(tmp_path):
    from train.config import build_parser, read_recipe

    (tmp_path / "base.toml").write_text('[generator]\nngf = 8\n[losses]\nlambda_l1 = 5.0\n[run]\nrun_dir = "~/runs/x"\n')
    (tmp_path / "leg.toml").write_text('extends = "base.toml"\nsteps = 300\n[losses]\nlambda_l1 = 2.0\n')
    gen_cfg, cfg = parse_configs(["--config", str(tmp_path / "leg.toml"), "--steps", "400"], 11)
    assert (gen_cfg.ngf, cfg.lambda_l1, cfg.steps) == (8, 2.0, 400)  # the base, the leg, the flag
    assert cfg.run_dir == str(Path.home() / "runs/x")
    (tmp_path / "typo.toml").write_text('extends = "base.toml"\nlamda_l1 = 2.0\n')
    with pytest.raises(ValueError, match="'lamda_l1' is not an option"):
        parse_configs(["--config", str(tmp_path / "typo.toml")], 11)
    (tmp_path / "circle.toml").write_text('extends = "circle.toml"\n')
    with pytest.raises(ValueError, match="circle"):
        read_recipe(tmp_path / "circle.toml", build_parser())
    with pytest.raises(FileNotFoundError, match="no such recipe"):
        parse_configs(["--config", str(tmp_path / "none.toml")], 11)


def test_runs_saved_with_a_fractional_decay_read_as_absolute_steps():
    values = dataclasses.asdict(TrainConfig(steps=42000))
    values.pop("decay_steps")
    assert TrainConfig.from_dict({**values, "decay_start": 0.9}).decay_steps == 4200


def test_every_recipe_parses(palette):
    from miaobi_core.palette import load_palette

    recipes = sorted((Path(__file__).resolve().parent.parent / "train/recipes").glob("*.toml"))
    assert recipes
    for recipe in recipes:
        gen_cfg, cfg = parse_configs(["--config", str(recipe)], load_palette().num_classes)
        assert cfg.steps > cfg.decay_steps > 0 and gen_cfg.num_classes <= palette.num_classes
    # module 1.7.0's first leg, as its command stood in commit a98b6f4, and where the branch began
    gen_cfg, cfg = parse_configs(["--config", str(recipes[0].parent / "picture_00000.toml")], 12)
    assert (gen_cfg.label_downsampling, cfg.lambda_kld, cfg.label_warp, cfg.d_antialias, cfg.lambda_spectral,
            cfg.lambda_semantic, cfg.steps, cfg.decay_steps) == ("nearest", 0.05, 0.06, False, 0.0, 0.0, 60000, 30000)
    _, cfg = parse_configs(["--config", str(recipes[0].parent / "picture_18500.toml")], 12)
    assert (cfg.lambda_semantic, cfg.lambda_spectral, cfg.warmup_steps, cfg.steps) == (2.0, 30.0, 0, 22500)


def test_each_optimiser_crop_and_loss_weight_option_takes_effect(tmp_path):
    from train.distill import DistillConfig

    gen_cfg, cfg = parse_configs(["--min-crop", "0.5", "--beta1", "0.5", "--beta2", "0.9", "--no-d-spectral-norm",
                                  "--lambda-kld", "0.2", "--use-vae", "--lambda-distill-l1", "3",
                                  "--lambda-distill-ssim", "4", "--student-ngf", "2"], 11)
    trainer = Trainer(dataclasses.replace(gen_cfg, **TINY_G, use_vae=True),
                      dataclasses.replace(cfg, **TINY_T, run_dir=str(tmp_path)))
    assert trainer.sampler.min_crop == 0.5
    assert all((opt._beta1, opt._beta2) == (0.5, 0.9) for opt in (trainer.opt_g, trainer.opt_d))
    assert not any(name.endswith("weight_orig") for name in trainer.discriminator.state_dict())
    distill = DistillConfig.from_train(cfg)
    assert (distill.lambda_l1, distill.lambda_ssim, distill.betas) == (3.0, 4.0, (0.5, 0.9))
    values = trainer.train_step(0)
    half = Trainer(dataclasses.replace(gen_cfg, **TINY_G, use_vae=True),
                   dataclasses.replace(cfg, **TINY_T, run_dir=str(tmp_path / "b"), lambda_kld=0.1)).train_step(0)
    assert values["g_kld"] == pytest.approx(2 * half["g_kld"], rel=1e-5)  # the same step, twice the weight
    assert parse_configs([], 11)[1].lambda_vgg == 0  # no VGG weights can be had here


def test_every_training_setting_has_one_section_and_the_step_reads_the_groups():
    from train.config import SECTIONS, LossWeights, build_parser

    named = [name for names in SECTIONS.values() for name in names]
    assert sorted(named) == sorted(f.name for f in dataclasses.fields(TrainConfig)) and len(set(named)) == len(named)
    helped = build_parser().format_help()
    assert all(f"\n{title}:\n" in helped for title in SECTIONS)
    cfg = TrainConfig(lambda_l1=2.5, lambda_lecam=0.1, n_layers_d=3, beta2=0.9)
    assert cfg.losses == LossWeights(gan=1.0, feat=10.0, vgg=0.0, squeezenet=0.0, projected=0.0, semantic=0.0,
                                     l1=2.5, spectral=0.0, kld=0.05, lecam=0.1)
    assert cfg.discriminators["n_layers"] == 3 and cfg.betas == {"beta1": 0.0, "beta2": 0.9}
