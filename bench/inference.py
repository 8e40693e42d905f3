"""Generator variants x inference backends on this CPU, as one table: ``python -m bench.inference``.

For each variant (the paper-size SPADE, the shipped full model, the shipped
distilled student) and each backend (miaobi_core.backends): parameters, GFLOPs at 256,
the largest difference from paddle's pictures on the parity probes, latency
p50/p95 with batch 1 at 256x256 and 512x512, throughput with batch 8 at
256x256, and peak resident memory. Each cell runs in its own process, so
peak memory is that backend's alone (it includes the dynamic-graph network,
which serving keeps as its fallback). Exports are made in a separate process
first, so conversion memory is not counted. Pictures come straight out of the
network at each size (no resizing), random label maps, fixed seeds.

Timings on a shared machine are noisy: compare within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from miaobi_core.runtime import configure_cpu
from miaobi_core.variants import DISTILLED, FOLDERS, FULL

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "hub_module" / "miaobi"
VARIANTS = ("paper-spade", "shipped", "student")


def build_variant(name: str):
    """(generator, description); random weights for the paper's network, whose speed alone is measured."""
    import paddle

    from miaobi_core.checkpoint import load_generator
    from miaobi_core.config import GeneratorConfig
    from miaobi_core.generator import SPADEGenerator

    paddle.seed(0)
    if name == "paper-spade":
        # Park et al.: ngf 64, SPADE with 128 hidden channels, z 256; random weights (instance norm where the
        # paper has sync batch norm: the same cost at inference).
        generator = SPADEGenerator(GeneratorConfig(spectral_norm=False))
        generator.eval()
        return generator, "SPADE ngf 64 (random weights)"
    if name == "shipped":
        return load_generator(SHIPPED / FOLDERS[FULL]), "shipped full model (the default)"
    if name == "student":
        generator = load_generator(SHIPPED / FOLDERS[DISTILLED])
        return generator, f"shipped distilled student of the previous model, ngf {generator.cfg.ngf}"
    raise ValueError(f"unknown variant {name!r}; choose from {', '.join(VARIANTS)}")


def random_inputs(num_classes: int, z_dim: int, batch: int, size: int, seed: int = 0):
    from miaobi_core.codec import onehot

    rng = np.random.default_rng(seed)
    blobs = rng.integers(0, num_classes, (batch, 8, 8))  # big blobs, like a child's drawing
    label_map = blobs.repeat(size // 8, axis=1).repeat(size // 8, axis=2)
    return onehot(label_map, num_classes), rng.standard_normal((batch, z_dim)).astype(np.float32)


def latencies(backend, onehot_map, z, budget_s: float, max_runs: int = 20, min_runs: int = 3) -> list[float]:
    backend(onehot_map, z)  # warm-up
    times, started = [], time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - started < budget_s):
        t = time.perf_counter()
        backend(onehot_map, z)
        times.append(1000 * (time.perf_counter() - t))
    return times


def measure(variant: str, backend_name: str, sizes: list[int], batch: int, budget_s: float, folder: Path,
            export_only: bool) -> dict:
    from bench.flops import generator_gflops
    from miaobi_core.backends import PaddleBackend, build_backend, probe_inputs

    generator, description = build_variant(variant)
    cfg = generator.cfg
    row = {"variant": variant, "description": description, "backend": backend_name,
           "params_m": sum(int(np.prod(p.shape)) for p in generator.parameters()) / 1e6,
           "gflops_256": generator_gflops(generator, 256, 256)}
    backends = {size: build_backend(backend_name, generator, size, False, folder / str(size)) for size in sizes}
    if export_only:
        return row
    onehot_map, z = probe_inputs(cfg.num_classes, sizes[0], cfg.z_dim)
    row["max_abs_error"] = float(np.abs(backends[sizes[0]](onehot_map, z) - PaddleBackend(generator)(onehot_map, z)).max())
    for size in sizes:
        times = latencies(backends[size], *random_inputs(cfg.num_classes, cfg.z_dim, 1, size), budget_s)
        row[f"p50_{size}"], row[f"p95_{size}"] = np.percentile(times, 50), np.percentile(times, 95)
        row[f"runs_{size}"] = len(times)
    times = latencies(backends[sizes[0]], *random_inputs(cfg.num_classes, cfg.z_dim, batch, sizes[0]), budget_s,
                      max_runs=5, min_runs=1)
    row[f"batch{batch}_img_s"] = batch / (np.median(times) / 1000)
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def run_cell(args, variant: str, backend: str, folder: Path, export_only: bool) -> dict:
    command = [sys.executable, "-m", "bench.inference", "--cell", variant, backend, "--folder", str(folder),
               "--sizes", *map(str, args.sizes), "--batch", str(args.batch), "--budget", str(args.budget)]
    if export_only:
        command.append("--export-only")
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"variant": variant, "backend": backend, "error": reason[:120]}
    return json.loads(lines[-1])


def print_table(rows: list[dict], sizes: list[int], batch: int) -> None:
    head = (["variant", "backend", "params M", "GFLOPs@256", "max abs diff"]
            + [f"{k}@{s}" for s in sizes for k in ("p50 ms", "p95 ms")] + [f"img/s b{batch}", "peak RSS MB"])
    table = [head]
    for r in rows:
        if "error" in r:
            table.append([r["variant"], r["backend"], "-", "-", "failed: " + r["error"]] + [""] * (len(head) - 5))
            continue
        table.append([r["variant"], r["backend"], f"{r['params_m']:.2f}", f"{r['gflops_256']:.1f}",
                      f"{r['max_abs_error']:.1e}"]
                     + [f"{r[f'{k}_{s}']:.0f}" for s in sizes for k in ("p50", "p95")]
                     + [f"{r[f'batch{batch}_img_s']:.1f}", f"{r['peak_rss_mb']:.0f}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if i == 0:
            print("-|-".join("-" * w for w in widths))


def main(argv=None) -> int:
    from miaobi_core.backends import BACKENDS

    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512], help="batch-1 sides; the first also "
                        "sets the batch throughput size")
    parser.add_argument("--batch", type=int, default=8, help="batch for the throughput column")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds of timing per latency cell (3-20 runs)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--cell", nargs=2, metavar=("VARIANT", "BACKEND"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--export-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configure_cpu()
    if args.cell:
        row = measure(*args.cell, args.sizes, args.batch, args.budget, Path(args.folder), args.export_only)
        print(json.dumps(row))
        return 0

    rows = []
    print(f"threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, MKL_DEBUG_CPU_TYPE="
          f"{os.environ['MKL_DEBUG_CPU_TYPE']}; each cell in its own process", flush=True)
    with tempfile.TemporaryDirectory() as exports:
        for variant in args.variants:
            for backend in args.backends:
                folder = Path(exports) / variant / backend
                if backend != "paddle":
                    prepared = run_cell(args, variant, backend, folder, export_only=True)
                    if "error" in prepared:
                        rows.append(prepared)
                        continue
                rows.append(run_cell(args, variant, backend, folder, export_only=False))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows, args.sizes, args.batch)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
