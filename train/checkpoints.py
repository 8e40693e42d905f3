"""A run's state between steps: writing and reading checkpoints (weights, optimizer moments under portable
keys, step), and stopping cleanly between steps on Ctrl-C or SIGTERM. The trainer says what a checkpoint
holds (its parts); this module says how it is kept."""
from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import paddle

from . import files


def write_checkpoint(folder: Path, parts: list, state: dict) -> None:
    """``parts``: (weights file, layer, (optimizer file, optimizer) or None); a weights file None for a second
    optimizer of a layer another part saves. Written to a temporary folder and swapped in, so a crash mid-write
    leaves the previous checkpoint whole."""
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for weights_file, layer, optimizer in parts:
        if weights_file is not None:
            paddle.save(layer.state_dict(), str(tmp / weights_file))
        if optimizer is not None:
            paddle.save(portable_optimizer_state(optimizer[1], layer), str(tmp / optimizer[0]))
    (tmp / files.STATE).write_text(json.dumps(state))
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def read_checkpoint(folder: Path, parts: list) -> dict:
    """Load every part from ``folder``; returns its state (step, ...)."""
    folder = Path(folder)
    if not (folder / files.STATE).is_file():
        raise FileNotFoundError(f"no checkpoint in {folder}")
    for weights_file, layer, optimizer in parts:
        for name in (weights_file, optimizer and optimizer[0]):
            if name is not None and not (folder / name).is_file():
                raise FileNotFoundError(f"{folder} has no {name}: it was saved by a run with other settings")
        if weights_file is not None:
            layer.set_state_dict(paddle.load(str(folder / weights_file)))
        if optimizer is not None:
            optimizer[1].set_state_dict(local_optimizer_state(paddle.load(str(folder / optimizer[0])), layer))
    return json.loads((folder / files.STATE).read_text())


def portable_optimizer_state(optimizer, layer) -> dict:
    """Optimizer state keyed by structured parameter names ("up_0.conv_0.weight_orig|_moment1_0").

    Paddle keys moments by auto-generated tensor names ("conv2d_904.w_0") that
    depend on how many layers the process built before, so they differ
    between the run that saved and the run that resumes.
    """
    by_tensor_name = sorted(((p.name, name) for name, p in layer.named_parameters()), key=lambda x: -len(x[0]))
    portable = {}
    for key, value in optimizer.state_dict().items():
        for tensor_name, name in by_tensor_name:
            if key.startswith(tensor_name + "_"):
                key = name + "|" + key[len(tensor_name):]
                break
        portable[key] = value
    return portable


def local_optimizer_state(portable: dict, layer) -> dict:
    tensor_names = {name: p.name for name, p in layer.named_parameters()}
    local = {}
    for key, value in portable.items():
        if "|" in key:
            name, suffix = key.split("|", 1)
            key = tensor_names[name] + suffix
        local[key] = value
    return local


class StopRequest:
    """Ctrl-C / SIGTERM set a flag; the loop finishes its step, saves a checkpoint and stops.

    Stopping between steps (never inside one) is what keeps resumption exact.
    """

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._request)
        return self

    def _request(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
