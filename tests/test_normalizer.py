import numpy as np
import pytest
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

from cdm_estimators import estimate_log_normalizer


class Shifted:
    """A density multiplied by exp(offset): its log-normaliser is exactly ``offset``."""

    def __init__(self, base, offset):
        self.base, self.offset = base, offset
        self.n_features_in_ = base.n_features_in_

    def score_samples(self, X):
        return self.base.score_samples(X) + self.offset


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return np.vstack([rng.normal(size=(300, 2)) * 0.3 + [3, 0], rng.normal(size=(300, 2))])


@pytest.mark.parametrize("offset", [0.0, 0.7, -1.3])
def test_recovers_known_normalisers(data, offset):
    for base in (GaussianMixture(2, random_state=0).fit(data),
                 KernelDensity(bandwidth=0.2).fit(data)):
        est = estimate_log_normalizer(Shifted(base, offset), data, n_samples=20_000,
                                      random_state=0)
        assert est.log_normalizer == pytest.approx(offset, abs=max(0.02, 4 * est.standard_error))
        assert est.effective_sample_size > 1000


def test_without_data_uses_broad_gaussian(data):
    gmm = GaussianMixture(2, random_state=0).fit(data)
    gmm.mean_, gmm.scale_ = data.mean(0), data.std(0)
    est = estimate_log_normalizer(gmm, n_samples=50_000, random_state=0)
    assert est.log_normalizer == pytest.approx(0.0, abs=0.05)


def test_needs_data_or_feature_count():
    with pytest.raises(ValueError, match="needs X"):
        estimate_log_normalizer(object())


def test_mixture_proposal_holds_up_in_ten_dimensions():
    """The old KDE proposal had an ESS of 8 on a 10-D mixture; the fitted mixture covers it."""
    rng = np.random.RandomState(0)
    means = 3.0 * rng.standard_normal((3, 10))
    data = np.concatenate([m + 0.5 * rng.standard_normal((700, 10)) for m in means])
    truth = GaussianMixture(3, random_state=0).fit(data)
    est = estimate_log_normalizer(Shifted(truth, 0.4), data, n_samples=20_000, random_state=0)
    assert est.effective_sample_size > 5000
    assert est.log_normalizer == pytest.approx(0.4, abs=max(0.02, 4 * est.standard_error))


def test_too_few_rows_for_a_mixture_fall_back_to_the_broad_gaussian():
    data = np.random.RandomState(0).normal(size=(5, 3))
    gaussian = GaussianMixture(1, covariance_type="spherical").fit(
        np.random.RandomState(1).normal(size=(500, 3)))
    est = estimate_log_normalizer(gaussian, data, n_samples=20_000, random_state=0)
    assert np.isfinite(est.log_normalizer) and est.effective_sample_size > 100


def test_tail_weight_is_checked(data):
    with pytest.raises(ValueError, match="tail_weight"):
        estimate_log_normalizer(GaussianMixture(1).fit(data), data, tail_weight=0.0)
