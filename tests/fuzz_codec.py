"""Coverage-guided fuzzing of the label-map decoder with atheris.

Short run (part of the tests): ``python tests/fuzz_codec.py -atheris_runs=3000 CORPUS_DIR``
Long run:                       ``python tests/fuzz_codec.py -max_total_time=1800 -rss_limit_mb=2048 CORPUS_DIR``

An empty corpus folder is first seeded with valid PNGs (palette colours, indexed,
grey, RGBA, 16-bit), so mutations start from inputs that reach deep into the decoder.

Any exception other than the codec's own InputError is a finding and stops the run.
"""
import io
import sys
from pathlib import Path

import atheris
import numpy as np
from PIL import Image

with atheris.instrument_imports():
    from miaobi_core.codec import (CodecLimits, InputError, decode_drawing, encode_png, png_to_b64, png_to_rgba,
                                   snap_to_palette)
    from miaobi_core.palette import load_palette

PALETTE = load_palette()
LIMITS = CodecLimits(max_pixels=512 * 512)  # keeps each input's work small; the limit logic is what is fuzzed


def test_one_input(data: bytes) -> None:
    try:
        if data[:1] == b"\x00":  # half the time: the raw bytes as a PNG
            snap_to_palette(png_to_rgba(data[1:], LIMITS), PALETTE, LIMITS)
        else:  # the other half: as the base64 text a client sends
            decode_drawing(data.decode("latin-1") if data[:1] == b"\x01" else png_to_b64(data), PALETTE, LIMITS)
    except InputError:
        pass


def write_seed_corpus(folder: Path) -> None:
    ids = np.zeros((32, 32), np.uint8)
    ids[12:], ids[24:], ids[20:28, 2:10] = 2, 5, 9  # sky, mountain, water, a tree
    seeds = [encode_png(PALETTE.colorize(ids)), encode_png(ids, PALETTE.colors)]
    for mode in ("L", "RGBA", "I;16"):
        buffer = io.BytesIO()
        Image.new(mode, (16, 16)).save(buffer, format="PNG")
        seeds.append(buffer.getvalue())
    for i, png in enumerate(seeds):  # first byte 0: the fuzz target reads the rest as raw PNG bytes
        (folder / f"seed{i}").write_bytes(b"\x00" + png)


def main(argv: list[str]) -> None:
    folders = [Path(a) for a in argv[1:] if not a.startswith("-")]
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            write_seed_corpus(folder)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
