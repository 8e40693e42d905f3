"""PaddleHub module ``miaobi``: children's colour doodles -> landscape pictures (SPADE / GauGAN).

PaddleHub imports this folder as the package ``miaobi``; the network, palette,
codec and inference code live in the ``miaobi_core`` library (installed with
the project, or vendored in the module archive), so this file only adapts them
to PaddleHub's three faces:
the Python API (``generate``), the CLI (``hub run miaobi``) and serving
(``hub serving start -m miaobi`` -> ``POST /predict/miaobi``).
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import functools
import os
import sys
import threading
from pathlib import Path

# A module archive (`make hub-package`) carries the library it was built with in vendor/; it goes first on
# the import path. In the repository there is no vendor/: the library is installed by `make setup`.
_VENDOR = Path(__file__).with_name("vendor")
if _VENDOR.is_dir() and str(_VENDOR) not in sys.path:
    sys.path.insert(0, str(_VENDOR))

import numpy as np
import paddle
from paddlehub.module.module import moduleinfo, runnable, serving
from PIL import Image

from miaobi_core import api
from miaobi_core.ade20k import FILE as ADE20K_FILE
from miaobi_core.ade20k import ADE20KSegmenter
from miaobi_core.admission import Admission
from miaobi_core.animation import FRAMES, encode_webp, parse_animation
from miaobi_core.codec import (CodecLimits, InputError, check_label_map, decode_drawing, encode_picture,
                               encode_png, png_to_b64, png_to_rgba, snap_to_palette)
from miaobi_core.labelling import PHOTO_SIDE, SCENES_FILE, SceneModel, drawing_from_photo
from miaobi_core.options import ServingOptions
from miaobi_core.photo import decode_photo, photo_from_bytes
from miaobi_core.sun import Sun, parse_sun
from miaobi_core.runtime import math_threads
from miaobi_core.synthesizer import Synthesizer
from miaobi_core.variants import FOLDERS, UPSCALER_FOLDER, resolve_variant


DRAWING_FOLDER = "drawing"  # the ADE20K segmenter and the scene classifier a photo's drawing is made with

def _read(path) -> bytes:
    """A file a caller named (a drawing's PNG, a photo), or a clear error."""
    if not Path(path).is_file():
        raise InputError(f"No file at {path}.")
    return Path(path).read_bytes()


_refused = threading.local()  # set by serving_method on the thread whose request it turned away (Busy)


def _serve_concurrently_under_hub_serving() -> None:
    """Make ``hub serving start`` admit requests as the web app does, and answer HTTP 429 to the refused.

    PaddleHub 2.4.0 runs its Flask app single-threaded and answers every error with HTTP 200: each request
    waits its turn unseen in the socket's queue, so no wait was ever too long (40 clients: p50 5.3 s). Under
    it (only ``hub serving`` imports ``paddlehub.serving.app_compat``, and before it builds its modules),
    its app is made threaded, so every request reaches :meth:`Miaobi.serving_method` at once to be admitted
    by expected wait, and the reply to a refused one gets status 429 and Retry-After (its body stays
    PaddleHub's, with the API's message). Both wrap PaddleHub's own functions, looked up at call time."""
    app_compat = sys.modules.get("paddlehub.serving.app_compat")
    if app_compat is None or getattr(app_compat, "miaobi_serves_concurrently", False):
        return
    create_app, predict_v2 = app_compat.create_app, app_compat.predict_v2

    def threaded_app(*args, **kwargs):
        app = create_app(*args, **kwargs)
        app.run = functools.partial(lambda run, *a, **k: run(*a, **{**k, "threaded": True}), app.run)
        return app

    def predict_with_status(module_info, inputs):
        _refused.busy = False
        result = predict_v2(module_info, inputs)
        return (result, 429, {"Retry-After": "1"}) if _refused.busy else result

    app_compat.create_app, app_compat.predict_v2 = threaded_app, predict_with_status
    app_compat.miaobi_serves_concurrently = True


@moduleinfo(
    name="miaobi",
    version="1.7.0",
    summary="Turns a child's palette-colour doodle (sky, mountain, lake, trees ...) into a landscape picture.",
    author="Miaobi team",
    author_email="",
    type="image/gan",
)
class Miaobi(paddle.nn.Layer):
    # A paddle.nn.Layer, because PaddleHub runs every method of other modules in static-graph
    # mode and leaves static mode switched on when a method raises (e.g. for a bad drawing).
    def __init__(self, **options):
        """Keyword arguments: the fields of miaobi_core.options.ServingOptions (use_gpu, variant, backend,
        micro_batch, batch_wait_ms, timeout_s, max_wait_s, upscale, upscalers), each defaulted there."""
        super(Miaobi, self).__init__()  # the name, not bare super(): @moduleinfo rebuilds the class
        self.options = ServingOptions(**options)  # a misspelt setting fails here, before any loading
        self.limits = CodecLimits()
        # Load now: a broken install fails at start-up, not on the first child. The model paints the palette's
        # first classes, those it was trained with (an older model keeps working when a class is added).
        self.synthesizer = self._load(self.options)
        self.palette = self.synthesizer.palette
        self.admission = Admission(self.options.max_wait_s)  # for serving_method; the Python API waits its turn
        self._moving = threading.Lock()  # hub serving's threads may all ask for the GPU with their first request
        self._labelling = threading.Lock()  # one segmenter, made on first use: LiteRT runs one photo at a time
        self._segmenter = self._scenes = None
        _serve_concurrently_under_hub_serving()

    def _load(self, options: ServingOptions) -> Synthesizer:
        folder = Path(__file__).parent
        # backend "auto": the fastest of the backends that matches paddle's pictures (miaobi_core/backends.py);
        # the first start converts, later ones reuse. upscale: sizes above the model's own are enlarged by
        # the learned upscalers, the module's own unless options name others.
        options = dataclasses.replace(options, upscalers=options.upscalers or str(folder / UPSCALER_FOLDER))
        return Synthesizer(folder / FOLDERS[resolve_variant(options.variant)], **dataclasses.asdict(options))

    def _on(self, use_gpu: bool | None) -> Synthesizer:
        """The model's synthesizer, first moved to the GPU (or the CPU) when a caller asks for it: ``hub run
        --use_gpu``, and ``hub serving --use_gpu``, whose GPU worker passes use_gpu=True with every request to
        a module it built without it. The device belongs to the model: it moves once, for every later call,
        and nothing is left on the device it left (without a GPU, it stays where it was and says why)."""
        with self._moving:
            if use_gpu is not None and use_gpu != self.options.use_gpu:
                options = dataclasses.replace(self.options, use_gpu=use_gpu)
                self.synthesizer = self._load(options)  # if this raises, the model stays where it was
                self.options = options
            return self.synthesizer

    def describe(self) -> dict:
        """What is serving: which generator (its training steps, size), the upscaler, and the backend chosen (with every trial)."""
        synthesizer = self.synthesizer
        return {"variant": resolve_variant(self.options.variant), "device": synthesizer.device,
                "steps": synthesizer.info.get("metadata", {}).get("steps"), "native_size": synthesizer.native_size,
                "backend": synthesizer.backend.name,
                "upscalers": synthesizer.upscalers.names if synthesizer.upscalers else [],
                "backend_trials": [dataclasses.asdict(t) for t in synthesizer.backend_trials]}

    def styles(self) -> list[dict]:
        """The named looks this model offers: name, label and a base64 PNG thumbnail each (empty without styles.json)."""
        return [{"name": s.name, "label": s.label,
                 "thumbnail": base64.b64encode(s.thumbnail.read_bytes()).decode() if s.thumbnail else None}
                for s in self.synthesizer.styles.styles.values()]

    def style_names(self) -> list[str]:
        """The names ``style=`` takes (cheap: no thumbnails)."""
        return self.synthesizer.styles.names

    def _to_label_map(self, item) -> np.ndarray:
        """A label map (class ids), a palette-coloured RGB(A) drawing, or a path to a PNG -> a label map."""
        if isinstance(item, (str, os.PathLike)):
            return snap_to_palette(png_to_rgba(_read(item), self.limits), self.palette, self.limits).label_map
        array = np.asarray(item)
        if array.ndim == 2:
            return check_label_map(array, self.palette.num_classes)
        if array.ndim == 3 and array.shape[2] in (3, 4):
            return snap_to_palette(array.astype(np.uint8) if array.dtype != np.uint8 else array,
                                   self.palette, self.limits).label_map
        raise InputError(f"A label map must be (H, W) class ids, (H, W, 3|4) colours or a PNG path, got {array.shape}.")

    def drawing_from_photo(self, photo, width: int = api.DRAWING_SIDE, height: int = api.DRAWING_SIDE) -> np.ndarray:
        """A photo (RGB array or JPEG/PNG path) -> a drawing of it to edit: (height, width) class ids of the
        classes this model paints, labelled as its training photos were (miaobi_core/labelling.py: the ADE20K
        segmenter shipped in ``drawing/``, its scene classifier and the colour rules). ``palette.colorize`` shows
        it; ``generate`` paints it."""
        width, height = api.parse_shape(width, height)
        with self._labelling:
            if self._segmenter is None:  # made on first use: most servers never turn a photo into a drawing
                folder = Path(__file__).parent / DRAWING_FOLDER
                self._segmenter = ADE20KSegmenter(folder / Path(ADE20K_FILE).name, threads=math_threads())
                self._scenes = SceneModel.load(folder / SCENES_FILE)
            return drawing_from_photo(self._to_photo(photo, PHOTO_SIDE), self._segmenter, self._scenes,
                                      self.palette, width, height)

    def _to_photo(self, photo, side: int) -> np.ndarray:
        """An (H, W, 3|4) uint8 RGB(A) array or a path to a JPEG or PNG -> an upright (H, W, 3) RGB array (a file
        decoded with its short side at least ``side`` where it has that many pixels)."""
        if isinstance(photo, (str, os.PathLike)):
            return photo_from_bytes(_read(photo), side)
        array = np.asarray(photo)
        if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
            raise InputError(f"A photo must be an (H, W, 3) uint8 RGB array or a JPEG/PNG path, got "
                             f"{array.dtype} {array.shape}.")
        return array[..., :3]

    def generate(self, label_maps: list, seed=None, style=None, size: int | None = None,
                 output_dir: str | None = None, use_gpu: bool | None = None, upscale: bool = True,
                 sun: Sun | dict | None = None, style_photo=None, width: int | None = None,
                 height: int | None = None) -> list[np.ndarray]:
        """Label maps -> RGB landscapes (uint8 arrays), in order.

        Args:
            label_maps: class-id arrays (H, W), palette-coloured RGB arrays (H, W, 3) or PNG file paths.
            seed: int for all pictures, list of ints (one each), or None for random ones.
            style: a look by name (see ``styles()``), varied by the seed; or, instead of seeds, a z
                vector (or one per picture) of the model's z_dim.
            size: square output side in pixels; None keeps each map's own size.
            width, height: instead of size, the pictures' shape (64-1024 px each, at most 2:1 either way): a wide
                picture is painted wide, the map fitted to it.
            output_dir: if given, also write miaobi_<i>.png files there.
            use_gpu: None paints on the module's device (its ``use_gpu`` option); True or False moves the
                model there first, for this and every later call (fails clearly if paddle sees no GPU).
            upscale: False enlarges by Lanczos for this call even when the module has its upscaler on.
            sun: ``{"x": 0..1, "y": 0..1, "radius": 0.02..0.25}`` (of the width, height, short side): a sun drawn there on
                the sky of every picture, with its glow (miaobi_core/sun.py).
            style_photo: instead of a look, a photo (RGB array or JPEG/PNG path) whose light and weather the
                pictures take: the style encoder's code of it, varied by the seed as a look is.
        """
        if not isinstance(label_maps, (list, tuple)) or not label_maps:
            raise InputError("label_maps must be a non-empty list.")
        label_maps = [self._to_label_map(m) for m in label_maps]
        styles, name = None, style if isinstance(style, str) else None
        if style is not None and name is None:
            array = np.asarray(style, np.float32)
            styles = list(array) if array.ndim == 2 else [array] * len(label_maps)
        if style_photo is not None and style is not None:
            raise InputError("Give a look as style or a photo as style_photo, not both.")
        size, shape = api.parse_picture_size(size, width, height)
        seeds = None if styles is not None else api.parse_seeds(seed, len(label_maps))
        sun = sun if isinstance(sun, Sun) else parse_sun(sun)  # parse_sun(None) is None
        synthesizer = self._on(use_gpu)
        code = None if style_photo is None else synthesizer.style_of_photo(
            self._to_photo(style_photo, synthesizer.native_size))
        pictures = synthesizer.generate(label_maps, seeds=seeds, styles=styles, size=size, style=name, upscale=upscale,
                                        sun=sun, style_code=code, shape=shape)
        if output_dir:
            os.makedirs(output_dir, exist_ok=True)
            for i, picture in enumerate(pictures):
                Image.fromarray(picture).save(os.path.join(output_dir, f"miaobi_{i}.png"))
        return pictures

    def animate(self, label_map, path: str = "day", seed: int | None = None, size: int | None = None,
                sun: Sun | dict | None = None, use_gpu: bool | None = None, upscale: bool = True,
                width: int | None = None, height: int | None = None) -> list[np.ndarray]:
        """One label map (as ``generate`` takes them) through a path of looks: its frames (uint8 RGB arrays),
        one seed, the style code moving from look to look (miaobi_core/animation.py; ``path``: "day").
        ``animation.encode_webp(frames)`` makes them the animated WebP the serving method answers."""
        seed = api.parse_seeds(seed, 1)[0]
        sun = sun if isinstance(sun, Sun) else parse_sun(sun)
        size, shape = api.parse_picture_size(size, width, height)
        return self._on(use_gpu).animate(self._to_label_map(label_map), parse_animation(path) or "day", seed,
                                         size=size, upscale=upscale, sun=sun, shape=shape)

    @serving
    def serving_method(self, images=None, use_gpu: bool | None = None, photos=None, **fields):
        """``POST /predict/miaobi`` with ``{"images": [base64 PNG, ...], "seed": int?, "size": int?, "style": str?,
        "style_photo": base64 JPEG/PNG?, "animate": "day"?, "sun": {"x", "y", "radius"}?, "format": "png" | "jpeg"?}`` (miaobi_core.api.parse_prediction, as the web app's ``POST /predict``).

        Answers a list of base64 landscapes (PNG unless ``format`` says jpeg), one per drawing, in order; with
        ``animate``, an animated WebP of each drawing's frames. ``{"photos": [...]}`` instead answers a drawing
        of each photo (:meth:`drawing_from_photo`), as a PNG in the palette's colours.
        Sizes above the model's own (up to 1024) are enlarged by the learned upscaler, unless the server is
        busy; when the pictures ahead would take longer than ``max_wait_s``, it refuses at once (HTTP 429
        under ``hub serving``).
        """
        try:
            if photos is not None:
                return self._serve_drawings(photos, images, **fields)
            return self._serve_pictures(images, use_gpu, **fields)
        except api.Busy:
            _refused.busy = True  # the reply becomes HTTP 429 (_serve_concurrently_under_hub_serving)
            raise

    def _serve_pictures(self, images, use_gpu: bool | None, **fields) -> list[str]:
        synthesizer = self._on(use_gpu)  # hub serving --use_gpu: True from its GPU worker, moving the model once
        asked = api.parse_prediction({"images": images, **fields}, "images", lambda: synthesizer.styles.names)
        label_maps = [decode_drawing(image, self.palette, self.limits).label_map for image in asked.drawings]
        photo = None if asked.style_photo is None else decode_photo(asked.style_photo, synthesizer.native_size)
        upscale = self.admission.unhurried()  # busy: Lanczos instead of the upscaler, before refusing anyone
        with self.admission.admit(len(label_maps) * FRAMES if asked.animate else len(label_maps)):
            if asked.animate:
                return [png_to_b64(encode_webp(synthesizer.animate(label_map, asked.animate, seed, size=asked.size,
                                                                   upscale=upscale, sun=asked.sun,
                                                                   shape=asked.shape)))
                        for label_map, seed in zip(label_maps, asked.seeds)]
            code = None if photo is None else synthesizer.style_of_photo(photo)
            pictures = synthesizer.generate(label_maps, seeds=asked.seeds, size=asked.size, style=asked.style,
                                            upscale=upscale, sun=asked.sun, style_code=code, shape=asked.shape)
        return [png_to_b64(encode_picture(p, asked.format)) for p in pictures]

    def _serve_drawings(self, photos, images, **fields) -> list[str]:
        """``{"photos": [base64 JPEG/PNG, ...], "width"?, "height"?}``: a drawing of each photo, as base64 PNGs
        in the palette's colours (what ``POST /drawing`` answers, one per photo)."""
        if images is not None:
            raise InputError("Send 'photos' (for drawings of them) or 'images' (for pictures), not both.")
        asked = api.parse_drawing({"photos": photos, **fields}, "photos")
        decoded = [decode_photo(photo, PHOTO_SIDE) for photo in asked.photos]
        with self.admission.admit(len(decoded)):
            drawings = [self.drawing_from_photo(photo, asked.width, asked.height) for photo in decoded]
        return [png_to_b64(encode_png(label_map, self.palette.colors)) for label_map in drawings]

    @runnable
    def run_cmd(self, argvs: list[str]):
        """``hub run miaobi --input_path doodle.png --output_dir out/``."""
        parser = argparse.ArgumentParser(
            prog="hub run miaobi", description="Paint a landscape from a palette-colour doodle PNG.",
            formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        parser.add_argument("--input_path", required=True, help="the doodle, a PNG painted with the palette colours")
        parser.add_argument("--output_dir", default="miaobi_output", help="folder for the landscape PNG")
        parser.add_argument("--seed", type=int, default=None, help="same seed, same picture; omit for a surprise")
        parser.add_argument("--size", type=int, default=None, help="square output side in pixels (default: the doodle's)")
        parser.add_argument("--use_gpu", action=argparse.BooleanOptionalAction, default=False,
                            help="run on the GPU")
        args = parser.parse_args(argvs)
        self.generate([args.input_path], seed=args.seed, size=args.size, output_dir=args.output_dir,
                      use_gpu=args.use_gpu)
        path = os.path.join(args.output_dir, "miaobi_0.png")
        print(f"wrote {path}")
        return path
