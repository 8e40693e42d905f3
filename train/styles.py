"""Six named looks from the training photos: ``python -m train.styles EXPORT_DIR [--limit N] [--spread S]``.

For a generator trained with the VAE style encoder (``--use-vae``), each training photo is encoded
to its style code and measured (brightness, saturation, warmth, contrast, and the share of snow,
cloud and sky in its label map). Each look ranks the photos by a mix of those measures (each
standardised over the photos) and takes the mean code of its top ``--top`` fraction: codes, never
photos, are what ships. The model then paints one fixed doodle in each look for its thumbnail, and
``styles.json`` plus ``styles/*.png`` are written beside the weights (see miaobi_core/styles.py),
with the Gaussian of all the photos' codes that seeds without a look draw from, truncated by
``--truncation``.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from miaobi_core.runtime import configure_cpu

from .files import PSEUDO_LABELS

# name, label, weights over the standardised photo measures (higher = more typical of the look)
LOOKS = [
    ("sunny", "Sunny", {"brightness": 1, "saturation": 1, "sky": 1, "cloud": -1}),
    ("golden_hour", "Golden hour", {"warmth": 2, "saturation": 1}),
    ("misty", "Misty", {"contrast": -1, "saturation": -1, "brightness": 1}),
    ("winter", "Winter", {"snow": 2, "warmth": -1}),
    ("stormy", "Stormy", {"brightness": -1, "saturation": -1, "cloud": 1}),
    ("dusk", "Dusk", {"brightness": -2, "warmth": 1}),
]
# Judged on 300 held-out maps with step 18,500 (docs/quality.md, "Truncated seeds"): psi 1 / 0.75 / 0.6 / 0.5 / 0.35
# gave FD-MNv2 264.6 / 262.4 / 261.9 / 264.3 / 268.4, ADE20K label fidelity 0.409 / 0.452 / 0.476 / 0.489 / 0.501
# and variety 49.9 / 39.8 / 33.2 / 28.5 / 21.0: 0.6 is where FD-MNv2 is lowest.
TRUNCATION = 0.6
ENCODE_BATCH = 32
THUMBNAIL_MAP = Path(__file__).resolve().parent.parent / "miaobi_core" / "probes" / "mountain.png"


def measures(photo: np.ndarray, labels: np.ndarray, palette) -> dict[str, float]:
    """The photo statistics the looks are ranked by."""
    rgb = photo.astype(np.float64) / 255
    hsv = np.asarray(Image.fromarray(photo).convert("HSV"), np.float64) / 255
    share = lambda name: float((labels == palette.names.index(name)).mean()) if name in palette.names else 0.0
    return {"brightness": hsv[..., 2].mean(), "saturation": hsv[..., 1].mean(),
            "warmth": (rgb[..., 0] - rgb[..., 2]).mean(), "contrast": hsv[..., 2].std(),
            "snow": share("snow"), "cloud": share("cloud"), "sky": share("sky")}


def choose(codes: np.ndarray, table: list[dict[str, float]], top: float) -> dict[str, tuple[np.ndarray, int]]:
    """{look name: (mean code of its most typical photos, how many)}."""
    keys = sorted(table[0])
    values = np.array([[row[k] for k in keys] for row in table])
    standard = (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-9)
    count = max(1, int(round(top * len(codes))))
    chosen = {}
    for name, _, weights in LOOKS:
        score = standard @ np.array([weights.get(k, 0.0) for k in keys])
        best = np.argsort(-score, kind="stable")[:count]
        chosen[name] = (codes[best].mean(axis=0), count)
    return chosen


def truncation(text: str) -> float:
    from miaobi_core.styles import check_truncation

    try:
        return check_truncation(float(text), "--truncation")
    except ValueError as error:  # argparse shows an ArgumentTypeError's own words, not a ValueError's
        raise argparse.ArgumentTypeError(str(error)) from error


def thumbnail(synthesizer, code: np.ndarray, side: int = 96) -> bytes:
    label_map = np.asarray(Image.open(THUMBNAIL_MAP))
    picture = synthesizer.generate([label_map], styles=[code], size=synthesizer.native_size)[0]
    buffer = io.BytesIO()
    Image.fromarray(picture).resize((side, side), Image.LANCZOS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.styles", description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", help="an exported generator trained with --use-vae")
    parser.add_argument("--data-root", default=PSEUDO_LABELS,
                        help="the labels of python -m train.pseudolabel")
    parser.add_argument("--limit", type=int, default=3000, help="training photos to encode")
    parser.add_argument("--top", type=float, default=0.03, help="fraction of the photos that make each look")
    parser.add_argument("--spread", type=float, default=0.3,
                        help="how far a seed moves the picture away from the look's code (0 = always the same)")
    parser.add_argument("--truncation", type=truncation, default=TRUNCATION,
                        help="scale of the seeds' Gaussian around its mean, in (0, 1]: lower keeps the dice's "
                             "pictures nearer the typical look (1 = the photos' own spread)")
    parser.add_argument("--sheet", default="", help="also write doodles painted in every look to this PNG")
    args = parser.parse_args(argv)
    configure_cpu()
    from tqdm import tqdm

    from miaobi_core.palette import load_palette
    from miaobi_core.styles import CodeGaussian, Style, StyleBook, write_styles
    from miaobi_core.synthesizer import Synthesizer

    from .data import pseudo_labelled
    from .quality import load_pairs
    from .sheets import style_grid

    synthesizer = Synthesizer(args.export_dir, backend="paddle")
    if not synthesizer.cfg.use_vae:
        raise SystemExit(f"{args.export_dir} was trained without --use-vae: it has no style encoder to make codes")
    palette = load_palette()
    labels, photos = load_pairs(pseudo_labelled(args.data_root, "train"), synthesizer.native_size, args.limit,
                                "training photos")
    batches = [synthesizer.encode_styles(photos[start:start + ENCODE_BATCH])
               for start in tqdm(range(0, len(photos), ENCODE_BATCH), desc="style codes", unit="batch")]
    codes, logvars = (np.concatenate(parts) for parts in zip(*batches))
    chosen = choose(codes, [measures(p, l, palette) for p, l in zip(photos, labels)], args.top)
    styles = [Style(name, label, chosen[name][0].astype(np.float32), None) for name, label, _ in LOOKS]
    path = write_styles(args.export_dir, styles, args.spread, {name: chosen[name][1] for name in chosen},
                        {s.name: thumbnail(synthesizer, s.z) for s in styles}, CodeGaussian.fit(codes, logvars),
                        args.truncation)
    print(f"wrote {len(styles)} styles and the seeds' Gaussian to {path}")
    if args.sheet:
        synthesizer.styles = StyleBook(args.export_dir, synthesizer.cfg.z_dim)  # the looks just written
        style_grid([synthesizer], palette, synthesizer.native_size).save(args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
