"""Sky probabilities from the shared ncnn sky-segmentation net, cached as 8-bit PNGs.

The net only works at its fixed 384x384 input (smaller inputs give garbage;
tiling four photos into one input changed 14% of the pixels), so each photo
costs ~0.45 s on one core: the probabilities are computed once, in parallel
processes, and cached beside the labels so the colour rules can be re-run in
seconds.
"""
from __future__ import annotations

import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

INPUT_SIZE = 384
MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
INV_STD = [1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)]

_net = None  # one per worker process


def _load_net(model_dir: str):
    import ncnn  # imported lazily: only pseudo-labelling needs ncnn

    net = ncnn.Net()
    net.opt.num_threads = 1  # parallelism comes from processes, which scale better here
    net.load_param(str(Path(model_dir) / "skyseg.param"))
    net.load_model(str(Path(model_dir) / "skyseg.bin"))
    return net


def sky_probability(net, rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 photo -> (H, W) float32 sky probability."""
    import ncnn

    height, width = rgb.shape[:2]
    mat = ncnn.Mat.from_pixels_resize(np.ascontiguousarray(rgb), ncnn.Mat.PixelType.PIXEL_RGB,
                                      width, height, INPUT_SIZE, INPUT_SIZE)
    mat.substract_mean_normalize(MEAN, INV_STD)
    extractor = net.create_extractor()
    extractor.input("input.1", mat)
    _, out = extractor.extract("1959")
    prob = np.array(out, np.float32).reshape(INPUT_SIZE, INPUT_SIZE)
    return np.asarray(Image.fromarray(prob).resize((width, height), Image.BILINEAR))


def _init_worker(model_dir: str):
    global _net
    _net = _load_net(model_dir)


def _work(job: tuple[str, str]) -> None:
    photo_path, cache_path = job
    rgb = np.asarray(Image.open(photo_path).convert("RGB"))
    prob = sky_probability(_net, rgb)
    Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_path + ".tmp.png"
    Image.fromarray((prob * 255 + 0.5).clip(0, 255).astype(np.uint8)).save(tmp)
    os.replace(tmp, cache_path)  # a killed run never leaves a half-written cache file


def cache_sky_probabilities(jobs: list[tuple[Path, Path]], model_dir: Path, workers: int) -> None:
    """Compute the sky probability PNG for each (photo, cache path) whose cache file is missing."""
    todo = [(str(p), str(c)) for p, c in jobs if not c.exists()]
    if not todo:
        return
    with Pool(workers, initializer=_init_worker, initargs=(str(model_dir),)) as pool:
        for _ in tqdm(pool.imap_unordered(_work, todo, chunksize=8), total=len(todo), desc="sky", unit="photo"):
            pass


def load_sky_probability(cache_path: Path) -> np.ndarray:
    return np.asarray(Image.open(cache_path), np.float32) / 255.0
