"""Routes: the page and its assets, and the JSON API (schema in ``openapi.yaml``)."""
from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_from_directory
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from miaobi_core import api as api_rules
from miaobi_core.animation import FRAMES, encode_webp
from miaobi_core.codec import (CodecLimits, ImageTooLargeError, InputError, decode_drawing, encode_picture,
                               encode_png, png_to_b64)
from miaobi_core.labelling import PHOTO_SIDE as LABELLING_SIDE
from miaobi_core.palette import palette_json
from miaobi_core.photo import decode_photo

from . import STATIC_DIR

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
page = Blueprint("page", __name__)

# No inline script or style, nothing from other origins, never inside someone else's frame.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")


STYLE_PHOTO_SIDE = 512  # a style photo's short side is decoded at least this large: more than any model here reads


class UnsupportedMediaType(InputError):
    code = "not_json"


# The HTTP status of each kind of error the library raises: the most specific class listed wins.
STATUS = {ImageTooLargeError: 413, UnsupportedMediaType: 415, InputError: 400, api_rules.Busy: 429,
          api_rules.TimedOut: 503}


def status_of(error: Exception) -> int:
    return next(STATUS[kind] for kind in type(error).__mro__ if kind in STATUS)


@page.route("/")
def index():
    return send_from_directory(STATIC_DIR, "index.html")


@page.route("/sw.js")
def service_worker():
    """The page's service worker (static/sw.js), served at the root so that it may keep the page itself."""
    response = send_from_directory(STATIC_DIR, "sw.js")
    response.headers["Cache-Control"] = "no-cache"  # a new version of the page is picked up at once
    return response


@page.route("/static/<path:filename>")
def static_file(filename):
    return send_from_directory(STATIC_DIR, filename)


@api.get("/labels")
def labels():
    """The palette JSON the page builds its buttons from: the classes the served model was trained with."""
    return jsonify(palette_json(current_app.extensions["miaobi_model"].palette.num_classes))


@api.get("/limits")
def limits():
    """What a request may ask for, so that the page asks for what the server paints instead of restating it."""
    bounds = api_rules.RequestLimits()
    return jsonify(min_size=bounds.min_size, max_size=bounds.max_size, max_images=bounds.max_images,
                   max_seed=api_rules.MAX_SEED, max_aspect=api_rules.MAX_ASPECT)


@api.get("/styles")
def styles():
    """The model's named looks, each with a thumbnail (a data URL) for the page's buttons."""
    looks = current_app.extensions["miaobi_model"].styles()
    return jsonify(styles=[{**s, "thumbnail": s["thumbnail"] and "data:image/png;base64," + s["thumbnail"]}
                           for s in looks])


@api.get("/openapi.yaml")
def openapi():
    return send_from_directory(Path(__file__).parent, "openapi.yaml", mimetype="application/yaml")


@api.get("/healthz")
def healthz():
    model = current_app.extensions["miaobi_model"]
    describe = getattr(model, "describe", None)  # the hub module says which backend serves
    return jsonify(status="ok", model=current_app.config["HUB_MODULE"],
                   **({"serving": describe()} if describe else {}))


@api.post("/predict")
def predict():
    started = time.perf_counter()
    model = current_app.extensions["miaobi_model"]
    asked = api_rules.parse_prediction(_json_body(), "image", lambda: model.style_names(),
                                       default_size=current_app.config["DEFAULT_SIZE"])
    palette = model.palette
    decoded = decode_drawing(asked.drawings[0], palette, CodecLimits())
    _maybe_keep_doodle(decoded.label_map, palette)

    admission = current_app.extensions["miaobi_admission"]
    upscale = admission.unhurried()  # busy: Lanczos instead of the upscaler, before refusing anyone
    answer = dict(seed=asked.seeds[0], size=asked.size, style=asked.style,
                  off_palette_pixels=decoded.off_palette_pixels)
    shape = {} if asked.shape is None else {"height": asked.shape[0], "width": asked.shape[1]}
    answer.update(shape)
    if asked.animate:
        with admission.admit(FRAMES):
            frames = model.animate(decoded.label_map, asked.animate, seed=asked.seeds[0], size=asked.size, sun=asked.sun,
                                   upscale=upscale, **shape)
        answer.update(image=png_to_b64(encode_webp(frames)), format="webp", animate=asked.animate)
        if asked.frames:
            answer.update(frames=[png_to_b64(encode_picture(f, asked.format)) for f in frames],
                          frames_format=asked.format)
        return jsonify(**answer, ms=round((time.perf_counter() - started) * 1000.0, 1))
    # A style photo is decoded here, in memory, and never kept (not even with SAVE_DOODLES_DIR).
    photo = {} if asked.style_photo is None else {"style_photo": decode_photo(asked.style_photo, STYLE_PHOTO_SIDE)}
    with admission.admit():  # 429 at once when the wait would be too long
        picture = model.generate(label_maps=[decoded.label_map], seed=asked.seeds[0], size=asked.size, style=asked.style,
                                 upscale=upscale, sun=asked.sun, **photo, **shape)[0]
    return jsonify(image=png_to_b64(encode_picture(picture, asked.format)), format=asked.format, **answer,
                   ms=round((time.perf_counter() - started) * 1000.0, 1))


@api.post("/drawing")
def drawing():
    """A grown-up's photo -> a drawing of it for the page to edit: a PNG in the palette's colours, at the
    canvas's size. The photo is decoded in memory and never kept."""
    started = time.perf_counter()
    model = current_app.extensions["miaobi_model"]
    asked = api_rules.parse_drawing(_json_body(), "photo")
    photo = decode_photo(asked.photos[0], LABELLING_SIDE)  # at the scale the labelling rules work at
    with current_app.extensions["miaobi_admission"].admit():
        label_map = model.drawing_from_photo(photo, asked.width, asked.height)
    return jsonify(image=png_to_b64(encode_png(label_map, model.palette.colors)), width=asked.width, height=asked.height,
                   ms=round((time.perf_counter() - started) * 1000.0, 1))


def _json_body() -> dict:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("Send JSON with Content-Type: application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InputError("The request body must be a JSON object like {\"image\": \"<base64 PNG>\"}.")
    return body


def _maybe_keep_doodle(label_map, palette):
    folder = current_app.config["SAVE_DOODLES_DIR"]
    if folder:  # off by default: children's drawings are not kept unless the operator asks
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.png").write_bytes(
            encode_png(label_map, palette.colors))


def _error(status: int, code: str, message: str, retry_after: int = 1):
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    if status == 429:
        response.headers["Retry-After"] = str(retry_after)
    return response


# What a child (or the page for them) is told for each HTTP error; also used outside Flask (see too_large_body).
ERROR_MESSAGES = {413: "The drawing is too big to send.", 404: "There is nothing here.",
                  405: "That method is not allowed here.",
                  429: "That was a lot of pictures in a short time! Please wait a little and try again."}


def too_large_body() -> bytes:
    """The JSON body of a 413 (the same shape as every API error), for the WSGI server's own refusal."""
    return json.dumps({"error": {"code": "request_entity_too_large", "message": ERROR_MESSAGES[413]}}).encode()


def register_error_handlers(app):
    @app.errorhandler(InputError)
    @app.errorhandler(api_rules.Unavailable)
    def refused(error):
        return _error(status_of(error), error.code, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error):
        # A per-client rate limit says how long its window lasts; being busy passes in a second.
        retry_after = error.limit.limit.get_expiry() if isinstance(error, RateLimitExceeded) else 1
        return _error(error.code, error.name.lower().replace(" ", "_"),
                      ERROR_MESSAGES.get(error.code, error.description), retry_after)

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unexpected error")  # the trace goes to the log, never to the client
        return _error(500, "internal", "Something went wrong on our side. Please try again.")

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
