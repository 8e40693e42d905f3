import os

# Before paddle loads anywhere in the test session (see miaobi_core/runtime.py).
os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from miaobi_core.palette import load_palette  # noqa: E402


@pytest.fixture(scope="session")
def palette():
    return load_palette()


@pytest.fixture
def scene_ids(palette):
    """A 64x64 class-id map: sky, a mountain, a lake, some trees."""
    ids = np.full((64, 64), palette.id_of("sky"), np.uint8)
    ids[24:, :] = palette.id_of("mountain")
    ids[44:, :] = palette.id_of("water")
    ids[40:56, 4:20] = palette.id_of("tree")
    return ids
