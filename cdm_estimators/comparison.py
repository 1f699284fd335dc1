"""Compare density estimators on a known density: NLL gap to the truth, log Z, timings.

Any scikit-learn density estimator works (anything with ``fit`` and ``score_samples``,
including a ``GridSearchCV`` around one). :func:`default_estimators` gives the five this
library compares: CDM, TRE, NCE, KDE with a cross-validated bandwidth and a Gaussian mixture
with a cross-validated number of components.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
from sklearn.base import clone
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from .baselines import NoiseContrastiveEstimator, TelescopingDensityRatioEstimator
from .estimator import ClassificationDensityEstimator
from .normalizer import estimate_log_normalizer

__all__ = [
    "ComparisonResult",
    "compare_estimators",
    "default_estimators",
    "gmm_with_cv_components",
    "kde_with_cv_bandwidth",
    "results_to_markdown",
]


class ComparisonResult(NamedTuple):
    """One estimator's numbers on one test set (log-densities in nats).

    ``gap`` is ``mean(true log p - model log p)`` over the test rows: 0 is perfect, and a
    negative value is only possible for a density that is not normalised (look at
    ``log_normalizer``). ``nll`` is the model's mean negative log-likelihood; ``true_nll`` and
    ``gap`` are NaN without a true ``log_prob``.
    """

    name: str
    nll: float
    true_nll: float
    gap: float
    log_normalizer: float
    log_normalizer_se: float
    log_normalizer_ess: float
    fit_time: float
    score_time: float
    best_params: str


def kde_with_cv_bandwidth(bandwidths=None, cv: int = 3, n_jobs=None) -> GridSearchCV:
    """``KernelDensity`` whose bandwidth is chosen by cross-validated log-likelihood.

    Parameters
    ----------
    bandwidths : array-like or None, default=None
        Candidate bandwidths in the data's units; ``None`` uses 36 values from 0.01 to 10 on
        a log scale (fine for data of unit spread: standardise first otherwise).
    cv : int, default=3
        Folds.
    n_jobs : int or None, default=None
        Passed to ``GridSearchCV``.

    Returns
    -------
    GridSearchCV
        Unfitted; after ``fit`` its ``score_samples`` is the best KDE's.
    """
    grid = np.logspace(-2, 1, 36) if bandwidths is None else np.asarray(bandwidths)
    return GridSearchCV(KernelDensity(), {"bandwidth": grid}, cv=cv, n_jobs=n_jobs)


def gmm_with_cv_components(n_components=(1, 2, 5, 10, 20, 40), cv: int = 3,
                           random_state=None, n_jobs=None) -> GridSearchCV:
    """Full-covariance ``GaussianMixture`` whose size is chosen by cross-validated likelihood.

    Returns
    -------
    GridSearchCV
        Unfitted.
    """
    gmm = GaussianMixture(n_init=2, random_state=random_state, reg_covar=1e-4)
    return GridSearchCV(gmm, {"n_components": list(n_components)}, cv=cv, n_jobs=n_jobs)


def default_estimators(random_state=None, **common) -> dict[str, object]:
    """The five estimators the benchmarks compare, each with its default parameters.

    Parameters
    ----------
    random_state : int or None, default=None
        Passed to every estimator that takes one.
    **common
        Extra parameters given to the three neural estimators (for example ``device`` or
        ``max_epochs`` for a quick run).

    Returns
    -------
    dict
        ``{"CDM": ..., "TRE": ..., "NCE": ..., "KDE": ..., "GMM": ...}``, all unfitted.
    """
    return {
        "CDM": ClassificationDensityEstimator(random_state=random_state, **common),
        "TRE": TelescopingDensityRatioEstimator(random_state=random_state, **common),
        "NCE": NoiseContrastiveEstimator(random_state=random_state, **common),
        "KDE": kde_with_cv_bandwidth(),
        "GMM": gmm_with_cv_components(random_state=random_state),
    }


def compare_estimators(
    estimators: Mapping[str, object],
    X_train,
    X_test,
    log_prob: Callable[[np.ndarray], np.ndarray] | None = None,
    n_normalizer_samples: int = 50_000,
    random_state=0,
    callback: Callable[[ComparisonResult], None] | None = None,
    fitted: dict | None = None,
) -> list[ComparisonResult]:
    """Fit each estimator (a clone) on ``X_train`` and score it on ``X_test``.

    Parameters
    ----------
    estimators : mapping of str to estimator
        Unfitted density estimators; they are cloned, not modified.
    X_train, X_test : array-like of shape (n, n_features)
    log_prob : callable or None, default=None
        The true log-density, for the gap; without it only the NLL is reported.
    n_normalizer_samples : int, default=50_000
        Importance-sampling draws for the ``log Z`` estimate (0 skips it: NaN).
    random_state : int, default=0
        Seed of the ``log Z`` estimate.
    callback : callable or None, default=None
        Called with each result as soon as it exists (to print progress).
    fitted : dict or None, default=None
        When given, receives the fitted clones by name (for plotting them afterwards).

    Returns
    -------
    list of ComparisonResult
        In the order of ``estimators``.

    Examples
    --------
    >>> from sklearn.neighbors import KernelDensity
    >>> from cdm_estimators.datasets import make_correlated_gaussian
    >>> X, log_prob = make_correlated_gaussian(600, 2, random_state=0)
    >>> [r] = compare_estimators({"KDE": KernelDensity(bandwidth=0.3)}, X[:400], X[400:],
    ...                          log_prob, n_normalizer_samples=5_000)
    >>> r.name, r.gap > 0
    ('KDE', True)
    """
    X_train, X_test = np.asarray(X_train, dtype=np.float64), np.asarray(X_test, dtype=np.float64)
    true = log_prob(X_test) if log_prob is not None else None
    results = []
    for name, estimator in estimators.items():
        est = clone(estimator)
        start = time.perf_counter()
        est.fit(X_train)
        fit_time = time.perf_counter() - start
        model = getattr(est, "best_estimator_", est)
        if fitted is not None:
            fitted[name] = est
        start = time.perf_counter()
        scores = model.score_samples(X_test)
        score_time = time.perf_counter() - start
        if n_normalizer_samples:
            z = estimate_log_normalizer(model, X_train, n_samples=n_normalizer_samples,
                                        random_state=random_state)
        else:
            z = (np.nan, np.nan, np.nan)
        result = ComparisonResult(
            name=name,
            nll=float(-np.mean(scores)),
            true_nll=float(-np.mean(true)) if true is not None else np.nan,
            gap=float(np.mean(true - scores)) if true is not None else np.nan,
            log_normalizer=float(z[0]),
            log_normalizer_se=float(z[1]),
            log_normalizer_ess=float(z[2]),
            fit_time=fit_time,
            score_time=score_time,
            best_params=_format_params(getattr(est, "best_params_", {})),
        )
        results.append(result)
        if callback is not None:
            callback(result)
    return results


def _format_params(params: Mapping) -> str:
    return ", ".join(
        f"{k}={float(v):.3g}" if isinstance(v, (float, np.floating)) else f"{k}={v}"
        for k, v in params.items()
    )


def results_to_markdown(results, extra_columns: Mapping[str, str] | None = None) -> str:
    """A Markdown table of :class:`ComparisonResult` rows (or dicts with the same keys).

    Parameters
    ----------
    results : iterable of ComparisonResult or dict
    extra_columns : mapping of str to str, optional
        ``{key: header}`` of dict keys to show first (for example the dataset).

    Returns
    -------
    str
    """
    extra = dict(extra_columns or {})
    head = list(extra.values()) + ["estimator", "gap", "NLL", "true NLL", "log Z (se)",
                                   "ESS", "fit s", "score s", "chosen"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        r = r._asdict() if hasattr(r, "_asdict") else dict(r)
        cells = [str(r[k]) for k in extra]
        cells += [
            r["name"], f"{r['gap']:+.3f}", f"{r['nll']:.3f}", f"{r['true_nll']:.3f}",
            f"{r['log_normalizer']:+.3f} ({r['log_normalizer_se']:.3f})",
            f"{r['log_normalizer_ess']:.0f}", f"{r['fit_time']:.1f}",
            f"{r['score_time']:.2f}", r["best_params"] or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
