"""Start the real servers as subprocesses on loopback (used by benchmarks and tests)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

HUB = Path(sys.executable).with_name("hub")


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
        except requests.ConnectionError:
            if process.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds} s")
            time.sleep(0.3)


@contextmanager
def hub_serving(port: int | None = None):
    """`hub serving start -m miaobi` on a free port; yields the predict URL; stops the whole process group."""
    port = port or free_port()
    process = subprocess.Popen([str(HUB), "serving", "start", "-m", "miaobi", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/predict/miaobi"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
