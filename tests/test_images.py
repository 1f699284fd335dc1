"""Images: the convolutional classifiers, the two input layouts, dequantisation, sampling
grids and the App. D known-density images, all at tiny sizes."""

import pickle

import numpy as np
import pytest
import torch
from conftest import DEVICE

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import make_correlated_gaussian_pixels
from cdm_estimators.image_networks import EncoderClassifier, UNetClassifier, default_image_network
from cdm_estimators.objective import cdm_loss
from cdm_estimators.schedules import make_schedule

TINY_NET = dict(base_channels=8, channel_mults=(1, 2), n_res_blocks=1,
                attention_resolutions=(2,), norm_groups=4, quadratic_rank=3)
NETWORKS = {
    "unet": lambda shape, n_out: UNetClassifier(shape, n_out, **TINY_NET),
    "encoder": lambda shape, n_out: EncoderClassifier(shape, n_out, **TINY_NET),
}
SHAPE = (1, 4, 4)
#: Tiny image estimator: fits 4x4 grey images in well under a second.
TINY_IMAGES = dict(image_shape=SHAPE, n_timesteps=4, hidden_width=8, n_blocks=1, max_epochs=3,
                   batch_size=32, normalize=False, random_state=0, device=DEVICE)


def tiny_images(**params):
    return ClassificationDensityEstimator(**{**TINY_IMAGES, **params})


@pytest.fixture(scope="module")
def pictures():
    """100 4x4 grey 'images': a bright bar at a random row, plus noise."""
    rng = np.random.RandomState(0)
    images = rng.normal(scale=0.1, size=(100, 1, 4, 4))
    images[np.arange(100), 0, rng.randint(0, 4, 100)] += 1.0
    return images


@pytest.fixture(scope="module", params=["unet", "encoder"])
def fitted_images(request, pictures):
    return tiny_images(network=request.param).fit(pictures)


def _randomise_head(net):
    """Give the zero-initialised output layer random weights, so gradients flow through it."""
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)
    torch.nn.init.normal_(net.quadratic.quadratic.weight, std=0.1)


# ------------------------------------------------------------------------------ networks
@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 5, 6), (1, 7, 7)])
def test_networks_map_flat_and_image_inputs_to_the_classes(kind, shape):
    net = NETWORKS[kind](shape, 9)
    x = torch.randn(3, *shape)
    assert net(x).shape == (3, 9)
    torch.testing.assert_close(net(x.flatten(1)), net(x))


@pytest.mark.parametrize("kind", NETWORKS)
def test_untrained_networks_output_zero(kind):
    net = NETWORKS[kind](SHAPE, 6)
    assert torch.count_nonzero(net(torch.randn(5, 16))) == 0


@pytest.mark.parametrize("kind", NETWORKS)
def test_double_backpropagation_reaches_every_parameter(kind):
    torch.manual_seed(0)
    net = NETWORKS[kind](SHAPE, 6)
    _randomise_head(net)
    schedule = make_schedule("uniform", 4)
    alpha = torch.as_tensor(schedule.alpha, dtype=torch.float32)
    sigma = torch.as_tensor(schedule.sigma, dtype=torch.float32)
    loss = cdm_loss(net, torch.randn(16, 16), alpha, sigma, 1.0, create_graph=True)
    loss.loss.backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
        assert torch.all(torch.isfinite(param.grad)), name
        assert torch.count_nonzero(param.grad) > 0, name
    # The MSE part alone goes through the input-gradient: double backpropagation.
    net.zero_grad()
    loss = cdm_loss(net, torch.randn(16, 16), alpha, sigma, 0.0, create_graph=True)
    loss.loss.backward()
    assert torch.count_nonzero(net.conv_in.weight.grad) > 0


@pytest.mark.parametrize("kind", NETWORKS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_image_output_does_not_depend_on_the_rest_of_the_batch(kind, mode):
    torch.manual_seed(0)
    net = NETWORKS[kind](SHAPE, 6)
    _randomise_head(net)
    getattr(net, mode)()
    x = torch.randn(8, 16)
    torch.testing.assert_close(net(x[:3]), net(x)[:3], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(net(x[:3]), net(torch.cat([x[:3], 100 * x[3:]]))[:3],
                               rtol=1e-5, atol=1e-6)


def test_the_papers_cifar_network_has_about_33_million_parameters():
    net = UNetClassifier((3, 32, 32), 1002, base_channels=128, channel_mults=(1, 2, 2, 2),
                         n_res_blocks=2, attention_resolutions=(16,), dropout=0.1)
    n = sum(p.numel() for p in net.parameters())
    assert 32e6 < n < 34e6


def test_encoder_is_cheaper_than_the_unet():
    def size(net):
        return sum(p.numel() for p in net.parameters())

    unet = default_image_network("unet", (1, 8, 8), 10, 16, 1)
    encoder = default_image_network("encoder", (1, 8, 8), 10, 16, 1)
    assert size(encoder) < 0.6 * size(unet)


@pytest.mark.parametrize("side,levels", [(4, 1), (8, 2), (28, 3), (32, 4), (64, 4)])
def test_default_network_halves_the_resolution_down_to_about_four_pixels(side, levels):
    net = default_image_network("encoder", (1, side, side), 5, 8, 1)
    assert len(net.down) == levels


def test_network_arguments_are_checked():
    with pytest.raises(ValueError, match="channel_mults"):
        UNetClassifier(SHAPE, 5, channel_mults=())
    with pytest.raises(ValueError, match="image_shape"):
        EncoderClassifier((4, 4), 5)


# -------------------------------------------------------------------------- the estimator
def test_flat_and_image_layouts_give_the_same_model(pictures):
    flat = pictures.reshape(len(pictures), -1)
    a = tiny_images().fit(pictures)
    b = tiny_images().fit(flat)
    np.testing.assert_array_equal(a.score_samples(pictures), b.score_samples(flat))
    np.testing.assert_array_equal(a.score_samples(flat), a.score_samples(pictures))
    assert a.n_features_in_ == 16


def test_outputs_come_in_the_fitted_layout(pictures):
    images = tiny_images().fit(pictures)
    assert images.sample(5, random_state=0).shape == (5, 1, 4, 4)
    assert images.add_noise(pictures[:3], 2, random_state=0).shape == (3, 1, 4, 4)
    assert images.denoise(pictures[:3], 2).shape == (3, 1, 4, 4)
    assert images.denoise(pictures[:3], 2, return_noise=True).shape == (3, 1, 4, 4)
    grey = tiny_images().fit(pictures[:, 0])
    assert grey.sample(2, random_state=0).shape == (2, 4, 4)
    flat = tiny_images().fit(pictures.reshape(100, -1))
    assert flat.sample(2, random_state=0).shape == (2, 16)
    np.testing.assert_array_equal(images.sample(3, random_state=1).reshape(3, -1),
                                  flat.sample(3, random_state=1))


def test_untrained_image_model_is_the_standard_normal(pictures):
    """The zero-initialised head holds for both convolutional networks (the MLP's contract)."""
    for network in ("unet", "encoder"):
        est = tiny_images(network=network, max_epochs=1, lr=1e-12, warmup_fraction=0.0)
        est.fit(pictures)
        flat = pictures.reshape(100, -1)
        z = (flat - est.mean_) / est.scale_
        expected = -0.5 * (z**2).sum(1) - 8 * np.log(2 * np.pi) - np.log(est.scale_).sum()
        np.testing.assert_allclose(est.score_samples(pictures), expected, rtol=1e-4, atol=1e-4)


def test_images_are_standardised_per_channel():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 2, 3, 3)) * np.array([1.0, 4.0])[:, None, None] + np.array(
        [0.0, 10.0])[:, None, None]
    est = tiny_images(image_shape=(2, 3, 3), max_epochs=1).fit(X)
    np.testing.assert_allclose(est.mean_[:9], X[:, 0].mean())
    np.testing.assert_allclose(est.mean_[9:], X[:, 1].mean())
    np.testing.assert_allclose(est.scale_[9:], X[:, 1].std())


def test_image_defaults_differ_from_the_tabular_ones():
    from cdm_estimators.estimator import IMAGE_DEFAULTS

    est = ClassificationDensityEstimator(image_shape=(1, 8, 8))
    est.device_ = "cpu"
    assert est._network_kind == IMAGE_DEFAULTS["network"]
    assert est._size("batch_size") == IMAGE_DEFAULTS["batch_size"]
    assert est._auto_step_count() == IMAGE_DEFAULTS["steps"]
    # On the CPU, larger images get proportionally fewer steps; on a GPU all of them.
    mnist = ClassificationDensityEstimator(image_shape=(1, 28, 28))
    mnist.device_ = "cpu"
    assert mnist._auto_step_count() == round(IMAGE_DEFAULTS["steps"] * 64 / 784)
    mnist.device_ = "cuda"
    assert mnist._auto_step_count() == IMAGE_DEFAULTS["steps"]
    tabular = ClassificationDensityEstimator()
    assert tabular._network_kind == "mlp"
    assert (tabular._size("hidden_width"), tabular._size("n_blocks"),
            tabular._size("batch_size"), tabular._learning_rate()) == (128, 3, 512, 1e-3)
    assert est._learning_rate() == IMAGE_DEFAULTS["lr"]


def test_an_mlp_can_read_images_as_flat_rows(pictures):
    est = tiny_images(network="mlp").fit(pictures)
    assert type(est.net_.module_).__name__ == "ResidualMLP"
    assert est.sample(2, random_state=0).shape == (2, 1, 4, 4)


def test_network_params_reach_the_network(pictures):
    est = tiny_images(network="unet", network_params={"head_channels": 5}).fit(pictures)
    assert est.net_.module_.head[-1].in_features == 5
    with pytest.raises(TypeError, match="network_params"):
        tiny_images(network_params={"no_such_argument": 1}).fit(pictures)


def test_image_estimator_is_reproducible_and_picklable(fitted_images, pictures):
    again = tiny_images(network=fitted_images.network).fit(pictures)
    np.testing.assert_array_equal(again.score_samples(pictures),
                                  fitted_images.score_samples(pictures))
    loaded = pickle.loads(pickle.dumps(fitted_images))
    np.testing.assert_array_equal(loaded.score_samples(pictures),
                                  fitted_images.score_samples(pictures))
    np.testing.assert_array_equal(loaded.sample(3, random_state=0),
                                  fitted_images.sample(3, random_state=0))


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver_2"])
def test_image_samplers_give_finite_images(fitted_images, sampler):
    S = fitted_images.sample(7, random_state=0, sampler=sampler, n_steps=3)
    assert S.shape == (7, 1, 4, 4) and np.all(np.isfinite(S))


def test_sampling_progress_bar_counts_the_steps(fitted_images, capsys):
    fitted_images.set_params(verbose=1)
    try:
        fitted_images.sample(3, random_state=0, sampler="ddim", n_steps=3)
    finally:
        fitted_images.set_params(verbose=0)
    assert "3/3" in capsys.readouterr().err


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("shape", [(8, 8), (1, 8, 0), (1.0, 8, 8), "1x8x8", 64])
def test_bad_image_shape_is_named(shape, pictures):
    with pytest.raises(ValueError, match="image_shape"):
        tiny_images(image_shape=shape).fit(pictures)


@pytest.mark.parametrize("X_shape", [(10, 15), (10, 1, 4, 5), (10, 2, 4, 4), (10, 4, 5)])
def test_data_that_do_not_match_the_image_shape_are_refused(X_shape):
    with pytest.raises(ValueError, match="image_shape"):
        tiny_images().fit(np.zeros(X_shape))


def test_scoring_images_of_another_shape_is_refused(fitted_images):
    with pytest.raises(ValueError, match="image_shape"):
        fitted_images.score_samples(np.zeros((3, 1, 5, 5)))


def test_convolutional_network_needs_an_image_shape():
    with pytest.raises(ValueError, match="image_shape"):
        ClassificationDensityEstimator(network="unet").fit(np.zeros((10, 4)))
    with pytest.raises(ValueError, match="network must be one of"):
        ClassificationDensityEstimator(network="resnet").fit(np.zeros((10, 4)))


def test_image_shape_cannot_change_on_warm_start(pictures):
    est = tiny_images(warm_start=True).fit(pictures)
    est.set_params(image_shape=(1, 2, 8))
    with pytest.raises(ValueError, match="image_shape"):
        est.fit(pictures.reshape(100, 1, 2, 8))


# ---------------------------------------------------------------------- dequantisation
def test_dequantised_standardisation_uses_the_moments_of_the_noisy_data():
    levels = np.random.RandomState(0).randint(0, 5, size=(400, 16)).astype(float)
    est = tiny_images(dequantize=1.0, max_epochs=1).fit(levels)
    noisy = levels + np.random.RandomState(1).uniform(size=(200, 400, 16))
    assert est.mean_[0] == pytest.approx(noisy.mean(), abs=0.01)
    assert est.scale_[0] == pytest.approx(noisy.std(), abs=0.01)


def test_dequantisation_adds_fresh_noise_to_every_batch():
    levels = np.random.RandomState(0).randint(0, 5, size=(200, 16)).astype(float)
    plain = tiny_images().fit(levels)
    dequantised = tiny_images(dequantize=1.0).fit(levels)
    again = tiny_images(dequantize=1.0).fit(levels)
    probe = levels[:5] + 0.5
    assert not np.allclose(plain.score_samples(probe), dequantised.score_samples(probe))
    np.testing.assert_array_equal(dequantised.score_samples(probe), again.score_samples(probe))


def test_net_dequantises_in_model_units():
    est = tiny_images(dequantize=0.5, max_epochs=1).fit(
        np.random.RandomState(0).randint(0, 3, size=(50, 16)) * 0.5)
    np.testing.assert_allclose(est.net_.dequantize, 0.5 / est.scale_)


@pytest.mark.parametrize("bad", [0.0, -1.0, "1/17"])
def test_bad_dequantize_is_named(bad, pictures):
    with pytest.raises((TypeError, ValueError), match="dequantize"):
        tiny_images(dequantize=bad).fit(pictures)


# ------------------------------------------------------------------------- image grids
def test_image_grid_tiles_in_rows():
    from cdm_estimators.plotting import image_grid

    images = np.arange(6 * 4, dtype=float).reshape(6, 1, 2, 2)
    grid = image_grid(images, n_columns=4, value_range=(0, 23), padding=0)
    assert grid.shape == (4, 8)
    assert grid[0, 0] == 0.0 and grid[2, 0] == pytest.approx(16 / 23)
    assert np.all(grid[2:, 4:] == 1.0)  # the two empty cells are white
    padded = image_grid(images, n_columns=4, value_range=(0, 23))
    assert padded.shape == (5, 11) and np.all(padded[2] == 1.0) and padded[3, 0] == grid[2, 0]
    assert image_grid(images.reshape(6, 4), image_shape=(1, 2, 2), padding=0).shape == (4, 6)
    assert image_grid(np.zeros((2, 3, 2, 2)), padding=0).shape == (2, 4, 3)


def test_save_image_grid_writes_a_png(tmp_path, fitted_images):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from cdm_estimators.plotting import save_image_grid

    path = tmp_path / "samples.png"
    save_image_grid(fitted_images.sample(9, random_state=0), path, title="samples")
    assert path.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------- App. D known densities
@pytest.mark.slow
def test_known_density_images_are_learned():
    """App. D: correlated-Gaussian 4x4 images; the predicted per-dimension log-likelihood
    lies close to the analytic one (the paper's diagonal), at a tiny size. Measured on the
    CPU: 0.027 nats/dim off, correlation 0.96 (without the quadratic path 0.094 off after
    twice the training; the untrained start is about 1 nat/dim off)."""
    X, log_prob = make_correlated_gaussian_pixels(3000, (4, 4), length_scale=1.0,
                                                  random_state=0)
    test, _ = make_correlated_gaussian_pixels(1000, (4, 4), length_scale=1.0, random_state=1)
    est = ClassificationDensityEstimator(image_shape=(1, 4, 4), n_timesteps=20, hidden_width=8,
                                         batch_size=256, lr=3e-3, max_epochs=20,
                                         random_state=0, device=DEVICE)
    est.fit(X)
    pred, truth = est.score_samples(test), log_prob(test)
    assert abs(pred.mean() - truth.mean()) / 16 < 0.05
    assert np.corrcoef(pred, truth)[0, 1] > 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_image_estimator_on_cuda(pictures):
    est = tiny_images(device="cuda").fit(pictures)
    assert est.device_ == "cuda"
    assert np.all(np.isfinite(est.score_samples(pictures)))
    assert est.sample(4, random_state=0).shape == (4, 1, 4, 4)


def test_mixed_precision_trains_and_scores_in_float32(pictures):
    est = tiny_images(mixed_precision=True).fit(pictures)
    assert est.net_.mixed_precision is True
    scores = est.score_samples(pictures)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert next(est.net_.module_.parameters()).dtype == torch.float32
    with pytest.raises(TypeError, match="mixed_precision"):
        tiny_images(mixed_precision="bf16").fit(pictures)


@pytest.mark.slow
def test_images_example_runs(tmp_path):
    """examples/images.py end to end at one epoch: bits/dim table, sample grid, denoising."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("matplotlib")
    script = Path(__file__).resolve().parent.parent / "examples" / "images.py"
    done = subprocess.run([sys.executable, str(script), "--max-epochs", "1", "--sampler", "ddim",
                           "--output", str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GMM (CV components)" in done.stdout and "KDE (CV bandwidth)" in done.stdout
    for name in ("digits_samples.png", "digits_denoising.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
