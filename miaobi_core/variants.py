"""The two generators Miaobi ships, by name; the hub module maps each name to its weights folder.

``full`` is the trained generator; ``distilled`` is a student distilled from it
(train/distill.py) with 4.7x fewer GFLOPs, whose quality report stays within
10% of the full model's (docs/performance.md, "Compression").
"""
from __future__ import annotations

FULL, DISTILLED = "full", "distilled"
VARIANTS = ("auto", FULL, DISTILLED)
FOLDERS = {FULL: "weights", DISTILLED: "student"}  # each variant's weights folder inside hub_module/miaobi
UPSCALER_FOLDER = "upscaler"  # the learned upscalers (x2, x4) both variants share (miaobi_core/upscale.py)


def resolve_variant(variant: str, use_gpu: bool) -> str:
    """``auto`` serves the student on a CPU, where its speed is felt, and the full model on a GPU, where it is cheap."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    if variant == "auto":
        return FULL if use_gpu else DISTILLED
    return variant
