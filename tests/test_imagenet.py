"""The paddle ports of the shared ImageNet networks agree with their reference runtimes."""
import struct

import numpy as np
import paddle
import pytest

from train import mobilenet, ports, squeezenet
from train.data import ProceduralLandscapes
from train.files import SHARED_MODELS

MODELS = SHARED_MODELS
needs_models = pytest.mark.skipif(not (MODELS / "squeezenet").is_dir() or not (MODELS / "mobilenet_v2").is_dir(),
                                  reason="needs ../shared/models")


@pytest.fixture(scope="module")
def pictures(palette):
    """Four generated landscape-like pictures (no photo needed), 240 px."""
    scenes = ProceduralLandscapes(palette, size=240, length=4, seed=3)
    return [scenes[i][1] for i in range(len(scenes))]


@needs_models
def test_squeezenet_port_matches_ncnn(pictures):
    small = ports.resized(pictures, squeezenet.SQUEEZENET_SIZE)
    batch = squeezenet.squeezenet_input(paddle.to_tensor(small.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1))
    port = ports.port_outputs(squeezenet.load_squeezenet(MODELS / "squeezenet"), batch)
    result = ports.parity(squeezenet.squeezenet_reference(small, MODELS / "squeezenet"), port)
    assert result["top1_agreement"] == 1.0
    assert result["cosine_min"] > 0.9999


@needs_models
def test_mobilenet_v2_port_matches_litert(pictures):
    path = MODELS / mobilenet.MOBILENET_V2
    mobile = ports.resized(pictures, mobilenet.MOBILENET_V2_SIZE)
    port = ports.port_outputs(mobilenet.load_mobilenet_v2(path), mobilenet.mobilenet_v2_input(mobile))
    reference = mobilenet.mobilenet_v2_reference(mobile, path)
    result = ports.parity(reference, port)
    assert result["top1_agreement"] == 1.0
    assert result["cosine_min"] > 0.99
    np.testing.assert_allclose(port[0], reference[0], atol=0.02)  # probabilities, on the file's 1/256 grid


@needs_models
def test_squeezenet_trains_a_picture(palette):
    """SqueezeNet's job is training: gradients reach the picture through every stage, none reach its weights."""
    net = squeezenet.load_squeezenet(MODELS / "squeezenet")
    picture = paddle.uniform([2, 3, 64, 64], min=-1, max=1)
    picture.stop_gradient = False
    stages = net.stages(squeezenet.squeezenet_input(picture))
    assert [s.shape[1] for s in stages] == [64, 128, 256, 512]
    sum(s.mean() for s in stages).backward()
    assert picture.grad is not None and float(picture.grad.abs().sum()) > 0
    assert all(p.grad is None for p in net.parameters())


def test_squeezenet_input_is_bgr_minus_mean():
    white_red = paddle.to_tensor(np.array([1.0, -1.0, -1.0], np.float32).reshape(1, 3, 1, 1))
    out = squeezenet.squeezenet_input(white_red).numpy().ravel()
    np.testing.assert_allclose(out, [0 - 104, 0 - 117, 255 - 123])  # B, G, R


def test_ncnn_reader_refuses_other_weight_storage(tmp_path):
    param = tmp_path / "net.param"
    param.write_text("7767517\n2 2\nInput data 0 1 data\nConvolution conv 1 1 data out 0=1 1=1 5=1 6=1\n")
    (tmp_path / "net.bin").write_bytes(struct.pack("<I", 0) + struct.pack("<f", 1.0) + struct.pack("<f", 0.0))
    with pytest.raises(ValueError, match="storage flag 0x0"):
        squeezenet.read_ncnn_convolutions(param, tmp_path / "net.bin")


def test_ncnn_reader_reads_fp16_weights_and_biases(tmp_path):
    param = tmp_path / "net.param"
    param.write_text("7767517\n2 2\nInput data 0 1 data\nConvolution conv 1 1 data out 0=2 1=1 5=1 6=6\n")
    weights = np.arange(6, dtype=np.float16)
    blob = struct.pack("<I", 0x01306B47) + weights.tobytes() + np.array([0.5, -1.5], np.float32).tobytes()
    (tmp_path / "net.bin").write_bytes(blob)
    [(name, weight, bias)] = squeezenet.read_ncnn_convolutions(param, tmp_path / "net.bin")
    assert name == "conv" and weight.shape == (2, 3, 1, 1)
    np.testing.assert_array_equal(weight.ravel(), np.arange(6))
    np.testing.assert_array_equal(bias, [0.5, -1.5])


def test_no_training_code_can_reach_the_judge():
    """MobileNetV2 judges the pictures, so nothing the training step runs may import it, even indirectly."""
    import subprocess
    import sys

    training = ["train.trainer", "train.distill", "train.semantic", "train.losses", "train.discriminator"]
    probe = ("import sys, importlib\n"
             f"for name in {training!r}: importlib.import_module(name)\n"
             "print(sorted(m for m in sys.modules if m in ('train.mobilenet', 'train.metrics', 'train.quality')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
