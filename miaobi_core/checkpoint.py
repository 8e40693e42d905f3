"""Inference checkpoints: a folder with ``generator.json`` (config + metadata) and ``generator.pdparams``.

The config travels with the weights (as in nanoGPT), so the trainer, the hub
module and the web app all rebuild the one network definition from the
checkpoint alone. Spectral norm only matters while training: saving folds
each ``weight_orig / sigma`` into a plain weight and records
``spectral_norm=False``, which makes inference cheaper and the file smaller.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import paddle

from .config import CONFIG_NAME, WEIGHTS_NAME
from .generator import GeneratorConfig, SPADEGenerator

FORMAT_VERSION = 1


def folded_state_dict(generator: SPADEGenerator) -> dict[str, paddle.Tensor]:
    """State dict with spectral norm folded in: ``x.weight_orig/_u/_v`` -> ``x.weight``."""
    state = generator.state_dict()
    folded = {}
    for key, value in state.items():
        if key.endswith(("weight_u", "weight_v")):
            continue
        if key.endswith("weight_orig"):
            prefix = key[: -len("weight_orig")]
            u, v = state[prefix + "weight_u"], state[prefix + "weight_v"]
            # The same arithmetic paddle's spectral-norm hook does in eval mode, so outputs match bit for bit.
            sigma = paddle.dot(u, paddle.mv(value.reshape([value.shape[0], -1]), v))
            folded[prefix + "weight"] = value / sigma
        else:
            folded[key] = value
    return folded


def cast_state(state: dict, source: str, target: str) -> dict:
    """``state`` (numpy arrays or paddle tensors) with every ``source`` weight (e.g. "float32") cast to ``target``:
    checkpoints and continuation states store float16 and every reader widens it again."""
    return {k: v.astype(target) if str(v.dtype).removeprefix("paddle.") == source else v for k, v in state.items()}


def save_generator(directory: str | Path, generator: SPADEGenerator, *, half: bool = False,
                   metadata: dict | None = None) -> Path:
    """Write an inference checkpoint; ``half`` stores float16 weights (half the bytes; ~1e-3 mean error)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = folded_state_dict(generator)
    if half:
        state = cast_state(state, "float32", "float16")
    config = dataclasses.replace(generator.cfg, spectral_norm=False)
    paddle.save(state, str(directory / WEIGHTS_NAME))
    (directory / CONFIG_NAME).write_text(json.dumps({
        "format": FORMAT_VERSION,
        "generator": config.to_dict(),
        "dtype": "float16" if half else "float32",
        "metadata": metadata or {},
    }, indent=2) + "\n", encoding="utf-8")
    return directory


def read_checkpoint_info(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no generator checkpoint at {directory} (missing {CONFIG_NAME})")
    info = json.loads(path.read_text(encoding="utf-8"))
    if info.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {info.get('format')}, this code reads {FORMAT_VERSION}")
    return info


def load_generator(directory: str | Path) -> SPADEGenerator:
    """Rebuild the generator a checkpoint describes and load its weights, in eval mode."""
    directory = Path(directory)
    info = read_checkpoint_info(directory)
    generator = SPADEGenerator(GeneratorConfig.from_dict(info["generator"]))
    state = paddle.load(str(directory / WEIGHTS_NAME), return_numpy=True)
    state = cast_state(state, "float16", "float32")
    missing, unexpected = generator.set_state_dict(state)
    if missing or unexpected:
        raise ValueError(f"checkpoint {directory} does not fit its config: missing {missing}, unexpected {unexpected}")
    generator.eval()
    return generator
