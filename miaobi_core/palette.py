"""The one label palette, read from ``palette.json`` beside this file.

Everything that turns colours into class ids or back (the codec, the
trainer's pseudo-labeller and sample grids, the hub module, the web page)
goes through :class:`Palette`, so a class is added in exactly one place.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

PALETTE_PATH = Path(__file__).with_name("palette.json")


@dataclass(frozen=True)
class Palette:
    names: tuple[str, ...]
    displays: tuple[str, ...]
    emojis: tuple[str, ...]
    colors: np.ndarray  # (num_classes, 3) uint8
    transparent_id: int  # class given to fully transparent canvas pixels
    ignore_id: int  # label value that carries no class (training only)
    ade20k_to_id: dict[int, int]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def id_of(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no class named {name!r}; classes are {', '.join(self.names)}") from None

    def colorize(self, label_map: np.ndarray) -> np.ndarray:
        """(H, W) class ids -> (H, W, 3) uint8 palette colours (ignore -> black)."""
        lut = np.zeros((256, 3), np.uint8)
        lut[: self.num_classes] = self.colors
        return lut[np.asarray(label_map, np.uint8)]

    def first(self, num_classes: int) -> "Palette":
        """The palette of a model trained on the first ``num_classes`` classes: the ones it can paint.

        Classes are only ever appended to palette.json, so a model keeps its ids when a class is added after it.
        """
        if not 1 <= num_classes <= self.num_classes or self.transparent_id >= num_classes:
            raise ValueError(f"a model of {num_classes} classes does not fit this palette of {self.num_classes} "
                             f"({', '.join(self.names)})")
        return replace(self, names=self.names[:num_classes], displays=self.displays[:num_classes],
                       emojis=self.emojis[:num_classes], colors=self.colors[:num_classes],
                       ade20k_to_id={a: k for a, k in self.ade20k_to_id.items() if k < num_classes})

    def label_lut(self) -> np.ndarray:
        """256-entry table keeping this palette's class ids and making any other value unlabelled (ignore): a
        label map made with later classes, read by a model of the first ones."""
        lut = np.full(256, self.ignore_id, np.uint8)
        lut[: self.num_classes] = np.arange(self.num_classes)
        return lut

    def ade20k_lut(self) -> np.ndarray:
        """256-entry table mapping ADE20K ids to palette ids (unlisted -> ignore)."""
        lut = np.full(256, self.ignore_id, np.uint8)
        for ade_id, class_id in self.ade20k_to_id.items():
            lut[ade_id] = class_id
        return lut


def parse_palette(spec: dict) -> Palette:
    classes = spec["classes"]
    for i, c in enumerate(classes):
        if c["id"] != i:
            raise ValueError(f"palette class {c['name']!r} has id {c['id']}, expected {i}: ids must be 0..N-1 in order")
    names = tuple(c["name"] for c in classes)
    ade = {}
    for c in classes:
        for a in c.get("ade20k", []):
            if a in ade:
                raise ValueError(f"ADE20K id {a} is mapped twice")
            ade[a] = c["id"]
    palette = Palette(
        names=names,
        displays=tuple(c["display"] for c in classes),
        emojis=tuple(c["emoji"] for c in classes),
        colors=np.array([c["rgb"] for c in classes], np.uint8),
        transparent_id=names.index(spec["transparent_class"]),
        ignore_id=int(spec["ignore_id"]),
        ade20k_to_id=ade,
    )
    if len(set(map(tuple, palette.colors.tolist()))) != palette.num_classes:
        raise ValueError("two palette classes share a colour")
    return palette


def palette_json(num_classes: int, path: str | Path = PALETTE_PATH) -> dict:
    """palette.json as the page reads it, with only the first ``num_classes`` classes (see Palette.first)."""
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    load_palette(path).first(num_classes)  # the same checks
    return {**spec, "classes": spec["classes"][:num_classes]}


@lru_cache(maxsize=None)
def load_palette(path: str | Path = PALETTE_PATH) -> Palette:
    return parse_palette(json.loads(Path(path).read_text(encoding="utf-8")))
