"""A frozen label reader for the generator's semantic loss: ``python -m train.semantic OUT``.

The pictures lose the label map where it matters to a child: a painted mountain comes out as brown
earth or as sea, grass as trees (the ADE20K judge's per-class IoU in docs/quality.md). Nothing in the
GAN asks for the class directly; the discriminators only see the map beside the picture. This head
reads the frozen ImageNet SqueezeNet's stages (the same features the perceptual loss and the projected
discriminator use) and predicts the class of every pixel; it is trained here on real photos and their
labels v2, then frozen, and ``--lambda-semantic`` asks the generator's pictures to be read as their own
label map (the semantic-consistency loss of CyCADA, Hoffman et al. 2018, with a pretrained reader as in
OASIS's argument that per-pixel class supervision is what keeps layouts, Sushko et al. 2021).

The judges stay independent of it: MobileNetV2 is never trained against, and the ADE20K segmenter
only made the photos' labels; this head is a different, much weaker network on other features.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from tqdm import tqdm

from .ports import frozen_network
from .squeezenet import SQUEEZENET_DIR, SQUEEZENET_STAGES, load_squeezenet, squeezenet_input, unit_scaled

WIDTH = 64
IMAGE_SIZE = 128  # the pictures it will read: the generator's training size


class SemanticHead(nn.Layer):
    """Per-pixel class logits from SqueezeNet's four stages (strides 4, 4, 8, 16), FPN-style: each stage
    projected to ``width`` channels, enlarged to the finest stage and summed, two more layers, then
    enlarged to the picture's size."""

    def __init__(self, num_classes: int, stage_channels=tuple(SQUEEZENET_STAGES), width: int = WIDTH):
        super().__init__()
        self.num_classes = num_classes
        self.lateral = nn.LayerList([nn.Conv2D(channels, width, 1) for channels in stage_channels])
        self.mix = nn.Sequential(nn.ReLU(), nn.Conv2D(width, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2D(width, num_classes, 1))

    def forward(self, stages: list[paddle.Tensor], size) -> paddle.Tensor:
        finest = stages[0].shape[2:]
        x = sum(F.interpolate(lateral(unit_scaled(f)), size=finest, mode="bilinear")
                for lateral, f in zip(self.lateral, stages))
        return F.interpolate(self.mix(x), size=list(size), mode="bilinear")


def semantic_loss(head: SemanticHead, stages: list[paddle.Tensor], labels: paddle.Tensor,
                  ignore_id: int, class_balanced: bool = False) -> paddle.Tensor:
    """Cross-entropy of the head's reading of a picture against its label map ((N, H, W) class ids).

    Plain, it is the mean over pixels, so sky and sea (most of every landscape) outweigh grass and earth
    (a few percent of the pixels) and a class's share decides how much it is asked for. ``class_balanced``
    averages each class's mean cross-entropy over the classes in the batch instead, so every class counts
    alike, as it does in mIoU (OASIS's class balancing, Sushko et al. 2021, with the batch's own counts).
    """
    logits = head(stages, labels.shape[1:]).transpose([0, 2, 3, 1])
    if not class_balanced:
        return F.cross_entropy(logits, labels.unsqueeze(-1), ignore_index=ignore_id)
    num_classes = logits.shape[-1]
    per_pixel = F.cross_entropy(logits, labels.unsqueeze(-1), ignore_index=ignore_id, reduction="none")
    one_hot = F.one_hot(paddle.where(labels == ignore_id, paddle.full_like(labels, num_classes), labels),
                        num_classes + 1)[..., :num_classes]  # ignored pixels belong to no class
    counts = one_hot.sum(axis=[0, 1, 2])
    per_class = (per_pixel.reshape(labels.shape + [1]) * one_hot).sum(axis=[0, 1, 2]) / counts.clip(min=1)
    present = (counts > 0).astype(per_class.dtype)
    return (per_class * present).sum() / present.sum().clip(min=1)


def load_semantic_head(path: str | Path, num_classes: int) -> SemanticHead:
    """The head written by this module's command, frozen, in eval mode. It may know fewer classes than the
    generator paints (one trained before the palette grew): those it never saw, it is not asked about."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--semantic-head {path} does not exist (python -m train.semantic writes one)")
    state = paddle.load(str(path))
    known = state["mix.3.weight"].shape[0] if "mix.3.weight" in state else 0
    if not 0 < known <= num_classes:
        raise ValueError(f"{path} is not a SemanticHead for at most {num_classes} classes")
    head = SemanticHead(known)
    missing, unexpected = head.set_state_dict(state)
    if missing or unexpected:
        raise ValueError(f"{path} is not a SemanticHead: missing {missing}, unexpected {unexpected}")
    return frozen_network(head)


@paddle.no_grad()
def read_labels(head: SemanticHead, squeezenet, pictures: np.ndarray, batch: int = 32) -> np.ndarray:
    """(N, H, W) class ids the head reads in (N, H, W, 3) uint8 pictures."""
    from miaobi_core.codec import pictures_to_unit

    out = []
    for start in range(0, len(pictures), batch):
        rgb = paddle.to_tensor(pictures_to_unit(pictures[start:start + batch]))
        out.append(head(squeezenet.stages(squeezenet_input(rgb)), rgb.shape[2:]).argmax(axis=1).numpy())
    return np.concatenate(out).astype(np.uint8)


def train_head(data_root: str, out: Path, steps: int, batch_size: int, lr: float, seed: int, test_limit: int,
               squeezenet_dir: str, class_balanced: bool = False) -> dict:
    """Train the head on labels v2's training photos (random crops and flips); mIoU on held-out photos."""
    from miaobi_core.codec import pictures_to_unit
    from miaobi_core.palette import load_palette

    from .data import BatchSampler, pseudo_labelled
    from .metrics import label_fidelity
    from .quality import load_pairs

    palette = load_palette()
    paddle.seed(seed)
    squeezenet = load_squeezenet(squeezenet_dir)
    head = SemanticHead(palette.num_classes)
    optimizer = paddle.optimizer.Adam(lr, parameters=head.parameters())
    sampler = BatchSampler(pseudo_labelled(data_root, "train"), batch_size, IMAGE_SIZE, seed)
    losses = []
    for step in (bar := tqdm(range(steps), desc="semantic head", unit="step")):
        labels, photos = sampler.batch(step)
        with paddle.no_grad():
            stages = squeezenet.stages(squeezenet_input(paddle.to_tensor(pictures_to_unit(photos))))
        loss = semantic_loss(head, stages, paddle.to_tensor(labels.astype(np.int64)), palette.ignore_id,
                             class_balanced)
        loss.backward()
        optimizer.set_lr(lr * (1 - step / steps))  # linear decay: the last steps settle
        optimizer.step()
        optimizer.clear_grad()
        losses.append(float(loss))
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    head.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(head.state_dict(), str(out))
    labels, photos = load_pairs(pseudo_labelled(data_root, "test"), IMAGE_SIZE, test_limit, "held-out photos")
    report = {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "class_balanced": class_balanced,
              "train_loss_last_50": float(np.mean(losses[-50:])),
              "held_out_photos": len(photos),
              "miou_real": label_fidelity(read_labels(head, squeezenet, photos), labels, palette.num_classes)[0]}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv=None) -> int:
    from miaobi_core.runtime import configure_cpu

    from .files import PSEUDO_LABELS

    parser = argparse.ArgumentParser(prog="python -m train.semantic", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", type=Path, help="the head's .pdparams (a .json beside it reports its held-out mIoU)")
    parser.add_argument("--data-root", default=PSEUDO_LABELS, help="labels v2 (python -m train.pseudolabel)")
    parser.add_argument("--steps", type=int, default=1500, help="optimisation steps")
    parser.add_argument("--batch-size", type=int, default=32, help="photos per step")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, falling linearly to 0")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and data order")
    parser.add_argument("--test-limit", type=int, default=300, help="held-out photos for the mIoU report")
    parser.add_argument("--squeezenet-dir", default=str(SQUEEZENET_DIR), help="the frozen feature network")
    parser.add_argument("--class-balanced", action="store_true",
                        help="every class in a batch counts alike in the loss, as in mIoU (else every pixel)")
    args = parser.parse_args(argv)
    configure_cpu()
    report = train_head(args.data_root, args.out, args.steps, args.batch_size, args.lr, args.seed,
                        args.test_limit, args.squeezenet_dir, args.class_balanced)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
