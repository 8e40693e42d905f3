"""Pictures to look at: hand-drawn-style doodles and grids of pictures side by side."""
from __future__ import annotations

import numpy as np
from PIL import Image


def wobbly_doodles(palette, count: int, size: int, seed: int = 0, width: int | None = None) -> np.ndarray:
    """Hand-drawn-style label maps (size high, ``width`` or size wide): a few big blobs with wobbly borders, as a
    child paints them."""
    rng = np.random.default_rng(seed)
    width = width or size
    y, x = np.mgrid[0:size, 0:width].astype(np.float64)
    y, x = y / size, x / width
    maps = []
    for _ in range(count):
        label_map = np.full((size, width), palette.id_of("sky"), np.uint8)
        wobble = lambda: 0.03 * np.sin(x * rng.uniform(8, 20) + rng.uniform(0, 6)) + 0.02 * np.sin(x * 37)
        horizon = rng.uniform(0.35, 0.55)
        label_map[y > horizon + wobble() - 0.25 * np.exp(-((x - rng.uniform(0.2, 0.8)) ** 2) / 0.02)] = palette.id_of(
            rng.choice(["mountain", "mountain", "rock", "tree"]))
        label_map[y > rng.uniform(0.6, 0.75) + wobble()] = palette.id_of(rng.choice(["water", "sea", "grass", "sand"]))
        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.08, 0.22)
        label_map[(((x - cx) / 0.12) ** 2 + ((y - cy) / 0.05) ** 2 < 1 + wobble() * 5) & (label_map == palette.id_of("sky"))] = \
            palette.id_of("cloud")
        maps.append(label_map)
    return np.stack(maps)


def grid(rows: list[list[np.ndarray]], gap: int = 4) -> Image.Image:
    """Rows of equally sized RGB cells on white, ``gap`` pixels apart (a short last row is left open)."""
    height, width = rows[0][0].shape[:2]
    sheet = Image.new("RGB", (len(rows[0]) * (width + gap), len(rows) * (height + gap)), "white")
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            sheet.paste(Image.fromarray(cell), (c * (width + gap), r * (height + gap)))
    return sheet


def doodle_grid(synthesizers: list, palette, size: int, count: int = 6) -> Image.Image:
    """Rows of (doodle | each model's pictures with seeds 1 and 2)."""
    doodles = wobbly_doodles(palette, count, size)
    painted = [[picture for s in synthesizers for picture in s.generate([d, d], seeds=[1, 2])] for d in doodles]
    return grid([[palette.colorize(d), *p] for d, p in zip(doodles, painted)])


def style_grid(synthesizers: list, palette, size: int, count: int = 4) -> Image.Image:
    """Per doodle, one row per model of (doodle | its picture in each named look, one seed): does each look
    hold across doodles, and how does it compare with another model's same look?"""
    names = synthesizers[0].styles.names
    for synthesizer in synthesizers[1:]:
        if synthesizer.styles.names != names:
            raise ValueError(f"models with different looks cannot share a style sheet: {names} against "
                             f"{synthesizer.styles.names}")
    return grid([[palette.colorize(d), *(s.generate([d], seeds=[1], style=n)[0] for n in names)]
                 for d in wobbly_doodles(palette, count, size) for s in synthesizers])


# Where the sun sheet puts the sun: high on the right, low on the left (where the doodles' ridges often
# stand in front of it), and a large one in the middle of the sky.
SUN_PLACES = ((0.75, 0.12, 0.06), (0.22, 0.4, 0.07), (0.5, 0.18, 0.11))


def sun_grid(synthesizer, palette, size: int, count: int = 4) -> Image.Image:
    """Per doodle: (doodle | its picture | the same picture with a sun at each of SUN_PLACES), painted as
    ``POST /predict`` with ``sun`` paints it (miaobi_core/sun.py), at the page's picture size."""
    from miaobi_core.sun import Sun

    rows = []
    for doodle in wobbly_doodles(palette, count, size, seed=3):
        pictures = [synthesizer.generate([doodle], seeds=[1], size=2 * size, sun=sun)[0]
                    for sun in (None, *(Sun(*place) for place in SUN_PLACES))]
        doodle_large = np.asarray(Image.fromarray(palette.colorize(doodle)).resize((2 * size, 2 * size), Image.NEAREST))
        rows.append([doodle_large, *pictures])
    return grid(rows)


# ---------------------------------------------------------------- what a child and a parent can do with a photo

def photo_grid(synthesizer, palette, photos: list[np.ndarray], segmenter, scenes, size: int) -> Image.Image:
    """Per photo: (photo | its drawing | the drawing changed as a child might: the biggest class of its lower
    half made a lake | the picture of that), at the page's picture size (2 x the model's)."""
    from miaobi_core.labelling import drawing_from_photo
    from miaobi_core.photo import cover

    side, rows = 2 * size, []
    for photo in photos:
        drawing = drawing_from_photo(photo, segmenter, scenes, synthesizer.palette, side, side)
        lower = drawing[side // 2:]
        changed = drawing.copy()
        ground = np.bincount(lower[lower != palette.id_of("sky")].ravel(), minlength=palette.num_classes).argmax()
        changed[side // 2:][lower == ground] = palette.id_of("water")
        rows.append([cover(photo, side, side), palette.colorize(drawing), palette.colorize(changed),
                     synthesizer.generate([changed], seeds=[1])[0]])
    return grid(rows)


def style_photo_grid(synthesizer, palette, photos: list[np.ndarray], size: int, count: int = 3) -> Image.Image:
    """Per doodle: (doodle | then for each photo: the photo, and the doodle painted in its light), one seed."""
    from miaobi_core.photo import cover

    side, codes = 2 * size, [synthesizer.style_of_photo(photo) for photo in photos]
    rows = []
    for doodle in wobbly_doodles(palette, count, side, seed=5):
        row = [palette.colorize(doodle)]
        for photo, code in zip(photos, codes):
            row += [cover(photo, side, side), synthesizer.generate([doodle], seeds=[1], style_code=code)[0]]
        rows.append(row)
    return grid(rows)


def wide_grid(synthesizer, palette, size: int, count: int = 3) -> Image.Image:
    """Per doodle drawn on the page's wide (3:2) canvas: (doodle | its picture, painted wide), page-sized."""
    height = 2 * size
    return grid([[palette.colorize(doodle), synthesizer.generate([doodle], seeds=[1])[0]]
                 for doodle in wobbly_doodles(palette, count, height, seed=7, width=3 * height // 2)])


def day_grid(synthesizer, palette, size: int, columns: int = 6) -> Image.Image:
    """One doodle through a day (``"animate": "day"``): the doodle, then its frames in order, ``columns`` a row."""
    doodle = wobbly_doodles(palette, 1, 2 * size, seed=2)[0]
    cells = [palette.colorize(doodle), *synthesizer.animate(doodle, "day", seed=1)]
    return grid([cells[i:i + columns + 1] for i in range(0, len(cells), columns + 1)])



def house_doodles(palette, count: int, size: int) -> np.ndarray:
    """A child's house: sky, grass, a box with a pointed roof and a tree beside it, the house left or right."""
    y, x = np.mgrid[0:size, 0:size] / size
    maps = []
    for i in range(count):
        label_map = np.full((size, size), palette.id_of("sky"), np.uint8)
        label_map[y > 0.62] = palette.id_of("grass")
        middle, tree = (0.32, 0.8) if i % 2 == 0 else (0.68, 0.2)
        label_map[(y > 0.4) & (y <= 0.66) & (abs(x - middle) < 0.17)] = palette.id_of("house")
        label_map[(y > 0.22) & (y <= 0.4) & (abs(x - middle) < (y - 0.22) * 1.1)] = palette.id_of("house")  # the roof
        label_map[(y > 0.45) & (abs(x - tree) < 0.1)] = palette.id_of("tree")
        maps.append(label_map)
    return np.stack(maps)


def house_grid(synthesizers: list, palette, maps: np.ndarray, photos: np.ndarray) -> Image.Image:
    """Rows of (map | each model's picture, seed 1 | the real photo) for held-out maps with houses in them, then
    two house doodles (no photo): can a child draw a house?"""
    blank = np.full_like(photos[0], 255)
    rows = [[palette.colorize(label_map), *(s.generate([label_map], seeds=[1])[0] for s in synthesizers), photo]
            for label_map, photo in zip(maps, photos)]
    rows += [[palette.colorize(label_map), *(s.generate([label_map], seeds=[1])[0] for s in synthesizers), blank]
             for label_map in house_doodles(palette, 2, maps.shape[1])]
    return grid(rows)
