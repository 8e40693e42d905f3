"""Learned enlargement: pictures above the generator's own size are painted at that size, then enlarged.

A fully-convolutional GAN run at a larger size paints its textures at the wrong
scale, and Lanczos only blurs the pixels it has; a photo super-resolution network
invents plausible detail (edges, foliage, water sparkle) instead. The networks run
in ncnn on the CPU, in 0.04-0.1 s for a 128 px picture here (docs/performance.md,
"Upscaler"). Each one lives in a folder with ``upscaler.json`` describing it, so
the bench can try any of them with the same code that serves the shipped ones.

Two ship, each where it measured best: waifu2x photo x2 up to twice the model's size
(the best 2x restoration, 2.5x cheaper), Real-ESRGAN general x4 v3 beyond (the only
one that beat Lanczos at 4x).
"""
from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .cores import CoreTokens
from .runtime import math_threads

SPEC_NAME = "upscaler.json"


@dataclass(frozen=True)
class UpscalerSpec:
    """What ``upscaler.json`` says about a network: its files, blobs, factor and input padding."""

    name: str
    param: str  # the ncnn graph, relative to the folder
    model: str  # the ncnn weights
    factor: int  # output side / input side
    input_blob: str
    output_blob: str
    reflect_pad: int = 0  # pixels of mirror padding the network's unpadded convolutions eat

    @classmethod
    def read(cls, folder: Path) -> "UpscalerSpec":
        path = Path(folder) / SPEC_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no {SPEC_NAME} in {folder}: not an upscaler folder")
        return cls(**json.loads(path.read_text()))


@functools.cache
def _ncnn_thread() -> ThreadPoolExecutor:
    """The one thread every ncnn network runs on (made at the first picture, not at import)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ncnn")


class Upscaler:
    """An ncnn super-resolution network: uint8 RGB (H, W, 3) -> uint8 RGB (factor*H, factor*W, 3).

    Calls run one at a time on one thread that every upscaler shares (:func:`_ncnn_thread`): ncnn already
    spreads one picture over the process's cores, and two pictures at once would only fight over them. The
    one thread matters too: OpenMP keeps a team of workers per calling thread, and a server's request threads
    each woke their own (256 px pictures, one waitress process: 57 ms per request with 8 threads against
    41 ms with 1, measured here). Under the web app's supervisor a picture runs on every core no other
    worker is using (:mod:`miaobi_core.cores`).
    """

    def __init__(self, folder: str | Path, spec: UpscalerSpec | None = None):
        # ncnn's OpenMP threads spin while they wait by default: with two server processes on two cores, each
        # upscaling, the spinning took 4x the time (measured: 0.73 pictures/s each against 5 with passive
        # waiting, and no cost to one alone). Read when ncnn's OpenMP runtime starts, i.e. at this import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import ncnn  # imported here: only servers that enlarge pictures need it

        self._ncnn = ncnn
        self.folder = Path(folder)
        self.spec = spec or UpscalerSpec.read(self.folder)
        # With the supervisor's core tokens (miaobi_core/cores.py) a picture runs on as many threads as cores
        # are free, else on this process's share. One network per thread count, loaded when first needed:
        # ncnn fixes its Winograd kernels' threads when a network loads.
        self._tokens = CoreTokens.from_env()
        self._nets = {}
        self._net(math_threads())

    def _net(self, threads: int):
        if threads not in self._nets:
            net = self._ncnn.Net()
            net.opt.num_threads = threads
            for load, name in ((net.load_param, self.spec.param), (net.load_model, self.spec.model)):
                if load(str(self.folder / name)) != 0:
                    raise RuntimeError(f"ncnn could not load {self.folder / name}")
            self._nets[threads] = net
        return self._nets[threads]

    @property
    def factor(self) -> int:
        return self.spec.factor

    def __call__(self, picture: np.ndarray) -> np.ndarray:
        picture = np.asarray(picture)
        if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
            raise ValueError(f"the upscaler takes uint8 RGB pictures (H, W, 3), got {picture.dtype} {picture.shape}")
        pad = self.spec.reflect_pad
        if pad:
            picture = np.pad(picture, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        height, width = picture.shape[:2]
        ncnn = self._ncnn
        mat = ncnn.Mat.from_pixels(np.ascontiguousarray(picture), ncnn.Mat.PixelType.PIXEL_RGB, width, height)
        mat.substract_mean_normalize([0.0, 0.0, 0.0], [1 / 255.0] * 3)  # the networks take RGB in [0, 1]
        status, out = _ncnn_thread().submit(self._extract, mat).result()
        if status != 0:
            raise RuntimeError(f"ncnn failed running {self.spec.name} (status {status})")
        return np.clip(np.asarray(out).transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def _extract(self, mat):
        if self._tokens is None:
            return self._run(self._net(math_threads()), mat)
        with self._tokens.take() as cores:
            return self._run(self._net(cores), mat)

    def _run(self, net, mat):
        extractor = net.create_extractor()
        extractor.input(self.spec.input_blob, mat)
        return extractor.extract(self.spec.output_blob)


class Upscalers:
    """The networks in the subfolders of ``folder`` (each with its ``upscaler.json``), by factor."""

    def __init__(self, folder: str | Path):
        folders = sorted(p.parent for p in Path(folder).glob(f"*/{SPEC_NAME}"))
        if not folders:
            raise FileNotFoundError(f"no */{SPEC_NAME} in {folder}: no upscalers there")
        self.by_factor = {u.factor: u for u in (Upscaler(f) for f in folders)}

    @property
    def names(self) -> list[str]:
        return [self.by_factor[f].spec.name for f in sorted(self.by_factor)]

    def pick(self, scale: float) -> Upscaler:
        """The smallest network that enlarges at least ``scale`` times, else the largest."""
        fitting = [f for f in sorted(self.by_factor) if f >= scale]
        return self.by_factor[fitting[0] if fitting else max(self.by_factor)]


def enlarge(picture: np.ndarray, height: int, width: int, upscalers: Upscalers | None) -> np.ndarray:
    """A picture at (height, width): one network pass when either side grows, Lanczos does the rest.

    For a 128 px generator: 129-256 px take the x2 network, 257-512 the x4 one (512 is its own
    output), 1024 is that doubled by Lanczos (a second learned pass would cost 4x the time for
    detail it invents), and anything at or below 128 is Lanczos only.
    """
    if picture.shape[:2] == (height, width):
        return picture
    scale = max(height / picture.shape[0], width / picture.shape[1])
    if upscalers is not None and scale > 1:
        picture = upscalers.pick(scale)(picture)
        if picture.shape[:2] == (height, width):
            return picture
    return np.asarray(Image.fromarray(picture).resize((width, height), Image.LANCZOS))
