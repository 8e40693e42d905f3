"""Load test of the web app on loopback: ``python -m bench.load --clients 50 --seconds 60``.

Starts ``python -m webapp`` (or uses ``--url``), runs N client threads for a
bounded time, each sending a mix of valid drawings (random seed and size)
and invalid requests and, like the page, waiting as long as a 429's Retry-After says, and prints one table: requests/s, latency percentiles,
answers by status, answers that did not match their request (seed, size,
picture size), and the server's resident memory after warm-up and at the end.
Traffic goes to 127.0.0.1 only, and every loop is bounded in time.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from contextlib import nullcontext

import numpy as np
import psutil
import requests

from .serving import example_drawing
from .servers import web_app

INVALID = [
    {"image": "not base64 at all"},
    {"image": "data:image/jpeg;base64,AAAA"},
    {"image": 42},
    {"seed": 1},
    {"image": "x", "size": 99999},
]


def run_load(url: str, clients: int, seconds: float, invalid_fraction: float, sizes: list[int]) -> dict:
    drawing = example_drawing(256)
    stop_at = time.monotonic() + seconds
    latencies, statuses, mismatches, lock = [], Counter(), [], threading.Lock()

    def client(index: int):
        rng = random.Random(index)
        session = requests.Session()
        while time.monotonic() < stop_at:
            if rng.random() < invalid_fraction:
                payload, expect = rng.choice(INVALID), None
            else:
                seed, size = rng.randrange(2**31), rng.choice(sizes)
                payload, expect = {"image": drawing, "seed": seed, "size": size}, (seed, size)
            started = time.perf_counter()
            try:
                response = session.post(url + "/predict", json=payload, timeout=120)
                status = response.status_code
            except requests.RequestException as error:
                status = type(error).__name__
            elapsed = time.perf_counter() - started
            problem = None
            if status == 200:
                body = response.json()
                if expect is None or (body["seed"], body["size"]) != expect:
                    problem = f"asked {expect}, got {(body.get('seed'), body.get('size'))}"
            elif expect is not None and status != 429:
                problem = f"valid request answered {status}"
            with lock:
                statuses[status] += 1
                latencies.append(elapsed)
                if problem:
                    mismatches.append(problem)
            if status == 429:  # as the page does: wait as told before the next try
                time.sleep(min(float(response.headers.get("Retry-After", 1)), max(0.0, stop_at - time.monotonic())))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "rps": len(latencies) / wall, "p50": np.percentile(ms, 50),
            "p95": np.percentile(ms, 95), "p99": np.percentile(ms, 99), "statuses": dict(statuses),
            "mismatches": mismatches}


def tree_rss_mb(process: psutil.Process | None) -> float:
    """Resident memory of the supervisor and all its workers."""
    if process is None:
        return float("nan")
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", help="an already running web app (default: start one per configuration)")
    parser.add_argument("--clients", type=int, nargs="+", default=[50], help="concurrent clients, one run each")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run")
    parser.add_argument("--warmup-seconds", type=float, default=10.0, help="load before memory is first read")
    parser.add_argument("--invalid-fraction", type=float, default=0.2, help="share of deliberately bad requests")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256], help="picture sizes to ask for")
    parser.add_argument("--batching", choices=["on", "off", "both"], default="on",
                        help="micro-batching in the started server (compare with 'both')")
    parser.add_argument("--server-args", default="", help="more options for the started web app, e.g. "
                        "'--workers 1 --backend paddle'")
    args = parser.parse_args(argv)

    modes = ["on", "off"] if args.batching == "both" else [args.batching]
    print(f"server: python -m webapp {args.server_args or '(defaults)'}; sizes {args.sizes}; "
          f"{args.invalid_fraction:.0%} invalid requests")
    print("| batching | clients | requests | req/s | p50 ms | p95 ms | p99 ms | answers by status | mismatched | RSS MB after warm-up -> end |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for mode in modes:
        # All load comes from one address here, so the per-client rate limit is off for the test.
        server_args = ["--micro-batch" if mode == "on" else "--no-micro-batch",
                       "--rate-limit", "none", *args.server_args.split()]
        with (nullcontext((args.url, None)) if args.url else web_app(server_args)) as (url, process):
            server = psutil.Process(process.pid) if process else None
            for clients in args.clients:
                run_load(url, clients, args.warmup_seconds, args.invalid_fraction, args.sizes)
                before = tree_rss_mb(server)
                result = run_load(url, clients, args.seconds, args.invalid_fraction, args.sizes)
                after = tree_rss_mb(server)
                statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items(), key=str))
                print(f"| {mode} | {clients} | {result['requests']} | {result['rps']:.2f} | {result['p50']:.0f} | "
                      f"{result['p95']:.0f} | {result['p99']:.0f} | {statuses} | {len(result['mismatches'])} | "
                      f"{before:.0f} -> {after:.0f} |", flush=True)
                for problem in result["mismatches"][:5]:
                    print(f"  mismatch: {problem}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    sys.exit(main())
