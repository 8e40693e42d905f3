"""Settings as dataclasses whose fields carry their own help: each default is stated once, here or in the
dataclass that owns it, and command lines are generated from the fields (as ``python -m train`` does).

``ServingOptions`` are how a process serves the model. The hub module takes them as keyword arguments
(``hub.Module(name="miaobi", backend="openvino")``, ``hub serving``'s ``init_args``), the web app as
flags (``--backend openvino``) and Flask config keys (``BACKEND``); importable without paddle.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from .backends import BACKENDS
from .variants import VARIANTS, resolve_variant

BACKEND_CHOICES = ("auto", *BACKENDS)

_TYPES = {"int": int, "float": float, "str": str, "str | None": str, "int | None": int}


def add_arguments(group, cls, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> None:
    """One ``--flag-name`` per field of ``cls`` (``only``: those named, in that order): booleans get ``--no-``
    forms, ``choices`` and ``env`` metadata (an environment variable that replaces the default) are honoured."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for f in (fields[name] for name in only) if only is not None else fields.values():
        if f.name in skip:
            continue
        options = {"default": default_of(f), "help": f.metadata["help"]}
        if "env" in f.metadata:
            options["help"] += f"; ${f.metadata['env']} replaces the default when set"
        if f.type in (bool, "bool"):
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = _TYPES[f.type if isinstance(f.type, str) else f.type.__name__]
            if "choices" in f.metadata:
                options["choices"] = f.metadata["choices"]
        group.add_argument("--" + f.name.replace("_", "-"), **options)


def default_of(f: dataclasses.Field):
    """A field's default, or the environment variable its metadata names when that is set."""
    return os.environ.get(f.metadata["env"], f.default) if "env" in f.metadata else f.default


def pick(cls, values: dict):
    """``cls`` built from the entries of ``values`` named like its fields (an argparse namespace's ``vars``)."""
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


@dataclass(frozen=True)
class ServingOptions:
    """How the model is served, by the hub module (and so ``hub serving``) and the web app."""

    use_gpu: bool = field(default=False, metadata={"help": "run the model on the GPU (an error if paddle sees none)"})
    variant: str = field(default="auto", metadata={
        "choices": VARIANTS, "help": "which generator: full, or the student distilled from the previous full model "
                                     "(4.7x fewer GFLOPs, its older look); auto: full"})
    backend: str = field(default="auto", metadata={
        "choices": BACKEND_CHOICES, "help": "how to run the model; auto picks the fastest one whose pictures "
                                            "match paddle's (miaobi_core/backends.py)"})
    micro_batch: bool = field(default=True, metadata={"help": "let concurrent predictions share forward passes"})
    batch_wait_ms: float = field(default=0.0, metadata={
        "help": "how long a micro-batched forward pass waits for company (0: only requests already queued join)"})
    timeout_s: float = field(default=60.0, metadata={
        "help": "seconds a picture may wait and take before it fails as timed out (503 on the web)"})
    max_wait_s: float = field(default=2.0, metadata={
        "help": "a server takes a prediction while the pictures ahead of it should be painted within this many "
                "seconds (judged by its recent pictures); beyond that it answers 429 at once "
                "(miaobi_core/admission.py)"})
    upscale: bool = field(default=True, metadata={
        "help": "enlarge pictures above the model's size with the learned upscalers (x2 up to twice, x4 "
                "beyond); off: Lanczos only"})
    upscalers: str = field(default="", metadata={
        "help": "a folder of upscaler folders (each with its upscaler.json) to enlarge with instead of the "
                "module's own (empty: the module's); bench.upscale serves the students' teachers this way"})

    def __post_init__(self):  # a misspelt variant fails here, before anything loads (a backend: when it loads)
        resolve_variant(self.variant)
        if self.timeout_s <= 0 or self.batch_wait_ms < 0 or self.max_wait_s <= 0:
            raise ValueError("timeout_s and max_wait_s must be > 0, and batch_wait_ms >= 0")


# How tools run a model (train.quality, train.styles, the benches, the tests): every picture in the caller's own
# thread, any number in one call (micro-batching queues at most 32 and refuses the rest), enlarged by Lanczos.
# Servers pass their ServingOptions instead; the Synthesizer takes either, field by field.
OFFLINE = ServingOptions(micro_batch=False, upscale=False)
