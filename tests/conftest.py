import os
import subprocess
import tempfile
from pathlib import Path

# Before paddle or paddlehub load anywhere in the test session: MKL's AVX2 path on AMD
# (see miaobi_core/runtime.py), and a private PaddleHub home so tests never touch ~/.paddlehub.
os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
os.environ["HUB_HOME"] = tempfile.mkdtemp(prefix="miaobi-hub-home-")
os.environ["MIAOBI_CACHE"] = tempfile.mkdtemp(prefix="miaobi-cache-")  # backend exports, per session
# PaddleHub reports events to its server: aim that at a closed loopback port (as `make setup` does).
(Path(os.environ["HUB_HOME"]) / "conf").mkdir()
(Path(os.environ["HUB_HOME"]) / "conf" / "config.yaml").write_text(
    "server: http://127.0.0.1:9\nlog:\n  enable: true\n  level: INFO\n")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bench.servers import HUB  # noqa: E402
from miaobi_core.palette import load_palette  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def hub_module_installed():
    """`hub install hub_module/miaobi` into the session's private HUB_HOME, once."""
    subprocess.run([str(HUB), "install", str(REPO / "hub_module" / "miaobi")], check=True, capture_output=True)
    return Path(os.environ["HUB_HOME"]) / "modules" / "miaobi"


@pytest.fixture(scope="session")
def palette():
    return load_palette()


@pytest.fixture
def label_map(palette):
    """A 64x64 label map: sky, a mountain, a lake, some trees."""
    ids = np.full((64, 64), palette.id_of("sky"), np.uint8)
    ids[24:, :] = palette.id_of("mountain")
    ids[44:, :] = palette.id_of("water")
    ids[40:56, 4:20] = palette.id_of("tree")
    return ids
