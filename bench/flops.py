"""Multiply-accumulate count of a generator's forward pass, reported as GFLOPs (2 FLOPs per MAC).

Counts convolutions and linear layers, which are nearly all of the work;
normalisation, activations and resizes are elementwise and left out, as
the SPADE / CLADE papers do when they compare generator costs.
"""
from __future__ import annotations

import numpy as np


def generator_gflops(generator, height: int, width: int) -> float:
    import paddle
    import paddle.nn as nn

    from miaobi_core.generator import label_onehot

    macs = []

    def count(layer, inputs, output):
        if isinstance(layer, nn.Conv2D):
            kernel = int(np.prod(layer.weight.shape[1:]))  # in_channels / groups * kh * kw
            macs.append(int(np.prod(output.shape)) * kernel)
        else:
            macs.append(int(np.prod(output.shape)) * layer.weight.shape[0])

    hooks = [layer.register_forward_post_hook(count) for layer in generator.sublayers()
             if isinstance(layer, (nn.Conv2D, nn.Linear))]
    try:
        cfg = generator.cfg
        onehot_map = label_onehot(paddle.zeros([1, height, width], dtype="int64"), cfg.num_classes)
        with paddle.no_grad():
            generator(onehot_map, paddle.zeros([1, cfg.z_dim]))
    finally:
        for hook in hooks:
            hook.remove()
    return 2 * sum(macs) / 1e9
