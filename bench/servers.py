"""Start the real servers as subprocesses on loopback (used by benchmarks and tests)."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

HUB = Path(sys.executable).with_name("hub")
REPO = Path(__file__).resolve().parent.parent
# Debian's Chromium (Playwright's own browser download cannot work offline; make test installs it), and its
# flags for this offline sandbox: no background calls home, no GPU, root-safe.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # the supervisor's socket accepts before workers serve
            if process.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with code {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds} s") from None
            time.sleep(0.3)


@contextmanager
def hub_serving(port: int | None = None, hub: list[str] | None = None, env: dict | None = None, cwd=None):
    """`hub serving start -m miaobi` on a free port; yields the predict URL; stops the whole process group.

    ``hub``: the command that runs PaddleHub's CLI (default: this environment's ``hub``), with ``env`` in ``cwd``.
    """
    port = port or free_port()
    process = subprocess.Popen([*(hub or [str(HUB)]), "serving", "start", "-m", "miaobi", "-p", str(port)], env=env,
                               cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/predict/miaobi"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_for_line(log, text: str, process: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while True:
        log.seek(0)
        if text in log.read():
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} from the server")
        time.sleep(0.2)


@contextmanager
def web_app(extra_args: list[str], env: dict | None = None):
    """``python -m webapp`` (supervisor and workers) on a free port; yields (base URL, supervisor process)."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen([sys.executable, "-m", "webapp", "--port", str(port), *extra_args], cwd=REPO,
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            try:
                wait_for(f"http://127.0.0.1:{port}/healthz", process)
                _wait_for_line(log, "worker(s) ready", process)  # all workers, not just the first
            except RuntimeError:
                log.seek(0)
                raise RuntimeError("the web app did not start:\n" + log.read()[-3000:]) from None
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.terminate()
            process.wait(timeout=60)
