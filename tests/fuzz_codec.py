"""Coverage-guided fuzzing of the label-map decoder with atheris.

Short run (part of the tests): ``python tests/fuzz_codec.py -atheris_runs=3000``
Long run:                       ``python tests/fuzz_codec.py -max_total_time=1800 -rss_limit_mb=2048``

Any exception other than the codec's own InputError is a finding and stops the run.
"""
import sys

import atheris

with atheris.instrument_imports():
    from miaobi_core.codec import CodecLimits, InputError, decode_label_canvas, png_to_b64, png_to_rgba, snap_to_palette
    from miaobi_core.palette import load_palette

PALETTE = load_palette()
LIMITS = CodecLimits(max_pixels=512 * 512)  # keeps each input's work small; the limit logic is what is fuzzed


def test_one_input(data: bytes) -> None:
    try:
        if data[:1] == b"\x00":  # half the time: the raw bytes as a PNG
            snap_to_palette(png_to_rgba(data[1:], LIMITS), PALETTE, LIMITS)
        else:  # the other half: as the base64 text a client sends
            decode_label_canvas(data.decode("latin-1") if data[:1] == b"\x01" else png_to_b64(data), PALETTE, LIMITS)
    except InputError:
        pass


def main(argv: list[str]) -> None:
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
