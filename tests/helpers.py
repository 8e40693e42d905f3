"""Small helpers shared by the tests: images as base64, tiny trainers."""
import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

SHIPPED = Path(__file__).resolve().parent.parent / "hub_module" / "miaobi"  # the module as it ships


def png_b64(array: np.ndarray, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def decode_b64_image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))


def tiny_pseudo_labels(folder: Path, palette, label_map: np.ndarray, splits: list[str]) -> Path:
    """python -m train.pseudolabel's output in miniature: a photo per entry of ``splits``, each labelled with
    ``label_map`` (its first class bright, a little darker photo by photo, the rest dark)."""
    import json

    from miaobi_core.codec import encode_png

    entries = []
    for i, split in enumerate(splits):
        photo = np.where(label_map[..., None] == label_map[0, 0], 200 - 20 * i, 40).astype(np.uint8).repeat(3, 2)
        Image.fromarray(photo).save(folder / f"{i}.jpg")
        (folder / f"{i}.png").write_bytes(encode_png(label_map, palette.colors))
        entries.append({"photo": str(folder / f"{i}.jpg"), "label": f"{i}.png", "split": split, "scene": "sea"})
    (folder / "manifest.json").write_text(json.dumps({"photos": entries}))
    return folder


# A trainer small enough for a unit test: a few channels, 64 px, procedural data.
TINY_G = dict(ngf=4, z_dim=8, spade_hidden=8, encoder_nef=4, norm="clade_icpe")
TINY_T = dict(data="procedural", image_size=64, batch_size=2, ndf=8, n_layers_d=3, num_d=2, lambda_vgg=0.0,
              log_every=1, sample_every=2, checkpoint_every=2)


def make_trainer(tmp_path, **train):
    from miaobi_core.config import GeneratorConfig
    from train.config import TrainConfig
    from train.trainer import Trainer

    return Trainer(GeneratorConfig(**TINY_G), TrainConfig(run_dir=str(tmp_path), **{**TINY_T, **train}))


def snapshot(layer):
    return {k: v.numpy().copy() for k, v in layer.state_dict().items()}


def stop_a_run(command: list[str], run_dir, signum) -> str:
    """Start ``python -m train`` (``command``), send ``signum`` once its first step is logged, and return its
    output after it exits cleanly with the message saying how to resume."""
    import subprocess
    import time

    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "log.jsonl").is_file() or not (run_dir / "log.jsonl").read_text():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
        time.sleep(0.2)
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "continue with --resume" in output
    return output
