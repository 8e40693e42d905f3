"""The real server under faults: a worker killed mid-request, slow clients, a model that will not load."""
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

from bench.servers import REPO, free_port, web_app
from bench.serving import example_drawing
from miaobi_core.cores import ENV

SERVER_ARGS = ["--rate-limit", "none", "--max-wait-s", "30"]


@pytest.fixture(scope="module")
def drawing():
    return example_drawing(256)


def workers_of(supervisor: subprocess.Popen) -> list[int]:
    return sorted(p.pid for p in psutil.Process(supervisor.pid).children())


def wait_for_workers(supervisor, count: int, other_than: set, seconds: float = 180) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = workers_of(supervisor)
        if len(pids) == count and not set(pids) & other_than:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"workers are {workers_of(supervisor)}, wanted {count} new ones")


def predict(url, drawing, seed, timeout=180):
    return requests.post(url + "/predict", json={"image": drawing, "seed": seed, "size": 256}, timeout=timeout)


def test_a_killed_worker_is_replaced_and_the_others_keep_serving(hub_module_installed, drawing):
    with web_app(SERVER_ARGS + ["--workers", "2"]) as (url, supervisor):
        old = workers_of(supervisor)
        assert len(old) == 2
        tokens = Path(psutil.Process(old[1]).environ()[ENV])  # the cores the workers share (miaobi_core/cores.py)
        assert len(list(tokens.iterdir())) == os.cpu_count()
        with ThreadPoolExecutor(6) as pool:
            in_flight = [pool.submit(predict, url, drawing, seed) for seed in range(6)]
            time.sleep(0.3)
            os.kill(old[0], 9)  # mid-request: six pictures are being painted by two workers
            outcomes = []
            for future in in_flight:
                try:
                    outcomes.append(future.result().status_code)
                except requests.RequestException:
                    outcomes.append("lost with the worker")
        assert outcomes.count(200) >= 1  # the surviving worker answered its share
        assert all(o in (200, "lost with the worker") for o in outcomes)
        replaced = wait_for_workers(supervisor, 2, other_than={old[0]})
        assert old[1] in replaced
        answers = [predict(url, drawing, seed) for seed in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert [a.json()["seed"] for a in answers] == list(range(4))
    assert not tokens.exists()  # removed when the supervisor stops


def test_with_one_worker_requests_wait_for_its_replacement_instead_of_failing(hub_module_installed, drawing):
    with web_app(SERVER_ARGS + ["--workers", "1"]) as (url, supervisor):
        (old,) = workers_of(supervisor)
        os.kill(old, 9)
        started = time.monotonic()
        answer = predict(url, drawing, 7)  # queued in the supervisor's socket backlog meanwhile
        assert answer.status_code == 200 and answer.json()["seed"] == 7
        assert workers_of(supervisor) != [old]
        print(f"answered {time.monotonic() - started:.1f} s after the only worker was killed")


def test_slow_clients_do_not_block_others_and_huge_bodies_are_refused_early(hub_module_installed, drawing):
    with web_app(SERVER_ARGS + ["--workers", "1", "--threads", "4"]) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for _ in range(40):  # ten times the worker threads, each stuck in the middle of its headers
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"image\": \"")
            slow.append(s)
        try:
            started = time.monotonic()
            assert predict(url, drawing, 3, timeout=30).status_code == 200
            assert requests.get(url + "/healthz", timeout=10).status_code == 200
            assert time.monotonic() - started < 30
            # A body announced far beyond the limit is refused at once, before anything is buffered.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as huge:
                huge.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 500000000\r\n\r\n")
                answer = b""
                while chunk := huge.recv(4096):  # waitress closes the connection after refusing
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 413")
                head, body = answer.split(b"\r\n\r\n", 1)
                assert b"Content-Type: application/json" in head
                assert json.loads(body)["error"]["code"] == "request_entity_too_large"
        finally:
            for s in slow:
                s.close()


def test_a_model_that_will_not_load_stops_start_up_with_a_clear_error(tmp_path):
    env = dict(os.environ, HUB_HOME=str(tmp_path))  # a PaddleHub home without the module
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text("server: http://127.0.0.1:9\n")
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "webapp", "--port", str(port)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "cannot start" in done.stderr and "could not load the PaddleHub module 'miaobi'" in done.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)  # nothing half-working is left listening


def test_workers_get_their_share_of_cores_and_few_malloc_arenas(monkeypatch):
    from webapp.supervisor import Supervisor

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_ARENA_MAX"):
        monkeypatch.delenv(name, raising=False)
    supervisor = Supervisor("127.0.0.1", 0, workers=2, worker_argv=[])
    try:
        assert supervisor.env["MALLOC_ARENA_MAX"] == "2"
        assert supervisor.env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    finally:
        supervisor.socket.close()
    with pytest.raises(ValueError, match="workers"):
        Supervisor("127.0.0.1", 0, workers=0, worker_argv=[])


@pytest.fixture
def redis_url():
    """A real Redis server (Debian's redis-server, which make test installs) on a free port, nothing persisted."""
    import shutil

    server = shutil.which("redis-server")
    if server is None and not os.environ.get("CI"):
        pytest.skip("redis-server is not installed (make test installs it)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "redis-server did not start"
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_workers_sharing_a_redis_store_count_one_rate_limit(hub_module_installed, drawing, redis_url):
    args = ["--workers", "2", "--rate-limit", "5 per minute", "--limit-storage", redis_url, "--max-wait-s", "30"]
    with web_app(args) as (url, _):
        # Each request on a fresh connection, so both workers take some; together they allow five.
        statuses = [requests.post(url + "/predict", json={"image": drawing, "seed": 1, "size": 64},
                                  headers={"Connection": "close"}, timeout=120).status_code for _ in range(16)]
    assert statuses.count(200) == 5 and statuses.count(429) == 11, statuses
