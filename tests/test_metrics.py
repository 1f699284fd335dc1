"""bits_per_dim and dequantize against closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KernelDensity

from cdm_estimators.metrics import bits_per_dim, dequantize


class UniformDensity:
    """The uniform density on [low, high]^d."""

    def __init__(self, low, high, d):
        self.low, self.high, self.d = low, high, d

    def score_samples(self, Y):
        inside = np.all((Y >= self.low) & (Y <= self.high), axis=1)
        return np.where(inside, -self.d * np.log(self.high - self.low), -np.inf)


class GaussianDensity:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def score_samples(self, Y):
        return norm.logpdf(Y, self.mean, self.std).sum(axis=1)


@pytest.mark.parametrize("n_levels,data_range", [(256, (-1.0, 1.0)), (17, (0.0, 1.0)),
                                                 (2, (3.0, 5.0))])
def test_uniform_density_gives_log2_of_the_levels(n_levels, data_range):
    levels = np.random.RandomState(0).randint(0, n_levels, size=(300, 6))
    bpd = bits_per_dim(UniformDensity(*data_range, 6), levels, n_levels, data_range,
                       random_state=0)
    assert bpd == pytest.approx(np.log2(n_levels), abs=1e-12)


def test_eight_bit_images_in_minus_one_one_need_no_hidden_constant():
    """The paper's "+7": -log p(y) / (d ln 2) + log2(128) for 8-bit data scaled to [-1, 1]."""
    levels = np.random.RandomState(1).randint(0, 256, size=(50, 12))
    density = GaussianDensity(0.0, 0.5)
    y = dequantize(levels, 256, (-1.0, 1.0), random_state=3)
    expected = -density.score_samples(y).mean() / (12 * np.log(2)) + 7
    got = bits_per_dim(density, levels, 256, (-1.0, 1.0), random_state=3)
    assert got == pytest.approx(expected, rel=1e-12)


def test_discretised_gaussian_is_bounded_by_its_exact_entropy():
    """For Gaussian data binned into levels, the dequantised bits/dim is an upper bound on the
    exact discrete value, and tight when the bins are small against the spread."""
    n_levels, low, high, mean, std = 64, 0.0, 1.0, 0.5, 0.1
    width = (high - low) / n_levels
    rng = np.random.RandomState(0)
    g = rng.normal(mean, std, size=(20_000, 3))
    levels = np.clip(np.floor((g - low) / width), 0, n_levels - 1)
    edges = low + width * np.arange(n_levels + 1)
    probs = np.diff(norm.cdf(edges, mean, std))
    probs[0] += norm.cdf(low, mean, std)
    probs[-1] += norm.sf(high, mean, std)
    exact = -np.mean(np.log2(probs[levels.astype(int)]))
    got = bits_per_dim(GaussianDensity(mean, std), levels, n_levels, (low, high),
                       n_draws=4, random_state=1)
    assert exact <= got + 0.005  # an upper bound (up to Monte Carlo noise)
    assert got - exact < 0.01    # and a tight one at width / std = 0.16


def test_kde_on_digits_matches_the_measured_anchor():
    """Digits (17 grey levels) dequantised as (x + u) / 17, the 30 % split of the images
    issue: a KDE of bandwidth 0.1 (the CV choice) was measured at 3.24 bits/dim there,
    uniform levels are log2(17) = 4.09."""
    X_train, X_test = train_test_split(load_digits().data, test_size=0.3, random_state=0)
    kde = KernelDensity(bandwidth=0.1).fit(dequantize(X_train, 17, random_state=0))
    bpd = bits_per_dim(kde, X_test, 17, data_range=(0.0, 1.0), random_state=1)
    assert 3.1 < bpd < 3.4 < np.log2(17)


def test_reproducible_and_rows_flattened():
    levels = np.random.RandomState(0).randint(0, 4, size=(20, 2, 3))
    density = GaussianDensity(0.5, 0.3)
    a = bits_per_dim(density, levels, 4, random_state=5)
    assert a == bits_per_dim(density, levels.reshape(20, 6), 4, random_state=5)
    assert dequantize(levels, 4, random_state=0).shape == (20, 6)


@pytest.mark.parametrize("X,n_levels,data_range,match", [
    (np.full((3, 2), 0.5), 4, (0, 1), "levels"),
    (np.full((3, 2), 4.0), 4, (0, 1), "n_levels=4"),
    (np.full((3, 2), -1.0), 4, (0, 1), "0..3"),
    (np.zeros((3, 2)), 1, (0, 1), "n_levels"),
    (np.zeros((3, 2)), 4, (1, 0), "data_range"),
    (np.zeros(3), 4, (0, 1), "shape"),
    (np.array([[np.nan, 0.0]]), 4, (0, 1), "levels"),
])
def test_bad_input_names_the_parameter(X, n_levels, data_range, match):
    with pytest.raises(ValueError, match=match):
        bits_per_dim(GaussianDensity(0.0, 1.0), X, n_levels, data_range)


@settings(deadline=None, max_examples=40)
@given(n_levels=st.integers(2, 300), low=st.floats(-10, 10), span=st.floats(0.1, 20),
       n_rows=st.integers(1, 20), n_features=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_uniform_levels_cost_log2_levels_whatever_the_scale(n_levels, low, span, n_rows,
                                                            n_features, seed):
    levels = np.random.RandomState(seed).randint(0, n_levels, size=(n_rows, n_features))
    density = UniformDensity(low, low + span, n_features)
    bpd = bits_per_dim(density, levels, n_levels, (low, low + span), random_state=seed)
    assert bpd == pytest.approx(np.log2(n_levels), abs=1e-9)


@settings(deadline=None, max_examples=25)
@given(low=st.floats(-5, 5), span=st.floats(0.5, 10), seed=st.integers(0, 2**16))
def test_bits_per_dim_does_not_depend_on_the_scale_of_the_data(low, span, seed):
    """The same model moved to another data_range (density rescaled with the data) gives the
    same bits/dim: the bin width and the Jacobian cancel."""
    levels = np.random.RandomState(seed).randint(0, 16, size=(30, 3))
    unit = bits_per_dim(GaussianDensity(0.5, 0.2), levels, 16, (0.0, 1.0), random_state=seed)
    moved = bits_per_dim(GaussianDensity(low + 0.5 * span, 0.2 * span), levels, 16,
                         (low, low + span), random_state=seed)
    assert moved == pytest.approx(unit, rel=1e-9, abs=1e-9)
