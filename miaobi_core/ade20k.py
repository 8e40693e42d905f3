"""The ADE20K segmenter (DeepLabV3+ on MobileNetV2, int8 TFLite, the 31 commonest classes), in LiteRT.

It labels photos: for the pseudo-labels the model learns from (train/pseudolabel.py), and for a photo a
grown-up turns into a drawing (miaobi_core/labelling.py), so both see the same classes. The quality report
also has it judge whether a picture shows what its label map asked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

FILE = "ade20k_deeplab/deeplabv3_mnv2_ade20k_int8.tflite"  # inside a models folder (../shared/models, the module)
INPUT_SIZE = 512

# ADE20K objectInfo150 ids (1-based) of the file's 31 classes; 0 is "anything else".
NAMES = {1: "wall", 2: "building", 3: "sky", 4: "floor", 5: "tree", 6: "ceiling", 7: "road", 8: "bed",
         9: "windowpane", 10: "grass", 11: "cabinet", 12: "sidewalk", 13: "person", 14: "earth", 15: "door",
         16: "table", 17: "mountain", 18: "plant", 19: "curtain", 20: "chair", 21: "car", 22: "water",
         23: "painting", 24: "sofa", 25: "shelf", 26: "house", 27: "sea", 28: "mirror", 29: "rug", 30: "field",
         31: "armchair"}


class ADE20KSegmenter:
    """``segmenter(rgb)`` -> (H, W) ADE20K ids of one uint8 RGB image of any size."""

    def __init__(self, path: str | Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter  # imported when a segmenter is made: it takes a while

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the ADE20K segmenter is ../shared/models/{FILE}")
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        big = np.asarray(Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR))
        self.interpreter.set_tensor(self.input, big[None])  # uint8 RGB; the file quantizes it itself
        self.interpreter.invoke()
        ids = self.interpreter.get_tensor(self.output)[0].astype(np.uint8)
        return np.asarray(Image.fromarray(ids).resize((width, height), Image.NEAREST))
