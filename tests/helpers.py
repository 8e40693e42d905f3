"""Small helpers shared by the API tests."""
import base64
import io

import numpy as np
from PIL import Image


def png_b64(array: np.ndarray, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def decode_b64_image(text: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(text)))
