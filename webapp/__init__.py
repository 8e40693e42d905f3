"""Miaobi web app: the painting page, the palette, and ``POST /predict`` (doodle -> landscape).

``create_app(config)`` is the application factory (Flask tutorial style). It
loads the ``miaobi`` PaddleHub module once per process; the CORS whitelist
replaces the old PHP relay so pages on other allowed origins can call
``/predict`` directly.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from flask import Flask
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

REPO_ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = REPO_ROOT / "static"

DEFAULTS = {
    "CORS_ORIGINS": [],  # exact origins allowed to call the API from other sites; none by default
    "MAX_CONTENT_LENGTH": 6 * 1024 * 1024,  # request body bytes (a 4 MiB PNG as base64 JSON)
    "MAX_PENDING": 4,  # predictions running or waiting; more get 429 instead of piling up
    "DEFAULT_SIZE": 256,  # picture side when a request gives no size
    "SAVE_DOODLES_DIR": None,  # keep children's drawings only when this names a folder
    "HUB_MODULE": "miaobi",
    "USE_GPU": False,
    "MICRO_BATCH": True,  # concurrent predictions share forward passes (see miaobi_core.synthesizer)
    "VARIANT": "auto",  # auto | full | distilled: which generator (auto: the distilled student on CPU, full on GPU)
    "BACKEND": "auto",  # auto or one of miaobi_core.backends.BACKENDS (paddle, its exports, ONNX Runtime, OpenVINO)
    "UPSCALE": True,  # sizes above the model's own are enlarged by the learned upscaler; False: Lanczos only
    "GENERATE_TIMEOUT_S": 60.0,  # a picture not painted by then is answered 503 (the client may retry)
    "RATE_LIMIT": "60 per minute",  # POST /predict per client address; None turns it off
    "LIMIT_STORAGE": "memory://",  # the rate limit's counters: per process, or a shared store (redis://...)
    "MODEL": None,  # an object with the hub module's generate(); loaded from HUB_MODULE when None
}

_ORIGIN = re.compile(r"^https?://(\[[0-9a-f:]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?$")


def parse_origins(value) -> list[str]:
    """``"https://a.example, http://localhost:8080"`` or a list -> validated exact origins.

    Each must be scheme://host[:port] with nothing after it: ``*``, paths and
    patterns are refused, because flask-cors would treat them as regular
    expressions and a loose pattern lets look-alike sites in.
    """
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value or [])]
    origins = []
    for item in filter(None, items):
        if not _ORIGIN.match(item.lower()):
            raise ValueError(f"CORS origin {item!r} is not of the form https://host[:port] (no '*', paths or patterns)")
        origins.append(item.lower())
    return origins


def load_model(app: Flask):
    """The hub module, loaded once; a broken install stops start-up with a clear message."""
    if app.config["MODEL"] is not None:
        return app.config["MODEL"]
    import paddlehub as hub  # imported lazily: importing paddle takes seconds

    try:
        return hub.Module(name=app.config["HUB_MODULE"], use_gpu=app.config["USE_GPU"],
                          micro_batch=app.config["MICRO_BATCH"], variant=app.config["VARIANT"],
                          backend=app.config["BACKEND"], upscale=app.config["UPSCALE"],
                          timeout_s=app.config["GENERATE_TIMEOUT_S"])
    except Exception as error:  # any failure here means no usable model: refuse to serve half-working
        raise RuntimeError(f"could not load the PaddleHub module {app.config['HUB_MODULE']!r} "
                           f"(run `make setup` to install it): {error}") from error


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    env_origins = os.environ.get("MIAOBI_CORS_ORIGINS")
    if env_origins is not None:
        app.config["CORS_ORIGINS"] = env_origins
    app.config.update(config or {})
    app.config["CORS_ORIGINS"] = parse_origins(app.config["CORS_ORIGINS"])

    if app.config["CORS_ORIGINS"]:
        CORS(app, resources={r"/(predict|labels|healthz|styles)": {"origins": app.config["CORS_ORIGINS"]}},
             methods=["GET", "POST", "OPTIONS"], allow_headers=["Content-Type"], max_age=600,
             supports_credentials=False)

    app.extensions["miaobi_model"] = load_model(app)
    app.extensions["miaobi_slots"] = threading.BoundedSemaphore(app.config["MAX_PENDING"])

    from . import routes

    app.register_blueprint(routes.api)
    app.register_blueprint(routes.page)
    routes.register_error_handlers(app)
    # One limiter per app, counting in LIMIT_STORAGE (in memory: this process only; redis://: every worker and
    # replica together). Behind a proxy, wrap the app in werkzeug's ProxyFix so the client's address is counted.
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["LIMIT_STORAGE"])
    if app.config["RATE_LIMIT"]:
        predict = app.view_functions["api.predict"]
        app.view_functions["api.predict"] = limiter.limit(app.config["RATE_LIMIT"])(predict)
    return app
