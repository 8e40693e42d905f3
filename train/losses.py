"""SPADE's losses: hinge GAN, discriminator feature matching, VGG19 perceptual, L1, KL; and a spectral one.

Multi-scale discriminator outputs are lists (one per scale) of feature lists
whose last entry is the score map; every loss here averages over scales.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .ports import frozen_network


def hinge_d_loss(real_outputs, fake_outputs) -> paddle.Tensor:
    """Discriminator: mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))."""
    loss = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        loss = loss + F.relu(1 - real[-1]).mean() + F.relu(1 + fake[-1]).mean()
    return loss / len(real_outputs)


def lecam_loss(real_outputs, fake_outputs, anchors: "LeCamAnchors") -> paddle.Tensor:
    """LeCam regularisation (Tseng et al., "Regularizing GANs under limited data", CVPR 2021): each score
    map's distance to the moving average of the *other* side's scores, mean((D(real) - avg D(fake))^2) +
    mean((D(fake) - avg D(real))^2), averaged over the discriminators. A discriminator that memorises its
    training photos pushes their scores far from the pictures'; this pulls both sides towards each other, and
    costs nothing but the two averages."""
    loss = 0.0
    for head, (real, fake) in enumerate(zip(real_outputs, fake_outputs)):
        loss = loss + ((real[-1] - anchors.fake[head]) ** 2).mean() + ((fake[-1] - anchors.real[head]) ** 2).mean()
    return loss / len(real_outputs)


class LeCamAnchors:
    """Per discriminator head, moving averages of the mean score on real photos and on pictures.

    They are part of a run's state (checkpoint state.json), so a resumed run regularises as the unbroken one."""

    def __init__(self, decay: float = 0.99, real=(), fake=()):
        self.decay, self.real, self.fake = decay, list(real), list(fake)

    def update(self, real_means: list[float], fake_means: list[float]):
        """Fold in one step's mean scores (averaged over the ranks by the caller, so every rank agrees)."""
        if not self.real:  # the first step starts the averages where the scores are
            self.real, self.fake = list(real_means), list(fake_means)
            return
        d = self.decay
        self.real = [d * a + (1 - d) * m for a, m in zip(self.real, real_means)]
        self.fake = [d * a + (1 - d) * m for a, m in zip(self.fake, fake_means)]

    def state(self) -> dict:
        return {"real": self.real, "fake": self.fake}


def hinge_g_loss(fake_outputs) -> paddle.Tensor:
    """Generator: -mean(D(fake))."""
    return sum(-fake[-1].mean() for fake in fake_outputs) / len(fake_outputs)


def feature_matching_loss(real_outputs, fake_outputs) -> paddle.Tensor:
    """L1 between D's intermediate features of real and fake (scores excluded), averaged over scales."""
    loss = 0.0
    for real, fake in zip(real_outputs, fake_outputs):
        for real_feature, fake_feature in zip(real[:-1], fake[:-1]):
            loss = loss + F.l1_loss(fake_feature, real_feature.detach())
    return loss / len(real_outputs)


def feature_distance(fake_stages, real_stages) -> paddle.Tensor:
    """Perceptual distance in a frozen network's stages, LPIPS-style without learned weights: each pixel's
    feature vector scaled to unit length (every stage counts alike whatever its magnitude), then the squared
    distance (2 - 2 cos, in [0, 4]) averaged over pixels and stages."""
    unit = lambda f: f / (f.norm(axis=1, keepdim=True) + 1e-8)
    loss = 0.0
    for fake, real in zip(fake_stages, real_stages):
        loss = loss + ((unit(fake) - unit(real).detach()) ** 2).sum(axis=1).mean()
    return loss / len(fake_stages)


def axis_log_spectra(image: paddle.Tensor) -> paddle.Tensor:
    """Each picture's log power per horizontal and per vertical frequency (DC left out): (N, H/2 + W/2).

    The grey picture, mean removed and Hann-windowed (so the frame adds no energy), is Fourier transformed
    along each axis and its power summed over the other: the spectrum :func:`train.metrics.grid_score`
    reads its grid lines from, since upsampling and stride artefacts are horizontal or vertical stripes.
    """
    grey = image.mean(axis=1)
    grey = grey - grey.mean(axis=[1, 2], keepdim=True)
    height, width = grey.shape[-2:]
    grey = grey * paddle.to_tensor(np.outer(np.hanning(height), np.hanning(width)).astype(np.float32))
    power = lambda c: paddle.real(c) ** 2 + paddle.imag(c) ** 2
    across = power(paddle.fft.rfft(grey, axis=-1)).sum(axis=1)[:, 1:]
    down = power(paddle.fft.rfft(grey, axis=-2)).sum(axis=2)[:, 1:]
    return paddle.log(paddle.concat([across, down], axis=1) + 1e-6)


def spectral_loss(fake: paddle.Tensor, real: paddle.Tensor) -> paddle.Tensor:
    """L1 between each picture's and its own photo's log power spectra per axis (:func:`axis_log_spectra`).

    Matching generated and real spectra removes the frequency peaks of up-sampling artefacts (Durall et al.,
    "Watch your up-convolution", CVPR 2020; Jung and Keuper, AAAI 2021). Here it is paired: the picture
    is painted from the photo's own label map (and, with the style encoder, its own style code), so it
    should hold that photo's texture at every scale. Ours needed it because nothing else removed a
    period-2 texture once the discriminators were anti-aliased, and the pictures had ~40% less power than
    their photos at every fine scale (soft). On a log scale each frequency counts alike, however little
    power it holds.
    """
    return (axis_log_spectra(fake) - axis_log_spectra(real).detach()).abs().mean()


def kl_loss(mu: paddle.Tensor, logvar: paddle.Tensor) -> paddle.Tensor:
    """KL(N(mu, var) || N(0, 1)), summed as in SPADE."""
    return -0.5 * paddle.sum(1 + logvar - mu.pow(2) - logvar.exp())


class VGG19Features(nn.Layer):
    """VGG19's convolutional trunk, returning relu1_1 .. relu5_1 (the SPADE perceptual layers).

    Weights must come from a file the user provides: nothing is downloaded.
    """

    CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512]
    TAPS = (0, 2, 5, 10, 15)  # indices of the convs whose ReLU outputs are relu{1..5}_1
    LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self):
        super().__init__()
        convs, cin = [], 3
        for item in self.CONFIG:
            if item != "M":
                convs.append(nn.Conv2D(cin, item, 3, padding=1))
                cin = item
        self.convs = nn.LayerList(convs)
        self.register_buffer("mean", paddle.to_tensor([0.485, 0.456, 0.406]).reshape([1, 3, 1, 1]))
        self.register_buffer("std", paddle.to_tensor([0.229, 0.224, 0.225]).reshape([1, 3, 1, 1]))

    def forward(self, image):
        x = ((image + 1) / 2 - self.mean) / self.std
        features, conv_index = [], 0
        for item in self.CONFIG:
            if item == "M":
                x = F.max_pool2d(x, 2)
                continue
            x = F.relu(self.convs[conv_index](x))
            if conv_index in self.TAPS:
                features.append(x)
            conv_index += 1
        return features


def load_vgg19(weights_path: str | Path | None) -> VGG19Features | None:
    """VGG19 for the perceptual loss, or None (with the reason printed) when no weights are given."""
    if not weights_path:
        print("perceptual loss off: no --vgg-weights given (VGG19 weights cannot be downloaded here; "
              "point --vgg-weights at a .pdparams with keys convs.0.weight ... convs.15.bias)")
        return None
    path = Path(weights_path)
    if not path.is_file():
        raise FileNotFoundError(f"--vgg-weights {path} does not exist")
    vgg = VGG19Features()
    missing, unexpected = vgg.set_state_dict(paddle.load(str(path)))
    if missing or unexpected:
        raise ValueError(f"{path} is not a VGG19Features state dict: missing {missing}, unexpected {unexpected}")
    return frozen_network(vgg)


def perceptual_loss(vgg: VGG19Features, fake, real) -> paddle.Tensor:
    loss = 0.0
    for weight, fake_feature, real_feature in zip(vgg.LAYER_WEIGHTS, vgg(fake), vgg(real)):
        loss = loss + weight * F.l1_loss(fake_feature, real_feature.detach())
    return loss
