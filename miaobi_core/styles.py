"""Named looks a child can pick ("sunny", "misty", ...): style codes shipped beside a generator's weights.

A style is a z vector, the mean style code (VAE encoder output) of training photos that share a look,
built by ``python -m train.styles``. A picture in a style with a seed uses
``z = code + spread * N(0, 1)[seed]``: the look holds across doodles and seeds, the dice varies the
rest. Files, in the checkpoint folder:

- ``styles.json``: ``{"format": 1, "spread": 0.3, "styles": [{"name", "label", "z", "photos"}, ...]}``
- ``styles/<name>.png``: the model's picture of one fixed doodle in that look (the page's button).
"""
from __future__ import annotations

import json
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

    @property
    def names(self) -> list[str]:
        return list(self.styles)

    def vector(self, name: str, noise: np.ndarray) -> np.ndarray:
        """The z of a picture in style ``name``, given the seed's standard-normal draw ``noise``."""
        if name not in self.styles:
            raise UnknownStyle(name, self.names)
        return (self.styles[name].z + self.spread * noise).astype(np.float32)


def write_styles(folder: str | Path, styles: list[Style], spread: float, counts: dict[str, int],
                 thumbnails: dict[str, bytes]) -> Path:
    """styles.json and one PNG per style into a checkpoint folder."""
    folder = Path(folder)
    (folder / THUMBNAILS).mkdir(exist_ok=True)
    for name, png in thumbnails.items():
        (folder / THUMBNAILS / f"{name}.png").write_bytes(png)
    entries = [{"name": s.name, "label": s.label, "photos": counts[s.name],
                "z": [round(float(v), 5) for v in s.z]} for s in styles]
    path = folder / STYLES_FILE
    path.write_text(json.dumps({"format": 1, "spread": spread, "styles": entries}, indent=1) + "\n")
    return path
