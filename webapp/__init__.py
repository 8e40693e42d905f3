"""Miaobi web app: the painting page, the palette, and ``POST /predict`` (doodle -> landscape).

``create_app(config)`` is the application factory (Flask tutorial style). It
loads the ``miaobi`` PaddleHub module once per process; the CORS whitelist
replaces the old PHP relay so pages on other allowed origins can call
``/predict`` directly.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from miaobi_core.admission import Admission
from miaobi_core.options import ServingOptions, default_of


REPO_ROOT = Path(__file__).resolve().parent.parent
STATIC_DIR = REPO_ROOT / "static"


@dataclass(frozen=True)
class WebOptions:
    """The web app's own settings (Flask config keys are the names in capitals; flags are generated)."""

    cors_origins: str = field(default="", metadata={
        "env": "MIAOBI_CORS_ORIGINS",
        "help": "comma-separated exact origins (https://host[:port]) whose pages may call the API; none: same "
                "origin only"})
    max_request_bytes: int = field(default=6 * 1024 * 1024, metadata={
        "help": "largest request body (a 4 MiB PNG as base64 JSON)"})
    default_size: int = field(default=256, metadata={"help": "picture side when a request gives none"})
    save_doodles_dir: str | None = field(default=None, metadata={
        "help": "keep every drawing as a PNG in this folder (off by default: children's drawings are not kept)"})
    rate_limit: str = field(default="900 per minute", metadata={
        "help": "predictions per client address, e.g. '900 per minute'; 'none' turns it off. The default is sized "
                "for a classroom behind one address: 30 children painting as they draw, ~30 pictures a minute each"})
    limit_storage: str = field(default="memory://", metadata={
        "env": "MIAOBI_LIMIT_STORAGE",
        "help": "where the rate limit counts. memory:// keeps one count per worker process, so with N workers a "
                "client may get up to N times the limit; a shared store such as redis://host:6379 makes all "
                "workers and replicas count one budget"})


SETTINGS = (WebOptions, ServingOptions)
DEFAULTS = {
    **{f.name.upper(): f.default for cls in SETTINGS for f in dataclasses.fields(cls)},
    "HUB_MODULE": "miaobi",
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
        return hub.Module(name=app.config["HUB_MODULE"],
                          **{f.name: app.config[f.name.upper()] for f in dataclasses.fields(ServingOptions)})
    except Exception as error:  # any failure here means no usable model: refuse to serve half-working
        raise RuntimeError(f"could not load the PaddleHub module {app.config['HUB_MODULE']!r} "
                           f"(run `make setup` to install it): {error}") from error


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(DEFAULTS)
    app.config.update({f.name.upper(): default_of(f) for f in dataclasses.fields(WebOptions) if "env" in f.metadata})
    app.config.update(config or {})
    app.config["CORS_ORIGINS"] = parse_origins(app.config["CORS_ORIGINS"])
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_BYTES"]  # Flask refuses larger bodies with 413
    if str(app.config["RATE_LIMIT"]).lower() == "none":
        app.config["RATE_LIMIT"] = None

    if app.config["CORS_ORIGINS"]:
        CORS(app, resources={r"/(predict|drawing|labels|limits|healthz|styles)": {"origins": app.config["CORS_ORIGINS"]}},
             methods=["GET", "POST", "OPTIONS"], allow_headers=["Content-Type"], max_age=600,
             supports_credentials=False)

    app.extensions["miaobi_model"] = load_model(app)
    app.extensions["miaobi_admission"] = Admission(app.config["MAX_WAIT_S"])

    from . import routes

    app.register_blueprint(routes.api)
    app.register_blueprint(routes.page)
    routes.register_error_handlers(app)
    # One limiter per app, counting in LIMIT_STORAGE (in memory: this process only; redis://: every worker and
    # replica together). Behind a proxy, wrap the app in werkzeug's ProxyFix so the client's address is counted.
    limiter = Limiter(get_remote_address, app=app, storage_uri=app.config["LIMIT_STORAGE"])
    if app.config["RATE_LIMIT"]:
        for name in ("api.predict", "api.drawing"):  # the two that do work; each counts on its own
            app.view_functions[name] = limiter.limit(app.config["RATE_LIMIT"])(app.view_functions[name])
    return app
