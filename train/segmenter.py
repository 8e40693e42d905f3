"""A small segmenter trained here on the pseudo-labels: ``python -m train.segmenter``.

It serves the quality report twice, as in the SPADE paper's evaluation:
label fidelity (segment a generated picture, compare with the label map it
was painted from: mIoU, pixel accuracy) and a Frechet distance between
generated and real photos in the space of its pooled bottleneck features.
No ImageNet network can be downloaded here, so this one, trained on our own
photos, stands in; the report names it for what it is.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from miaobi_core.runtime import configure_cpu

from .files import PSEUDO_LABELS

CONFIG_NAME = "segmenter.json"
WEIGHTS_NAME = "segmenter.pdparams"


def build_segmenter(num_classes: int, width: int = 16):
    """U-Net-lite: four stride-2 stages down, four up with skips; ``features`` gives the pooled bottleneck."""
    import paddle
    import paddle.nn as nn
    import paddle.nn.functional as F

    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2D(cin, cout, 3, stride=stride, padding=1, bias_attr=False),
                             nn.BatchNorm2D(cout), nn.ReLU())

    class Segmenter(nn.Layer):
        def __init__(self):
            super().__init__()
            widths = [width, width * 2, width * 4, width * 8]
            self.stem = block(3, width, 1)
            self.down = nn.LayerList([block(c, w, 2) for c, w in zip([width] + widths[:-1], widths)])
            self.up = nn.LayerList([block(w + s, s, 1) for w, s in zip(widths[::-1], ([width] + widths[:-1])[::-1])])
            self.head = nn.Conv2D(width, num_classes, 1)
            self.num_classes, self.width = num_classes, width

        def encode(self, image):
            skips, x = [], self.stem(image)
            for layer in self.down:
                skips.append(x)
                x = layer(x)
            return x, skips

        def forward(self, image):
            x, skips = self.encode(image)
            for layer, skip in zip(self.up, skips[::-1]):
                x = layer(paddle.concat([F.interpolate(x, size=skip.shape[2:], mode="bilinear"), skip], axis=1))
            return self.head(x)

        def features(self, image):
            """(B, 8 * width) pooled bottleneck activations: the Frechet distance's feature space."""
            x, _ = self.encode(image)
            return x.mean(axis=[2, 3])

    return Segmenter()


def to_input(photos: np.ndarray):
    import paddle

    from miaobi_core.codec import pictures_to_unit

    return paddle.to_tensor(pictures_to_unit(photos))


def save_segmenter(directory: Path, model, metadata: dict) -> None:
    import paddle

    directory.mkdir(parents=True, exist_ok=True)
    paddle.save(model.state_dict(), str(directory / WEIGHTS_NAME))
    (directory / CONFIG_NAME).write_text(json.dumps(
        {"num_classes": model.num_classes, "width": model.width, "metadata": metadata}, indent=2))


def load_segmenter(directory: str | Path):
    import paddle

    directory = Path(directory)
    info = json.loads((directory / CONFIG_NAME).read_text())
    model = build_segmenter(info["num_classes"], info["width"])
    model.set_state_dict(paddle.load(str(directory / WEIGHTS_NAME)))
    model.eval()
    return model


def predict_labels(model, photos: np.ndarray, batch: int = 32) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, H, W) class ids."""
    import paddle

    out = []
    with paddle.no_grad():
        for i in range(0, len(photos), batch):
            out.append(model(to_input(photos[i:i + batch])).argmax(axis=1).numpy().astype(np.uint8))
    return np.concatenate(out)


def pooled_features(model, photos: np.ndarray, batch: int = 32) -> np.ndarray:
    import paddle

    out = []
    with paddle.no_grad():
        for i in range(0, len(photos), batch):
            out.append(model.features(to_input(photos[i:i + batch])).numpy())
    return np.concatenate(out).astype(np.float64)


def train_segmenter(dataset, num_classes: int, steps: int, image_size: int, batch_size: int, width: int,
                    seed: int, ignore_id: int, lr: float = 2e-3):
    """Cross-entropy on (label, photo) pairs with the trainer's augmentation; returns the model."""
    import paddle
    import paddle.nn.functional as F

    from .data import BatchSampler

    paddle.seed(seed)
    model = build_segmenter(num_classes, width)
    schedule = paddle.optimizer.lr.CosineAnnealingDecay(lr, T_max=max(1, steps))
    optimizer = paddle.optimizer.Adam(schedule, parameters=model.parameters())
    sampler = BatchSampler(dataset, batch_size, image_size, seed)
    model.train()
    bar = tqdm(range(steps), desc="segmenter", unit="step")
    for step in bar:
        labels, photos = sampler.batch(step)
        logits = model(to_input(photos))
        loss = F.cross_entropy(logits.transpose([0, 2, 3, 1]), paddle.to_tensor(labels.astype(np.int64)[..., None]),
                               ignore_index=ignore_id)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()
        schedule.step()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{float(loss):.3f}")
    model.eval()
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.segmenter", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-root", default=PSEUDO_LABELS,
                        help="pseudo-label folder with manifest.json")
    parser.add_argument("--out", default="docs/segmenter", help="where to write segmenter.json/.pdparams")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--width", type=int, default=16, help="channels of the first stage")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    configure_cpu()
    from miaobi_core.palette import load_palette

    from .data import pseudo_labelled

    palette = load_palette()
    model = train_segmenter(pseudo_labelled(args.data_root, "train"), palette.num_classes, args.steps,
                            args.image_size, args.batch_size, args.width, args.seed, palette.ignore_id)
    save_segmenter(Path(args.out), model, metadata=vars(args))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
