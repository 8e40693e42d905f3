"""miaobi_core/backends.py: every exported backend matches paddle on real label maps; choosing falls back cleanly."""
from pathlib import Path

import numpy as np
import paddle
import pytest

from miaobi_core import backends
from miaobi_core.backends import BACKENDS, PARITY_TOLERANCE, build_backend, choose_backend, probe_inputs
from miaobi_core.checkpoint import load_generator, save_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator
from miaobi_core.synthesizer import Synthesizer
from miaobi_core.variants import FOLDERS

SHIPPED = {variant: Path(__file__).resolve().parent.parent / "hub_module" / "miaobi" / folder
           for variant, folder in FOLDERS.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    paddle.seed(1)
    generator = SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade_icpe", upsampling="bilinear"))
    folder = save_generator(tmp_path_factory.mktemp("tiny"), generator, metadata={"image_size": 64})
    return folder, load_generator(folder)


def test_probes_are_real_label_maps_of_every_scene(palette):
    onehot_map, z = probe_inputs(palette.num_classes, 128, 16)
    assert onehot_map.shape == (4, palette.num_classes, 128, 128) and z.shape == (4, 16)
    assert (onehot_map.sum(axis=1) == 1).all()
    assert all(len(np.unique(m.argmax(axis=0))) >= 5 for m in onehot_map)


@pytest.mark.parametrize("variant", SHIPPED)
@pytest.mark.parametrize("name", BACKENDS[1:])
def test_exported_backends_match_paddle_on_the_shipped_models(name, variant, tmp_path_factory):
    generator = load_generator(SHIPPED[variant])
    onehot_map, z = probe_inputs(generator.cfg.num_classes, 128, generator.cfg.z_dim)
    expected = backends.PaddleBackend(generator)(onehot_map, z)
    backend = build_backend(name, generator, 128, use_gpu=False, folder=tmp_path_factory.getbasetemp() / variant)
    assert np.abs(backend(onehot_map, z) - expected).max() <= PARITY_TOLERANCE
    # batches of another size run too (the batch axis is dynamic)
    assert np.abs(backend(onehot_map[:1], z[:1]) - expected[:1]).max() <= PARITY_TOLERANCE


def test_auto_picks_a_passing_backend_and_reports_every_trial(tiny, tmp_path):
    folder, generator = tiny
    backend, trials = choose_backend(generator, 64, False, "auto", tmp_path)
    assert [t.name for t in trials] == list(BACKENDS)
    chosen = next(t for t in trials if t.name == backend.name)
    assert chosen.ok and chosen.ms_per_probe == min(t.ms_per_probe for t in trials if t.ok)
    assert all(t.max_abs_error <= PARITY_TOLERANCE for t in trials if t.ok)


def test_a_broken_or_wrong_backend_is_skipped_by_auto_and_an_error_when_named(tiny, tmp_path, monkeypatch):
    folder, generator = tiny

    def build(name, *args):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime here")
        return lambda onehot_map, z: np.zeros((len(z), 3, 64, 64), np.float32)  # runs, but paints nothing

    monkeypatch.setattr(backends, "build_backend", build)
    backend, trials = choose_backend(generator, 64, False, "auto", tmp_path)
    assert backend.name == "paddle"
    by_name = {t.name: t for t in trials}
    assert "no onnxruntime" in by_name["onnxruntime"].reason
    assert by_name["paddle-jit"].reason == "output differs from paddle" and not by_name["paddle-jit"].ok
    with pytest.raises(RuntimeError, match="onnxruntime could not run"):
        choose_backend(generator, 64, False, "onnxruntime", tmp_path)
    with pytest.raises(RuntimeError, match="differs from paddle"):
        choose_backend(generator, 64, False, "paddle-jit", tmp_path)


def test_unknown_backend_names_are_refused(tiny, tmp_path):
    with pytest.raises(RuntimeError, match="unknown backend"):
        choose_backend(tiny[1], 64, False, "tensorrt", tmp_path)


def test_a_backend_failing_at_run_time_falls_back_to_paddle(tiny, label_map):
    folder, _ = tiny
    synthesizer = Synthesizer(folder, backend="onnxruntime")
    expected = Synthesizer(folder, backend="paddle").generate([label_map], seeds=[2])[0]

    def broken(onehot_map, z):
        raise RuntimeError("onnxruntime lost its session")

    broken.name = "onnxruntime"
    synthesizer.backend = broken
    picture = synthesizer.generate([label_map], seeds=[2])[0]
    assert synthesizer.backend.name == "paddle"
    assert np.abs(picture.astype(int) - expected).max() <= 1  # float rounding of one network built twice


def test_exports_are_cached_per_checkpoint(tiny, tmp_path, monkeypatch):
    folder, _ = tiny
    monkeypatch.setenv("MIAOBI_CACHE", str(tmp_path / "cache"))
    first = backends.export_folder(folder, 64)
    assert first == backends.export_folder(folder, 64) and first.parent == tmp_path / "cache" / "exports"
    assert first != backends.export_folder(folder, 128)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("MIAOBI_CACHE", str(blocked))
    assert backends.export_folder(folder, 64).is_dir()  # unwritable cache: a temporary folder instead


def test_onnxruntime_on_gpu_needs_its_cuda_provider(tiny, tmp_path):
    prefix = backends.export_static(tiny[1], 64, tmp_path)
    with pytest.raises(RuntimeError, match="CUDA provider"):
        backends.OnnxRuntimeBackend(prefix, use_gpu=True, threads=1)


def test_openvino_refuses_use_gpu_so_auto_keeps_to_cuda_backends(tiny, tmp_path):
    prefix = backends.export_static(tiny[1], 64, tmp_path)
    with pytest.raises(RuntimeError, match="Intel GPUs only"):
        backends.OpenVinoBackend(prefix, use_gpu=True, threads=1)


@pytest.mark.parametrize("overrides", [{"z_modulation": True, "use_vae": True, "encoder_nef": 4, "upsampling": "bilinear",
                                        "label_downsampling": "area"},
                                       {"norm": "spade", "z_modulation": True, "spade_hidden": 8}])
def test_every_backend_matches_paddle_on_the_picture_quality_options(overrides, tmp_path):
    paddle.seed(2)
    generator = SPADEGenerator(GeneratorConfig(**{"ngf": 4, "z_dim": 8, "norm": "clade_icpe", **overrides}))
    for p in generator.parameters():  # trained-like weights: z's layers must matter
        p.set_value(paddle.randn(p.shape) * 0.3)
    folder = save_generator(tmp_path / "g", generator, metadata={"image_size": 64})
    _, trials = choose_backend(load_generator(folder), 64, False, "auto", tmp_path / "exports")
    assert all(t.ok for t in trials), [str(t) for t in trials if not t.ok]
