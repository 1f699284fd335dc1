"""Likelihood metrics for discrete data under a continuous density.

Pixels and other quantised data are discrete, while a density estimator models a continuous
variable. :func:`bits_per_dim` spells out the standard bridge: uniform dequantisation, with
the number of levels and the scaling of the data as explicit arguments, so that no constant
(the "+7" of 8-bit images scaled to [-1, 1]) hides in the code.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["bits_per_dim", "dequantize"]


def _check_levels(X, n_levels: int, data_range) -> tuple[np.ndarray, float, float]:
    if isinstance(n_levels, bool) or not isinstance(n_levels, (int, np.integer)) or n_levels < 2:
        raise ValueError(f"n_levels must be an int >= 2 (for example 256 for 8-bit data); got "
                         f"{n_levels!r}.")
    try:
        low, high = (float(v) for v in data_range)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"data_range must be a pair (low, high); got {data_range!r}.") from exc
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"data_range must satisfy low < high, both finite; got {data_range!r}.")
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n_samples, ...) with at least one row; got shape "
                         f"{X.shape}.")
    levels = X.astype(np.float64)
    if not np.all(np.isfinite(levels)) or np.any(levels != np.round(levels)):
        raise ValueError("X must hold the discrete levels 0, 1, ..., n_levels - 1 as numbers "
                         "(integers), not data that are already scaled or dequantised.")
    if levels.min() < 0 or levels.max() > n_levels - 1:
        raise ValueError(f"X has levels from {levels.min():g} to {levels.max():g}; with "
                         f"n_levels={n_levels} they must lie in 0..{n_levels - 1}.")
    return levels.reshape(len(levels), -1), low, high


def dequantize(X, n_levels: int, data_range=(0.0, 1.0), random_state=None) -> np.ndarray:
    """Map discrete levels to the continuous scale of ``data_range``, adding uniform noise.

    Level ``k`` of ``n_levels`` becomes ``low + (k + u) * width`` with ``u ~ U[0, 1)`` and the
    bin width ``width = (high - low) / n_levels``: the bins tile ``[low, high)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Integer levels ``0 .. n_levels - 1`` (any trailing shape; rows are flattened).
    n_levels : int
        Number of levels (256 for 8-bit data, 17 for scikit-learn's digits).
    data_range : (float, float), default=(0.0, 1.0)
        ``(low, high)`` of the continuous scale the density lives on.
    random_state : int, RandomState instance or None, default=None
        Seed of the uniform noise.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        Dequantised rows, ``n_features`` the product of the trailing dimensions of ``X``.
    """
    levels, low, high = _check_levels(X, n_levels, data_range)
    u = check_random_state(random_state).uniform(size=levels.shape)
    return low + (levels + u) * ((high - low) / n_levels)


def bits_per_dim(estimator, X, n_levels: int, data_range=(0.0, 1.0), n_draws: int = 1,
                 random_state=None) -> float:
    """Bits per dimension of discrete data under a fitted continuous density.

    Each row of levels ``k`` is dequantised (:func:`dequantize`) to ``y`` in the scale the
    estimator was fitted on, and scored:
    ``bits/dim = -(log p(y) + d log(width)) / (d log 2)`` averaged over rows and draws, where
    ``d`` is the number of dimensions and ``width = (high - low) / n_levels`` the bin width.
    Since ``P(k) >= exp(E_u[log p(y)]) width^d`` (Jensen), this is an upper bound on the
    discrete data's negative log-likelihood in bits per dimension, the number that the
    density-estimation literature reports for images. Uniform levels give exactly
    ``log2(n_levels)``.

    Parameters
    ----------
    estimator : fitted density estimator
        Anything with ``score_samples`` returning natural-log densities of rows on the
        continuous scale ``data_range``.
    X : array-like of shape (n_samples, ...)
        Integer levels ``0 .. n_levels - 1``; rows are flattened to ``d`` dimensions.
    n_levels : int
        Number of levels of the discrete data.
    data_range : (float, float), default=(0.0, 1.0)
        ``(low, high)`` of the estimator's continuous scale: the levels' bins tile it.
    n_draws : int, default=1
        Dequantisation draws per row (more draws, less noise in the estimate).
    random_state : int, RandomState instance or None, default=None
        Seed of the dequantisation noise.

    Returns
    -------
    float
        Mean bits per dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KernelDensity
    >>> levels = np.random.RandomState(0).randint(0, 17, size=(500, 4))
    >>> kde = KernelDensity(bandwidth=0.05).fit(dequantize(levels, 17, random_state=1))
    >>> round(bits_per_dim(kde, levels, 17, random_state=2), 2) > 0
    True
    """
    if isinstance(n_draws, bool) or not isinstance(n_draws, (int, np.integer)) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive int; got {n_draws!r}.")
    levels, low, high = _check_levels(X, n_levels, data_range)
    rng = check_random_state(random_state)
    d = levels.shape[1]
    log_width = math.log((high - low) / n_levels)
    total = 0.0
    for _ in range(n_draws):
        y = dequantize(levels, n_levels, (low, high), random_state=rng)
        total += float(np.mean(estimator.score_samples(y)))
    return -(total / n_draws + d * log_width) / (d * math.log(2))
