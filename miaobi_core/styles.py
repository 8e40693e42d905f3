"""Named looks a child can pick ("sunny", "misty", ...): style codes shipped beside a generator's weights.

A style is a z vector, the mean style code (VAE encoder output) of training photos that share a look,
built by ``python -m train.styles``. A picture in a style with a seed uses
``z = code + spread * N(0, 1)[seed]``: the look holds across doodles and seeds, the dice varies the
rest.

A picture without a named style draws its z from the Gaussian fitted to the training photos' style
codes (``seeds``), not from N(0, 1): the generator only ever learnt from encoder codes, and with a
weak KL term those sit off N(0, 1) (half a standard deviation off-centre a dimension, at step 8,037 of
the picture-quality run), where N(0, 1) draws give a washed-out average look. The draw is truncated
towards the mean (``truncation`` psi scales the Gaussian's spread; the truncation trick, Brock et al.
2019): the Gaussian's tails are the rare dark, stormy or washed-out lights that a plain daytime doodle
should not get by chance (the named looks are there to ask for them). Files, in the checkpoint folder:

- ``styles.json``: ``{"format": 1, "spread": 0.3, "styles": [{"name", "label", "z", "photos"}, ...],
  "seeds": {"mean", "scale_tril", "photos", "truncation"}}`` (``seeds`` optional: without it seeds draw
  N(0, 1); ``truncation`` optional, 1 = the fitted Gaussian itself)
- ``styles/<name>.png``: the model's picture of one fixed doodle in that look (the page's button).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .codec import InputError

STYLES_FILE = "styles.json"
THUMBNAILS = "styles"


@dataclass(frozen=True)
class Style:
    name: str  # the API's word for it
    label: str  # what the page shows
    z: np.ndarray  # (z_dim,) float32 style code
    thumbnail: Path | None  # a PNG of the look


class UnknownStyle(InputError):
    code = "unknown_style"

    def __init__(self, name, known):
        super().__init__(f"There is no style {name!r}; choose one of: {', '.join(known) or '(this model has none)'}.")


class StyleBook:
    """The styles of one checkpoint folder (none if it has no styles.json)."""

    def __init__(self, checkpoint_dir: str | Path, z_dim: int):
        folder = Path(checkpoint_dir)
        self.spread, self.styles = 0.0, {}
        self.seed_mean, self.seed_scale_tril = np.zeros(z_dim, np.float32), np.eye(z_dim, dtype=np.float32)
        self.truncation = 1.0
        if not (folder / STYLES_FILE).is_file():
            return
        info = json.loads((folder / STYLES_FILE).read_text())
        if info.get("format") != 1:
            raise ValueError(f"{folder / STYLES_FILE}: unknown format {info.get('format')!r}")
        self.spread = float(info["spread"])
        for entry in info["styles"]:
            z = np.asarray(entry["z"], np.float32)
            if z.shape != (z_dim,):
                raise ValueError(f"{folder / STYLES_FILE}: style {entry['name']!r} has {z.size} numbers, "
                                 f"the model's z has {z_dim}")
            thumbnail = folder / THUMBNAILS / f"{entry['name']}.png"
            self.styles[entry["name"]] = Style(entry["name"], entry["label"], z,
                                               thumbnail if thumbnail.is_file() else None)
        if "seeds" in info:
            mean = np.asarray(info["seeds"]["mean"], np.float32)
            scale_tril = np.asarray(info["seeds"]["scale_tril"], np.float32)
            if mean.shape != (z_dim,) or scale_tril.shape != (z_dim, z_dim):
                raise ValueError(f"{folder / STYLES_FILE}: the seeds' Gaussian is {mean.shape} and "
                                 f"{scale_tril.shape}, the model's z has {z_dim}")
            self.truncation = check_truncation(float(info["seeds"].get("truncation", 1.0)), folder / STYLES_FILE)
            self.seed_mean, self.seed_scale_tril = mean, np.tril(scale_tril)

    @property
    def names(self) -> list[str]:
        return list(self.styles)

    def vector(self, name: str, noise: np.ndarray) -> np.ndarray:
        """The z of a picture in style ``name``, given the seed's standard-normal draw ``noise``."""
        if name not in self.styles:
            raise UnknownStyle(name, self.names)
        return self.around(self.styles[name].z, noise)

    def around(self, z: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """A picture's z near the code ``z`` (a look's, or a photo's), varied by the seed's draw ``noise``."""
        return (z + self.spread * noise).astype(np.float32)

    def seed_vector(self, noise: np.ndarray) -> np.ndarray:
        """The z of a picture without a named style, given the seed's standard-normal draw ``noise``
        ((z_dim,), or (N, z_dim) for N pictures)."""
        return (self.seed_mean + self.truncation * (noise @ self.seed_scale_tril.T)).astype(np.float32)


def check_truncation(value: float, where) -> float:
    """The seeds' truncation psi scales their Gaussian's spread: 0 would make every seed alike, above 1 draws
    more of the tails it is there to avoid."""
    if not 0 < value <= 1:
        raise ValueError(f"{where}: the seeds' truncation is {value}; it scales the Gaussian's spread and "
                         "must be in (0, 1]")
    return value


@dataclass(frozen=True)
class CodeGaussian:
    """A Gaussian fitted to style codes: where the generator's z came from while it learnt."""

    mean: np.ndarray  # (z_dim,)
    scale_tril: np.ndarray  # (z_dim, z_dim) lower-triangular, scale_tril @ scale_tril.T = covariance
    photos: int

    @classmethod
    def fit(cls, mu: np.ndarray, logvar: np.ndarray) -> "CodeGaussian":
        """The encoder's posteriors N(mu_i, exp(logvar_i)) of N photos -> the Gaussian of their mixture."""
        mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
        if mu.ndim != 2 or mu.shape != logvar.shape or len(mu) < 2:
            raise ValueError(f"need (photos >= 2, z_dim) codes and log-variances, got {mu.shape} and {logvar.shape}")
        # Law of total variance: the spread of the means plus the mean posterior variance.
        covariance = np.cov(mu, rowvar=False) + np.diag(np.exp(logvar).mean(axis=0))
        return cls(mu.mean(axis=0).astype(np.float32), np.linalg.cholesky(covariance).astype(np.float32), len(mu))


def write_styles(folder: str | Path, styles: list[Style], spread: float, counts: dict[str, int],
                 thumbnails: dict[str, bytes], seeds: CodeGaussian | None = None, truncation: float = 1.0) -> Path:
    """styles.json and one PNG per style into a checkpoint folder (and the seeds' Gaussian with its
    truncation, if given)."""
    folder = Path(folder)
    (folder / THUMBNAILS).mkdir(exist_ok=True)
    for name, png in thumbnails.items():
        (folder / THUMBNAILS / f"{name}.png").write_bytes(png)
    rounded = lambda values: [round(float(v), 5) for v in values]
    entries = [{"name": s.name, "label": s.label, "photos": counts[s.name], "z": rounded(s.z)} for s in styles]
    info = {"format": 1, "spread": spread, "styles": entries}
    if seeds is not None:
        info["seeds"] = {"mean": rounded(seeds.mean), "photos": seeds.photos, "truncation": truncation,
                         "scale_tril": [rounded(row) for row in seeds.scale_tril]}
    path = folder / STYLES_FILE
    path.write_text(json.dumps(info, indent=1) + "\n")
    return path


def copy_styles(source: str | Path, folder: str | Path):
    """A model's looks and seeds' Gaussian (if it has them) into another checkpoint folder: a student
    distilled on the teacher's codes serves them too."""
    source, folder = Path(source), Path(folder)
    if (source / STYLES_FILE).is_file():
        shutil.copy2(source / STYLES_FILE, folder / STYLES_FILE)
    if (source / THUMBNAILS).is_dir():
        shutil.copytree(source / THUMBNAILS, folder / THUMBNAILS, dirs_exist_ok=True)
