"""Ways to run a trained generator, and choosing the fastest one that paints the same pictures.

Every backend is a callable ``(onehot_map, z) -> pictures`` on numpy arrays:
one-hot label maps ``(B, C, S, S)`` float32 and style vectors ``(B, z_dim)``
in, ``(B, 3, S, S)`` float32 in [-1, 1] out, for the one square size S the
model is run at (the synthesizer resizes to and from it).

- ``paddle``: the dynamic-graph network itself, the reference.
- ``paddle-jit``: the same network traced by ``paddle.jit.to_static`` and reloaded.
- ``paddle-inference``: that traced program in a Paddle Inference predictor
  (oneDNN off: with paddle 3.3.1 it segfaults on this graph).
- ``onnxruntime``: the traced program converted by paddle2onnx.
- ``openvino``: that ONNX file compiled by OpenVINO for the CPU, in float32.

Exported backends are trusted only after they match ``paddle`` on real label
maps (:data:`PROBES`) within :data:`PARITY_TOLERANCE`; converters have
exported ops wrongly before (see ``generator.leaky_relu``).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .codec import onehot
from .config import CONFIG_NAME, WEIGHTS_NAME
from .runtime import math_threads

log = logging.getLogger(__name__)

BACKENDS = ("paddle", "paddle-jit", "paddle-inference", "onnxruntime", "openvino")
PARITY_TOLERANCE = 1e-2  # max abs difference on the [-1, 1] scale
PROBES = Path(__file__).with_name("probes")  # pseudo-labelled held-out photos, one per scene


def probe_inputs(num_classes: int, size: int, z_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The parity probes at ``size``, each with its own seeded style vector."""
    maps = [np.asarray(Image.open(path).resize((size, size), Image.NEAREST))
            for path in sorted(PROBES.glob("*.png"))]
    z = np.random.default_rng(0).standard_normal((len(maps), z_dim)).astype(np.float32)
    return onehot(np.stack(maps), num_classes), z


class PaddleBackend:
    name = "paddle"

    def __init__(self, generator):
        self.generator = generator

    def __call__(self, onehot_map: np.ndarray, z: np.ndarray) -> np.ndarray:
        import paddle

        with paddle.no_grad():
            return self.generator(paddle.to_tensor(onehot_map), paddle.to_tensor(z)).numpy()


def export_static(generator, size: int, folder: Path) -> Path:
    """Trace the generator for (any batch, C, size, size) and save the program; returns the path prefix."""
    import paddle
    from paddle.static import InputSpec

    prefix = folder / "generator"
    if not prefix.with_suffix(".pdiparams").is_file():
        cfg = generator.cfg
        spec = [InputSpec([None, cfg.num_classes, size, size], "float32", "onehot_map"),
                InputSpec([None, cfg.z_dim], "float32", "z")]
        paddle.jit.save(paddle.jit.to_static(generator, input_spec=spec, full_graph=True), str(prefix))
    return prefix


def _program_file(prefix: Path) -> Path:
    # paddle 3 writes the program as PIR JSON; older versions wrote .pdmodel.
    for suffix in (".json", ".pdmodel"):
        if prefix.with_suffix(suffix).is_file():
            return prefix.with_suffix(suffix)
    raise FileNotFoundError(f"no saved program next to {prefix}")


class PaddleJitBackend:
    name = "paddle-jit"

    def __init__(self, prefix: Path):
        import paddle

        self.layer = paddle.jit.load(str(prefix))
        self.layer.eval()

    def __call__(self, onehot_map, z):
        import paddle

        with paddle.no_grad():
            return self.layer(paddle.to_tensor(onehot_map), paddle.to_tensor(z)).numpy()


class PaddleInferenceBackend:
    name = "paddle-inference"

    def __init__(self, prefix: Path, use_gpu: bool, threads: int):
        import paddle.inference as inference

        config = inference.Config(str(_program_file(prefix)), str(prefix.with_suffix(".pdiparams")))
        config.disable_mkldnn()
        if use_gpu:
            config.enable_use_gpu(256, 0)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(threads)
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)

    def __call__(self, onehot_map, z):
        for name, value in zip(self.predictor.get_input_names(), (onehot_map, z)):
            handle = self.predictor.get_input_handle(name)
            handle.reshape(value.shape)
            handle.copy_from_cpu(np.ascontiguousarray(value))
        self.predictor.run()
        return self.predictor.get_output_handle(self.predictor.get_output_names()[0]).copy_to_cpu()


def export_onnx(prefix: Path) -> Path:
    """Convert the traced program to ONNX beside it (once); returns the .onnx path."""
    import paddle2onnx

    model = prefix.with_suffix(".onnx")
    if not model.is_file():
        tmp = prefix.with_suffix(".onnx.tmp")
        paddle2onnx.export(str(_program_file(prefix)), str(prefix.with_suffix(".pdiparams")), str(tmp),
                           opset_version=13, verbose=False)
        tmp.replace(model)  # atomic: a half-written file is never taken for an export
    return model


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, prefix: Path, use_gpu: bool, threads: int):
        import onnxruntime

        providers = ["CPUExecutionProvider"]
        if use_gpu:
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise RuntimeError("this onnxruntime build has no CUDA provider (install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(export_onnx(prefix)), options, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, onehot_map, z):
        return self.session.run(None, dict(zip(self.inputs, (onehot_map, z))))[0]


class OpenVinoBackend:
    """OpenVINO's CPU plugin (oneDNN kernels): 2.3x faster than ONNX Runtime on the shipped model at 256 px here.

    Only ``Core.read_model`` / ``compile_model`` are used: the converter
    tools are what would send OpenVINO's opt-in telemetry, not the runtime.
    """
    name = "openvino"

    def __init__(self, prefix: Path, use_gpu: bool, threads: int):
        if use_gpu:
            raise RuntimeError("OpenVINO's GPU plugin drives Intel GPUs only; on CUDA use onnxruntime or paddle")
        import openvino

        core = openvino.Core()
        # float32 stated outright: on CPUs with bf16 units OpenVINO may default to bf16, which moved
        # pixels of the paper-size SPADE by up to 1.9 here (far outside the parity tolerance).
        settings = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads,
                    "PERFORMANCE_HINT": "LATENCY"}
        compiled = core.compile_model(core.read_model(str(export_onnx(prefix))), "CPU", settings)
        self.request = compiled.create_infer_request()

    def __call__(self, onehot_map, z):
        # share_outputs=False: the request reuses its output buffer on the next call.
        return self.request.infer([onehot_map, z], share_outputs=False)[0]


def export_folder(checkpoint_dir: Path, size: int) -> Path:
    """Exports are cached per checkpoint content, size and library versions (converting takes ~20 s here).

    ``MIAOBI_CACHE`` moves the cache (default ``~/.cache/miaobi``); if it
    cannot be written, a fresh temporary folder is used.
    """
    import paddle

    digest = hashlib.sha256(f"{size}|{paddle.__version__}|{_version('paddle2onnx')}".encode())
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        digest.update((checkpoint_dir / name).read_bytes())
    root = Path(os.environ.get("MIAOBI_CACHE") or Path.home() / ".cache" / "miaobi")
    folder = root / "exports" / digest.hexdigest()[:20]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".writable"
        probe.touch()
        return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="miaobi-export-"))


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


def build_backend(name: str, generator, size: int, use_gpu: bool, folder: Path | None):
    """One backend by name; exported ones trace the generator into ``folder`` first (or reuse it)."""
    if name == "paddle":
        return PaddleBackend(generator)
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose auto or one of {', '.join(BACKENDS)}")
    folder = folder or Path(tempfile.mkdtemp(prefix="miaobi-export-"))
    prefix = export_static(generator, size, folder)
    threads = math_threads()
    if name == "paddle-jit":
        return PaddleJitBackend(prefix)
    if name == "paddle-inference":
        return PaddleInferenceBackend(prefix, use_gpu, threads)
    if name == "onnxruntime":
        return OnnxRuntimeBackend(prefix, use_gpu, threads)
    return OpenVinoBackend(prefix, use_gpu, threads)


@dataclass
class Trial:
    """What choosing a backend found out about one candidate (reported by /healthz and the benchmark)."""
    name: str
    ok: bool
    max_abs_error: float | None = None
    ms_per_probe: float | None = None
    reason: str = ""


def time_backend(backend, onehot_map: np.ndarray, z: np.ndarray, repeats: int = 3) -> float:
    """Best of ``repeats`` for one probe, in milliseconds (the first call is warm-up)."""
    backend(onehot_map[:1], z[:1])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        backend(onehot_map[:1], z[:1])
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def choose_backend(generator, size: int, use_gpu: bool, requested: str, folder: Path | None):
    """The fastest backend that matches ``paddle`` on the probes -> (backend, [Trial, ...]).

    ``requested="auto"`` tries all and falls back to ``paddle``; naming one
    backend makes its failure an error instead.
    """
    reference = PaddleBackend(generator)
    onehot_map, z = probe_inputs(generator.cfg.num_classes, size, generator.cfg.z_dim)
    expected = reference(onehot_map, z)
    names = BACKENDS if requested == "auto" else (requested,)
    trials, passed = [], []
    for name in names:
        try:
            backend = reference if name == "paddle" else build_backend(name, generator, size, use_gpu, folder)
            error = float(np.abs(backend(onehot_map, z) - expected).max())
        except Exception as failure:  # an unavailable or broken backend is a finding, not a crash
            if requested != "auto":
                raise RuntimeError(f"backend {name} could not run: {failure}") from failure
            trials.append(Trial(name, False, reason=f"{type(failure).__name__}: {failure}"[:300]))
            continue
        if error > PARITY_TOLERANCE:
            if requested != "auto":
                raise RuntimeError(f"backend {name} differs from paddle by {error:.3g} (> {PARITY_TOLERANCE})")
            trials.append(Trial(name, False, error, reason="output differs from paddle"))
            continue
        trial = Trial(name, True, error, time_backend(backend, onehot_map, z) if requested == "auto" else None)
        trials.append(trial)
        passed.append((trial, backend))
    _, best = min(passed, key=lambda pair: pair[0].ms_per_probe or 0.0)
    for trial in trials:
        log.info("backend %s: %s", trial.name, trial)
    return best, trials
