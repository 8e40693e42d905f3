"""bench.wide's comparison runs on any model (the benchmark itself is run by hand on the shipped one)."""
import numpy as np
import paddle

from bench.wide import wide_and_square
from miaobi_core.checkpoint import save_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator
from miaobi_core.synthesizer import Synthesizer


def test_wide_and_square_rows_hold_pictures_of_both_shapes_and_the_photos_floor(tmp_path, label_map):
    paddle.seed(0)
    folder = save_generator(tmp_path, SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade_icpe")),
                            metadata={"image_size": 64})
    maps = np.stack([np.asarray(np.resize(label_map, (150, 150)), np.uint8)] * 2)
    photos = np.random.default_rng(0).integers(0, 255, (2, 150, 150, 3), dtype=np.uint8)
    rows = wide_and_square(Synthesizer(folder, backend="paddle"), maps, photos, second_seed=7)
    assert [r["shape"] for r in rows.values()] == ["64x64", "64x64", "64x96", "64x96"]
    assert rows["wide 3:2"]["variety"] > 0 and rows["wide 3:2, real photos"]["variety"] is None
