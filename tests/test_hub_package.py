"""`make hub-package`: the module archive installs and serves where only third-party packages are installed."""
import os
import subprocess
import sys
import sysconfig
import tarfile

import requests

from bench.servers import hub_serving
from miaobi_core.codec import encode_png, png_to_b64
from tests.helpers import decode_b64_image
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "hub_module"))
import package  # noqa: E402  (hub_module/package.py: not a package of the project, a build script)

HUB_CLI = "import sys; from paddlehub.commands.utils import execute; sys.exit(execute())"


def test_the_archive_holds_the_module_its_library_weights_and_licences(tmp_path):
    archive = package.build(tmp_path)
    assert archive.name == f"miaobi-{package.module_version()}.tar.gz"
    names = set(tarfile.open(archive).getnames())
    for path in ("module.py", "weights/generator.pdparams", "student/generator.pdparams", "upscaler/x4/NOTICE", "upscaler/x2/LICENSE",
                 "upscaler/x4/upscaler.json", "upscaler/x2/upscaler.json", "vendor/miaobi_core/synthesizer.py", "vendor/miaobi_core/palette.json",
                 "requirements.txt"):
        assert f"miaobi/{path}" in names
    assert not any("__pycache__" in n for n in names)
    requirements = tarfile.open(archive).extractfile("miaobi/requirements.txt").read().decode()
    assert "miaobi-project" not in requirements and "paddlepaddle==" in requirements and "ncnn==" in requirements
    assert package.build(tmp_path / "again").read_bytes() == archive.read_bytes()  # reproducible


def test_the_archive_installs_and_serves_without_the_project(tmp_path, palette, label_map):
    archive = package.build(tmp_path / "dist")
    # A fresh virtual environment that sees this one's third-party packages (a .pth line adds the folder;
    # the project's editable-install hook is a .pth file there, which such a folder does not run).
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    fresh_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                check=True, capture_output=True, text=True).stdout.strip()
    (tmp_path / "venv" / fresh_site / "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {**os.environ, "HUB_HOME": str(tmp_path / "hub_home")}
    (tmp_path / "hub_home" / "conf").mkdir(parents=True)
    (tmp_path / "hub_home" / "conf" / "config.yaml").write_text("server: http://127.0.0.1:9\n")
    hub = [python, "-c", HUB_CLI]
    alone = subprocess.run([python, "-c", "import paddle, paddlehub, ncnn; import miaobi_core"], cwd=tmp_path,
                           env=env, capture_output=True, text=True)
    assert "No module named 'miaobi_core'" in alone.stderr  # the third-party packages, and not the project

    installed = subprocess.run([*hub, "install", str(archive)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "Successfully installed miaobi" in installed.stdout + installed.stderr, installed.stderr
    with hub_serving(hub=hub, env=env, cwd=tmp_path) as url:
        drawing = png_to_b64(encode_png(palette.colorize(label_map)))
        body = requests.post(url, json={"images": [drawing], "seed": 3, "size": 96}, timeout=120).json()
    assert body["status"] == "000", body
    assert decode_b64_image(body["results"][0]).size == (96, 96)
