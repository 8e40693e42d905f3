"""``python -m webapp``: serve the painting page and API with waitress (a production WSGI server).

The command starts a supervisor (``webapp/supervisor.py``) that runs
``--workers`` waitress processes on one socket; each is this same command
with ``--worker-fd``. ``--dev`` runs Flask's own server in one process instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

from miaobi_core.options import ServingOptions, add_arguments
from miaobi_core.runtime import configure_cpu

from . import SETTINGS, WebOptions
from .supervisor import CANNOT_START


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webapp", description="Miaobi web app: painting page + POST /predict.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all)")
    server.add_argument("--port", type=int, default=8000, help="TCP port")
    server.add_argument("--threads", type=int, default=8, help="waitress worker threads (requests in flight)")
    server.add_argument("--workers", type=int, default=2,
                        help="server processes sharing the port; one that dies is replaced while the others serve")
    server.add_argument("--dev", action="store_true", help="Flask's debug server instead of waitress (development only)")
    server.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # set by the supervisor for its workers
    server.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    add_arguments(parser.add_argument_group("web app"), WebOptions)
    add_arguments(parser.add_argument_group("model"), ServingOptions)
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
        app = create_app({f.name.upper(): getattr(args, f.name) for cls in SETTINGS for f in dataclasses.fields(cls)})
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
