"""The one network definition: every option builds and runs; checkpoints round-trip exactly."""
import dataclasses
import json

import numpy as np
import paddle
import pytest

from miaobi_core.checkpoint import load_generator, save_generator
from miaobi_core.config import GeneratorConfig
from miaobi_core.generator import CLADE, LabelPyramid, SPADEGenerator, intra_class_offsets, label_onehot


def tiny(**overrides) -> GeneratorConfig:
    return GeneratorConfig(**{"ngf": 4, "z_dim": 8, "spade_hidden": 8, "encoder_nef": 4, **overrides})


def intra_class_positions(onehot):
    """(B, 2, H, W): each pixel's x and y offsets, gathered from its class's channels."""
    x_offsets, y_offsets = np.split(intra_class_offsets(onehot).numpy(), 2, axis=1)
    return paddle.to_tensor(np.concatenate([x_offsets.sum(1, keepdims=True), y_offsets.sum(1, keepdims=True)], axis=1))


def run(generator, ids, seed=0):
    onehot_map = label_onehot(paddle.to_tensor(ids.astype(np.int64)), generator.cfg.num_classes)
    z = paddle.to_tensor(np.random.default_rng(seed).standard_normal((ids.shape[0], generator.cfg.z_dim)).astype(np.float32))
    with paddle.no_grad():
        return generator(onehot_map, z).numpy()


@pytest.fixture
def batch(label_map):
    return np.stack([label_map, label_map[:, ::-1]])


@pytest.mark.parametrize("overrides", [
    {"norm": "spade"}, {"norm": "clade"}, {"norm": "clade_icpe"},
    {"spectral_norm": False},
    {"use_vae": True}, {"upsampling": "bilinear"}, {"label_downsampling": "area"}, {"z_modulation": True}, {"norm": "spade", "z_modulation": True},
])
def test_every_option_builds_and_maps_labels_to_images(overrides, batch):
    paddle.seed(0)
    cfg = tiny(**overrides)
    size = 64
    ids = np.stack([np.kron(b, np.ones((size // 64 or 1,) * 2, np.uint8))[:size, :size] for b in batch])
    generator = SPADEGenerator(cfg)
    generator.eval()
    out = run(generator, ids)
    assert out.shape == (2, 3, size, size)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


def test_ngf_sets_the_widths():
    assert SPADEGenerator(tiny(ngf=8)).conv_img.weight.shape == [3, 8, 3, 3]


def test_trunk_width_widens_only_the_coarse_blocks(batch):
    plain, wide = SPADEGenerator(tiny(ngf=4)), SPADEGenerator(tiny(ngf=4, trunk_width=256))
    assert plain.head_0.in_channels == 64 and wide.head_0.in_channels == 256
    assert wide.G_middle_1.out_channels == 256 and wide.up_0.out_channels == plain.up_0.out_channels == 32
    assert [p.shape for p in wide.up_1.parameters()] == [p.shape for p in plain.up_1.parameters()]
    assert run(wide, batch).shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match="trunk_width"):
        tiny(trunk_width=-1)


def test_z_changes_the_picture_and_the_same_z_repeats_it(batch):
    paddle.seed(0)
    generator = SPADEGenerator(tiny())
    generator.eval()
    assert not np.allclose(run(generator, batch, seed=1), run(generator, batch, seed=2))
    np.testing.assert_array_equal(run(generator, batch, seed=1), run(generator, batch, seed=1))


def test_vae_encoder_gives_mu_and_logvar():
    paddle.seed(0)
    generator = SPADEGenerator(tiny(use_vae=True))
    mu, logvar = generator.encode(paddle.rand([2, 3, 64, 64]) * 2 - 1)
    assert mu.shape == [2, 8] and logvar.shape == [2, 8]
    with pytest.raises(ValueError, match="use_vae"):
        SPADEGenerator(tiny()).encode(paddle.rand([1, 3, 64, 64]))


def test_bad_sizes_and_settings_are_refused(batch):
    generator = SPADEGenerator(tiny())
    with pytest.raises(ValueError, match="multiples of 32"):
        run(generator, batch[:, :48, :48])
    with pytest.raises(ValueError, match="norm"):
        tiny(norm="batchnorm")
    with pytest.raises(ValueError, match="unknown generator settings"):
        GeneratorConfig.from_dict({**tiny().to_dict(), "depth": 3})


def test_onehot_leaves_ignored_pixels_empty():
    onehot = label_onehot(paddle.to_tensor(np.array([[[0, 2, 255]]], np.int64)), 3).numpy()
    np.testing.assert_array_equal(onehot[0, :, 0, :], [[1, 0, 0], [0, 0, 0], [0, 1, 0]])


def test_intra_class_positions_span_each_region():
    ids = np.zeros((1, 8, 8), np.int64)
    ids[0, :, 4:] = 1
    positions = intra_class_positions(label_onehot(paddle.to_tensor(ids), 2)).numpy()[0]
    # x offsets run -1..1 across each class's own columns
    np.testing.assert_allclose(positions[0, 0, :4], [-1, -1 / 3, 1 / 3, 1], atol=1e-5)
    np.testing.assert_allclose(positions[0, 0, 4:], [-1, -1 / 3, 1 / 3, 1], atol=1e-5)
    np.testing.assert_allclose(positions[1, :, 0], np.linspace(-1, 1, 8), atol=1e-5)


@pytest.mark.parametrize("overrides", [{"spectral_norm": False}, {"spectral_norm": True, "use_vae": True}])
def test_checkpoint_round_trip_reproduces_outputs_exactly(tmp_path, overrides, batch):
    paddle.seed(0)
    generator = SPADEGenerator(tiny(norm="clade_icpe", **overrides))
    generator.eval()
    before = run(generator, batch)
    save_generator(tmp_path, generator, metadata={"image_size": 64})
    restored = load_generator(tmp_path)
    np.testing.assert_array_equal(run(restored, batch), before)
    info = json.loads((tmp_path / "generator.json").read_text())
    assert info["generator"]["spectral_norm"] is False  # folded into the weights
    assert info["metadata"] == {"image_size": 64}


def test_half_precision_checkpoint_is_close_and_half_the_size(tmp_path, batch):
    paddle.seed(0)
    generator = SPADEGenerator(tiny(spectral_norm=False))
    generator.eval()
    save_generator(tmp_path / "full", generator)
    save_generator(tmp_path / "half", generator, half=True)
    full, half = (tmp_path / "full/generator.pdparams").stat().st_size, (tmp_path / "half/generator.pdparams").stat().st_size
    assert half < 0.6 * full
    error = np.abs(run(load_generator(tmp_path / "half"), batch) - run(generator, batch))
    assert error.mean() < 5e-3 and error.max() < 5e-2  # on the [-1, 1] scale: invisible in 8-bit pictures


def test_pinned_output_slice_of_a_seeded_tiny_model(batch):
    """Guards the network definition: any change to layers, init or order changes these numbers."""
    paddle.seed(2024)
    generator = SPADEGenerator(tiny(norm="spade", spectral_norm=False))
    generator.eval()
    out = run(generator, batch, seed=7)
    np.testing.assert_allclose(out[0, :, 30, 30:33].ravel(), PINNED_SLICE, atol=1e-4)


PINNED_SLICE = [-0.168114, -0.378547, 0.837547, 0.161313, -0.53567, 0.767085, 0.195868, 0.997387, 0.998804]


def test_config_round_trips_through_json():
    cfg = tiny(norm="clade", upsampling="bilinear")
    assert GeneratorConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert dataclasses.replace(cfg, ngf=6).ngf == 6
    # Settings retired since: a config saved with their only value left still loads; another is refused.
    saved = {**cfg.to_dict(), "attention": "none", "param_free_norm": "instance", "num_upsampling_layers": "normal"}
    assert GeneratorConfig.from_dict(saved) == cfg
    with pytest.raises(ValueError, match="no longer supported"):
        GeneratorConfig.from_dict({**cfg.to_dict(), "attention": "simam"})


def test_static_graph_export_matches_dygraph(tmp_path, batch):
    """paddle.jit traces the one definition (the base for exported backends) with identical outputs."""
    from miaobi_core.backends import PaddleJitBackend, export_static

    paddle.seed(0)
    generator = SPADEGenerator(tiny(norm="clade_icpe", spectral_norm=False))
    generator.eval()
    loaded = PaddleJitBackend(export_static(generator, 64, tmp_path))
    onehot_map = label_onehot(paddle.to_tensor(batch.astype(np.int64)), 11)
    z = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32))
    with paddle.no_grad():
        np.testing.assert_allclose(loaded(onehot_map.numpy(), z.numpy()), generator(onehot_map, z).numpy(), atol=1e-5)


def test_upsampling_is_nearest_neighbour_in_value_and_gradient():
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32), stop_gradient=False)
    up = SPADEGenerator(tiny()).up(x)
    np.testing.assert_array_equal(up.numpy(), paddle.nn.functional.interpolate(x, size=[8, 10], mode="nearest").numpy())
    (up * paddle.arange(up.size, dtype="float32").reshape(up.shape)).sum().backward()
    expected = np.arange(up.size, dtype=np.float32).reshape(up.shape).reshape(2, 3, 4, 2, 5, 2).sum(axis=(3, 5))
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_clade_icpe_composed_kernel_equals_lookup_times_position_scale():
    """The composed 1x1 convolution computes table[class] * (1 + w . offset + b) pixel by pixel (the paper's form)."""
    paddle.seed(0)
    layer = CLADE(6, 5, positional=True)
    for p in layer.parameters():
        p.set_value(paddle.randn(p.shape))
    ids = np.random.default_rng(1).integers(0, 6, (2, 16, 16))  # 5 = ignored: no class, no modulation
    onehot_map = label_onehot(paddle.to_tensor(ids), 5)
    pyramid = LabelPyramid(onehot_map, with_positions=True)
    for size in (16, 8, 4):
        step = 16 // size
        got = paddle.nn.functional.conv2d(pyramid.at([size, size]), layer.kernel(layer.gamma, layer.gamma_position))
        positions = intra_class_positions(onehot_map)[:, :, ::step, ::step]
        expected = layer.gamma(onehot_map[:, :, ::step, ::step]) * (1 + layer.gamma_position(positions))
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_area_label_pyramid_gives_each_block_its_class_shares_and_mean_offsets():
    ids = np.random.default_rng(3).integers(0, 4, (2, 16, 16))  # 3 = ignored: no class
    onehot_map = label_onehot(paddle.to_tensor(ids), 3)
    full = LabelPyramid(onehot_map, with_positions=True).at([16, 16]).numpy()
    pyramid = LabelPyramid(onehot_map, with_positions=True, area=True)
    for size in (8, 4, 1):
        step = 16 // size
        blocks = full.reshape(2, 9, size, step, size, step).mean(axis=(3, 5))
        np.testing.assert_allclose(pyramid.at([size, size]).numpy(), blocks, rtol=1e-6, atol=1e-6)
    shares = pyramid.at([4, 4]).numpy()[:, :3]
    np.testing.assert_allclose(shares.sum(axis=1), (ids != 3).reshape(2, 4, 4, 4, 4).mean(axis=(2, 4)), atol=1e-6)


def test_label_pyramid_refuses_sizes_that_do_not_divide_the_map():
    pyramid = LabelPyramid(label_onehot(paddle.zeros([1, 12, 12], dtype="int64"), 3), with_positions=False)
    assert pyramid.at([6, 6]).shape == [1, 3, 6, 6]
    with pytest.raises(ValueError, match="does not divide"):
        pyramid.at([5, 5])


def test_leaky_relu_traced_for_export_equals_the_eager_kernel():
    from miaobi_core.generator import leaky_relu

    x = np.linspace(-3, 3, 61, dtype=np.float32).reshape(1, 61)
    eager = leaky_relu(paddle.to_tensor(x)).numpy()
    traced = paddle.jit.to_static(leaky_relu, input_spec=[paddle.static.InputSpec([1, 61], "float32")], full_graph=True)
    np.testing.assert_allclose(traced(paddle.to_tensor(x)).numpy(), eager, rtol=1e-6)
    np.testing.assert_allclose(eager, np.where(x > 0, x, 0.2 * x), rtol=1e-6)


def test_bilinear_upsampling_is_interpolate_bilinear():
    generator = SPADEGenerator(tiny(upsampling="bilinear"))
    x = paddle.randn([2, 3, 5, 7])
    expected = paddle.nn.functional.interpolate(x, size=[10, 14], mode="bilinear", align_corners=False)
    np.testing.assert_allclose(generator.up(x).numpy(), expected.numpy(), atol=1e-6)
