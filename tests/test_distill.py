"""train/distill.py: SSIM, what a student step touches, imitation, checkpoints, init-from, export and pruning."""
import json

import numpy as np
import paddle
import pytest

from miaobi_core.checkpoint import load_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator, label_onehot
from train.config import TrainConfig
from train.distill import prune_into, ssim, student_config
from train.export import main as export_main
from train.trainer import run

from tests.helpers import TINY_G, TINY_T, make_trainer, snapshot

STUDENT = dict(student_ngf=2)


def test_ssim_is_one_for_identical_maps_and_falls_with_noise():
    paddle.seed(0)
    a = paddle.rand([2, 3, 16, 16])
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim(a, a + 0.3 * paddle.randn(a.shape))) < 0.8
    assert float(ssim(a, paddle.rand(a.shape))) < 0.2


@pytest.mark.parametrize("lambda_distill_feat", [0.0, 1.0])
def test_student_step_leaves_teacher_and_discriminator_alone(tmp_path, monkeypatch, lambda_distill_feat):
    trainer = make_trainer(tmp_path, steps=10, lambda_distill_feat=lambda_distill_feat, **STUDENT)
    distillation = trainer.distillation
    assert distillation.student.cfg.ngf == 2 and distillation.student.cfg.z_dim == TINY_G["z_dim"]
    monkeypatch.setattr(trainer.opt_g, "step", lambda: None)
    monkeypatch.setattr(trainer.opt_d, "step", lambda: None)
    g0, d0, s0 = snapshot(trainer.generator), snapshot(trainer.discriminator), snapshot(distillation.student)
    values = trainer.train_step(0)
    assert {"s_l1", "s_ssim"} <= set(values)
    unchanged = lambda a, b: all(np.array_equal(v, b[k]) for k, v in a.items() if not k.endswith(("_u", "_v")))
    assert unchanged(g0, snapshot(trainer.generator)) and unchanged(d0, snapshot(trainer.discriminator))
    assert not unchanged(s0, snapshot(distillation.student))
    assert ("s_feat" in values) == bool(lambda_distill_feat)
    assert all(p.grad is None or not p.grad.abs().sum() for p in trainer.discriminator.parameters())


def test_student_learns_to_imitate_a_fixed_teacher(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, steps=40, lr_student=2e-3, batch_size=1, **STUDENT)
    monkeypatch.setattr(trainer.opt_g, "step", lambda: None)  # the teacher stands still
    monkeypatch.setattr(trainer.sampler, "batch", lambda step, part: trainer.sampler.__class__.batch(trainer.sampler, 0, part))
    l1 = [trainer.train_step(step)["s_l1"] for step in range(40)]
    assert np.mean(l1[-5:]) < 0.75 * np.mean(l1[:3])


def test_resume_with_a_student_gives_identical_next_step_losses(tmp_path):
    straight = make_trainer(tmp_path, steps=6, **STUDENT)
    for step in range(2):
        straight.train_step(step)
        straight.step = step + 1
    straight.save_checkpoint()
    expected = straight.train_step(2)
    resumed = make_trainer(tmp_path, steps=6, **STUDENT)
    resumed.load_checkpoint()
    assert resumed.train_step(2) == expected


def test_init_from_adds_a_student_to_a_trained_teacher_and_exports_both(tmp_path):
    teacher_run = tmp_path / "teacher"
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(teacher_run), steps=2, **TINY_T))
    with pytest.raises(FileNotFoundError, match="student.pdparams"):
        make_trainer(teacher_run, **STUDENT).load_checkpoint()  # a teacher-only checkpoint cannot resume a student

    distilled = run(GeneratorConfig(**TINY_G),
                    TrainConfig(run_dir=str(tmp_path / "omgd"), steps=4, init_from=str(teacher_run),
                                export=str(tmp_path / "g"), export_student=str(tmp_path / "s"), **STUDENT, **TINY_T))
    assert distilled.step == 4 and distilled.student_born == 2  # went on from the teacher's step 2
    first = json.loads((tmp_path / "omgd/log.jsonl").read_text().splitlines()[0])
    assert first["step"] == 3 and "s_ssim" in first
    assert load_generator(tmp_path / "g").cfg.ngf == TINY_G["ngf"]
    student = load_generator(tmp_path / "s")
    steps = lambda folder: json.loads((folder / "generator.json").read_text())["metadata"]["steps"]
    assert steps(tmp_path / "g") == 4 and steps(tmp_path / "s") == 2  # each network's own steps
    assert student.cfg.ngf == 2
    assert json.loads((tmp_path / "s/generator.json").read_text())["metadata"]["distilled_from"]["ngf"] == TINY_G["ngf"]
    # label | teacher | student | real
    from PIL import Image
    assert Image.open(tmp_path / "omgd/samples/step_0000004.png").width == 4 * TINY_T["image_size"]
    assert export_main([str(tmp_path / "omgd"), str(tmp_path / "s2"), "--student"]) == 0
    assert load_generator(tmp_path / "s2").cfg.ngf == 2


def test_student_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="export-student"):
        TrainConfig(run_dir=str(tmp_path), export_student="x")
    with pytest.raises(ValueError, match="no student"):
        make_trainer(tmp_path).export(tmp_path / "s", student=True)


def test_the_students_average_warms_up_from_its_birth(tmp_path):
    trainer = make_trainer(tmp_path, steps=4000, **STUDENT)
    trainer.student_born = 1000  # as if added to a teacher at step 1000
    initial = snapshot(trainer.distillation.ema)
    trainer.train_step(1000)  # the student's first step: its average moves 90% of the way, as a new run's does
    live, ema = snapshot(trainer.distillation.student), snapshot(trainer.distillation.ema)
    key = next(k for k in live if k.endswith("weight_orig") and not np.array_equal(live[k], initial[k]))
    np.testing.assert_allclose(ema[key], 0.1 * initial[key] + 0.9 * live[key], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("lambda_distill_feat", [0.0, 1.0])
def test_a_frozen_teacher_only_teaches_and_its_weights_never_move(tmp_path, monkeypatch, lambda_distill_feat):
    teacher_run = tmp_path / "teacher"
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(teacher_run), steps=2, **TINY_T))
    trainer = make_trainer(tmp_path / "frozen", steps=10, freeze_teacher=True,
                           lambda_distill_feat=lambda_distill_feat, **STUDENT)
    trainer.load_checkpoint(teacher_run / "checkpoint", teacher_only=True)
    ema_calls = []
    trainer.ema.register_forward_post_hook(lambda layer, inputs, output: ema_calls.append(1))
    monkeypatch.setattr(trainer.generator, "forward", lambda *args: pytest.fail("the GAN generator ran"))
    frozen = [snapshot(layer) for layer in (trainer.generator, trainer.ema, trainer.discriminator)]
    student = snapshot(trainer.distillation.student)
    values = trainer.train_step(2)
    expected = {"s_l1", "s_ssim", "lr_scale"} | ({"s_feat"} if lambda_distill_feat else set())
    assert set(values) == expected and ema_calls  # the student imitates the EMA users get
    # D judged the student (feature matching) without gathering gradients or moving its spectral-norm vectors.
    assert all(p.grad is None for p in trainer.discriminator.parameters())
    assert not any(p.stop_gradient for p in trainer.discriminator.parameters())
    for before, layer in zip(frozen, (trainer.generator, trainer.ema, trainer.discriminator)):
        after = snapshot(layer)
        assert all(np.array_equal(v, after[k]) for k, v in before.items())
    assert any(not np.array_equal(v, snapshot(trainer.distillation.student)[k]) for k, v in student.items())


def test_an_adversarial_student_trains_d_on_its_pictures_and_resumes_exactly(tmp_path):
    with pytest.raises(ValueError, match="--lambda-distill-gan needs --freeze-teacher"):
        TrainConfig(run_dir=str(tmp_path), lambda_distill_gan=1.0, **STUDENT)
    settings = dict(steps=6, freeze_teacher=True, lambda_distill_gan=1.0, **STUDENT)
    trainer = make_trainer(tmp_path, **settings)
    teacher, discriminator = snapshot(trainer.ema), snapshot(trainer.discriminator)
    values = trainer.train_step(0)
    assert {"s_gan", "d_hinge"} <= set(values) and "s_feat" not in values
    assert all(np.array_equal(v, snapshot(trainer.ema)[k]) for k, v in teacher.items())
    assert any(not np.array_equal(v, snapshot(trainer.discriminator)[k]) for k, v in discriminator.items())
    assert all(p.grad is None or not p.grad.abs().sum() for p in trainer.discriminator.parameters())
    trainer.step = 1
    trainer.save_checkpoint()
    expected = trainer.train_step(1)
    resumed = make_trainer(tmp_path, **settings)
    resumed.load_checkpoint()
    assert resumed.train_step(1) == expected


def test_freeze_teacher_runs_end_to_end_and_needs_a_student(tmp_path):
    with pytest.raises(ValueError, match="--freeze-teacher"):
        TrainConfig(run_dir=str(tmp_path), freeze_teacher=True)
    teacher_run = tmp_path / "teacher"
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(teacher_run), steps=2, **TINY_T))
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "s"), steps=4, init_from=str(teacher_run),
                                               freeze_teacher=True, **STUDENT, **TINY_T))
    lines = [json.loads(line) for line in (tmp_path / "s/log.jsonl").read_text().splitlines()]
    assert lines and all("s_l1" in line and "g_total" not in line for line in lines)
    before = paddle.load(str(teacher_run / "checkpoint/ema.pdparams"))
    after = paddle.load(str(tmp_path / "s/checkpoint/ema.pdparams"))
    assert all(np.array_equal(value.numpy(), after[key].numpy()) for key, value in before.items())


def test_an_exported_generator_can_be_the_frozen_teacher(tmp_path):
    exported = tmp_path / "g"  # as shipped: spectral norm folded into plain weights
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "teacher"), steps=2, export=str(exported),
                                               export_half=False, **TINY_T))
    folded = GeneratorConfig(**{**TINY_G, "spectral_norm": False})
    student = dict(init_from=str(exported), prune_student=True, **STUDENT, **TINY_T)
    with pytest.raises(ValueError, match="add --freeze-teacher"):
        run(folded, TrainConfig(run_dir=str(tmp_path / "joint"), steps=2, **student))
    with pytest.raises(ValueError, match="other settings.*'spectral_norm': False"):
        run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "sn"), steps=2, freeze_teacher=True, **student))

    trainer = run(folded, TrainConfig(run_dir=str(tmp_path / "s"), steps=3, freeze_teacher=True, lambda_distill_gan=1.0,
                                      export=str(tmp_path / "g2"), export_half=False,
                                      export_student=str(tmp_path / "s3"), **student))
    assert trainer.student_born == 0 and trainer.step == 3
    steps = lambda folder: json.loads((tmp_path / folder / "generator.json").read_text())["metadata"]["steps"]
    assert steps("g2") == 2 and steps("s3") == 3  # the teacher's own steps, not the student run's
    assert all("s_gan" in json.loads(line) for line in (tmp_path / "s/log.jsonl").read_text().splitlines())
    # The teacher is the export, bit for bit, and stayed fixed.
    before, after = (paddle.load(str(folder / "generator.pdparams")) for folder in (exported, tmp_path / "g2"))
    assert before.keys() == after.keys() and all(np.array_equal(v.numpy(), after[k].numpy()) for k, v in before.items())


def test_a_student_learns_from_z_as_users_draw_it_from_the_teachers_seeds(tmp_path):
    from miaobi_core.styles import CodeGaussian, write_styles
    from train.trainer import Trainer

    exported = tmp_path / "g"
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "teacher"), steps=1, export=str(exported),
                                               **TINY_T))
    folded = GeneratorConfig(**{**TINY_G, "spectral_norm": False})
    student = TrainConfig(run_dir=str(tmp_path / "s"), init_from=str(exported), freeze_teacher=True, **STUDENT,
                          **TINY_T)
    rng = lambda: np.random.default_rng(5)
    plain = Trainer(folded, student)
    np.testing.assert_array_equal(plain.users_noise(rng()).numpy(), plain.noise(rng()).numpy())
    scale_tril = np.tril(np.full((8, 8), 0.5, np.float32))
    write_styles(exported, [], 0.3, {}, {}, CodeGaussian(np.arange(8, dtype=np.float32), scale_tril, 10))
    styled = Trainer(folded, student)
    np.testing.assert_allclose(styled.users_noise(rng()).numpy(),
                               np.arange(8) + styled.noise(rng()).numpy() @ scale_tril.T, rtol=1e-5)
    styled.export(tmp_path / "student", student=True)
    assert (tmp_path / "student" / "styles.json").read_text() == (exported / "styles.json").read_text()


def test_an_exported_student_goes_on_training_where_it_stopped(tmp_path):
    """A student's export is all that survives a lost run folder: a new run continues it, counting its steps."""
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "teacher"), steps=2, export=str(tmp_path / "g"),
                                               export_half=False, **TINY_T))
    folded = GeneratorConfig(**{**TINY_G, "spectral_norm": False})
    student = dict(init_from=str(tmp_path / "g"), freeze_teacher=True, **STUDENT, **TINY_T)
    run(folded, TrainConfig(run_dir=str(tmp_path / "first"), steps=3, export_student=str(tmp_path / "s"),
                            export_half=False, **student))
    with pytest.raises(ValueError, match="no --prune-student"):
        TrainConfig(run_dir=str(tmp_path), init_student_from="s", prune_student=True, **student)
    with pytest.raises(ValueError, match="give --student-ngf and --init-from"):
        TrainConfig(run_dir=str(tmp_path), init_student_from="s")
    with pytest.raises(ValueError, match="other settings: {'ngf': 2}"):
        run(folded, TrainConfig(run_dir=str(tmp_path / "wide"), steps=0, init_student_from=str(tmp_path / "s"),
                                **{**student, "student_ngf": 3}))

    # Zero more steps: the student comes back exactly as exported, with its 3 steps.
    run(folded, TrainConfig(run_dir=str(tmp_path / "again"), steps=0, init_student_from=str(tmp_path / "s"),
                            export_student=str(tmp_path / "s0"), export_half=False, **student))
    before, after = (paddle.load(str(tmp_path / f / "generator.pdparams")) for f in ("s", "s0"))
    assert all(np.array_equal(v.numpy(), after[k].numpy()) for k, v in before.items())
    trainer = run(folded, TrainConfig(run_dir=str(tmp_path / "more"), steps=2, init_student_from=str(tmp_path / "s"),
                                      export_student=str(tmp_path / "s2"), **student))
    assert trainer.student_born == -3
    assert json.loads((tmp_path / "s2/generator.json").read_text())["metadata"]["steps"] == 5


def _pruning_pair(teacher_cfg: dict, student_ngf: int):
    paddle.seed(0)
    teacher = SPADEGenerator(GeneratorConfig(**teacher_cfg))
    student = SPADEGenerator(student_config(teacher.cfg, student_ngf))
    onehot_map = label_onehot(paddle.to_tensor(np.random.default_rng(0).integers(0, 11, (2, 64, 64))), 11)
    z = paddle.to_tensor(np.random.default_rng(1).standard_normal((2, TINY_G["z_dim"])).astype(np.float32))
    return teacher, student, onehot_map, z


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_pruning_to_the_full_width_keeps_the_teacher(spectral_norm):
    teacher, student, onehot_map, z = _pruning_pair({**TINY_G, "spectral_norm": spectral_norm}, TINY_G["ngf"])
    with paddle.no_grad():
        for _ in range(50):  # converge the teacher's own power iteration, as training does
            teacher(onehot_map, z)
    teacher.eval()
    prune_into(student, teacher)
    student.eval()
    # With spectral norm both sides divide by a power-iteration estimate of sigma, so they agree only closely.
    np.testing.assert_allclose(student(onehot_map, z).numpy(), teacher(onehot_map, z).numpy(),
                               atol=2e-2 if spectral_norm else 1e-5)


def test_pruning_keeps_each_groups_strongest_channels():
    teacher, student, _, _ = _pruning_pair({**TINY_G, "spectral_norm": False, "norm": "spade"}, 2)
    trunk = teacher.fc.weight.shape[0]
    with paddle.no_grad():  # make trunk channels 1, 3, 5, ... the strong ones in every writer
        for layer in (teacher.fc, teacher.head_0.conv_1, teacher.G_middle_0.conv_1, teacher.G_middle_1.conv_1):
            layer.weight.set_value(layer.weight * paddle.to_tensor([0.01, 1.0] * (trunk // 2)).reshape([-1, 1, 1, 1]))
    prune_into(student, teacher)
    strong = np.arange(1, trunk, 2)
    np.testing.assert_array_equal(student.fc.weight.numpy(), teacher.fc.weight.numpy()[strong])
    np.testing.assert_array_equal(student.head_0.conv_0.weight.numpy()[:, :, 1, 1].shape, (trunk // 2, trunk // 2))
    np.testing.assert_array_equal(student.up_0.norm_0.mlp_gamma.weight.numpy(),
                                  teacher.up_0.norm_0.mlp_gamma.weight.numpy()[strong])
    np.testing.assert_array_equal(student.up_0.norm_0.mlp_shared[0].weight.numpy(),
                                  teacher.up_0.norm_0.mlp_shared[0].weight.numpy())  # reads labels: kept whole


def test_prune_student_starts_the_new_student_from_the_teacher(tmp_path):
    with pytest.raises(ValueError, match="--prune-student"):
        TrainConfig(run_dir=str(tmp_path), prune_student=True, student_ngf=2)
    teacher_run = tmp_path / "teacher"
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(teacher_run), steps=2, export=str(tmp_path / "g"),
                                               export_half=False, **TINY_T))
    run(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path / "s"), steps=2, init_from=str(teacher_run),
                                               prune_student=True, export_student=str(tmp_path / "s0"),
                                               export_half=False, **STUDENT, **TINY_T))
    # No student step ran: the exported student is the pruned teacher, whose output layer's bias is kept whole.
    teacher, student = load_generator(tmp_path / "g"), load_generator(tmp_path / "s0")
    np.testing.assert_array_equal(student.conv_img.bias.numpy(), teacher.conv_img.bias.numpy())
