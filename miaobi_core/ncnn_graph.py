"""An upscaler's ncnn files rebuilt as an OpenVINO model, so OpenVINO's convolutions can run it.

Why: on this CPU OpenVINO (oneDNN, float32) runs Real-ESRGAN general x4 v3, 34 convolutions of 64 channels at
the model's 128 px, faster than ncnn (docs/performance.md). The ncnn files stay the one copy of the weights:
the model is built in memory from them at start-up, and serving keeps it only if its pictures match ncnn's
(:func:`miaobi_core.upscale.Upscaler`).

Only the layers our upscalers use are known (Real-ESRGAN's SRVGG-compact and its students; waifu2x's
convolutions and deconvolution); anything else raises :class:`UnknownLayer` and the network stays in ncnn.
The formats: https://github.com/Tencent/ncnn/wiki/param-and-model-file-structure
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RAW, HALF = 0, 0x01306B47  # the flag before a weight array: float32, or float16 (each padded to 4 bytes)


class UnknownLayer(ValueError):
    """An ncnn layer (or setting) this builder does not know."""


@dataclass(frozen=True)
class Layer:
    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[str, str]

    def int(self, key: str, default: int = 0) -> int:
        return int(self.params.get(key, default))


def read_param(path: Path) -> list[Layer]:
    lines = Path(path).read_text().split("\n")
    if lines[0].strip() != "7767517":
        raise UnknownLayer(f"{path}: not an ncnn param file")
    layers = []
    for line in filter(str.strip, lines[2:]):
        words = line.split()
        inputs, outputs = int(words[2]), int(words[3])
        blobs = words[4:4 + inputs + outputs]
        params = dict(word.split("=", 1) for word in words[4 + inputs + outputs:])
        layers.append(Layer(words[0], words[1], tuple(blobs[:inputs]), tuple(blobs[inputs:]), params))
    return layers


class _Weights:
    """The .bin file read in layer order: flagged arrays for convolution kernels, raw float32 for the rest."""

    def __init__(self, path: Path):
        self.data, self.at = Path(path).read_bytes(), 0

    def raw(self, count: int) -> np.ndarray:
        array = np.frombuffer(self.data, np.float32, count, self.at)
        self.at += 4 * count
        return array

    def flagged(self, count: int) -> np.ndarray:
        (flag,) = struct.unpack_from("<I", self.data, self.at)
        self.at += 4
        if flag == RAW:
            return self.raw(count)
        if flag == HALF:
            array = np.frombuffer(self.data, np.float16, count, self.at).astype(np.float32)
            self.at += 2 * count + (-2 * count) % 4
            return array
        raise UnknownLayer(f"weights stored with flag {flag:#x} (quantized?)")


def openvino_model(param: Path, weights: Path, input_blob: str, output_blob: str):
    """The network as an ``openvino.Model`` taking (1, 3, H, W) float32 RGB in [0, 1], like ncnn's."""
    import openvino as ov
    import openvino.opset13 as ops

    source = _Weights(weights)
    data = ops.parameter([1, 3, -1, -1], np.float32, name=input_blob)
    blobs = {}
    for layer in read_param(param):
        x = [blobs[name] for name in layer.inputs]
        if layer.kind == "Input":
            out = data
        elif layer.kind == "Split":
            out = x[0]
        elif layer.kind in ("Convolution", "Deconvolution"):
            out = _convolution(ops, layer, x[0], source)
        elif layer.kind == "PReLU":
            slopes = source.raw(layer.int("0"))
            out = ops.prelu(x[0], ops.constant(slopes.reshape(-1, 1, 1).copy()))
        elif layer.kind == "PixelShuffle" and layer.int("1") == 0:  # mode 0: PyTorch's channel order
            out = ops.depth_to_space(x[0], "depth_first", layer.int("0"))
        elif layer.kind == "Interp" and layer.int("0") == 1:  # nearest, by scale factors
            scales = np.array([1, 1, float(layer.params["1"]), float(layer.params["2"])], np.float32)
            out = ops.interpolate(x[0], ops.constant(scales), "nearest", "scales", nearest_mode="floor",
                                  coordinate_transformation_mode="asymmetric")
        elif layer.kind == "BinaryOp" and layer.int("0") == 0 and len(x) == 2:  # op 0: add
            out = ops.add(x[0], x[1])
        else:
            raise UnknownLayer(f"ncnn layer {layer.kind} {layer.params}")
        for name in layer.outputs:
            blobs[name] = out
    if source.at != len(source.data):
        raise UnknownLayer(f"{weights}: {len(source.data) - source.at} bytes of weights were not read")
    return ov.Model([blobs[output_blob]], [data], "upscaler")


def _convolution(ops, layer: Layer, x, source: _Weights):
    outputs, kernel, size = layer.int("0"), layer.int("1"), layer.int("6")
    if layer.int("11", kernel) != kernel or layer.int("2", 1) != 1 or layer.int("12", 1) != 1:
        raise UnknownLayer(f"a non-square or dilated kernel: {layer.params}")
    stride, pad = layer.int("3", 1), layer.int("4")
    if layer.int("13", stride) != stride or layer.int("14", pad) != pad or pad < 0:
        raise UnknownLayer(f"uneven strides or padding: {layer.params}")
    kernel_weights = source.flagged(size).reshape(outputs, -1, kernel, kernel)
    bias = source.raw(outputs) if layer.int("5") else np.zeros(outputs, np.float32)
    if layer.kind == "Convolution":
        out = ops.convolution(x, ops.constant(kernel_weights.copy()), [stride] * 2, [pad] * 2, [pad] * 2, [1, 1],
                              name=layer.name)
    else:  # ncnn keeps (out, in, k, k); OpenVINO's backprop-data convolution takes (in, out, k, k)
        filters = np.ascontiguousarray(kernel_weights.transpose(1, 0, 2, 3))
        out = ops.convolution_backprop_data(x, ops.constant(filters), [stride] * 2, pads_begin=[pad] * 2,
                                            pads_end=[pad] * 2, dilations=[1, 1], name=layer.name)
    out = ops.add(out, ops.constant(bias.reshape(1, -1, 1, 1).copy()))
    activation = layer.int("9")
    if activation == 0:
        return out
    if activation == 1:
        return ops.relu(out)
    if activation == 2:  # leaky ReLU, its slope the one activation parameter (-23310 is that array's key)
        slope = float(layer.params["-23310"].split(",")[1])
        return ops.prelu(out, ops.constant(np.array([slope], np.float32)))
    raise UnknownLayer(f"activation {activation}")
