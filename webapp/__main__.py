"""``python -m webapp``: serve the painting page and API with waitress (a production WSGI server)."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from miaobi_core.runtime import configure_cpu


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
    parser.add_argument("--default-size", type=int, default=256, help="picture side when a request gives none")
    parser.add_argument("--save-doodles-dir", default=None,
                        help="keep every drawing as a PNG in this folder (off by default: nothing is stored)")
    parser.add_argument("--micro-batch", action=argparse.BooleanOptionalAction, default=True,
                        help="let concurrent predictions share forward passes")
    parser.add_argument("--backend", default="auto",
                        choices=["auto", "paddle", "paddle-jit", "paddle-inference", "onnxruntime"],
                        help="how to run the model; auto picks the fastest one whose pictures match paddle's")
    parser.add_argument("--use-gpu", action=argparse.BooleanOptionalAction, default=False, help="run the model on the GPU")
    parser.add_argument("--dev", action="store_true", help="Flask's debug server instead of waitress (development only)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    configure_cpu()  # before paddle loads
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from . import create_app

    try:
        app = create_app({
            "CORS_ORIGINS": args.cors_origins, "MAX_PENDING": args.max_pending,
            "MAX_CONTENT_LENGTH": args.max_request_bytes, "DEFAULT_SIZE": args.default_size,
            "SAVE_DOODLES_DIR": args.save_doodles_dir, "USE_GPU": args.use_gpu,
            "MICRO_BATCH": args.micro_batch, "BACKEND": args.backend,
            "RATE_LIMIT": None if args.rate_limit.lower() == "none" else args.rate_limit,
        })
    except (RuntimeError, ValueError) as error:
        print(f"miaobi web app cannot start: {error}", file=sys.stderr)
        return 2
    print(f"Miaobi is painting at http://{args.host}:{args.port}/", flush=True)
    if args.dev:
        app.run(host=args.host, port=args.port, debug=False, threaded=True)
    else:
        from waitress import serve

        serve(app, host=args.host, port=args.port, threads=args.threads, channel_timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
