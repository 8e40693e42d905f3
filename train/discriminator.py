"""Multi-scale PatchGAN discriminator (pix2pixHD / SPADE).

Each discriminator sees the image concatenated with the one-hot label map, so
it judges "is this a realistic lake *where the map says lake*". Each returns
its intermediate features too, for the feature-matching loss.
"""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from miaobi_core.generator import maybe_spectral

from .squeezenet import unit_scaled


class BlurPool(nn.Layer):
    """Halve the resolution the anti-aliased way: a fixed binomial low-pass ([1, 2, 1] each way), then
    every other pixel (Zhang, "Making convolutional networks shift-invariant again", ICML 2019).

    It follows a stride-1 convolution that replaces a stride-2 one. A stride-2 convolution samples a
    period-2 pattern as a constant, so it barely tells such a pattern from a plain colour, and its
    gradient hands the generator a checkerboard (Odena et al., "Deconvolution and checkerboard
    artifacts", 2016): the picture-quality run's pictures grew a period-2 texture whose generator
    gradient came from these discriminators. Convolved at every pixel first, the pattern is a texture
    the discriminator sees (and can call fake), and the low-pass keeps the subsampling from aliasing.
    """

    def __init__(self, channels: int):
        super().__init__()
        taps = np.array([1.0, 2.0, 1.0])
        kernel = np.tile(np.outer(taps, taps) / 16, (channels, 1, 1, 1)).astype(np.float32)
        self.register_buffer("kernel", paddle.to_tensor(kernel), persistable=False)  # fixed: not in checkpoints

    def forward(self, x):
        # A depthwise convolution at stride 2: on a CPU about twice as fast as two 2x2 mean pools and
        # several times faster than strided slices (measured here).
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), self.kernel, stride=2, groups=x.shape[1])


class NLayerDiscriminator(nn.Layer):
    def __init__(self, in_channels: int, ndf: int, n_layers: int, spectral_norm: bool, antialias: bool = False):
        super().__init__()
        # With antialias the first convolution, the one that reads the picture's own pixels, runs at stride 1
        # and a BlurPool halves after it: the same weights and output sizes, so a run can switch it on when
        # resumed. Only the first: at stride 1 it costs 4x its share of the step, and the period-2 texture
        # is the one that grew (the later halvings act on periods of 4 pixels and more, which stayed clean).
        blocks = [nn.Sequential(nn.Conv2D(in_channels, ndf, 4, stride=1 if antialias else 2, padding=2),
                                nn.LeakyReLU(0.2))]
        nf = ndf
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            blocks.append(nn.Sequential(
                maybe_spectral(nn.Conv2D(nf_prev, nf, 4, stride=stride, padding=2, bias_attr=False), spectral_norm),
                nn.InstanceNorm2D(nf), nn.LeakyReLU(0.2)))
        blocks.append(nn.Conv2D(nf, 1, 4, stride=1, padding=2))
        self.blocks = nn.LayerList(blocks)
        # Beside the blocks, not in them, so the weights keep their names.
        self.pools = nn.LayerList([BlurPool(ndf) if antialias else nn.Identity()]
                                  + [nn.Identity() for _ in blocks[1:]])

    def forward(self, x) -> list[paddle.Tensor]:
        features = []
        for block, pool in zip(self.blocks, self.pools):
            x = pool(block(x))
            features.append(x)
        return features  # the last entry is the patch-wise real/fake score


class MultiscaleDiscriminator(nn.Layer):
    """``num_D`` discriminators on the input at 1x, 1/2x, 1/4x ... resolution."""

    def __init__(self, num_classes: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2,
                 spectral_norm: bool = True, antialias: bool = False):
        super().__init__()
        self.discriminators = nn.LayerList(
            [NLayerDiscriminator(num_classes + 3, ndf, n_layers, spectral_norm, antialias) for _ in range(num_D)])

    def forward(self, onehot_map, image) -> list[list[paddle.Tensor]]:
        x = paddle.concat([onehot_map, image], axis=1)
        outputs = []
        for i, discriminator in enumerate(self.discriminators):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, exclusive=True)
            outputs.append(discriminator(x))
        return outputs


class ProjectedDiscriminator(nn.Layer):
    """Projected GAN (Sauer et al., NeurIPS 2021): small trainable heads judge a frozen pretrained network's features.

    The pictures go through a frozen ImageNet network (SqueezeNet here; the trainer runs it, since the same
    features also feed the perceptual loss) and each head reads one of its stages, beside the label map
    averaged down to that stage's size, so the verdict is conditional on the layout. A pretrained trunk
    already knows what textures and objects look like, which is what a discriminator trained from scratch
    on a few thousand photos learns slowly. Outputs are shaped like :class:`MultiscaleDiscriminator`'s
    (a list per head ending in its score map), so the same hinge losses apply.
    """

    def __init__(self, stage_channels: list[int], num_classes: int, width: int = 64, spectral_norm: bool = True):
        super().__init__()
        self.heads = nn.LayerList([nn.Sequential(
            maybe_spectral(nn.Conv2D(channels + num_classes, width, 3, padding=1), spectral_norm), nn.LeakyReLU(0.2),
            maybe_spectral(nn.Conv2D(width, 1, 1), spectral_norm)) for channels in stage_channels])

    def forward(self, onehot_map, stages: list[paddle.Tensor]) -> list[list[paddle.Tensor]]:
        outputs = []
        for head, feature in zip(self.heads, stages):
            layout = F.adaptive_avg_pool2d(onehot_map, feature.shape[2:])
            outputs.append([head(paddle.concat([unit_scaled(feature), layout], axis=1))])
        return outputs
