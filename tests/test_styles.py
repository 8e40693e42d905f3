"""Named looks: style codes beside the weights, chosen from photo measures, asked for by name."""
import numpy as np
import paddle
import pytest

from miaobi_core.checkpoint import save_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import SPADEGenerator
from miaobi_core.styles import CodeGaussian, Style, StyleBook, UnknownStyle, write_styles
from miaobi_core.synthesizer import Synthesizer, style_from_seed
from train import styles as build


@pytest.fixture(scope="module")
def styled(tmp_path_factory):
    paddle.seed(3)
    generator = SPADEGenerator(GeneratorConfig(ngf=4, z_dim=8, norm="clade_icpe", z_modulation=True, use_vae=True,
                                               encoder_nef=4))
    for p in generator.parameters():
        p.set_value(paddle.randn(p.shape) * 0.3)
    folder = save_generator(tmp_path_factory.mktemp("styled"), generator, metadata={"image_size": 64})
    looks = [Style("sunny", "Sunny", np.full(8, 2.0, np.float32), None),
             Style("stormy", "Stormy", np.full(8, -2.0, np.float32), None)]
    write_styles(folder, looks, 0.3, {"sunny": 5, "stormy": 5}, {"sunny": b"\x89PNG sunny"})
    return folder


def test_a_style_book_reads_codes_spread_and_thumbnails(styled):
    book = StyleBook(styled, 8)
    assert book.names == ["sunny", "stormy"]
    assert book.styles["sunny"].thumbnail.read_bytes() == b"\x89PNG sunny" and book.styles["stormy"].thumbnail is None
    np.testing.assert_allclose(book.vector("sunny", np.ones(8)), np.full(8, 2.3), rtol=1e-6)
    with pytest.raises(UnknownStyle, match="no style 'sepia'; choose one of: sunny, stormy"):
        book.vector("sepia", np.zeros(8))
    with pytest.raises(ValueError, match="the model's z has 16"):
        StyleBook(styled, 16)
    assert StyleBook(styled / "nowhere", 8).names == []


def test_the_seeds_gaussian_is_the_mixture_of_the_photos_posteriors():
    rng = np.random.default_rng(0)
    mu = rng.normal(0.5, 2.0, (400, 3)) @ np.array([[1, 0, 0], [0.5, 1, 0], [0, 0, 0.2]])
    logvar = np.log(rng.uniform(0.1, 0.5, (400, 3)))
    fitted = CodeGaussian.fit(mu, logvar)
    assert fitted.photos == 400 and np.allclose(np.triu(fitted.scale_tril, 1), 0)
    np.testing.assert_allclose(fitted.mean, mu.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(fitted.scale_tril @ fitted.scale_tril.T,
                               np.cov(mu, rowvar=False) + np.diag(np.exp(logvar).mean(axis=0)), rtol=1e-4)
    with pytest.raises(ValueError, match="need"):
        CodeGaussian.fit(mu[:1], logvar[:1])


def test_seeds_without_a_look_draw_from_the_photos_gaussian(styled, label_map, tmp_path):
    import shutil

    ids = label_map[:64, :64]
    plain = Synthesizer(styled, backend="paddle")
    assert np.array_equal(plain.styles.seed_vector(np.arange(8.0)), np.arange(8.0))  # no Gaussian: N(0, 1) itself
    folder = shutil.copytree(styled, tmp_path / "model")
    scale_tril = np.tril(np.full((8, 8), 0.25, np.float32)) + np.eye(8, dtype=np.float32)
    seeds = CodeGaussian(np.full(8, 1.5, np.float32), scale_tril, 40)
    write_styles(folder, [], 0.3, {}, {}, seeds)
    synthesizer = Synthesizer(folder, backend="paddle")
    z = 1.5 + scale_tril @ style_from_seed(7, 8)
    np.testing.assert_allclose(synthesizer.styles.seed_vector(style_from_seed(7, 8)), z, rtol=1e-5)
    np.testing.assert_array_equal(synthesizer.generate([ids], seeds=[7])[0], synthesizer.generate([ids], styles=[z])[0])
    assert not np.array_equal(synthesizer.generate([ids], seeds=[7])[0], plain.generate([ids], seeds=[7])[0])
    with pytest.raises(ValueError, match="the seeds' Gaussian"):
        StyleBook(folder, 4)

    write_styles(folder, [], 0.3, {}, {}, seeds, truncation=0.5)  # half the spread around the same mean
    truncated = StyleBook(folder, 8)
    np.testing.assert_allclose(truncated.seed_vector(style_from_seed(7, 8)), 1.5 + 0.5 * (z - 1.5), rtol=1e-5)
    for wrong in (0, 1.5):
        write_styles(folder, [], 0.3, {}, {}, seeds, truncation=wrong)
        with pytest.raises(ValueError, match="truncation is"):
            StyleBook(folder, 8)


def test_a_style_holds_across_seeds_and_changes_the_picture(styled, label_map):
    synthesizer = Synthesizer(styled, backend="paddle")
    ids = label_map[:64, :64]
    sunny = [synthesizer.generate([ids], seeds=[s], style="sunny")[0] for s in (1, 2)]
    stormy = synthesizer.generate([ids], seeds=[1], style="stormy")[0]
    np.testing.assert_array_equal(sunny[0], synthesizer.generate([ids], seeds=[1], style="sunny")[0])
    within = np.abs(sunny[0].astype(int) - sunny[1]).mean()
    between = np.abs(sunny[0].astype(int) - stormy).mean()
    assert between > within
    with pytest.raises(UnknownStyle):
        synthesizer.generate([ids], seeds=[1], style="sepia")


def test_looks_take_the_codes_of_their_most_typical_photos():
    rng = np.random.default_rng(0)
    table = [{"brightness": rng.uniform(), "saturation": rng.uniform(), "warmth": rng.uniform(-.2, .2),
              "contrast": rng.uniform(), "snow": 0.0, "cloud": rng.uniform(), "sky": rng.uniform()} for _ in range(40)]
    table[7]["snow"] = table[9]["snow"] = 0.9
    codes = np.eye(40, dtype=np.float32)
    chosen = build.choose(codes, table, top=0.05)
    assert set(chosen) == {name for name, _, _ in build.LOOKS}
    winter, count = chosen["winter"]
    assert count == 2 and winter[7] == winter[9] == 0.5


def test_photo_measures_and_thumbnails(styled, palette):
    photo = np.zeros((8, 8, 3), np.uint8)
    photo[..., 0] = 200  # red: warm
    labels = np.full((8, 8), palette.names.index("snow"), np.uint8)
    m = build.measures(photo, labels, palette)
    assert m["warmth"] > 0.7 and m["snow"] == 1.0 and m["sky"] == 0.0
    png = build.thumbnail(Synthesizer(styled, backend="paddle"), np.zeros(8, np.float32), side=32)
    assert png.startswith(b"\x89PNG")


def test_the_style_sheet_paints_each_doodle_in_every_look_of_every_model(styled, palette):
    from train.sheets import style_grid

    model = Synthesizer(styled, backend="paddle")
    sheet = style_grid([model], palette, 64, count=2)
    assert sheet.size == (3 * (64 + 4), 2 * (64 + 4))  # doodle, sunny, stormy
    assert style_grid([model, model], palette, 64, count=2).size == (3 * (64 + 4), 4 * (64 + 4))  # a row each


def test_models_with_different_looks_are_refused_one_style_sheet(styled, palette, tmp_path):
    import json
    import shutil

    from train.sheets import style_grid

    other = shutil.copytree(styled, tmp_path / "other")
    book = json.loads((other / "styles.json").read_text())
    book["styles"] = book["styles"][:1]
    (other / "styles.json").write_text(json.dumps(book))
    with pytest.raises(ValueError, match="different looks"):
        style_grid([Synthesizer(styled, backend="paddle"), Synthesizer(other, backend="paddle")], palette, 64)


def test_the_styles_command_writes_six_looks_and_their_sheet(styled, palette, label_map, tmp_path):
    import json
    import shutil

    from PIL import Image

    from miaobi_core.codec import encode_png

    model = shutil.copytree(styled, tmp_path / "model")  # the command rewrites the model's looks
    entries = []
    for i, colour in enumerate([(200, 120, 40), (40, 60, 90), (220, 220, 230), (90, 140, 60), (30, 30, 30)]):
        Image.fromarray(np.full(label_map.shape + (3,), colour, np.uint8)).save(tmp_path / f"{i}.jpg")
        (tmp_path / f"{i}.png").write_bytes(encode_png(label_map, palette.colors))
        entries.append({"photo": str(tmp_path / f"{i}.jpg"), "label": f"{i}.png", "split": "train", "scene": "sea"})
    (tmp_path / "manifest.json").write_text(json.dumps({"photos": entries}))
    assert build.main([str(model), "--data-root", str(tmp_path), "--limit", "5", "--truncation", "0.8",
                       "--sheet", str(tmp_path / "sheet.png")]) == 0
    book = StyleBook(model, 8)
    assert book.names == [name for name, _, _ in build.LOOKS]
    seeds = json.loads((model / "styles.json").read_text())["seeds"]
    assert (seeds["photos"], seeds["truncation"], book.truncation) == (5, 0.8, 0.8)
    assert not np.allclose(book.seed_mean, 0)  # the five photos' codes, not N(0, 1)
    assert Image.open(tmp_path / "sheet.png").size == (7 * (64 + 4), 4 * (64 + 4))  # doodle + six looks, 4 rows


@pytest.mark.parametrize("wrong", ["0", "1.2", "-0.5"])
def test_the_styles_command_refuses_a_truncation_outside_0_to_1(wrong, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build.main(["some/export", "--truncation", wrong])
    assert exit_info.value.code == 2 and "in (0, 1]" in capsys.readouterr().err
