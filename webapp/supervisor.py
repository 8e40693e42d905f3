"""Run the web app as worker processes on one listening socket, replacing any worker that dies.

Waitress reads each request completely, asynchronously, before a worker
thread sees it, so slow clients cost no threads; but it is a single process,
and a crash in native model code would take the whole site down. So this
supervisor binds the socket itself and hands it to N waitress processes.
When one dies it is started again; the others keep answering, and because
the socket stays open, connections made while no worker is ready wait in
the kernel's backlog instead of being refused. A worker that cannot start
(e.g. the model will not load) stops everything with its message: a
half-working server is worse than none.
"""
from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

from miaobi_core.cores import ENV, make_tokens

log = logging.getLogger("miaobi.supervisor")

CANNOT_START = 2  # a worker's exit code when create_app fails
STARTUP_TIMEOUT_S = 600  # the first start may convert the model for a faster backend


class Worker:
    def __init__(self, argv: list[str], listen_fd: int, env: dict):
        ready_read, ready_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp", *argv, "--worker-fd", str(listen_fd), "--ready-fd", str(ready_write)],
            pass_fds=(listen_fd, ready_write), env=env)
        os.close(ready_write)
        self.ready_pipe = ready_read
        self.ready = False

    def poll_ready(self) -> bool:
        if not self.ready and select.select([self.ready_pipe], [], [], 0)[0]:
            self.ready = os.read(self.ready_pipe, 1) == b"1"
        return self.ready

    def close(self):
        os.close(self.ready_pipe)


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, worker_argv: list[str], backlog: int = 1024):
        if workers < 1:
            raise ValueError("--workers must be at least 1")
        self.count, self.argv = workers, worker_argv
        self.socket = socket.create_server((host, port), backlog=backlog)
        self.socket.set_inheritable(True)
        # The cores are shared: each worker's math library gets its part of them unless told otherwise.
        self.env = dict(os.environ)
        self.env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        self.env.setdefault("MKL_NUM_THREADS", self.env["OMP_NUM_THREADS"])
        # ... but an idle server's lone picture may take every core for its upscaler (miaobi_core/cores.py).
        self.tokens = None if ENV in self.env else make_tokens(os.cpu_count() or 1)
        if self.tokens:
            self.env[ENV] = str(self.tokens)
        # glibc gives each thread its own malloc arena; with waitress's threads and the model's buffers the
        # arenas fragmented and a worker grew ~25 MB a minute under load. Two arenas kept it flat (measured).
        self.env.setdefault("MALLOC_ARENA_MAX", "2")
        self.workers: list[Worker] = []
        self.stopping = False

    def _spawn(self) -> Worker:
        worker = Worker(self.argv, self.socket.fileno(), self.env)
        log.info("started worker %d", worker.process.pid)
        return worker

    def _stop(self, signum, frame):
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)
        self.workers = [self._spawn() for _ in range(self.count)]
        try:
            code = self._wait_until_ready()
            if code:
                return code
            print(f"{self.count} worker(s) ready", flush=True)
            while not self.stopping:
                self._replace_dead_workers()
                time.sleep(0.2)
            return 0
        finally:
            self._terminate_all()
            if self.tokens:
                shutil.rmtree(self.tokens, ignore_errors=True)

    def _wait_until_ready(self) -> int:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not all(w.poll_ready() for w in self.workers):
            for i, worker in enumerate(self.workers):
                code = worker.process.poll()
                if code is not None and code >= 0:
                    print(f"miaobi web app cannot start: worker {worker.process.pid} exited with {code} "
                          "before it was ready (its message is above)", file=sys.stderr, flush=True)
                    return CANNOT_START
                if code is not None:  # killed by a signal from outside: not the worker's own failure
                    worker.close()
                    self.workers[i] = self._spawn()
            if self.stopping:
                return 0
            if time.monotonic() > deadline:
                print("miaobi web app cannot start: workers not ready in time", file=sys.stderr, flush=True)
                return CANNOT_START
            time.sleep(0.1)
        return 0

    def _replace_dead_workers(self):
        for i, worker in enumerate(self.workers):
            code = worker.process.poll()
            if code is None:
                worker.poll_ready()
                continue
            log.warning("worker %d exited with %s; starting a replacement", worker.process.pid, code)
            worker.close()
            if code == CANNOT_START and not worker.ready:
                time.sleep(5)  # a replacement that cannot load the model: retry slowly, never spin
            self.workers[i] = self._spawn()

    def _terminate_all(self):
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
            worker.close()
        self.socket.close()
