"""The comparison harness and the plotting helper."""

import matplotlib
import numpy as np
import pytest
from conftest import tiny
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.neighbors import KernelDensity

from cdm_estimators.comparison import (
    compare_estimators,
    default_estimators,
    kde_with_cv_bandwidth,
    results_to_markdown,
)
from cdm_estimators.datasets import make_eight_gaussians
from cdm_estimators.plotting import plot_densities_2d

matplotlib.use("Agg")


class Truth(DensityMixin, BaseEstimator):
    """An 'estimator' that knows the true density (its gap must be exactly 0)."""

    def __init__(self, log_prob=None):
        self.log_prob = log_prob

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def score_samples(self, X):
        return self.log_prob(X)


@pytest.fixture(scope="module")
def data():
    X, log_prob = make_eight_gaussians(1500, random_state=0)
    return X[:1000], X[1000:], log_prob


def test_compare_reports_gap_normaliser_and_times(data):
    X_train, X_test, log_prob = data
    seen, fitted = [], {}
    results = compare_estimators(
        {"truth": Truth(log_prob), "KDE": kde_with_cv_bandwidth(np.logspace(-1, 0, 5)),
         "CDM": tiny("CDM")},
        X_train, X_test, log_prob, n_normalizer_samples=20_000, callback=seen.append,
        fitted=fitted)
    assert [r.name for r in results] == ["truth", "KDE", "CDM"] == [r.name for r in seen]
    truth, kde, cdm = results
    assert truth.gap == 0 and truth.nll == pytest.approx(truth.true_nll)
    assert abs(truth.log_normalizer) < 3 * truth.log_normalizer_se + 0.01
    assert kde.gap > 0 and kde.best_params.startswith("bandwidth=")
    assert abs(kde.log_normalizer) < 0.05  # KDE is normalised
    assert fitted["CDM"].score(X_test) == pytest.approx(-cdm.nll)
    assert cdm.fit_time > 0 and cdm.score_time >= 0 and np.isfinite(cdm.gap)
    table = results_to_markdown(results)
    assert table.count("\n") == 4 and "| KDE |" in table


def test_compare_without_truth_and_without_normaliser(data):
    X_train, X_test, _ = data
    [r] = compare_estimators({"KDE": KernelDensity(bandwidth=0.3)}, X_train, X_test,
                             n_normalizer_samples=0)
    assert np.isnan(r.gap) and np.isnan(r.log_normalizer) and np.isfinite(r.nll)


def test_default_estimators_are_the_five_with_defaults():
    estimators = default_estimators(random_state=3, max_epochs=2)
    assert list(estimators) == ["CDM", "TRE", "NCE", "KDE", "GMM"]
    assert estimators["TRE"].random_state == 3 and estimators["NCE"].max_epochs == 2


def test_plot_densities_side_by_side(data):
    X_train, _, log_prob = data
    kde = KernelDensity(bandwidth=0.3).fit(X_train)
    fig = plot_densities_2d({"KDE": kde}, log_prob, X=X_train, resolution=30,
                            titles={"KDE": "KDE gap +0.1"})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["truth", "KDE gap +0.1"]
    with pytest.raises(ValueError, match="bounds"):
        plot_densities_2d({"KDE": kde})
