"""What the paddle ports of published networks share: filling their layers from a file's weights, freezing
them, and comparing them with their reference runtimes (``python -m train.imagenet``)."""
from __future__ import annotations

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def fill(convolutions: list, weights: list[tuple[np.ndarray, np.ndarray]], source) -> None:
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
