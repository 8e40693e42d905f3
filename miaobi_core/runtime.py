"""Process-level CPU settings, applied by entry points before paddle is imported.

Measured here (2-core AMD EPYC): paddle's MKL runs 3-4x slower on AMD unless
``MKL_DEBUG_CPU_TYPE=5`` makes it take its AVX2 code path, and thread counts
above the core count only add contention.
"""
from __future__ import annotations

import os


def math_threads() -> int:
    """Threads for a process's math libraries: $OMP_NUM_THREADS (set by configure_cpu, or per worker by the
    web app's supervisor), else every core."""
    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def configure_cpu(threads: int | None = None) -> None:
    """Set MKL/OpenMP switches unless the user already set them; ``threads`` defaults to all cores."""
    os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    count = str(threads or os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", count)
    os.environ.setdefault("MKL_NUM_THREADS", count)
