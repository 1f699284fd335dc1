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


def test_sample_entropy_matches_quadrature():
    """Monte Carlo entropy of the samples equals -integral p log p computed on a grid."""
    X, log_prob = KNOWN_DENSITIES_2D["eight_gaussians"](40000, random_state=0)
    grid = np.linspace(-5, 5, 501)
    points = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    lp = log_prob(points)
    entropy = -np.sum(np.exp(lp) * lp) * (grid[1] - grid[0]) ** 2
    assert -log_prob(X).mean() == pytest.approx(entropy, abs=0.02)


@pytest.mark.parametrize("name", ["moons", "two_spirals"])
def test_quadrature_has_converged(name):
    make = KNOWN_DENSITIES_2D[name]
    X, log_prob = make(500, random_state=0)
    _, finer = make(1, n_quadrature=1000, random_state=0)
    np.testing.assert_allclose(log_prob(X), finer(X), atol=1e-6)
