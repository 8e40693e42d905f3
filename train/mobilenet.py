"""MobileNetV2 1.0 224, the ImageNet network that *judges*: a paddle port of the shared TFLite file (int8
weights with per-channel scales, dequantized: ``scale * (q - zero_point)``, run in float32 on an int8 grid).

Its 1280-d pooled features give the quality report's Frechet distance and the real-vs-picture detector.
It is never used in a training loss, and no training code imports this module (``tests/test_imagenet.py``
checks that): the networks that train are SqueezeNet's (:mod:`train.squeezenet`). ``python -m
train.imagenet`` checks the port against LiteRT.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .files import SHARED_MODELS
from .ports import fill, frozen_network

MOBILENET_V2 = "mobilenet_v2/tf2_mobilenet_v2_1.0_224_ptq.tflite"  # inside the shared models folder
MOBILENET_V2_FILE = SHARED_MODELS / MOBILENET_V2
MOBILENET_V2_SIZE = 224


class Int8Grid(nn.Layer):
    """Rounds activations to one tensor's int8 grid of the TFLite file, as LiteRT's integer kernels do.

    Without it the float port disagrees with the int8 reference on ~10% of top-1 classes of
    landscape photos (many are near-ties: alp, valley, lakeside), while features agree. A
    convolution's output is requantized as LiteRT does it (checked bit for bit on every layer):
    the integer sum, recovered from the float one, times a float32 multiplier, rounded.
    """

    def __init__(self):
        super().__init__()
        self.scale = self.zero_point = None  # set by load_mobilenet_v2
        self.sum_scale = None  # per channel, input scale x weight scale: the unit of a convolution's integer sum
        self.addends = None  # (scale of each input) for an addition's grid

    def configure(self, scale: float, zero_point: float, sum_scale: np.ndarray | None = None,
                  addends: tuple[float, float] | None = None) -> None:
        self.scale, self.zero_point, self.addends = scale, zero_point, addends
        if sum_scale is not None:
            self.sum_scale = paddle.to_tensor(sum_scale.astype(np.float32).reshape(1, -1, 1, 1))
            self.multiplier = paddle.to_tensor((sum_scale / scale).astype(np.float32).reshape(1, -1, 1, 1))

    def forward(self, x, addend=None):
        """x on this grid; with ``addend``, x + addend as XNNPACK's int8 addition rounds it."""
        if self.scale is None:
            return x if addend is None else x + addend
        if addend is not None:
            steps = self._sum_steps(x, addend)
        elif self.sum_scale is None:
            steps = paddle.floor(x / self.scale + 0.5)
        else:
            # LiteRT rounds half to even here; exact halves of a float32 product are too rare to pay for.
            steps = paddle.round(paddle.round(x / self.sum_scale) * self.multiplier)
        return paddle.clip(steps, -128 - self.zero_point, 127 - self.zero_point) * self.scale

    def _sum_steps(self, a, b):
        # Each input's integers times a multiplier with 20 significant bits, one shared power-of-two
        # shift, rounded down after adding half.
        ratios = [np.float32(s / self.scale) for s in self.addends]
        shift = 20 - (int(np.float32(max(ratios)).view(np.uint32) >> 23) - 127)
        multipliers = [float(np.rint(r * np.float32(2.0 ** shift))) for r in ratios]
        total = multipliers[0] * paddle.round(a / self.addends[0]) + multipliers[1] * paddle.round(b / self.addends[1])
        return paddle.floor((total + 2.0 ** (shift - 1)) / 2.0 ** shift)


class InvertedResidual(nn.Layer):
    """MobileNetV2's block: 1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear project; identity if shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.expand = nn.Conv2D(cin, hidden, 1) if expansion != 1 else None
        # TensorFlow's SAME padding: a stride-2 layer pads only bottom/right on even sizes.
        self.depthwise = nn.Conv2D(hidden, hidden, 3, stride=stride, padding="SAME", groups=hidden)
        self.project = nn.Conv2D(hidden, cout, 1)
        self.residual = stride == 1 and cin == cout
        self.grids = nn.LayerList([Int8Grid() for _ in range(2 + (expansion != 1) + self.residual)])

    def forward(self, x):
        grids = iter(self.grids)  # in graph order: expand, depthwise, project, sum
        y = next(grids)(F.relu6(self.expand(x))) if self.expand is not None else x
        y = next(grids)(F.relu6(self.depthwise(y)))
        y = next(grids)(self.project(y))
        return next(grids)(x, y) if self.residual else y


class MobileNetV2(nn.Layer):
    """MobileNetV2 1.0 (Sandler et al. 2018) as in the TFLite file; input RGB scaled by :func:`mobilenet_v2_input`."""

    # (expansion t, channels c, repeats n, first stride s), the paper's Table 2
    SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
    FEATURES = 1280

    def __init__(self, classes: int = 1001):
        super().__init__()
        self.stem = nn.Conv2D(3, 32, 3, stride=2, padding="SAME")
        blocks, cin = [], 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.blocks = nn.LayerList(blocks)
        self.head = nn.Conv2D(cin, self.FEATURES, 1)
        self.classifier = nn.Conv2D(self.FEATURES, classes, 1)  # TFLite keeps the logits layer a 1x1 conv
        self.stem_grid, self.head_grid, self.pooled_grid = Int8Grid(), Int8Grid(), Int8Grid()

    def grids(self) -> list[Int8Grid]:
        """Every activation grid in the TFLite graph's order (the logits stay float)."""
        return [self.stem_grid, *(g for b in self.blocks for g in b.grids), self.head_grid, self.pooled_grid]

    def pooled(self, x):
        """(N, 1280) global average before the classifier: the judge's feature space."""
        x = self.stem_grid(F.relu6(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return self.pooled_grid(self.head_grid(F.relu6(self.head(x))).mean(axis=[2, 3]))

    def forward(self, x):
        """(N, 1001) logits; class 0 is 'background', 1-1000 ImageNet's."""
        return self.classifier(self.pooled(x)[:, :, None, None]).flatten(1)


# The TFLite file's input quantization: uint8 RGB u stands for (u - 127) * 0.00784314 (about [-1, 1]).
MOBILENET_V2_ZERO_POINT, MOBILENET_V2_SCALE = 127.0, np.float64(np.float32(0.007843137718737125))


def mobilenet_v2_input(rgb_uint8: np.ndarray) -> paddle.Tensor:
    """(N, H, W, 3) uint8 RGB at 224 px -> the float input the TFLite file's input quantization stands for."""
    return paddle.to_tensor(((rgb_uint8.astype(np.float64) - MOBILENET_V2_ZERO_POINT) * MOBILENET_V2_SCALE
                             ).transpose(0, 3, 1, 2).astype(np.float32))


def _tflite_interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter  # judging and labelling only; never the serving path

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    return interpreter


def _dequantized(interpreter, index: int) -> np.ndarray:
    detail = interpreter._get_tensor_details(index, subgraph_index=0)
    q = detail["quantization_parameters"]
    values = interpreter.get_tensor(index).astype(np.float64)
    axis = q["quantized_dimension"]
    shape = [1] * values.ndim
    shape[axis] = -1
    return (values - q["zero_points"].reshape(shape)) * q["scales"].astype(np.float64).reshape(shape)


def read_tflite_graph(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple]]:
    """From a TFLite file, in graph order: (weight (out, in/groups, kh, kw), bias) of each convolution,
    dequantized, and the int8 (scale, zero point, unit of the integer sum or None) of each convolution's,
    sum's and mean's output."""
    interpreter = _tflite_interpreter(path)
    layers, grids = [], []
    for op in interpreter._get_ops_details():
        name, sum_scale, addends = op["op_name"], None, None
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            source, weight_index, bias_index = (int(i) for i in op["inputs"][:3])
            weight = _dequantized(interpreter, weight_index)
            # LiteRT adds the int32 bias to the integer sum, i.e. in units of input scale x weight scale
            # (the stored bias scale is that product rounded to float32).
            scales = [interpreter._get_tensor_details(i, subgraph_index=0)["quantization_parameters"]["scales"]
                      for i in (source, weight_index)]
            sum_scale = scales[0].astype(np.float64) * scales[1].astype(np.float64)
            bias = interpreter.get_tensor(bias_index) * sum_scale
            # TFLite stores (out, kh, kw, in) for convolutions and (1, kh, kw, channels) for depthwise ones.
            layers.append((weight.transpose(0, 3, 1, 2) if name == "CONV_2D" else weight.transpose(3, 0, 1, 2), bias))
        if name == "ADD":
            addends = tuple(float(interpreter._get_tensor_details(int(i), subgraph_index=0)["quantization_parameters"]
                                  ["scales"][0]) for i in op["inputs"])
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN"):
            q = interpreter._get_tensor_details(int(op["outputs"][0]), subgraph_index=0)["quantization_parameters"]
            grids.append((float(q["scales"][0]), float(q["zero_points"][0]), sum_scale, addends))
    return layers, grids


def load_mobilenet_v2(path: str | Path = MOBILENET_V2_FILE) -> MobileNetV2:
    """MobileNetV2 with the TFLite file's dequantized weights, frozen, in eval mode, every activation
    rounded to the file's int8 grid as LiteRT does (so the judge agrees with the reference runtime)."""
    net = MobileNetV2()
    targets = [net.stem] + [c for b in net.blocks for c in (b.expand, b.depthwise, b.project) if c is not None]
    layers, grids = read_tflite_graph(Path(path))
    fill(targets + [net.head, net.classifier], layers, path)
    grids = grids[:-1]  # the logits' grid: they are compared as float probabilities
    if len(grids) != len(net.grids()):
        raise ValueError(f"{path}: {len(grids)} quantized activations, the port has {len(net.grids())}")
    for grid, spec in zip(net.grids(), grids):
        grid.configure(*spec)
    return frozen_network(net)


# ---------------------------------------------------------------------------------------------- shared


def mobilenet_v2_reference(rgb_uint8: np.ndarray, path: Path = MOBILENET_V2_FILE) -> tuple[np.ndarray, np.ndarray]:
    """LiteRT's (prob (N, 1001), pooled (N, 1280)) for (N, 224, 224, 3) uint8 RGB photos (int8 arithmetic)."""
    interpreter = _tflite_interpreter(path)
    ops = interpreter._get_ops_details()
    mean_op = next(op for op in ops if op["op_name"] == "MEAN")
    pooled_index = int(mean_op["outputs"][0])
    input_index, output = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]
    probs, pooled = [], []
    for image in rgb_uint8:
        interpreter.set_tensor(input_index, image[None])
        interpreter.invoke()
        probs.append(_dequantized(interpreter, output["index"])[0])
        pooled.append(_dequantized(interpreter, pooled_index).reshape(-1))
    return np.stack(probs), np.stack(pooled)
