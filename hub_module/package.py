"""``python hub_module/package.py [OUT_DIR]`` (``make hub-package``): the PaddleHub module as one archive.

In the repository the module imports the project's library, installed by ``make setup``. A PaddleHub
user gets ``miaobi-<version>.tar.gz`` instead: the module, its weights and upscaler with their
licences, the library it needs in ``vendor/`` (``module.py`` puts that first on the import path), and a
``requirements.txt`` naming only third-party packages, pinned as in ``requirements.lock``. Then
``hub install miaobi-<version>.tar.gz`` works in any environment holding those packages.
"""
from __future__ import annotations

import argparse
import ast
import gzip
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULE = HERE / "miaobi"
LIBRARY = REPO / "miaobi_core"
# What the library imports from outside the standard library (scipy and ai-edge-litert: a photo's drawing; ncnn: the
# upscaler; paddle2onnx, onnxruntime and openvino: the faster backends that backend "auto" tries).
THIRD_PARTY = ("numpy", "pillow", "scipy", "paddlepaddle", "ncnn", "ai-edge-litert", "paddle2onnx", "onnxruntime",
               "openvino")


def module_version(module_py: Path = MODULE / "module.py") -> str:
    """The version in ``@moduleinfo(version=...)``, read without importing paddlehub."""
    for node in ast.walk(ast.parse(module_py.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "version":
            return node.value.value
    raise ValueError(f"no version= in {module_py}")


def pinned_requirements(lock: Path = REPO / "requirements.lock") -> str:
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock.read_text(), re.MULTILINE))
    pins = {name.lower(): version for name, version in pins.items()}
    missing = [name for name in THIRD_PARTY if name not in pins]
    if missing:
        raise ValueError(f"{lock} pins none of {missing}")
    return ("# Third-party packages the module and its vendored library (vendor/miaobi_core) import; paddlehub\n"
            "# itself is the host. Pinned as in the project's requirements.lock.\n"
            + "".join(f"{name}=={pins[name]}\n" for name in THIRD_PARTY))


def build(out_dir: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "miaobi"
        shutil.copytree(MODULE, staged, ignore=ignore)
        shutil.copytree(LIBRARY, staged / "vendor" / "miaobi_core", ignore=ignore)
        (staged / "requirements.txt").write_text(pinned_requirements())
        out_dir.mkdir(parents=True, exist_ok=True)
        archive = out_dir / f"miaobi-{module_version()}.tar.gz"
        with gzip.GzipFile(archive, "wb", mtime=0) as compressed, tarfile.open(fileobj=compressed, mode="w") as tar:
            tar.add(staged, arcname="miaobi", filter=_reproducible)
    return archive


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The same inputs give the same archive: no owners or times from this machine."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python hub_module/package.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default=str(REPO / "dist"), help="where the archive goes")
    args = parser.parse_args(argv)
    archive = build(Path(args.out_dir))
    print(f"wrote {archive} ({archive.stat().st_size / 2**20:.1f} MiB): hub install {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
