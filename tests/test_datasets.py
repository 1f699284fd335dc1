import numpy as np
import pytest

from cdm_estimators.datasets import KNOWN_DENSITIES_2D


@pytest.mark.parametrize("name", sorted(KNOWN_DENSITIES_2D))
def test_log_prob_integrates_to_one(name):
    _, log_prob = KNOWN_DENSITIES_2D[name](10, random_state=0)
    grid = np.linspace(-5, 5, 501)
    h = grid[1] - grid[0]
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    tol = 0.02 if name == "checkerboard" else 2e-3  # hard edges on a finite grid
    assert np.exp(log_prob(points)).sum() * h * h == pytest.approx(1.0, abs=tol)


@pytest.mark.parametrize("name", sorted(KNOWN_DENSITIES_2D))
def test_samples_follow_the_density(name):
    """Bin frequencies of the samples match the density integrated over each bin."""
    make = KNOWN_DENSITIES_2D[name]
    X, log_prob = make(20000, random_state=0)
    assert X.shape == (20000, 2)
    edges = np.linspace(-5, 5, 11)
    freq, _, _ = np.histogram2d(X[:, 0], X[:, 1], bins=[edges, edges])
    fine = np.linspace(-5, 5, 401)
    centres = (fine[1:] + fine[:-1]) / 2
    points = np.stack(np.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    mass = np.exp(log_prob(points)).reshape(400, 400) * (fine[1] - fine[0]) ** 2
    expected = mass.reshape(10, 40, 10, 40).sum(axis=(1, 3))
    np.testing.assert_allclose(freq / len(X), expected, atol=0.012)
    np.testing.assert_array_equal(make(50, random_state=3)[0], make(50, random_state=3)[0])


@pytest.mark.parametrize("name", sorted(KNOWN_DENSITIES_2D))
def test_sample_entropy_matches_quadrature(name):
    """Monte Carlo entropy of the samples equals -integral p log p computed on a grid."""
    X, log_prob = KNOWN_DENSITIES_2D[name](20000, random_state=0)
    grid = np.linspace(-5, 5, 401)
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    lp = log_prob(points)
    inside = np.isfinite(lp)
    entropy = -np.sum(np.exp(lp[inside]) * lp[inside]) * (grid[1] - grid[0]) ** 2
    assert -log_prob(X).mean() == pytest.approx(entropy, abs=0.03)


@pytest.mark.parametrize("name", ["moons", "two_spirals"])
def test_quadrature_has_converged(name):
    make = KNOWN_DENSITIES_2D[name]
    X, log_prob = make(500, random_state=0)
    _, finer = make(1, n_quadrature=1000, random_state=0)
    np.testing.assert_allclose(log_prob(X), finer(X), atol=1e-6)


# ----------------------------------------------------------------- any dimension
from scipy.stats import multivariate_normal, multivariate_t  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from cdm_estimators.datasets import (  # noqa: E402
    _random_covariance,
    make_banana,
    make_correlated_gaussian,
    make_correlated_gaussian_pixels,
    make_gaussian_mixture,
    make_student_t,
    make_uniform_pixels,
)


@pytest.mark.parametrize("make", [make_correlated_gaussian, make_gaussian_mixture, make_banana,
                                  make_student_t])
def test_2d_versions_integrate_to_one(make):
    _, log_prob = make(10, n_features=2, random_state=0)
    grid = np.linspace(-9, 9, 721)
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    assert np.exp(log_prob(points)).sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1, abs=1e-3)


def test_correlated_gaussian_samples_match_density():
    X, log_prob = make_correlated_gaussian(100_000, n_features=10, random_state=0)
    fitted = multivariate_normal(X.mean(0), np.cov(X.T))
    X_new, _ = make_correlated_gaussian(2000, n_features=10, random_state=0)
    # 65 parameters from 1e5 samples leave ~0.02 nats of estimation noise; a wrong factor
    # of the covariance would be off by whole nats.
    assert np.mean(np.abs(fitted.logpdf(X_new) - log_prob(X_new))) < 0.05


def test_gaussian_mixture_samples_match_density():
    """A full-covariance GMM fitted on the samples (its class holds the truth) agrees."""
    X, log_prob = make_gaussian_mixture(20_000, n_features=10, random_state=0)
    gmm = GaussianMixture(4, random_state=0, n_init=3).fit(X)
    X_new = X[:2000]
    assert np.mean(log_prob(X_new)) == pytest.approx(np.mean(gmm.score_samples(X_new)), abs=0.05)


@pytest.mark.parametrize("n_features", [2, 7, 10])
def test_banana_entropy_is_that_of_the_standard_normal(n_features):
    X, log_prob = make_banana(50_000, n_features=n_features, random_state=0)
    entropy = 0.5 * n_features * np.log(2 * np.pi * np.e)
    # sd of -log p is sqrt(d / 2): 0.02 nats of Monte Carlo noise at d=10
    assert -np.mean(log_prob(X)) == pytest.approx(entropy, abs=0.03)


def test_student_t_samples_match_density():
    X, log_prob = make_student_t(50_000, n_features=10, df=5.0, random_state=0)
    rng = np.random.RandomState(0)  # the generator's own draws of the mean and scale matrix
    mean = rng.standard_normal(10)
    truth = multivariate_t(mean, _random_covariance(10, rng), df=5.0)
    np.testing.assert_allclose(log_prob(X[:100]), truth.logpdf(X[:100]))
    # sd of -log p is about 2.5 nats here: 0.011 nats of Monte Carlo noise
    assert -np.mean(log_prob(X)) == pytest.approx(truth.entropy(), abs=0.05)


def test_uniform_pixels():
    X, log_prob = make_uniform_pixels(50, image_shape=(4, 5), width=2.0, random_state=0)
    assert X.shape == (50, 4, 5) and np.abs(X).max() <= 1
    np.testing.assert_allclose(log_prob(X), -20 * np.log(2.0))
    assert log_prob(np.full((1, 4, 5), 1.5))[0] == -np.inf


def test_correlated_gaussian_pixels_match_app_d_formula():
    shape, ell = (4, 4), 1.5
    X, log_prob = make_correlated_gaussian_pixels(20_000, shape, length_scale=ell,
                                                  random_state=0)
    assert X.shape == (20_000, 4, 4)
    pos = np.array([(i, j) for i in range(4) for j in range(4)], dtype=float)
    cov = np.exp(-((pos[:, None] - pos[None]) ** 2).sum(-1) / (2 * ell**2)) + 0.01 * np.eye(16)
    oracle = multivariate_normal(np.zeros(16), cov)
    np.testing.assert_allclose(log_prob(X[:100]), oracle.logpdf(X[:100].reshape(100, -1)))
    expected_per_dim = -(np.log(2 * np.pi) + 1) / 2 - np.linalg.slogdet(cov)[1] / 32
    assert np.mean(log_prob(X)) / 16 == pytest.approx(expected_per_dim, abs=0.01)
