"""Inference: label maps -> landscapes, with one loaded generator per process.

The hub module and the web app both go through :class:`Synthesizer`, so
device choice, size handling, seeds and thread safety are defined once.
"""
from __future__ import annotations

import dataclasses
import functools

import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Sequence

import numpy as np
import paddle
from PIL import Image

from .animation import path_codes
from .api import Busy, TimedOut
from .backends import PaddleBackend, choose_backend, export_folder
from .checkpoint import load_generator, read_checkpoint_info
from .codec import InputError, check_label_map, onehot, pictures_from_unit, pictures_to_unit
from .options import OFFLINE
from .palette import Palette, load_palette
from .photo import cover
from .styles import StyleBook
from .sun import Sun, add_sun
from .upscale import Upscalers, enlarge

log = logging.getLogger(__name__)


def select_device(use_gpu: bool) -> str:
    """'gpu:0' or 'cpu'; asking for a GPU that paddle cannot see is an error, never a silent CPU run."""
    if not use_gpu:
        return "cpu"
    if not paddle.device.is_compiled_with_cuda():
        raise RuntimeError("use_gpu was requested, but this paddlepaddle build has no CUDA support; "
                           "install paddlepaddle-gpu or run without use_gpu")
    if paddle.device.cuda.device_count() < 1:
        raise RuntimeError("use_gpu was requested, but paddle sees no GPU (check CUDA_VISIBLE_DEVICES and drivers)")
    return "gpu:0"


def style_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The style vector for a seed: the same seed always gives the same picture, whatever the batch."""
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed}")
    return np.random.default_rng(int(seed)).standard_normal(z_dim).astype(np.float32)


class MicroBatcher:
    """Merges the forward passes that concurrent threads ask for into batches.

    A worker thread takes the first waiting item, lets others join for at most
    ``max_wait_s`` (or until ``max_batch``), runs them as one batch and hands
    each caller its own result. At most ``max_queue`` items wait; beyond that
    ``submit`` raises :class:`Busy` at once instead of letting work pile up.
    """

    def __init__(self, run_batch, max_batch: int, max_wait_s: float, max_queue: int):
        self._run_batch, self.max_batch, self.max_wait_s = run_batch, max_batch, max_wait_s
        self._queue = queue.Queue(max_queue)
        threading.Thread(target=self._serve, name="miaobi-batcher", daemon=True).start()

    def submit(self, item) -> Future:
        future = Future()
        try:
            self._queue.put_nowait((item, future))
        except queue.Full:
            raise Busy() from None
        return future

    def _serve(self):
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            # Callers that gave up (timed out) cancelled their futures; the rest are marked running.
            batch = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                results = self._run_batch([item for item, _ in batch])
            except Exception as error:  # handed to every caller in the batch; the worker lives on
                for _, future in batch:
                    future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results):
                future.set_result(result)


class Synthesizer:
    """Loads a checkpoint once; ``generate`` is safe to call from several threads.

    Paddle's current device is process-wide, so every forward pass sets it
    under one process-wide lock: a CPU and a GPU synthesizer can then live side
    by side (PaddleHub's GPU workers load the module on the CPU first).
    """

    _lock = threading.Lock()

    def _use_device(self):
        """Called under the lock: our device, and dygraph mode (``hub run`` switches paddle to static mode)."""
        paddle.disable_static()
        paddle.set_device(self.device)

    def __init__(self, checkpoint_dir: str | Path, *, max_batch: int = 4, max_queue: int = 32, **options):
        """``options``: fields of :class:`ServingOptions` (use_gpu, backend, micro_batch, batch_wait_ms,
        timeout_s, upscale, upscalers), each defaulting to :data:`OFFLINE`'s, a tool's way of running a model;
        servers pass all of theirs. ``upscale`` needs ``upscalers``, the folder of upscaler folders."""
        self.options = dataclasses.replace(OFFLINE, **options)
        use_gpu, backend = self.options.use_gpu, self.options.backend
        if self.options.upscale and not self.options.upscalers:
            raise ValueError("upscale needs upscalers: the folder of upscaler folders to enlarge with")
        self.device = select_device(use_gpu)
        self.info = read_checkpoint_info(checkpoint_dir)
        # The size the model was trained at: other sizes are generated here and resized,
        # because a fully-convolutional GAN run at another scale paints textures at the wrong size.
        size = self.info.get("metadata", {}).get("image_size")
        if not size:  # no guess: a guessed size paints every texture at the wrong scale
            raise ValueError(f"{checkpoint_dir}: its generator.json does not say the size the model was trained at "
                             "(metadata.image_size; python -m train.export writes it)")
        self.native_size = int(size)
        with self._lock:
            self._use_device()
            self.generator = load_generator(checkpoint_dir)
            # backend: "auto" picks the fastest one that matches paddle on real label maps (see backends.py).
            folder = None if backend == "paddle" else export_folder(Path(checkpoint_dir), self.native_size)
            self.backend, self.backend_trials = choose_backend(self.generator, self.native_size, use_gpu, backend,
                                                               folder)
            self._reference = PaddleBackend(self.generator)
        self.cfg = self.generator.cfg
        self.styles = StyleBook(checkpoint_dir, self.cfg.z_dim)
        # upscale: pictures asked for above native_size are painted at it and enlarged by the network of the
        # upscalers folder that fits (miaobi_core/upscale.py). Off: Lanczos only.
        self.upscalers = Upscalers(self.options.upscalers) if self.options.upscale else None
        # max_batch 4: each backend keeps buffers for the largest batch it has run. Measured with bench.soak (40
        # clients at 512 px, docs/reliability.md): batches of up to 8 grew a served web app by 300 MB, up to 4
        # by 39 MB, at the same pictures a second.
        self.max_batch = max_batch
        self.timeout_s = self.options.timeout_s  # micro-batched pictures: a caller gives up waiting after this long
        # micro_batch: pictures asked for by concurrent threads share forward passes. With no wait,
        # requests that queue up while a batch runs form the next one, so a lone request is not delayed.
        self._batcher = (MicroBatcher(self._forward_items, max_batch, self.options.batch_wait_ms / 1000.0, max_queue)
                         if self.options.micro_batch else None)

    @property
    def num_classes(self) -> int:
        return self.cfg.num_classes

    @functools.cached_property
    def palette(self) -> Palette:
        """The palette's first classes: those this model was trained with and paints."""
        return load_palette().first(self.num_classes)

    def generate(self, label_maps: Sequence[np.ndarray], seeds: Sequence[int] | None = None,
                 styles: Sequence[np.ndarray] | None = None, size: int | None = None,
                 style: str | None = None, upscale: bool = True, sun: Sun | None = None,
                 style_code: np.ndarray | None = None, shape: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Class-id maps (H, W) -> uint8 RGB pictures: size x size, or ``shape`` (height, width), or each map's
        own shape if neither. A wide shape is painted wide (:meth:`native_shape`), the map fitted to it.

        ``sun``: a sun drawn on every picture's sky (miaobi_core/sun.py), at the model's own size before the
        picture is enlarged, so the upscaler draws its rim and it costs the same at every size.

        ``upscale=False`` enlarges by Lanczos even when the synthesizer has an upscaler (a busy server's
        cheaper answer).

        Each picture's z is ``styles[i]`` (a z vector) if given, else drawn from ``seeds[i]``: around
        the named look ``style`` (one of ``self.styles.names``) or the code ``style_code`` (a photo's,
        :meth:`style_of_photo`) when one is asked for, else from the Gaussian of the training photos'
        style codes (N(0, 1) for a model without one).
        """
        label_maps = [check_label_map(m, self.num_classes) for m in label_maps]
        if not label_maps:
            raise ValueError("no label maps given")
        count = len(label_maps)
        if styles is None:
            seeds = [0] * count if seeds is None else list(seeds)
            if len(seeds) != count:
                raise ValueError(f"{count} label maps but {len(seeds)} seeds")
            noises = [style_from_seed(s, self.cfg.z_dim) for s in seeds]
            if style is not None:
                styles = [self.styles.vector(style, noise) for noise in noises]
            elif style_code is not None:
                styles = [self.styles.around(np.asarray(style_code, np.float32), noise) for noise in noises]
            else:
                styles = [self.styles.seed_vector(noise) for noise in noises]
        styles = [np.asarray(s, np.float32).reshape(-1) for s in styles]
        if len(styles) != count or any(s.shape != (self.cfg.z_dim,) for s in styles):
            raise ValueError(f"need {count} style vectors of length {self.cfg.z_dim}")

        shapes = [(size, size) if size else shape or m.shape for m in label_maps]
        items = [(self._to_native(m, out), z) for m, out, z in zip(label_maps, shapes, styles)]
        if self._batcher is not None:
            futures = [self._batcher.submit(item) for item in items]
            try:
                pictures = [future.result(timeout=self.timeout_s) for future in futures]
            except TimeoutError:
                for future in futures:
                    future.cancel()  # still queued: the batcher skips it
                raise TimedOut() from None
        else:
            pictures = [p for start in range(0, count, self.max_batch)
                        for p in self._forward_items(items[start:start + self.max_batch])]
        if sun is not None:
            sky = [self.palette.id_of("sky"), self.palette.id_of("cloud")]
            pictures = [add_sun(p, m, sky, sun) for p, m in zip(pictures, label_maps)]
        upscalers = self.upscalers if upscale else None
        return [enlarge(p, *out, upscalers) for p, out in zip(pictures, shapes)]

    def native_shape(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) a map of this shape is painted at: the model's own size on the short side, and on
        the long side the nearest multiple of the generator's smallest map (ngf x 2^5 px: 32 at 128) up to 2x.
        The network is fully convolutional, so a wide picture is painted wide, not stretched from a square."""
        side, step = self.native_size, self.native_size // 4
        if height == width:
            return side, side
        long = int(np.clip(round(side * max(height, width) / min(height, width) / step) * step, side, 2 * side))
        return (side, long) if width > height else (long, side)

    def _to_native(self, label_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The map fitted to the native shape of a picture of ``shape`` (height, width)."""
        shape = self.native_shape(*shape)
        if label_map.shape == shape:
            return label_map
        # Nearest keeps labels labels (a map whose aspect falls between the steps is stretched a little).
        return np.asarray(Image.fromarray(label_map).resize(shape[::-1], Image.NEAREST))

    def _forward_items(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """(native-shape label map, z) pairs -> pictures, in order: one forward pass for each shape among them."""
        pictures = [None] * len(items)
        for shape in dict.fromkeys(label_map.shape for label_map, _ in items):
            where = [k for k, (label_map, _) in enumerate(items) if label_map.shape == shape]
            for k, picture in zip(where, self._forward([items[k] for k in where])):
                pictures[k] = picture
        return pictures

    def _forward(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """One forward pass for (label map, z) pairs of one shape. The exported backends are traced for the square
        native size; other shapes (wide pictures) run in the reference network."""
        onehot_map = onehot(np.stack([i for i, _ in items]), self.num_classes)
        z = np.stack([z for _, z in items])
        square = onehot_map.shape[2:] == (self.native_size, self.native_size)
        with self._lock:
            self._use_device()
            if not square:
                return list(pictures_from_unit(self._reference(onehot_map, z)))
            try:
                image = self.backend(onehot_map, z)
            except Exception:
                if isinstance(self.backend, PaddleBackend):
                    raise
                # An exported backend that passed its parity check should not fail; if it does,
                # this process falls back to the reference network for good rather than erroring on.
                log.exception("backend %s failed; falling back to paddle", self.backend.name)
                self.backend = self._reference
                image = self.backend(onehot_map, z)
        return list(pictures_from_unit(image))

    def animate(self, label_map: np.ndarray, path: str, seed: int, size: int | None = None, upscale: bool = True,
                sun: Sun | None = None, shape: tuple[int, int] | None = None) -> list[np.ndarray]:
        """The drawing through a path of looks (miaobi_core/animation.py), one seed: its frames, in order."""
        codes = path_codes(self.styles, path, style_from_seed(seed, self.cfg.z_dim))
        return self.generate([label_map] * len(codes), styles=codes, size=size, upscale=upscale, sun=sun,
                             shape=shape)

    def style_of_photo(self, photo: np.ndarray) -> np.ndarray:
        """A photo's (H, W, 3 uint8) style code, (z_dim,): the encoder's mean code of its centre square. A model
        without the style encoder has none."""
        if self.generator.encoder is None:
            raise InputError("This model has no style encoder, so it cannot take a style from a photo.")
        return self.encode_styles([cover(photo, self.native_size, self.native_size)])[0][0]

    def encode_styles(self, photos: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Photos (H, W, 3 uint8) -> the encoder's (mu, logvar) of their style codes, each (N, z_dim);
        needs a use_vae model."""
        side = self.native_size
        photos = np.stack([np.asarray(Image.fromarray(np.asarray(p, np.uint8)).convert("RGB").resize(
            (side, side), Image.BICUBIC), np.float32) for p in photos])
        with self._lock, paddle.no_grad():
            self._use_device()
            mu, logvar = self.generator.encode(paddle.to_tensor(pictures_to_unit(photos)))
        return mu.numpy(), logvar.numpy()
