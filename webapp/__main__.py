"""``python -m webapp``: serve the painting page and API with waitress (a production WSGI server).

The command starts a supervisor (``webapp/supervisor.py``) that runs
``--workers`` waitress processes on one socket; each is this same command
with ``--worker-fd``. ``--dev`` runs Flask's own server in one process instead.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from miaobi_core.backends import BACKENDS
from miaobi_core.runtime import configure_cpu
from miaobi_core.variants import VARIANTS

from .supervisor import CANNOT_START


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webapp", description="Miaobi web app: painting page + POST /predict.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--cors-origins", default=os.environ.get("MIAOBI_CORS_ORIGINS", ""),
                        help="comma-separated exact origins (https://host[:port]) whose pages may call the API; "
                             "default: $MIAOBI_CORS_ORIGINS, else none (same origin only)")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads (requests in flight)")
    parser.add_argument("--max-pending", type=int, default=4,
                        help="predictions running or queued before new ones get 429")
    parser.add_argument("--max-request-bytes", type=int, default=6 * 1024 * 1024, help="largest request body")
    parser.add_argument("--rate-limit", default="60 per minute",
                        help="predictions per client address, e.g. '60 per minute'; 'none' turns it off")
    parser.add_argument("--limit-storage", default=os.environ.get("MIAOBI_LIMIT_STORAGE", "memory://"),
                        help="where the rate limit counts (default: $MIAOBI_LIMIT_STORAGE, else memory://). "
                             "memory:// keeps one count per worker process, so with N workers a client may get "
                             "up to N times the limit; a shared store such as redis://host:6379 makes all "
                             "workers and replicas count one budget")
    parser.add_argument("--default-size", type=int, default=256, help="picture side when a request gives none")
    parser.add_argument("--save-doodles-dir", default=None,
                        help="keep every drawing as a PNG in this folder (off by default: nothing is stored)")
    parser.add_argument("--micro-batch", action=argparse.BooleanOptionalAction, default=True,
                        help="let concurrent predictions share forward passes")
    parser.add_argument("--variant", default="auto", choices=VARIANTS,
                        help="which generator: full, the distilled student (4.7x fewer GFLOPs), or auto "
                             "(the student on CPU, full on GPU)")
    parser.add_argument("--backend", default="auto",
                        choices=["auto", *BACKENDS],
                        help="how to run the model; auto picks the fastest one whose pictures match paddle's")
    parser.add_argument("--upscale", action=argparse.BooleanOptionalAction, default=True,
                        help="enlarge pictures above the model's size with the learned upscaler (Real-ESRGAN x4); "
                             "--no-upscale uses Lanczos only")
    parser.add_argument("--generate-timeout", type=float, default=60.0,
                        help="seconds a picture may wait and take before the request gets 503")
    parser.add_argument("--use-gpu", action=argparse.BooleanOptionalAction, default=False, help="run the model on the GPU")
    parser.add_argument("--workers", type=int, default=2,
                        help="server processes sharing the port; one that dies is replaced while the others serve")
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its workers
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dev", action="store_true", help="Flask's debug server instead of waitress (development only)")
    return parser


def _answer_too_large_in_json():
    """Make waitress refuse an oversized body with the API's JSON error instead of its plain-text page.

    waitress checks the announced length itself, before anything is buffered or Flask sees the request
    (which is why it must keep that job); its parser builds the refusal from this one class.
    """
    import waitress.parser
    from waitress.utilities import RequestEntityTooLarge

    from .routes import too_large_body

    class JSONRequestEntityTooLarge(RequestEntityTooLarge):
        def to_response(self, ident=None):
            status, _, _ = super().to_response(ident)
            return status, [("Content-Type", "application/json")], too_large_body()

    waitress.parser.RequestEntityTooLarge = JSONRequestEntityTooLarge


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.dev and args.worker_fd is None:
        from .supervisor import Supervisor

        print(f"Miaobi is starting {args.workers} worker(s) at http://{args.host}:{args.port}/", flush=True)
        return Supervisor(args.host, args.port, args.workers, argv).run()

    configure_cpu()  # before paddle loads
    from . import create_app

    try:
        app = create_app({
            "CORS_ORIGINS": args.cors_origins, "MAX_PENDING": args.max_pending,
            "MAX_CONTENT_LENGTH": args.max_request_bytes, "DEFAULT_SIZE": args.default_size,
            "SAVE_DOODLES_DIR": args.save_doodles_dir, "USE_GPU": args.use_gpu,
            "MICRO_BATCH": args.micro_batch, "VARIANT": args.variant, "BACKEND": args.backend,
            "UPSCALE": args.upscale, "GENERATE_TIMEOUT_S": args.generate_timeout,
            "RATE_LIMIT": None if args.rate_limit.lower() == "none" else args.rate_limit,
            "LIMIT_STORAGE": args.limit_storage,
        })
    except (RuntimeError, ValueError) as error:
        print(f"miaobi web app cannot start: {error}", file=sys.stderr)
        return CANNOT_START
    if args.dev:
        print(f"Miaobi is painting at http://{args.host}:{args.port}/ (development server)", flush=True)
        app.run(host=args.host, port=args.port, debug=False, threaded=True)
        return 0
    import socket

    from waitress import serve

    _answer_too_large_in_json()

    os.write(args.ready_fd, b"1")  # tells the supervisor this worker has its model and can serve
    os.close(args.ready_fd)
    # channel_timeout: a connection idle for 30 s (a client that stalls mid-request) is closed.
    # max_request_body_size: waitress refuses oversized bodies itself instead of buffering them for Flask.
    # connection_limit: idle or slow connections are cheap in waitress's event loop; allow many.
    serve(app, sockets=[socket.socket(fileno=args.worker_fd)], threads=args.threads, channel_timeout=30,
          max_request_body_size=args.max_request_bytes, connection_limit=1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
