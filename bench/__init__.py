"""Benchmarks: scripts that print tables (``python -m bench.train``, ``python -m bench.serving``)."""
