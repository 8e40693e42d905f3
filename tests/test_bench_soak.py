"""bench.soak reads a served web app's memory over a load, and says where each worker's memory is."""
import os

import pytest

from bench import soak
from bench.servers import web_app


def test_memory_by_kind_parts_a_process_into_heap_and_libraries():
    kinds = soak.memory_by_kind(os.getpid())
    assert kinds["anonymous"] > 10 and any(name.startswith("libpython") or name.startswith("python")
                                            for name in kinds)
    assert abs(sum(kinds.values()) - soak.psutil.Process().memory_info().rss / 2**20) < 50


def test_a_short_soak_prints_memory_readings_and_the_workers_tables(hub_module_installed, capsys):
    assert soak.main(["--clients", "2", "--minutes", "0.05", "--every", "1", "--size", "128",
                      "--server-args=--workers 1 --no-upscale"]) == 0
    out = capsys.readouterr().out
    with web_app(["--workers", "1", "--rate-limit", "none"]) as (url, process):  # a server already running
        assert soak.main(["--url", url, "--pid", str(process.pid), "--minutes", "0.02", "--every", "1"]) == 0
    assert "| anonymous |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        soak.main(["--url", "http://127.0.0.1:1"])  # without the pid whose memory to read
    readings = [line for line in out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(readings) >= 3 and all(float(line.split(" | ")[1].rstrip(" |")) > 100 for line in readings)
    assert "| anonymous |" in out and "| other libraries |" in out and "(200: " in out
