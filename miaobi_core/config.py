"""The generator's settings, importable without paddle (CLIs print --help without loading it)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# An inference checkpoint's two files (miaobi_core/checkpoint.py), named here where no paddle is needed.
CONFIG_NAME = "generator.json"
WEIGHTS_NAME = "generator.pdparams"

DOUBLINGS = 5  # from the first tensor to the picture (SPADE's "normal"): sides are multiples of 32
NORMS = ("spade", "clade", "clade_icpe")
UPSAMPLINGS = ("nearest", "bilinear")
LABEL_DOWNSAMPLINGS = ("nearest", "area")
# Settings that change what a generator computes but none of its weights: a run may switch them and go on
# training the same networks (--continue-from), say to mend an artefact mid-run.
WEIGHT_FREE_SETTINGS = ("upsampling", "label_downsampling")
# Settings removed on 2026-12-02, which no shipped model used (each cost special cases: SimAM attention, batch
# norm, which has no CPU kernel across processes, and the 6 and 7 doublings of 512 px paper models). A saved
# config may still name them with the only value left.
RETIRED_SETTINGS = {"num_upsampling_layers": "normal", "param_free_norm": "instance", "attention": "none"}


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a generator; saved as JSON beside its weights."""

    num_classes: int = field(default=11, metadata={"help": "label classes (taken from the palette when training)"})
    ngf: int = field(default=64, metadata={"help": "channels of the last block; the first has 16 * ngf (paper: 64)"})
    trunk_width: int = field(default=0, metadata={
        "help": "channels of the coarse trunk (fc, head_0, G_middle_0 and _1, at 1/32 and 1/16 of the picture's "
                "side; 0 = 16 * ngf, SPADE's). Measured here (OpenVINO, one 128 px picture, ngf 16): 256 "
                "channels 38 ms, 512 63 ms, 1024 138 ms"})
    z_dim: int = field(default=256, metadata={"help": "length of the style / noise vector z"})
    norm: str = field(default="spade", metadata={
        "help": "spade | clade | clade_icpe: per-pixel conv (SPADE), per-class lookup (CLADE), "
                "or lookup scaled by intra-class position (CLADE-ICPE)"})
    spade_hidden: int = field(default=128, metadata={"help": "width of SPADE's shared conv (paper: 128)"})
    spectral_norm: bool = field(default=True, metadata={"help": "spectral norm on generator convolutions"})
    upsampling: str = field(default="nearest", metadata={
        "help": "nearest | bilinear: how features double in size between blocks (SPADE: nearest)"})
    label_downsampling: str = field(default="nearest", metadata={
        "help": "nearest | area: what a coarse block's modulation reads from the label map: its top-left pixel "
                "(SPADE), or each class's share of the block, centred where bilinear upsampling puts it"})
    z_modulation: bool = field(default=False, metadata={
        "help": "z also sets every normalisation layer's gamma and beta (through a linear map per layer), like "
                "OASIS's 3D noise, instead of entering the first layer only, where a GAN learns to ignore it"})
    use_vae: bool = field(default=False, metadata={
        "help": "train with an image encoder giving mu/logvar for z (style from a photo)"})
    encoder_nef: int = field(default=64, metadata={"help": "encoder width when use_vae"})

    def __post_init__(self):
        for name, allowed in (("norm", NORMS), ("upsampling", UPSAMPLINGS),
                              ("label_downsampling", LABEL_DOWNSAMPLINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}")
        if self.num_classes < 1 or self.ngf < 2 or self.z_dim < 1 or self.spade_hidden < 1 or self.trunk_width < 0:
            raise ValueError(f"num_classes, ngf, z_dim and spade_hidden must be positive, trunk_width >= 0: {self}")

    @property
    def trunk_channels(self) -> int:
        return self.trunk_width or 16 * self.ngf

    @property
    def size_multiple(self) -> int:
        """Label maps must have sides divisible by this."""
        return 2 ** DOUBLINGS

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def differences(self, other: "GeneratorConfig") -> dict:
        """The settings where ``other`` differs from this config, with ``other``'s values (for error messages)."""
        return {k: v for k, v in other.to_dict().items() if getattr(self, k) != v}

    @classmethod
    def from_dict(cls, values: dict) -> "GeneratorConfig":
        values = dict(values)
        for name, only in RETIRED_SETTINGS.items():
            if name in values and values.pop(name) != only:
                raise ValueError(f"this generator was saved with a setting no longer supported: {name} other "
                                 f"than {only!r} (removed on 2026-12-02)")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown generator settings {sorted(unknown)}; was this saved by a newer version?")
        return cls(**values)
