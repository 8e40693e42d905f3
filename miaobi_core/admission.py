"""Admission by expected wait: a worker takes a prediction while the work ahead of it should clear in time.

A fixed count of pending requests is wrong both ways: 4 turned away 61% of 40 clients whose pictures
(about 21 ms each) would all have been painted within a second, and the same 4 would queue seconds of
1024 px work. Instead each worker keeps a running estimate of the time one picture takes here (requests
are served in order, so one of n pictures that had k ahead of it took about k + n of them) and admits a
new one while ``(pending + n) * estimate`` stays within ``max_wait_s`` (an animation is its frames'
pictures). A request alone is always admitted.

The learned upscaler costs about 10x a picture's own painting (docs/performance.md), so a busy worker
drops it first: while the expected wait is over half the bound, pictures are enlarged by Lanczos instead,
and children get a softer picture rather than a refusal.

The web app admits its ``POST /predict`` here, and the hub module its ``hub serving`` requests.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from .api import Busy

SMOOTHING = 0.2  # weight of the newest picture in the running estimate


class Admission:
    def __init__(self, max_wait_s: float, initial_estimate_s: float = 0.1):
        if max_wait_s <= 0:
            raise ValueError("max_wait_s must be > 0")
        self.max_wait_s = max_wait_s
        self.seconds_per_picture = initial_estimate_s
        self.pending = 0
        self._lock = threading.Lock()

    def expected_wait_s(self, pictures: int = 1) -> float:
        """How long a request of ``pictures`` admitted now would take, by the current estimate."""
        return (self.pending + pictures) * self.seconds_per_picture

    def unhurried(self) -> bool:
        """Room for the expensive extras (the learned upscaler): the expected wait is within half the bound."""
        return self.expected_wait_s() <= self.max_wait_s / 2

    @contextmanager
    def admit(self, pictures: int = 1):
        """Runs the body for an admitted request of ``pictures``; raises :class:`Busy` at once for one that would
        wait too long."""
        with self._lock:
            if self.pending and self.expected_wait_s(pictures) > self.max_wait_s:
                raise Busy()
            ahead = self.pending
            self.pending += pictures
        started = time.perf_counter()
        try:
            yield
        finally:
            per_picture = (time.perf_counter() - started) / (ahead + pictures)
            with self._lock:
                self.pending -= pictures
                self.seconds_per_picture += SMOOTHING * (per_picture - self.seconds_per_picture)
