"""Importance-sampling estimate of a fitted density's normaliser.

A CDM's ``exp(score_samples)`` is not guaranteed to integrate to one; a low NLL from an
unnormalised density proves nothing. ``log Z = log E_q[p(x) / q(x)]`` is estimated with a
defensive mixture proposal ``q``: a Gaussian mixture fitted to the data (chosen by BIC, its
covariances widened a little) for the bulk, plus a broad Gaussian for the tails.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array

__all__ = ["LogNormalizerEstimate", "estimate_log_normalizer"]

#: Mixture sizes the proposal chooses from by BIC (sizes the data cannot support are skipped).
PROPOSAL_COMPONENTS = (1, 2, 4, 8, 16)
#: Rows used to fit the proposal mixture.
PROPOSAL_FIT_ROWS = 4000


class LogNormalizerEstimate(NamedTuple):
    """``log Z`` estimate, its delta-method standard error and the effective sample size."""

    log_normalizer: float
    standard_error: float
    effective_sample_size: float


def _gaussian_log_pdf(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Diagonal Gaussian log-density of each row (scipy's ``norm.logpdf`` summed over columns)."""
    return norm.logpdf(x, loc=mean, scale=std).sum(axis=-1)


def _fit_proposal_mixture(Z: np.ndarray, widen: float, random_state: int) -> GaussianMixture | None:
    """Full-covariance Gaussian mixture on standardised rows ``Z``, its size chosen by BIC.

    The covariances are multiplied by ``widen ** 2`` so that the proposal's bulk is a little
    wider than the data. Returns None when there are too few rows for even one component.
    """
    n, d = Z.shape
    # At least 2 (d + 1) rows per component; BIC judges the rest.
    sizes = [k for k in PROPOSAL_COMPONENTS if 2 * k * (d + 1) <= n]
    if not sizes:
        return None
    best, best_bic = None, np.inf
    for k in sizes:
        mixture = GaussianMixture(k, covariance_type="full", reg_covar=1e-3, n_init=1,
                                  random_state=random_state).fit(Z)
        bic = mixture.bic(Z)
        if bic < best_bic:
            best, best_bic = mixture, bic
    return _widened(best, widen)


def _widened(mixture: GaussianMixture, widen: float) -> GaussianMixture:
    """A copy of a fitted full-covariance mixture with every covariance scaled by
    ``widen ** 2``; the fitted one is left as it is.

    The fitted attributes are set consistently (covariances, precisions and their Cholesky
    factors), so ``score_samples`` and ``sample`` of the copy both see the widened model.
    """
    wide = copy.deepcopy(mixture)
    wide.covariances_ = mixture.covariances_ * widen**2
    wide.precisions_cholesky_ = mixture.precisions_cholesky_ / widen
    wide.precisions_ = mixture.precisions_ / widen**2
    return wide


def estimate_log_normalizer(
    estimator,
    X=None,
    n_samples: int = 100_000,
    tail_scale: float = 2.0,
    tail_weight: float = 0.1,
    widen: float = 1.2,
    random_state=None,
) -> LogNormalizerEstimate:
    """Estimate ``log Z = log integral exp(estimator.score_samples(x)) dx`` by importance sampling.

    The proposal mixes, with weights ``1 - tail_weight`` and ``tail_weight``, a full-covariance
    Gaussian mixture fitted to ``X`` (after per-feature standardisation; 1 to 16 components
    chosen by BIC; covariances widened by ``widen``) and a broad Gaussian with the data's
    per-feature mean and ``tail_scale`` times its spread. Without ``X`` (or with too few rows
    for a mixture) only the broad Gaussian is used, its moments taken from the estimator's
    ``mean_``/``scale_`` (or zero and one). Check ``effective_sample_size``: the estimate is
    trustworthy when it is in the thousands.

    Parameters
    ----------
    estimator : fitted density estimator
        Anything with ``score_samples`` returning natural-log densities.
    X : array-like of shape (n_rows, n_features), optional
        Data near which the density lives (the training data, or a sample of it).
    n_samples : int, default=100_000
        Proposal draws.
    tail_scale : float, default=2.0
        Width of the broad component relative to the data's spread.
    tail_weight : float, default=0.1
        Share of the broad component in the proposal (1 when there is no mixture).
    widen : float, default=1.2
        Factor on the mixture components' standard deviations.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    LogNormalizerEstimate
        ``log_normalizer`` (0 for a normalised density), ``standard_error`` and
        ``effective_sample_size`` of the importance weights.

    Examples
    --------
    >>> from sklearn.neighbors import KernelDensity
    >>> X = np.random.RandomState(0).normal(size=(500, 2))
    >>> kde = KernelDensity(bandwidth=0.3).fit(X)
    >>> est = estimate_log_normalizer(kde, X, n_samples=20_000, random_state=0)
    >>> abs(est.log_normalizer) < 0.02
    True
    """
    if not 0 < tail_weight <= 1:
        raise ValueError(f"tail_weight must be in (0, 1], got {tail_weight!r}.")
    rng = check_random_state(random_state)
    mixture = None
    if X is not None:
        X = check_array(X, dtype=np.float64)
        mean, spread = X.mean(0), X.std(0)
    else:
        d = getattr(estimator, "n_features_in_", None)
        if d is None:
            raise ValueError("estimate_log_normalizer needs X when the estimator has no "
                             "n_features_in_; pass the training data.")
        mean = np.asarray(getattr(estimator, "mean_", np.zeros(d)), dtype=np.float64)
        spread = np.asarray(getattr(estimator, "scale_", np.ones(d)), dtype=np.float64)
    spread = np.where(spread > 0, spread, 1.0)
    wide = tail_scale * spread
    d = mean.shape[0]
    if X is not None:
        rows = X[rng.permutation(len(X))[:PROPOSAL_FIT_ROWS]]
        mixture = _fit_proposal_mixture((rows - mean) / spread, widen,
                                       random_state=int(rng.randint(2**31 - 1)))

    draws = mean + wide * rng.standard_normal((n_samples, d))
    log_q = _gaussian_log_pdf(draws, mean, wide)
    if mixture is not None:
        from_mixture = rng.rand(n_samples) >= tail_weight
        n_mixture = int(from_mixture.sum())
        if n_mixture:
            mixture.random_state = int(rng.randint(2**31 - 1))
            z, _ = mixture.sample(n_mixture)
            # sample() returns rows grouped by component: shuffle so chunks are mixed.
            draws[from_mixture] = mean + spread * z[rng.permutation(n_mixture)]
        log_mixture = mixture.score_samples((draws - mean) / spread) - np.sum(np.log(spread))
        log_q = np.logaddexp(np.log1p(-tail_weight) + log_mixture,
                             np.log(tail_weight) + _gaussian_log_pdf(draws, mean, wide))

    log_w = estimator.score_samples(draws) - log_q
    log_z = float(logsumexp(log_w) - np.log(n_samples))
    w = np.exp(log_w - log_w.max())
    ess = float(w.sum() ** 2 / np.sum(w**2))
    # Delta method: se(log Z) = sd(w) / (sqrt(n) mean(w)).
    se = float(np.std(w) / (np.sqrt(n_samples) * np.mean(w)))
    return LogNormalizerEstimate(log_z, se, ess)
