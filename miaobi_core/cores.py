"""The machine's cores as tokens that the web app's worker processes share, so an idle server gives one
picture every core.

Why: each worker runs its math on its share of the cores (one of two here), which is right when every
worker is busy. But one child alone waits for an upscaler that runs on one core while the other idles:
Real-ESRGAN x4 takes twice as long on one thread as on two. So the supervisor makes one lock file per core
(:func:`make_tokens`) and names the folder in ``$MIAOBI_CORES``; the expensive step of a picture takes a
token, blocking until one is free, then every other free one, and runs on that many threads. A busy
server's pictures each get one core, as before; a lone picture gets them all.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

ENV = "MIAOBI_CORES"  # the folder of core tokens, set by the supervisor for its workers


def make_tokens(cores: int) -> Path:
    """A new folder of ``cores`` token files (the caller removes it)."""
    folder = Path(tempfile.mkdtemp(prefix="miaobi-cores-"))
    for core in range(cores):
        (folder / str(core)).touch()
    return folder


class CoreTokens:
    """The tokens in a folder; :meth:`take` is a context manager giving how many this caller holds."""

    def __init__(self, folder: str | Path):
        self.paths = sorted(Path(folder).iterdir(), key=lambda p: p.name)
        if not self.paths:
            raise ValueError(f"{folder}: no core tokens")

    @classmethod
    def from_env(cls) -> "CoreTokens | None":
        folder = os.environ.get(ENV)
        return cls(folder) if folder else None

    @contextlib.contextmanager
    def take(self):
        held = []
        try:
            for path in self.paths:  # every free token, without waiting
                handle = open(path, "rb")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held.append(handle)
                except BlockingIOError:
                    handle.close()
            if not held:  # all busy: wait for one (each worker waits on its own, so waits spread)
                handle = open(self.paths[os.getpid() % len(self.paths)], "rb")
                fcntl.flock(handle, fcntl.LOCK_EX)
                held.append(handle)
            yield len(held)
        finally:
            for handle in held:  # closing the file releases its lock
                handle.close()
