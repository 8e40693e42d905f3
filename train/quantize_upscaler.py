"""An int8 copy of an ncnn upscaler for OpenVINO: ``python -m train.quantize_upscaler [FOLDER]``.

The x2 upscaler (waifu2x upconv_7: six 3x3 convolutions and a 4x4 deconvolution, ~10 GMAC for a
128 px picture) costs about 50 ms of the 70 a 256 px request takes on two cores. This rebuilds the
network as an ONNX graph with int8 weights (one scale per output channel, symmetric) and int8
activations (one scale per tensor, from the largest value the float network produces on
calibration pictures), which OpenVINO runs on the CPU's int8 dot-product units (VNNI on this EPYC).
The last layer (the deconvolution to RGB) stays in float: it is 2% of the work and its output is
the picture. The file is written beside the ncnn one and named in ``upscaler.json``
(``int8_onnx``); serving uses it only when it paints within the parity bar of the ncnn network
(miaobi_core/upscale.py), else the ncnn network as before.

Calibration pictures are the default model's own pictures of training label maps (never held-out
ones), one seed each: the upscaler's input in serving.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miaobi_core.runtime import configure_cpu
from miaobi_core.upscale import SPEC_NAME, Upscaler, UpscalerSpec

from .files import PSEUDO_LABELS

REPO = Path(__file__).resolve().parent.parent
FP16_TAG = 0x01306B47  # ncnn's tag before a float16 weight blob (flag 0: float32)


@dataclass
class Layer:
    """One ncnn Convolution or Deconvolution with its fused activation."""

    kind: str
    bottom: str  # the blob it reads
    weight: np.ndarray  # ONNX layout: Conv (out, in, k, k), ConvTranspose (in, out, k, k)
    bias: np.ndarray
    stride: int
    pad: int
    slope: float | None  # LeakyRelu slope after the layer (0 = ReLU), None = no activation


def read_ncnn(param: Path, model: Path) -> list[Layer]:
    """The layers of a plain ncnn chain of Convolution / Deconvolution layers (waifu2x's upconv networks)."""
    lines = [line.split() for line in Path(param).read_text().splitlines()[2:] if line.strip()]
    raw, offset, layers, channels = Path(model).read_bytes(), 0, [], 3
    for fields in lines:
        if fields[0] == "Input":
            continue
        if fields[0] not in ("Convolution", "Deconvolution") or fields[2:4] != ["1", "1"]:
            raise ValueError(f"{param}: layer {fields[1]} ({fields[0]}) is not a one-in, one-out (de)convolution; "
                             "only plain upconv chains can be quantized here")
        values = dict(item.split("=", 1) for item in fields[6:])
        outputs, kernel, size = int(values["0"]), int(values["1"]), int(values["6"])
        (tag,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if tag == FP16_TAG:
            weight = np.frombuffer(raw, np.float16, size, offset).astype(np.float32)
            offset += (size * 2 + 3) // 4 * 4
        elif tag == 0:
            weight = np.frombuffer(raw, np.float32, size, offset).copy()
            offset += size * 4
        else:
            raise ValueError(f"{model}: layer {fields[1]} stores its weights as {tag:#x}; float16 or float32 expected")
        bias = np.zeros(outputs, np.float32)
        if values.get("5", "0") == "1":
            bias = np.frombuffer(raw, np.float32, outputs, offset).copy()
            offset += outputs * 4
        activation = int(values.get("9", "0"))  # ncnn's fused activation: 0 none, 1 ReLU, 2 leaky ReLU
        if activation not in (0, 1, 2):
            raise ValueError(f"{param}: layer {fields[1]} has activation type {activation}; none, ReLU or leaky ReLU expected")
        slope = {0: None, 1: 0.0, 2: float(values.get("-23310", "1,0").split(",")[1])}[activation]
        shape = (outputs, channels, kernel, kernel)
        weight = weight.reshape(shape) if fields[0] == "Convolution" else weight.reshape(shape).transpose(1, 0, 2, 3)
        layers.append(Layer(fields[0], fields[4], weight, bias, int(values.get("3", "1")), int(values.get("4", "0")),
                            slope))
        channels = outputs
    if offset != len(raw):
        raise ValueError(f"{model}: {len(raw) - offset} bytes left after the layers of {param}")
    return layers


def activation_ranges(upscaler: Upscaler, layers: list[Layer], pictures) -> dict[str, float]:
    """The largest magnitude of each quantized layer's input over the pictures, run through the float network."""
    blobs = [layer.bottom for layer in layers[:-1]]
    ranges = dict.fromkeys(blobs, 0.0)
    for picture in pictures:
        for blob, values in zip(blobs, upscaler.blobs(picture, blobs)):
            ranges[blob] = max(ranges[blob], float(np.abs(values).max()))
    return ranges


def int8_graph(layers: list[Layer], ranges: dict[str, float]):
    """The ONNX model: int8 weights and activations for every layer but the last, which stays in float."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, x = [], [], "input"

    def constant(name, value):
        initializers.append(numpy_helper.from_array(value, name))
        return name

    for i, layer in enumerate(layers):
        if i == len(layers) - 1:
            weight = constant(f"weight{i}", layer.weight)
        else:  # Quantize-dequantize pairs: OpenVINO fuses them into int8 convolutions.
            scale = constant(f"input{i}_scale", np.float32(max(ranges[layer.bottom], 1e-8) / 127))
            zero = constant(f"input{i}_zero", np.int8(0))
            nodes += [helper.make_node("QuantizeLinear", [x, scale, zero], [f"input{i}_q"]),
                      helper.make_node("DequantizeLinear", [f"input{i}_q", scale, zero], [f"input{i}_dq"])]
            x = f"input{i}_dq"
            peaks = np.abs(layer.weight).reshape(len(layer.weight), -1).max(axis=1)
            scales = (np.maximum(peaks, 1e-8) / 127).astype(np.float32)
            quantized = np.clip(np.round(layer.weight / scales[:, None, None, None]), -127, 127).astype(np.int8)
            weight = f"weight{i}"
            nodes.append(helper.make_node("DequantizeLinear", [constant(f"weight{i}_q", quantized),
                                                               constant(f"weight{i}_scale", scales),
                                                               constant(f"weight{i}_zero", np.zeros_like(quantized[:, 0, 0, 0]))],
                                          [weight], axis=0))
        kernel = list(layer.weight.shape[2:])
        op = "Conv" if layer.kind == "Convolution" else "ConvTranspose"
        out = "output" if i == len(layers) - 1 and layer.slope is None else f"layer{i}"
        nodes.append(helper.make_node(op, [x, weight, constant(f"bias{i}", layer.bias)], [out], kernel_shape=kernel,
                                      strides=[layer.stride] * 2, pads=[layer.pad] * 4))
        x = out
        if layer.slope is not None:
            x = "output" if i == len(layers) - 1 else f"activation{i}"
            nodes.append(helper.make_node("LeakyRelu", [out], [x], alpha=layer.slope))
    picture = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, None, None])
    graph = helper.make_graph(nodes, "upscaler_int8", [picture("input")], [picture("output")], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def quantize(folder: str | Path, pictures) -> Path:
    """Writes the int8 ONNX copy of ``folder``'s ncnn network and names it in its upscaler.json."""
    import onnx

    folder = Path(folder)
    spec = UpscalerSpec.read(folder)
    layers = read_ncnn(folder / spec.param, folder / spec.model)
    ranges = activation_ranges(Upscaler(folder, spec, int8=False), layers, pictures)
    path = folder / (Path(spec.model).stem + "_int8.onnx")
    onnx.save(int8_graph(layers, ranges), str(path))
    info = json.loads((folder / SPEC_NAME).read_text())
    info["int8_onnx"] = path.name
    (folder / SPEC_NAME).write_text(json.dumps(info, indent=2) + "\n")
    return path


def calibration_pictures(model: Path, data_root: str, count: int) -> list[np.ndarray]:
    """The model's pictures of ``count`` training label maps, at its own size (the upscaler's input)."""
    from miaobi_core.synthesizer import Synthesizer

    from .data import pseudo_labelled
    from .quality import load_pairs

    synthesizer = Synthesizer(model, backend="paddle")
    labels, _ = load_pairs(pseudo_labelled(data_root, "train"), synthesizer.native_size, count, "training maps")
    return synthesizer.generate(list(labels), seeds=list(range(len(labels))), size=synthesizer.native_size)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.quantize_upscaler", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default=str(REPO / "hub_module" / "miaobi" / "upscaler" / "x2"),
                        help="an upscaler folder whose ncnn network is a chain of (de)convolutions")
    parser.add_argument("--model", default=str(REPO / "hub_module" / "miaobi" / "weights"),
                        help="the generator whose pictures calibrate the activation ranges")
    parser.add_argument("--data-root", default=PSEUDO_LABELS, help="the labels of python -m train.pseudolabel")
    parser.add_argument("--count", type=int, default=64, help="training label maps painted for calibration")
    args = parser.parse_args(argv)
    configure_cpu()
    path = quantize(args.folder, calibration_pictures(Path(args.model), args.data_root, args.count))
    upscaler = Upscaler(args.folder)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); serving runs {upscaler.runtime} "
          f"({upscaler.parity_note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
