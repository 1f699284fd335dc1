"""Known densities: samples plus their exact (or quadrature) log-density.

2-D sets (:data:`KNOWN_DENSITIES_2D`), families in any dimension (:data:`KNOWN_DENSITIES_ND`)
and the paper's App. D "images". Each ``make_*`` returns ``(X, log_prob)``: ``X`` of shape
``(n_samples, n_features)`` (or an image shape) and a function
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
from scipy.stats import multivariate_normal, multivariate_t
from sklearn.utils import check_random_state

__all__ = [
    "KNOWN_DENSITIES_2D",
    "KNOWN_DENSITIES_ND",
    "make_banana",
    "make_checkerboard",
    "make_correlated_gaussian",
    "make_correlated_gaussian_pixels",
    "make_eight_gaussians",
    "make_gaussian_mixture",
    "make_moons_density",
    "make_pinwheel",
    "make_rings",
    "make_student_t",
    "make_swiss_roll_2d",
    "make_two_spirals",
    "make_uniform_pixels",
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


def make_swiss_roll_2d(n_samples=1000, std=0.1, n_quadrature=300, random_state=None):
    """The 2-D swiss roll: ``t (cos t, sin t) / 5`` for ``t`` uniform on ``[1.5 pi, 4.5 pi]``.

    Gaussian noise of ``std``; density by quadrature over ``t``.
    """
    def curve(u):
        t = 1.5 * np.pi * (1 + 2 * u)
        return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5

    rng = check_random_state(random_state)
    return (_sample_curves([curve], std, n_samples, rng),
            _curve_density([curve], std, n_quadrature))


def _pinwheel_log_prob(X, n_arms, radial_std, tangential_std, rate, n_grid=128,
                      n_bisect=40):
    """Exact pinwheel log-density by root-finding in polar coordinates.

    A pinwheel point is ``x = 2 R(-theta) f`` with ``f ~ N((1, 0), diag(rs^2, ts^2))`` and
    ``theta = theta_c + rate exp(f_0)``. In polar coordinates ``f = r (cos psi, sin psi)`` and
    ``x / 2 = r (cos phi, sin phi)`` with ``phi = psi - theta_c - rate exp(r cos psi)``: the
    radius is kept, so ``p(x) = 1/4 * mean_c sum_roots N(f) / |d phi / d psi|`` over the
    angles ``psi`` that reach ``phi`` (mod 2 pi). The roots are bracketed on a grid of
    ``n_grid`` angles and refined by bisection.
    """
    Y = np.asarray(X, dtype=np.float64).reshape(-1, 2) / 2.0
    r = np.hypot(Y[:, 0], Y[:, 1])
    phi = np.arctan2(Y[:, 1], Y[:, 0])
    psi = np.linspace(-np.pi, np.pi, n_grid + 1)
    density = np.zeros(len(Y))
    two_pi = 2 * np.pi

    def offset(angle, radius, target):
        return angle - rate * np.exp(radius * np.cos(angle)) - target

    for theta in np.linspace(0, two_pi, n_arms, endpoint=False):
        target = phi + theta
        level = np.floor(offset(psi[None, :], r[:, None], target[:, None]) / two_pi)
        rows, cols = np.nonzero(level[:, 1:] != level[:, :-1])
        # the multiple of 2 pi crossed between grid angles cols and cols + 1
        crossed = two_pi * np.maximum(level[rows, cols], level[rows, cols + 1])
        lo, hi = psi[cols], psi[cols + 1]
        rising = level[rows, cols + 1] > level[rows, cols]
        for _ in range(n_bisect):
            mid = 0.5 * (lo + hi)
            above = offset(mid, r[rows], target[rows]) > crossed
            lo, hi = np.where(above == rising, lo, mid), np.where(above == rising, mid, hi)
        root = 0.5 * (lo + hi)
        f0, f1 = r[rows] * np.cos(root), r[rows] * np.sin(root)
        log_f = (-0.5 * ((f0 - 1.0) / radial_std) ** 2 - 0.5 * (f1 / tangential_std) ** 2
                 - np.log(two_pi * radial_std * tangential_std))
        slope = np.abs(1.0 + rate * r[rows] * np.sin(root) * np.exp(f0))
        np.add.at(density, rows, np.exp(log_f) / slope)
    with np.errstate(divide="ignore"):
        return np.log(density / n_arms) - np.log(4.0)


def make_pinwheel(n_samples=1000, n_arms=5, radial_std=0.3, tangential_std=0.1, rate=0.25,
                  random_state=None):
    """The pinwheel of Johnson et al. (2016), as in FFJORD's toy data (exact density).

    ``f ~ N((1, 0), diag(radial_std^2, tangential_std^2))`` is rotated by
    ``-(theta_c + rate exp(f_0))`` for an arm ``c`` chosen uniformly (``theta_c = 2 pi c /
    n_arms``) and scaled by 2. The log-density is exact up to root-finding (bisection to
    1e-12 rad, see ``_pinwheel_log_prob``).
    """
    rng = check_random_state(random_state)
    f = rng.standard_normal((n_samples, 2)) * [radial_std, tangential_std] + [1.0, 0.0]
    arm = rng.randint(n_arms, size=n_samples)
    angle = 2 * np.pi * arm / n_arms + rate * np.exp(f[:, 0])
    c, s = np.cos(angle), np.sin(angle)
    X = 2 * np.column_stack([c * f[:, 0] + s * f[:, 1], -s * f[:, 0] + c * f[:, 1]])

    def log_prob(Y):
        return _chunked(lambda rows: _pinwheel_log_prob(rows, n_arms, radial_std,
                                                        tangential_std, rate), np.asarray(Y))

    return X, log_prob


KNOWN_DENSITIES_2D = {
    "eight_gaussians": make_eight_gaussians,
    "checkerboard": make_checkerboard,
    "rings": make_rings,
    "two_spirals": make_two_spirals,
    "moons": make_moons_density,
    "pinwheel": make_pinwheel,
    "swiss_roll": make_swiss_roll_2d,
}


# ----------------------------------------------------------------- any dimension


def _gaussian_log_prob(mean: np.ndarray, cov: np.ndarray) -> LogProb:
    dist = multivariate_normal(mean, cov)
    d = len(mean)

    def log_prob(Y):
        return np.atleast_1d(dist.logpdf(np.asarray(Y, dtype=np.float64).reshape(-1, d)))

    return log_prob


def _random_covariance(d: int, rng: np.random.RandomState, scale: float = 1.0) -> np.ndarray:
    """A random SPD matrix with eigenvalues spread over a decade (condition number <= 10)."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return scale * (q * np.logspace(-1, 0, d)) @ q.T


def make_correlated_gaussian(n_samples=1000, n_features=10, random_state=None):
    """A Gaussian with a random mean and a random correlated covariance (exact density).

    Its entropy is ``0.5 * log det(2 pi e Sigma)``.
    """
    rng = check_random_state(random_state)
    mean = rng.standard_normal(n_features)
    cov = _random_covariance(n_features, rng)
    X = mean + rng.standard_normal((n_samples, n_features)) @ np.linalg.cholesky(cov).T
    return X, _gaussian_log_prob(mean, cov)


def make_gaussian_mixture(n_samples=1000, n_features=10, n_components=4, separation=3.0,
                          random_state=None):
    """Equal mixture of Gaussians with random means ``separation`` apart on average, random
    correlated covariances of scale about 0.3 (exact density)."""
    rng = check_random_state(random_state)
    means = separation / np.sqrt(2) * rng.standard_normal((n_components, n_features))
    covs = [_random_covariance(n_features, rng, scale=0.3) for _ in range(n_components)]
    which = rng.randint(n_components, size=n_samples)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        rows = which == k
        X[rows] = means[k] + rng.standard_normal((rows.sum(), n_features)) @ np.linalg.cholesky(
            covs[k]).T
    parts = [_gaussian_log_prob(m, c) for m, c in zip(means, covs)]

    def log_prob(Y):
        return logsumexp(np.stack([p(Y) for p in parts]), axis=0) - np.log(n_components)

    return X, log_prob


def make_banana(n_samples=1000, n_features=10, curvature=0.6, random_state=None):
    """A standard normal bent into bananas, then rotated at random (exact density).

    With ``z ~ N(0, I)``, every odd coordinate is shifted by ``curvature * (z_even^2 - 1)``
    of its even neighbour (a shear with unit Jacobian), and the result is rotated by a random
    orthogonal matrix, so no axis is special. The entropy is that of ``N(0, I)``,
    ``0.5 * n_features * log(2 pi e)``. A unimodal but curved density: Gaussian-like
    estimators (a GMM, TRE's quadratic heads) cannot represent it exactly.
    """
    if n_features < 2:
        raise ValueError(f"make_banana needs n_features >= 2; got {n_features}.")
    rng = check_random_state(random_state)
    rotation, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    bent = np.arange(1, n_features - n_features % 2, 2)  # odd coordinates with a partner

    def bend(Z, sign):
        Z = Z.copy()
        Z[:, bent] += sign * curvature * (Z[:, bent - 1] ** 2 - 1)
        return Z

    X = bend(rng.standard_normal((n_samples, n_features)), +1) @ rotation.T

    def log_prob(Y):
        Z = bend(np.asarray(Y, dtype=np.float64).reshape(-1, n_features) @ rotation, -1)
        return -0.5 * np.sum(Z**2, axis=1) - 0.5 * n_features * np.log(2 * np.pi)

    return X, log_prob


def make_student_t(n_samples=1000, n_features=10, df=5.0, random_state=None):
    """A multivariate Student t with a random mean and correlated scale matrix (exact density).

    Heavy tails: with ``df=5`` the kurtosis is finite but large, so methods that assume
    Gaussian tails (NCE and TRE against a Gaussian reference) are tested there.
    """
    rng = check_random_state(random_state)
    mean = rng.standard_normal(n_features)
    dist = multivariate_t(mean, _random_covariance(n_features, rng), df=df)
    X = np.asarray(dist.rvs(n_samples, random_state=rng)).reshape(n_samples, n_features)

    def log_prob(Y):
        return np.atleast_1d(dist.logpdf(np.asarray(Y, dtype=np.float64).reshape(-1, n_features)))

    return X, log_prob


# --------------------------------------------------- the paper's App. D "images"


def make_uniform_pixels(n_samples=1000, image_shape=(8, 8), width=1.0, random_state=None):
    """Images of iid pixels ``U[-width/2, width/2]``: log-density ``-d log(width)`` inside.

    Returns ``X`` of shape ``(n_samples, *image_shape)``; ``log_prob`` accepts that shape.
    """
    rng = check_random_state(random_state)
    d = int(np.prod(image_shape))
    X = rng.uniform(-width / 2, width / 2, (n_samples, *image_shape))

    def log_prob(Y):
        Y = np.asarray(Y, dtype=np.float64).reshape(-1, d)
        inside = np.all(np.abs(Y) <= width / 2, axis=1)
        return np.where(inside, -d * np.log(width), -np.inf)

    return X, log_prob


def make_correlated_gaussian_pixels(n_samples=1000, image_shape=(8, 8), length_scale=2.0,
                                    random_state=None):
    """Images of zero-mean Gaussian pixels with a squared-exponential spatial covariance.

    ``Sigma_ij = exp(-|p_i - p_j|^2 / (2 length_scale^2)) + 0.01 delta_ij`` over the pixel
    positions ``p``; per-dimension log-likelihood ``-(log 2 pi + 1) / 2 - log|Sigma| / (2 d)``
    in expectation. Returns ``X`` of shape ``(n_samples, *image_shape)``.
    """
    rng = check_random_state(random_state)
    grids = np.meshgrid(*[np.arange(s) for s in image_shape], indexing="ij")
    pos = np.stack([g.ravel() for g in grids], axis=1).astype(np.float64)
    sq = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    cov = np.exp(-sq / (2 * length_scale**2)) + 0.01 * np.eye(len(pos))
    X = rng.standard_normal((n_samples, len(pos))) @ np.linalg.cholesky(cov).T
    return X.reshape(n_samples, *image_shape), _gaussian_log_prob(np.zeros(len(pos)), cov)


#: The families of any dimension the benchmarks use: ``make(n_samples, n_features,
#: random_state=...)`` returning ``(X, log_prob)``.
KNOWN_DENSITIES_ND = {
    "gaussian_mixture": make_gaussian_mixture,
    "correlated_gaussian": make_correlated_gaussian,
    "banana": make_banana,
    "student_t": make_student_t,
}
