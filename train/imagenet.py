"""``python -m train.imagenet``: the paddle ports of the two shared ImageNet classifiers against their
reference runtimes (ncnn, LiteRT) on real photos.

SqueezeNet 1.1 (:mod:`train.squeezenet`) trains; MobileNetV2 (:mod:`train.mobilenet`) judges. Each is
rebuilt layer by layer in paddle and filled with the published weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import paddle

from miaobi_core.codec import pictures_to_unit

from . import mobilenet, squeezenet
from .photos import LANDSCAPES
from .ports import parity, port_outputs, resized


def check_ports(photos: list[np.ndarray]) -> dict[str, dict]:
    """Both ports against their reference runtimes on the same photos."""
    small = resized(photos, squeezenet.SQUEEZENET_SIZE)
    trains = port_outputs(squeezenet.load_squeezenet(), squeezenet.squeezenet_input(
        paddle.to_tensor(pictures_to_unit(small))))
    mobile = resized(photos, mobilenet.MOBILENET_V2_SIZE)
    judges = port_outputs(mobilenet.load_mobilenet_v2(), mobilenet.mobilenet_v2_input(mobile))
    return {"SqueezeNet 1.1 (paddle vs ncnn)": parity(squeezenet.squeezenet_reference(small), trains),
            "MobileNetV2 (paddle, int8 grid, vs LiteRT)": parity(mobilenet.mobilenet_v2_reference(mobile), judges)}


def main(argv=None) -> int:
    from miaobi_core.runtime import configure_cpu
    from PIL import Image

    parser = argparse.ArgumentParser(prog="python -m train.imagenet", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default=str(LANDSCAPES), help="photos: <root>/test/<scene>/*.jpg")
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
