"""The two generators Miaobi ships, by name; the hub module maps each name to its weights folder.

``full`` is the trained generator, the default on a CPU as on a GPU. ``distilled`` is a slim student
(train/distill.py, 4.7x fewer GFLOPs) distilled from the *previous* full model: faster, with that
model's older look, kept by name until a student of the current one is distilled; until then no
``auto`` serves it (a student stands in for its own teacher only: docs/performance.md, "Compression").
"""
from __future__ import annotations

FULL, DISTILLED = "full", "distilled"
VARIANTS = ("auto", FULL, DISTILLED)
FOLDERS = {FULL: "weights", DISTILLED: "student"}  # each variant's weights folder inside hub_module/miaobi
UPSCALER_FOLDER = "upscaler"  # the learned upscalers (x2, x4) both variants share (miaobi_core/upscale.py)


def resolve_variant(variant: str) -> str:
    """``auto`` is the full model: it answers within the CPU's latency bar, and the shipped student is an older model's."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    return FULL if variant == "auto" else variant
