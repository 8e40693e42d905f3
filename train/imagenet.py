"""Paddle ports of the two shared ImageNet classifiers, read from their published files.

They have separate jobs, and keeping them apart keeps the judge honest (a
network that trains the model and also judges it rewards fooling that network):

- **SqueezeNet 1.1** (ncnn file, fp16 weights) *trains*: its features feed the
  perceptual loss and the frozen discriminator trunk. It is differentiable and
  runs inside the training step.
- **MobileNetV2 1.0 224** (TFLite, int8 weights with per-channel scales) *judges*:
  its 1280-d pooled features give the quality report's Frechet distance. It is
  never used in a training loss.

Both are rebuilt layer by layer in paddle and filled with the published
weights (MobileNetV2's dequantized: ``scale * (q - zero_point)``), so they run
in float32 wherever paddle runs. ``python -m train.imagenet`` checks each port
against its reference runtime (ncnn, LiteRT) on real photos. Nothing here is
downloaded and nothing from ``../shared/models`` is copied into the repository.
"""
from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from miaobi_core.codec import pictures_to_unit

MODELS = Path("../shared/models")
SQUEEZENET_DIR = MODELS / "squeezenet"
MOBILENET_V2 = "mobilenet_v2/tf2_mobilenet_v2_1.0_224_ptq.tflite"  # inside the shared models folder
MOBILENET_V2_FILE = MODELS / MOBILENET_V2

SQUEEZENET_SIZE = 227
SQUEEZENET_BGR_MEAN = (104.0, 117.0, 123.0)
SQUEEZENET_STAGES = [64, 128, 256, 512]  # channels of SqueezeNet.stages' taps
MOBILENET_V2_SIZE = 224


# ---------------------------------------------------------------------------------------------- SqueezeNet 1.1


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
    _fill(targets, [(w, b) for _, w, b in convolutions], folder)
    return frozen_network(net)


# ---------------------------------------------------------------------------------------------- MobileNetV2


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
    _fill(targets + [net.head, net.classifier], layers, path)
    grids = grids[:-1]  # the logits' grid: they are compared as float probabilities
    if len(grids) != len(net.grids()):
        raise ValueError(f"{path}: {len(grids)} quantized activations, the port has {len(net.grids())}")
    for grid, spec in zip(net.grids(), grids):
        grid.configure(*spec)
    return frozen_network(net)


# ---------------------------------------------------------------------------------------------- shared


def _fill(convolutions: list, weights: list[tuple[np.ndarray, np.ndarray]], source) -> None:
    if len(convolutions) != len(weights):
        raise ValueError(f"{source}: {len(weights)} convolutions in the file, the port has {len(convolutions)}")
    for conv, (weight, bias) in zip(convolutions, weights):
        if list(conv.weight.shape) != list(weight.shape):
            raise ValueError(f"{source}: weight of shape {weight.shape} for a layer of shape {conv.weight.shape}")
        conv.weight.set_value(weight.astype(np.float32))
        conv.bias.set_value(bias.astype(np.float32))


def frozen_network(net: nn.Layer) -> nn.Layer:
    """``net`` in eval mode with no trainable weights: a fixed feature network or reader."""
    net.eval()
    for p in net.parameters():
        p.stop_gradient = True
    return net


# ---------------------------------------------------------------------------------------------- reference runtimes


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


def port_outputs(net: nn.Layer, batch: paddle.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(softmax probabilities, pooled features) of a port, as numpy."""
    with paddle.no_grad():
        return (F.softmax(net(batch), axis=1).numpy().astype(np.float32),
                net.pooled(batch).numpy().astype(np.float32))


def parity(reference: tuple[np.ndarray, np.ndarray], port: tuple[np.ndarray, np.ndarray]) -> dict:
    """Top-1 agreement and pooled-feature cosine (mean and worst) between a port and its reference runtime."""
    (ref_prob, ref_pool), (prob, pool) = reference, port
    cosine = (ref_pool * pool).sum(1) / (np.linalg.norm(ref_pool, axis=1) * np.linalg.norm(pool, axis=1) + 1e-12)
    return {"top1_agreement": float((ref_prob.argmax(1) == prob.argmax(1)).mean()),
            "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()), "count": len(cosine)}


def resized(photos: list[np.ndarray], side: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR)) for p in photos])


def check_ports(photos: list[np.ndarray]) -> dict[str, dict]:
    """Both ports against their reference runtimes on the same photos."""
    small = resized(photos, SQUEEZENET_SIZE)
    squeezenet = port_outputs(load_squeezenet(), squeezenet_input(
        paddle.to_tensor(pictures_to_unit(small))))
    mobile = resized(photos, MOBILENET_V2_SIZE)
    mobilenet = port_outputs(load_mobilenet_v2(), mobilenet_v2_input(mobile))
    return {"SqueezeNet 1.1 (paddle vs ncnn)": parity(squeezenet_reference(small), squeezenet),
            "MobileNetV2 (paddle, int8 grid, vs LiteRT)": parity(mobilenet_v2_reference(mobile), mobilenet)}


def main(argv=None) -> int:
    from miaobi_core.runtime import configure_cpu
    from PIL import Image

    parser = argparse.ArgumentParser(prog="python -m train.imagenet", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data/landscapes", help="photos: <root>/test/<scene>/*.jpg")
    parser.add_argument("--count", type=int, default=200, help="test photos, spread evenly over the split")
    args = parser.parse_args(argv)
    configure_cpu()
    paths = sorted(Path(args.data_root).glob("test/*/*.jpg"))
    if not paths:
        raise SystemExit(f"no photos under {args.data_root}/test/<scene>/")
    picks = np.linspace(0, len(paths) - 1, min(args.count, len(paths))).round().astype(int)
    photos = [np.asarray(Image.open(paths[i]).convert("RGB")) for i in picks]
    print("| port | photos | top-1 agreement | pooled cosine, mean | pooled cosine, worst |\n|---|---:|---:|---:|---:|")
    for name, r in check_ports(photos).items():
        print(f"| {name} | {r['count']} | {100 * r['top1_agreement']:.1f}% | {r['cosine_mean']:.4f} | {r['cosine_min']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
