"""SqueezeNet 1.1, the ImageNet network that *trains*: a paddle port of the shared ncnn file (fp16 weights).

Its features feed the perceptual loss, the projected discriminator and the semantic reader; it is
differentiable and runs inside the training step. It never judges: the judge is MobileNetV2
(:mod:`train.mobilenet`), which no training code imports (``tests/test_imagenet.py`` checks that), since a
network that trains the model and also judges it rewards fooling that network. ``python -m train.imagenet``
checks the port against ncnn. Nothing is downloaded and nothing from ``../shared/models`` is copied here.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .files import SHARED_MODELS
from .ports import fill, frozen_network

SQUEEZENET_DIR = SHARED_MODELS / "squeezenet"
SQUEEZENET_SIZE = 227
SQUEEZENET_BGR_MEAN = (104.0, 117.0, 123.0)
SQUEEZENET_STAGES = [64, 128, 256, 512]  # channels of SqueezeNet.stages' taps


class Fire(nn.Layer):
    """SqueezeNet's fire module: a 1x1 squeeze, then 1x1 and 3x3 expands side by side (all ReLU)."""

    def __init__(self, cin: int, squeeze: int, expand: int):
        super().__init__()
        self.squeeze = nn.Conv2D(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2D(squeeze, expand, 1)
        self.expand3x3 = nn.Conv2D(squeeze, expand, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return paddle.concat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], axis=1)


class SqueezeNet(nn.Layer):
    """SqueezeNet 1.1 (Iandola et al. 2016) as the ncnn file lays it out (caffe's ceil-mode pooling).

    Input: BGR pixels in [0, 255] minus ``SQUEEZENET_BGR_MEAN`` (see :func:`squeezenet_input`).
    ``stages`` returns the activations after each of its three pooling stages and the last fire
    module: the taps a perceptual loss or a discriminator trunk reads.
    """

    FIRES = [(64, 16, 64), (128, 16, 64), (128, 32, 128), (256, 32, 128),
             (256, 48, 192), (384, 48, 192), (384, 64, 256), (512, 64, 256)]
    POOL_AFTER = (1, 3)  # max-pool after fire3 and fire5 (indices into FIRES)
    FEATURES = 512  # channels of the last fire module, the pooled feature size

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2D(3, 64, 3, stride=2)
        self.fires = nn.LayerList([Fire(*spec) for spec in self.FIRES])
        # The file pads this 1x1 convolution by 1 (a quirk of its conversion): the border carries
        # ReLU(bias) into the global average, so the port does the same.
        self.conv10 = nn.Conv2D(512, 1000, 1, padding=1)

    @staticmethod
    def _pool(x):
        return F.max_pool2d(x, 3, stride=2, ceil_mode=True)

    def stages(self, x) -> list:
        """[conv1 pooled (64 ch, /4), fire3 (128 ch, /4), fire5 (256 ch, /8), fire9 (512 ch, /16)]."""
        x = self._pool(F.relu(self.conv1(x)))
        taps = [x]
        for i, fire in enumerate(self.fires):
            x = fire(x)
            if i in self.POOL_AFTER:
                taps.append(x)
                x = self._pool(x)
        taps.append(x)
        return taps

    def pooled(self, x):
        """(N, 512) global average of the last fire module."""
        return self.stages(x)[-1].mean(axis=[2, 3])

    def forward(self, x):
        """(N, 1000) logits (softmax gives the ncnn file's ``prob``)."""
        return F.relu(self.conv10(self.stages(x)[-1])).mean(axis=[2, 3])


def squeezenet_input(rgb):
    """(N, 3, H, W) RGB in [-1, 1] (the generator's range) -> SqueezeNet's BGR mean-subtracted input.

    Differentiable; the picture keeps its size (SqueezeNet is fully convolutional).
    """
    mean = paddle.to_tensor(SQUEEZENET_BGR_MEAN[::-1], dtype=rgb.dtype).reshape([1, 3, 1, 1])
    return ((rgb + 1.0) * 127.5 - mean).flip(axis=1)


def unit_scaled(feature):
    """Each pixel's feature vector scaled to length sqrt(channels) (entries near 1): pretrained activations
    run into the hundreds, which untrained layers reading them would first have to unlearn."""
    return feature * (feature.shape[1] ** 0.5) / (feature.norm(axis=1, keepdim=True) + 1e-8)


def read_ncnn_convolutions(param_path: Path, bin_path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, weight (out, in, k, k) float32, bias) of each Convolution in an ncnn .param/.bin, in order.

    The .bin holds, per convolution: a 4-byte storage flag, the weights (fp16 for this flag,
    padded to 4 bytes), then float32 biases. Only the fp16 flag is accepted: another storage
    would be misread, so it fails instead.
    """
    fp16_flag = 0x01306B47
    data = bin_path.read_bytes()
    offset, layers = 0, []
    for line in param_path.read_text().splitlines()[2:]:
        fields = line.split()
        if not fields or fields[0] != "Convolution":
            continue
        options = dict(f.split("=") for f in fields[6:])
        out, kernel, size = int(options["0"]), int(options["1"]), int(options["6"])
        (flag,) = struct.unpack_from("<I", data, offset)
        if flag != fp16_flag:
            raise ValueError(f"{bin_path}: layer {fields[1]} has storage flag {flag:#x}, expected fp16 ({fp16_flag:#x})")
        offset += 4
        weight = np.frombuffer(data, np.float16, size, offset).astype(np.float32)
        offset += (size * 2 + 3) // 4 * 4
        bias = np.frombuffer(data, np.float32, out, offset).copy()
        offset += out * 4
        layers.append((fields[1], weight.reshape(out, size // (out * kernel * kernel), kernel, kernel), bias))
    if offset != len(data):
        raise ValueError(f"{bin_path}: {len(data) - offset} bytes left over after {len(layers)} convolutions")
    return layers


def load_squeezenet(folder: str | Path = SQUEEZENET_DIR) -> SqueezeNet:
    """SqueezeNet 1.1 with the ncnn file's weights, frozen, in eval mode."""
    folder = Path(folder)
    convolutions = read_ncnn_convolutions(folder / "squeezenet_v1.1.param", folder / "squeezenet_v1.1.bin")
    net = SqueezeNet()
    targets = [net.conv1] + [c for f in net.fires for c in (f.squeeze, f.expand1x1, f.expand3x3)] + [net.conv10]
    fill(targets, [(w, b) for _, w, b in convolutions], folder)
    return frozen_network(net)


def squeezenet_reference(rgb_uint8: np.ndarray, folder: Path = SQUEEZENET_DIR) -> tuple[np.ndarray, np.ndarray]:
    """ncnn's (prob (N, 1000), pooled last fire module (N, 512)) for (N, 227, 227, 3) uint8 RGB photos."""
    import ncnn

    net = ncnn.Net()
    # float32 throughout, as the port computes (ncnn would otherwise store activations in fp16 here)
    net.opt.use_fp16_storage = net.opt.use_fp16_arithmetic = net.opt.use_fp16_packed = False
    net.load_param(str(folder / "squeezenet_v1.1.param"))
    net.load_model(str(folder / "squeezenet_v1.1.bin"))
    probs, pooled = [], []
    for image in rgb_uint8:
        height, width = image.shape[:2]
        mat = ncnn.Mat.from_pixels(np.ascontiguousarray(image), ncnn.Mat.PixelType.PIXEL_RGB2BGR, width, height)
        mat.substract_mean_normalize(list(SQUEEZENET_BGR_MEAN), [1.0, 1.0, 1.0])
        extractor = net.create_extractor()
        extractor.set_light_mode(False)  # keep the inner blob readable after the output is computed
        extractor.input("data", mat)
        _, prob = extractor.extract("prob")
        _, fire9 = extractor.extract("fire9/concat_drop9")
        probs.append(np.array(prob).ravel())
        pooled.append(np.array(fire9).mean(axis=(1, 2)))
    return np.stack(probs), np.stack(pooled)
