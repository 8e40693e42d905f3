"""Serving latency and throughput of `hub serving start -m miaobi`: ``python -m bench.serving``.

Starts the real server on a free loopback port (or uses ``--url``), then
prints one table: p50/p95 latency of single 256x256 requests, and requests/s
with 4 concurrent clients. Figures on shared machines are noisy: compare
ratios from one run.
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import requests

from miaobi_core.codec import encode_png, png_to_b64
from miaobi_core.palette import load_palette

from .servers import hub_serving


def example_drawing(size: int) -> str:
    palette = load_palette()
    y = np.arange(size)[:, None] / size
    x = np.arange(size)[None, :] / size
    label_map = np.full((size, size), palette.id_of("sky"), np.uint8)
    label_map[np.broadcast_to(y > 0.35 + 0.15 * np.sin(x * 9), label_map.shape)] = palette.id_of("mountain")
    label_map[np.broadcast_to(y > 0.7, label_map.shape)] = palette.id_of("water")
    return png_to_b64(encode_png(palette.colorize(label_map)))


def timed_post(url: str, payload: dict) -> float:
    started = time.perf_counter()
    body = requests.post(url, json=payload, timeout=300).json()
    if body.get("status") != "000":
        raise RuntimeError(f"server error: {body.get('msg')}")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an already running /predict/miaobi endpoint (default: start one)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--requests", type=int, default=30, help="requests per measurement")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args(argv)
    payload = {"images": [example_drawing(args.size)], "size": args.size, "seed": 1}
    with (nullcontext(args.url) if args.url else hub_serving()) as url:
        for _ in range(3):
            timed_post(url, payload)  # warm-up
        single = np.array([timed_post(url, payload) for _ in range(args.requests)]) * 1000
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            concurrent = np.array(list(pool.map(lambda _: timed_post(url, payload), range(args.requests)))) * 1000
        throughput = args.requests / (time.perf_counter() - started)
    print(f"| measurement ({args.size}x{args.size}, batch 1) | p50 ms | p95 ms | requests/s |")
    print("|---|---:|---:|---:|")
    print(f"| 1 client | {np.percentile(single, 50):.0f} | {np.percentile(single, 95):.0f} | {1000 / single.mean():.2f} |")
    print(f"| {args.clients} concurrent clients | {np.percentile(concurrent, 50):.0f} | "
          f"{np.percentile(concurrent, 95):.0f} | {throughput:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
