"""The GPU Dockerfile cannot be built here: lint it, and check it installs and runs what the README does."""
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
MAKEFILE = (REPO / "Makefile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[len(name) + 1:].strip() for line in joined.splitlines() if line.startswith(name + " ")]


def test_hadolint_is_clean():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_file_exists():
    for copy in instructions("COPY"):
        sources = [a for a in copy.split() if not a.startswith("--")][:-1]
        for source in sources:
            assert (REPO / source).exists(), source


def test_it_installs_and_runs_the_way_the_readme_does():
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "run: setup" in MAKEFILE  # the README's command is setup + the web app
    runs = " ".join(instructions("RUN"))
    assert "make setup" in runs
    assert "paddlepaddle-gpu==${PADDLE_VERSION}" in runs and "ARG PADDLE_VERSION=3.3.1" in DOCKERFILE
    assert "paddlepaddle==3.3.1" in (REPO / "requirements.lock").read_text()  # the swap keeps the version
    cmd = instructions("CMD")[-1]
    assert '"-m", "webapp"' in cmd and '"--use-gpu"' in cmd
    assert "$(PY) -m webapp" in MAKEFILE


def test_runs_as_non_root_with_a_healthcheck_and_documents_hub_serving():
    assert instructions("USER") and instructions("USER")[-1] not in ("root", "0")
    assert "/healthz" in instructions("HEALTHCHECK")[0]
    assert "hub serving start -m miaobi" in DOCKERFILE
    assert "8000" in instructions("EXPOSE")[0]
