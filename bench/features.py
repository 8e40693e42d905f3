"""What the photo, wide and day features cost, as the web app's server time: ``python -m bench.features``.

In one process, through the web app (``create_app`` and its test client, the installed hub module): a
12-megapixel phone JPEG turned into a drawing (``POST /drawing``, its bar 1 s), a picture painted in a
photo's style, a square and a wide (3:2) picture, and a day (``"animate": "day"``, 12 frames, its bar 3 s
at 512 px). Each row: p50 and max of the server's own ``ms`` over ``--repeats`` requests after one warm-up.
Timings on a shared machine are noisy: compare within one run, with nothing else running.
"""
from __future__ import annotations

import argparse
import base64
import io

import numpy as np
from PIL import Image

from miaobi_core.runtime import configure_cpu

from .serving import example_drawing


def phone_photo() -> str:
    """A held-out photo enlarged to a phone camera's 4032 x 3024, as the JPEG a phone sends."""
    from train.photos import LANDSCAPES

    photo = Image.open(sorted((LANDSCAPES / "test" / "sea").glob("*.jpg"))[0]).convert("RGB")
    buffer = io.BytesIO()
    photo.resize((4032, 3024), Image.BICUBIC).save(buffer, format="JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    configure_cpu()
    from webapp import create_app

    client = create_app({"RATE_LIMIT": None}).test_client()
    photo, drawing = phone_photo(), example_drawing(256)
    wide = example_drawing(256)  # the server fits a square drawing to the wide shape asked for
    rows = [("drawing of a 12 MP photo", "/drawing", {"photo": photo}),
            ("picture, style from that photo, 512", "/predict", {"image": drawing, "size": 512, "style_photo": photo,
                                                                 "format": "jpeg"}),
            ("picture, 512 x 512", "/predict", {"image": drawing, "size": 512, "format": "jpeg"}),
            ("picture, wide 768 x 512", "/predict", {"image": wide, "width": 768, "height": 512, "format": "jpeg"}),
            ("a day, 12 frames, 512 x 512", "/predict", {"image": drawing, "size": 512, "animate": "day"}),
            ("a day, 12 frames, wide 768 x 512", "/predict", {"image": wide, "width": 768, "height": 512,
                                                              "animate": "day"})]
    print(f"photo JPEG {len(base64.b64decode(photo)) / 1e6:.1f} MB; {args.repeats} requests a row after a warm-up")
    print("| request | p50 ms | max ms |\n|---|---:|---:|")
    for name, path, body in rows:
        times = []
        for _ in range(args.repeats + 1):
            response = client.post(path, json={"seed": 1, **body} if path == "/predict" else body)
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {response.get_json()}")
            times.append(response.get_json()["ms"])
        print(f"| {name} | {np.median(times[1:]):.0f} | {max(times[1:]):.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
