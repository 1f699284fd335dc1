"""Known 2-D densities: samples plus their exact (or quadrature) log-density.

Each ``make_*`` returns ``(X, log_prob)``: ``X`` of shape ``(n_samples, 2)`` and a function
``log_prob(X) -> ndarray`` of the true natural-log density, so any estimator can be compared
with the truth (``mean(log_prob(X_test) - est.score_samples(X_test))`` is its NLL gap).

Curve-shaped densities (moons, two spirals) are a uniform position along a curve plus isotropic
Gaussian noise; their density is a 1-D integral over the curve, computed by Gauss-Legendre
quadrature on ``n_quadrature`` nodes per curve (the tests check that doubling the nodes changes
the log-density by less than 1e-6 nats).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import check_random_state

__all__ = [
    "KNOWN_DENSITIES_2D",
    "make_checkerboard",
    "make_eight_gaussians",
    "make_moons_density",
    "make_rings",
    "make_two_spirals",
]

LogProb = Callable[[np.ndarray], np.ndarray]


def _log_normal_2d(X: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    """``log N(x; c, std^2 I)`` for every row of ``X`` (n, 2) and centre (m, 2): (n, m)."""
    sq = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
    return -0.5 * sq / std**2 - np.log(2 * np.pi * std**2)


def _chunked(fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray, rows: int = 1024):
    X = np.asarray(X, dtype=np.float64)
    return np.concatenate([fn(X[i:i + rows]) for i in range(0, len(X), rows)] or [np.empty(0)])


def make_eight_gaussians(n_samples=1000, radius=2.0, std=0.3, random_state=None):
    """Equal mixture of 8 isotropic Gaussians on a circle (exact density)."""
    rng = check_random_state(random_state)
    angles = np.arange(8) * np.pi / 4
    centres = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    X = centres[rng.randint(8, size=n_samples)] + std * rng.standard_normal((n_samples, 2))

    def log_prob(Y):
        return _chunked(lambda b: logsumexp(_log_normal_2d(b, centres, std), axis=1)
                        - np.log(8), Y)

    return X, log_prob


def make_checkerboard(n_samples=1000, random_state=None):
    """Uniform on the 8 black squares of a 4x4 board on [-2, 2]^2 (exact, density 1/8)."""
    rng = check_random_state(random_state)
    x1 = rng.uniform(-2, 2, n_samples)
    x2 = rng.uniform(0, 1, n_samples) + rng.randint(2, size=n_samples) * 2 - 2
    x2 = x2 + (np.floor(x1) % 2)
    X = np.stack([x1, x2], axis=1)

    def log_prob(Y):
        Y = np.asarray(Y, dtype=np.float64)
        inside = np.all(np.abs(Y) <= 2, axis=1)
        black = (np.floor(Y[:, 0]) + np.floor(Y[:, 1])) % 2 == 0
        return np.where(inside & black, -np.log(8.0), -np.inf)

    return X, log_prob


def make_rings(n_samples=1000, radii=(1.0, 2.0, 3.0), std=0.1, random_state=None):
    """Concentric rings: uniform angle, radius from an equal mixture of N(r_k, std^2).

    Exact: ``p(x) = p_r(|x|) / (2 pi |x|)``; radii must exceed ``5 * std`` so that negative
    radii have negligible mass (below 3e-7).
    """
    radii = np.asarray(radii, dtype=np.float64)
    if np.min(radii) < 5 * std:
        raise ValueError(f"rings need radii >= 5 * std; got radii={radii}, std={std}.")
    rng = check_random_state(random_state)
    r = radii[rng.randint(len(radii), size=n_samples)] + std * rng.standard_normal(n_samples)
    r = np.abs(r)
    theta = rng.uniform(0, 2 * np.pi, n_samples)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)

    def log_prob(Y):
        rad = np.linalg.norm(np.asarray(Y, dtype=np.float64), axis=1)
        log_pr = logsumexp(-0.5 * ((rad[:, None] - radii) / std) ** 2, axis=1) \
            - np.log(len(radii) * std * np.sqrt(2 * np.pi))
        # |r| folding adds the mirror term; negligible for radii >= 5 std but kept exact.
        log_pr = np.logaddexp(log_pr, logsumexp(-0.5 * ((rad[:, None] + radii) / std) ** 2,
                                                axis=1) - np.log(len(radii) * std
                                                                 * np.sqrt(2 * np.pi)))
        return log_pr - np.log(2 * np.pi * np.maximum(rad, 1e-12))

    return X, log_prob


def _curve_density(curves, std, n_quadrature):
    """log p for an equal mixture of 'uniform point on a curve + N(0, std^2 I)'."""
    # Gauss-Legendre nodes and weights on [0, 1] for the position u along each curve.
    u, w = np.polynomial.legendre.leggauss(n_quadrature)
    u, w = (u + 1) / 2, w / 2
    nodes = np.concatenate([c(u) for c in curves])  # (len(curves) * n_quadrature, 2)
    log_w = np.tile(np.log(w), len(curves)) - np.log(len(curves))

    def log_prob(Y):
        return _chunked(lambda b: logsumexp(_log_normal_2d(b, nodes, std) + log_w, axis=1), Y,
                        rows=256)

    return log_prob


def _sample_curves(curves, std, n_samples, rng):
    which = rng.randint(len(curves), size=n_samples)
    u = rng.uniform(0, 1, n_samples)
    X = np.empty((n_samples, 2))
    for k, curve in enumerate(curves):
        X[which == k] = curve(u[which == k])
    return X + std * rng.standard_normal((n_samples, 2))


def make_moons_density(n_samples=1000, std=0.1, n_quadrature=100, random_state=None):
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``) with a uniform angle.

    Density by quadrature over the angle.
    """
    curves = [
        lambda u: np.stack([np.cos(np.pi * u), np.sin(np.pi * u)], axis=1),
        lambda u: np.stack([1 - np.cos(np.pi * u), 0.5 - np.sin(np.pi * u)], axis=1),
    ]
    rng = check_random_state(random_state)
    return _sample_curves(curves, std, n_samples, rng), _curve_density(curves, std, n_quadrature)


def make_two_spirals(n_samples=1000, turns=1.5, std=0.15, n_quadrature=300,
                     random_state=None):
    """Two interleaved Archimedean spirals (radius 0.3 to 3) with Gaussian noise.

    Density by quadrature over the position along each arm.
    """
    def arm(offset):
        def curve(u):
            angle = 2 * np.pi * turns * u + offset
            radius = 0.3 + 2.7 * u
            return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        return curve

    curves = [arm(0.0), arm(np.pi)]
    rng = check_random_state(random_state)
    return _sample_curves(curves, std, n_samples, rng), _curve_density(curves, std, n_quadrature)


KNOWN_DENSITIES_2D = {
    "eight_gaussians": make_eight_gaussians,
    "checkerboard": make_checkerboard,
    "rings": make_rings,
    "two_spirals": make_two_spirals,
    "moons": make_moons_density,
}
