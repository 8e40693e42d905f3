"""The one generator definition: SPADE (Park et al., CVPR 2019) and its cheaper kin.

Read top to bottom: the label-map helpers, the three ways to
modulate a normalised activation (SPADE, CLADE, CLADE-ICPE), the residual
block, the optional VAE image encoder, and the generator itself.

Shapes: label maps enter as one-hot ``(B, num_classes, H, W)`` float tensors
(an ignored pixel is all zeros); images are ``(B, 3, H, W)`` in [-1, 1].
H and W must be multiples of 32 (``GeneratorConfig.size_multiple``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .codec import onehot
from .config import GeneratorConfig


# --------------------------------------------------------------------------- label maps

def label_onehot(label_map, num_classes: int) -> paddle.Tensor:
    """(B, H, W) integer ids (array or tensor) -> (B, num_classes, H, W) float one-hot tensor, by codec.onehot."""
    return paddle.to_tensor(onehot(np.asarray(label_map), num_classes))


def intra_class_offsets(onehot: paddle.Tensor) -> paddle.Tensor:
    """ICPE (CLADE, Tan et al.): each pixel's offset from its class region's centre, in its class's channels.

    Returns (B, 2 * num_classes, H, W): the x offsets, then the y offsets, each
    in the channel of the pixel's class (zero elsewhere) and scaled to [-1, 1]
    by the region's half-extent, so a generator can shade a lake's middle
    differently from its shore. Computed per class (we have no instance maps).
    """
    _, _, height, width = onehot.shape
    # arange and max rather than linspace and amax: the ops paddle2onnx can export.
    ys = (paddle.arange(height, dtype="float32") / max(height - 1, 1)).reshape([1, 1, height, 1])
    xs = (paddle.arange(width, dtype="float32") / max(width - 1, 1)).reshape([1, 1, 1, width])
    area = onehot.sum(axis=[2, 3], keepdim=True).clip(min=1.0)
    offsets = []
    for coords in (xs, ys):
        centre = (onehot * coords).sum(axis=[2, 3], keepdim=True) / area
        delta = (coords - centre) * onehot
        offsets.append(delta / delta.abs().max(axis=[2, 3], keepdim=True).clip(min=1e-6))
    return paddle.concat(offsets, axis=1)


class LabelPyramid:
    """What the normalisation layers read from the label map, at each resolution a forward pass needs.

    ``at(size)`` is the one-hot map, followed for CLADE-ICPE by its intra-class
    offsets (:func:`intra_class_offsets`). The block sizes divide the label
    map's by powers of two. Nearest-neighbour downsampling (``area=False``,
    SPADE's) is a strided slice: each block reads its top-left pixel, half a
    block up and left of its centre, so coarse and fine layers disagree about
    where a border is, and with bilinear upsampling that disagreement paints a
    halo along it. ``area=True`` averages each block instead: every class's
    share of it (and its mean offsets), so a coarse layer's modulation is the
    mean of the fine ones it covers (the modulations are linear in this map).
    Each size is made once and shared by every layer at that size; nothing
    here needs gradients. ``z`` is the style vector for layers that read it
    (``z_modulation``), else None.
    """

    def __init__(self, onehot_map: paddle.Tensor, with_positions: bool, z: paddle.Tensor | None = None,
                 area: bool = False):
        self.z, self.area = z, area
        full = paddle.concat([onehot_map, intra_class_offsets(onehot_map)], axis=1) if with_positions else onehot_map
        self.height, self.width = onehot_map.shape[2:]
        self._cache = {(self.height, self.width): full}

    def at(self, size) -> paddle.Tensor:
        key = tuple(size)
        if key not in self._cache:
            step = self.height // key[0]
            if key[0] * step != self.height or key[1] * step != self.width:
                raise ValueError(f"a {key[0]}x{key[1]} block does not divide the {self.height}x{self.width} label map")
            full = self._cache[(self.height, self.width)]
            self._cache[key] = F.avg_pool2d(full, step, step) if self.area else full[:, :, ::step, ::step]
        return self._cache[key]


def maybe_spectral(layer: nn.Layer, use: bool) -> nn.Layer:
    """``layer`` with spectral norm when ``use`` (generator and discriminators alike)."""
    return nn.utils.spectral_norm(layer) if use else layer


# --------------------------------------------------------------------------- modulation

def _param_free_norm(channels: int) -> nn.Layer:
    # No learned affine: the label map supplies gamma and beta instead.
    return nn.InstanceNorm2D(channels, weight_attr=False, bias_attr=False)


def _z_linear(z_dim: int, channels: int) -> nn.Linear | None:
    """A layer's linear map of z (z_modulation), starting at zero: the network begins as if z entered the first
    layer only and learns how much each layer should follow it (random maps shook every layer's gamma and
    beta at once, and the discriminator won within 200 steps in a short ablation)."""
    if not z_dim:
        return None
    return nn.Linear(z_dim, channels, weight_attr=nn.initializer.Constant(0.0), bias_attr=False)


def _z_shift(layer: nn.Linear | None, labels: LabelPyramid) -> paddle.Tensor | float:
    """A layer's linear map of z, shaped to add to a (B, C, H, W) map; 0 when the layer does not read z."""
    if layer is None:
        return 0.0
    shift = layer(labels.z)
    return shift.reshape([shift.shape[0], shift.shape[1], 1, 1])


class SPADE(nn.Layer):
    """Spatially-adaptive normalisation: per-pixel gamma/beta from a small conv net on the label map.

    With ``z_dim`` (z_modulation), z shifts the shared hidden features before their ReLU: the same as
    a broadcast z map beside the label map in that convolution, without convolving the constant map.
    """

    def __init__(self, channels: int, num_classes: int, hidden: int, z_dim: int = 0):
        super().__init__()
        self.param_free_norm = _param_free_norm(channels)
        # A Sequential for the parameter names older checkpoints hold ("mlp_shared.0.weight"); the ReLU is in forward.
        self.mlp_shared = nn.Sequential(nn.Conv2D(num_classes, hidden, 3, padding=1))
        self.mlp_z = _z_linear(z_dim, hidden)
        self.mlp_gamma = nn.Conv2D(hidden, channels, 3, padding=1)
        self.mlp_beta = nn.Conv2D(hidden, channels, 3, padding=1)

    def forward(self, x, labels: LabelPyramid):
        normalized = self.param_free_norm(x)
        actv = F.relu(self.mlp_shared(labels.at(x.shape[2:])) + _z_shift(self.mlp_z, labels))
        # 1 + gamma: an untrained layer starts as the identity modulation.
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class CLADE(nn.Layer):
    """Class-adaptive normalisation: gamma/beta looked up per class, no convolutions over space.

    ``gamma`` and ``beta`` hold a (channels, num_classes) table each, stored as
    bias-free 1x1 convolutions. With ``positional`` (ICPE) the looked-up values
    are scaled per pixel by ``1 + a``, where ``a`` is a linear function of the
    pixel's intra-class offset (``gamma_position``, ``beta_position``), which
    restores some of SPADE's spatial detail at a tiny cost.

    Because a pixel's one-hot vector has a single 1, ``table . onehot * (1 + w . offset + b)``
    equals one 1x1 convolution of [onehot, onehot * x_offset, onehot * y_offset]
    with the kernel [table * (1 + b), table * w_x, table * w_y]. That is how it is
    computed: the kernel is composed from the small tables, and the full-size
    maps see one convolution instead of a convolution and a broadcast multiply
    (which is several times slower than a same-shape one on paddle's CPU kernels).
    """

    def __init__(self, channels: int, num_classes: int, positional: bool, z_dim: int = 0):
        super().__init__()
        self.param_free_norm = _param_free_norm(channels)
        self.gamma = nn.Conv2D(num_classes, channels, 1, bias_attr=False)
        self.beta = nn.Conv2D(num_classes, channels, 1, bias_attr=False)
        # z_modulation: z shifts gamma and beta of every pixel alike (a broadcast z map in the 1x1 convolution).
        self.gamma_z = _z_linear(z_dim, channels)
        self.beta_z = _z_linear(z_dim, channels)
        self.positional = positional
        if positional:
            self.gamma_position = nn.Conv2D(2, 1, 1)
            self.beta_position = nn.Conv2D(2, 1, 1)

    def kernel(self, table: nn.Conv2D, position: nn.Conv2D | None) -> paddle.Tensor:
        if position is None:
            return table.weight
        w = position.weight.reshape([2])
        return paddle.concat([table.weight * (1 + position.bias), table.weight * w[0], table.weight * w[1]], axis=1)

    def forward(self, x, labels: LabelPyramid):
        normalized = self.param_free_norm(x)
        onehot_map = labels.at(x.shape[2:])
        gamma = F.conv2d(onehot_map, self.kernel(self.gamma, self.gamma_position if self.positional else None))
        beta = F.conv2d(onehot_map, self.kernel(self.beta, self.beta_position if self.positional else None))
        gamma, beta = gamma + _z_shift(self.gamma_z, labels), beta + _z_shift(self.beta_z, labels)
        return normalized * (1 + gamma) + beta


def make_modulation(cfg: GeneratorConfig, channels: int) -> nn.Layer:
    z_dim = cfg.z_dim if cfg.z_modulation else 0
    if cfg.norm == "spade":
        return SPADE(channels, cfg.num_classes, cfg.spade_hidden, z_dim)
    return CLADE(channels, cfg.num_classes, positional=cfg.norm == "clade_icpe", z_dim=z_dim)


def leaky_relu(x: paddle.Tensor) -> paddle.Tensor:
    """LeakyReLU(0.2).

    When traced for export it is written max(x, 0.2x), the same values, because paddle2onnx exports
    F.leaky_relu's slope wrongly; eagerly it is paddle's own kernel, which trains twice as fast as the
    maximum and its gradient. The backend parity check compares the two.
    """
    return F.leaky_relu(x, 0.2) if paddle.in_dynamic_mode() else paddle.maximum(x, 0.2 * x)


# --------------------------------------------------------------------------- blocks

class SPADEResnetBlock(nn.Layer):
    """norm -> act -> conv, twice, plus a shortcut that is learned when the width changes."""

    def __init__(self, fin: int, fout: int, cfg: GeneratorConfig):
        super().__init__()
        fmiddle = min(fin, fout)
        self.in_channels, self.middle_channels, self.out_channels = fin, fmiddle, fout
        self.learned_shortcut = fin != fout
        self.conv_0 = maybe_spectral(nn.Conv2D(fin, fmiddle, 3, padding=1), cfg.spectral_norm)
        self.conv_1 = maybe_spectral(nn.Conv2D(fmiddle, fout, 3, padding=1), cfg.spectral_norm)
        self.norm_0 = make_modulation(cfg, fin)
        self.norm_1 = make_modulation(cfg, fmiddle)
        if self.learned_shortcut:
            self.conv_s = maybe_spectral(nn.Conv2D(fin, fout, 1, bias_attr=False), cfg.spectral_norm)
            self.norm_s = make_modulation(cfg, fin)

    def forward(self, x, labels: LabelPyramid):
        x_s = self.conv_s(self.norm_s(x, labels)) if self.learned_shortcut else x
        dx = self.conv_0(leaky_relu(self.norm_0(x, labels)))
        dx = self.conv_1(leaky_relu(self.norm_1(dx, labels)))
        return x_s + dx


class ConvEncoder(nn.Layer):
    """VAE image encoder: six stride-2 convolutions, then mu and logvar of z."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        nef = cfg.encoder_nef
        widths = [3, nef, nef * 2, nef * 4, nef * 8, nef * 8, nef * 8]
        layers = []
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [maybe_spectral(nn.Conv2D(cin, cout, 3, stride=2, padding=1), cfg.spectral_norm),
                       nn.InstanceNorm2D(cout), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        # Pooling to 4x4 lets any input size (a multiple of 64 down to 64) be encoded.
        self.pool = nn.AdaptiveAvgPool2D(4)
        self.fc_mu = nn.Linear(nef * 8 * 16, cfg.z_dim)
        self.fc_var = nn.Linear(nef * 8 * 16, cfg.z_dim)

    def forward(self, image):
        x = self.pool(self.features(image)).flatten(1)
        return self.fc_mu(x), self.fc_var(x)


# --------------------------------------------------------------------------- generator

# The residual blocks in the order a picture flows through them.
RESIDUAL_BLOCKS = ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")


@dataclass(frozen=True)
class ChannelGroups:
    """The generator's channels as groups that must be kept or dropped together (for pruning a narrower copy).

    ``axes[layer]``: the groups that axes 0 and 1 of the layer's weight index (None: no group). ``writers``:
    the layers whose output filters make each group. ``sizes``: channels per group.
    """

    axes: dict[str, tuple[str | None, str | None]]
    writers: dict[str, str]
    sizes: dict[str, int]


class SPADEGenerator(nn.Layer):
    """Label map (+ z) -> image.

    The first tensor comes from the label map downsampled to (H, W) / 2**n with
    z broadcast over it, so one network serves every output size and z
    (sampled from a seed, or from the encoder) changes the style of the picture.
    """

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        nf, trunk = cfg.ngf, cfg.trunk_channels
        self.fc = maybe_spectral(nn.Conv2D(cfg.num_classes + cfg.z_dim, trunk, 3, padding=1), cfg.spectral_norm)
        self.head_0 = SPADEResnetBlock(trunk, trunk, cfg)
        self.G_middle_0 = SPADEResnetBlock(trunk, trunk, cfg)
        self.G_middle_1 = SPADEResnetBlock(trunk, trunk, cfg)
        self.up_0 = SPADEResnetBlock(trunk, 8 * nf, cfg)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, cfg)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, cfg)
        self.up_3 = SPADEResnetBlock(2 * nf, nf, cfg)
        self.conv_img = nn.Conv2D(nf, 3, 3, padding=1)
        self.encoder = ConvEncoder(cfg) if cfg.use_vae else None

    def residual_blocks(self) -> dict[str, SPADEResnetBlock]:
        """Name -> block, in the order a picture flows through them."""
        return {name: getattr(self, name) for name in RESIDUAL_BLOCKS}

    def label_weights(self) -> list[paddle.Tensor]:
        """The weights that read the one-hot label map, the classes first on their axis 1: the first
        convolution's and every modulation layer's (CLADE's tables, SPADE's shared convolution)."""
        weights = [getattr(self.fc, "weight_orig", self.fc.weight)]
        for layer in self.sublayers():
            if isinstance(layer, CLADE):
                weights += [layer.gamma.weight, layer.beta.weight]
            elif isinstance(layer, SPADE):
                weights.append(layer.mlp_shared[0].weight)
        return weights

    def channel_groups(self) -> ChannelGroups:
        """The trunk that identity shortcuts carry through head_0 .. G_middle_1, each block's middle, and each
        widening block's output. Modulation layers read their input's group (one gamma and beta per channel):
        CLADE's lookup tables and SPADE's last convolutions on axis 0, the z maps (Linear: [z_dim, channels]) on
        axis 1. SPADE's shared hidden layer and the position scales do not depend on the channels."""
        axes = {"fc": ("trunk", None)}
        writers = {"fc": "trunk"}
        sizes = {"trunk": self.head_0.in_channels}
        stream = "trunk"
        for name, block in self.residual_blocks().items():
            middle, out = f"{name}.middle", (f"{name}.out" if block.learned_shortcut else stream)
            sizes.update({middle: block.middle_channels, out: block.out_channels})
            for norm, group in (("norm_0", stream), ("norm_1", middle), ("norm_s", stream)):
                for table in ("gamma", "beta", "mlp_gamma", "mlp_beta"):
                    axes[f"{name}.{norm}.{table}"] = (group, None)
                for z_map in ("gamma_z", "beta_z"):
                    axes[f"{name}.{norm}.{z_map}"] = (None, group)
            axes.update({f"{name}.conv_0": (middle, stream), f"{name}.conv_1": (out, middle),
                         f"{name}.conv_s": (out, stream)})
            writers.update({f"{name}.conv_0": middle, f"{name}.conv_1": out})
            if block.learned_shortcut:
                writers[f"{name}.conv_s"] = out
            stream = out
        axes["conv_img"] = (None, stream)
        return ChannelGroups(axes, writers, sizes)

    def up(self, x):
        """2x upsampling of features: nearest-neighbour (SPADE's) or bilinear (``upsampling``).

        Both are fixed depthwise transposed convolutions: the same values as F.interpolate, but paddle's
        CPU interpolation kernels took 50 ms (forward and backward) for a 4x32x64x64 map where this
        takes 6. Nearest copies each pixel into a 2x2 block, so the coarse blocks' edges can survive
        as lines every 2^k pixels; bilinear weighs each pixel 3:1 with its neighbour (edges padded by
        repetition, as interpolate's align_corners=False does), leaving no block edges.
        """
        channels = x.shape[1]
        if self.cfg.upsampling == "nearest":
            return F.conv2d_transpose(x, paddle.ones([channels, 1, 2, 2], dtype=x.dtype), stride=2, groups=channels)
        taps = paddle.to_tensor([0.25, 0.75, 0.75, 0.25], dtype=x.dtype)
        kernel = (taps.reshape([4, 1]) * taps.reshape([1, 4])).reshape([1, 1, 4, 4]).tile([channels, 1, 1, 1])
        padded = F.pad(x, [1, 1, 1, 1], mode="replicate")
        return F.conv2d_transpose(padded, kernel, stride=2, groups=channels)[:, :, 3:-3, 3:-3]

    def forward(self, onehot_map: paddle.Tensor, z: paddle.Tensor) -> paddle.Tensor:
        cfg = self.cfg
        batch, _, height, width = onehot_map.shape
        if paddle.in_dynamic_mode():  # when traced for export, shapes are symbolic and fixed by the input spec
            if height % cfg.size_multiple or width % cfg.size_multiple:
                raise ValueError(f"label map is {height}x{width}; sides must be multiples of {cfg.size_multiple}")
            if z.shape != [batch, cfg.z_dim]:
                raise ValueError(f"z must have shape [{batch}, {cfg.z_dim}], got {z.shape}")
        labels = LabelPyramid(onehot_map, with_positions=cfg.norm == "clade_icpe", z=z if cfg.z_modulation else None,
                              area=cfg.label_downsampling == "area")

        sh, sw = height // cfg.size_multiple, width // cfg.size_multiple
        z_map = z.reshape([batch, cfg.z_dim, 1, 1]).expand([batch, cfg.z_dim, sh, sw])
        x = self.fc(paddle.concat([labels.at([sh, sw])[:, :cfg.num_classes], z_map], axis=1))

        x = self.head_0(x, labels)
        x = self.up(x)
        x = self.G_middle_0(x, labels)
        x = self.G_middle_1(x, labels)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self.up(x), labels)
        return paddle.tanh(self.conv_img(leaky_relu(x)))

    def encode(self, image: paddle.Tensor) -> tuple[paddle.Tensor, paddle.Tensor]:
        """Photo in [-1, 1] -> (mu, logvar) of its style vector; needs use_vae."""
        if self.encoder is None:
            raise ValueError("this generator was built without use_vae, so it has no style encoder")
        return self.encoder(image)
