"""Samplers: plain functions over a noise predictor ``eps_hat(x, t)``.

Every sampler walks a decreasing list of class indices from ``T + 1`` (pure noise) to ``0``
(clean data) on a schedule's ``(alpha, sigma)`` arrays. At the pure-noise class ``alpha = 0``,
so the data prediction ``(x - sigma eps_hat) / alpha`` is undefined; there ``E[x_0 | x_t]`` is
the data mean ``x0_mean`` (``x_t`` carries no information about ``x_0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["SAMPLERS", "sample_steps", "run_sampler"]

SAMPLERS = ("ddpm", "ddim", "dpm_solver_2", "euler")

NoisePredictor = Callable[[torch.Tensor, int], torch.Tensor]


def sample_steps(n_classes: int, n_steps: int | None) -> np.ndarray:
    """Decreasing class indices from ``T + 1`` down to 0, for ``n_steps`` sampler steps.

    ``s_0 = T + 1 > s_1 > ... > s_n = 0``; ``None`` uses every class (``T + 1`` steps). The
    indices are evenly spaced and unique.
    """
    last = n_classes - 1
    if n_steps is None:
        n_steps = last
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int or None; got {n_steps!r}.")
    steps = np.unique(np.round(np.linspace(0, last, min(int(n_steps), last) + 1)).astype(int))
    return steps[::-1]


def _data_prediction(
    x: torch.Tensor, eps: torch.Tensor, a: float, s: float, x0_mean: torch.Tensor
) -> torch.Tensor:
    if a == 0.0:
        return x0_mean.expand_as(x)
    return (x - s * eps) / a


def _ddim(predict, x, steps, alpha, sigma, x0_mean, eta, generator):
    """DDIM (Song et al. 2021, eq. 12) for a general ``x_t = a_t x_0 + sigma_t eps``.

    ``eta = 1`` is ancestral sampling from the DDPM posterior ``q(x_s | x_t, x_0)``.
    """
    for t, s in zip(steps[:-1], steps[1:]):
        a_t, s_t, a_s, s_s = alpha[t], sigma[t], alpha[s], sigma[s]
        eps = predict(x, int(t))
        x0 = _data_prediction(x, eps, a_t, s_t, x0_mean)
        # Variance of x_t given x_s, then the posterior variance of x_s, scaled by eta.
        var_ts = s_t**2 - (a_t / a_s) ** 2 * s_s**2
        c = eta * s_s / s_t * math.sqrt(max(var_ts, 0.0))
        x = a_s * x0 + math.sqrt(max(s_s**2 - c**2, 0.0)) * eps
        if c > 0:
            x = x + c * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


def _dpm_solver_2(predict, x, steps, alpha, sigma, x0_mean):
    """Multistep second-order DPM-Solver++ (2M) in data prediction (Lu et al. 2022, Alg. 2).

    The first step (from pure noise, ``lambda = -inf``) and the last (to ``sigma = 0``,
    ``lambda = +inf``) are first order.
    """
    with np.errstate(divide="ignore"):
        lam = np.log(alpha) - np.log(sigma)
    x0_prev, h_prev = None, None
    for t, s in zip(steps[:-1], steps[1:]):
        eps = predict(x, int(t))
        x0 = _data_prediction(x, eps, alpha[t], sigma[t], x0_mean)
        h = lam[s] - lam[t]
        d = x0
        if x0_prev is not None and np.isfinite(h) and np.isfinite(h_prev):
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
        # x_s = (sigma_s / sigma_t) x_t - alpha_s (exp(-h) - 1) D, written to survive h = inf.
        x = sigma[s] / sigma[t] * x + alpha[s] * (-math.expm1(-h)) * d
        x0_prev, h_prev = x0, h
    return x


def _euler(predict, x, steps, alpha, sigma, x0_mean):
    """Euler steps of the flow-matching ODE ``dx/ds = E[eps - x_0 | x_s]`` (OT schedule)."""
    for t, s in zip(steps[:-1], steps[1:]):
        eps = predict(x, int(t))
        x0 = _data_prediction(x, eps, alpha[t], sigma[t], x0_mean)
        x = x + (sigma[s] - sigma[t]) * (eps - x0)
    return x


def run_sampler(
    predict: NoisePredictor,
    x_init: torch.Tensor,
    alpha: np.ndarray,
    sigma: np.ndarray,
    steps: np.ndarray,
    sampler: str = "ddpm",
    eta: float = 0.0,
    x0_mean: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Integrate from pure noise ``x_init`` to data with the named sampler.

    Parameters
    ----------
    predict : callable
        ``predict(x, t) -> eps_hat`` for a batch ``x`` at class index ``t``.
    x_init : Tensor
        Starting point, a draw of ``N(0, I)`` (class ``T + 1``).
    alpha, sigma : ndarray of shape (T + 2,)
        The schedule.
    steps : ndarray of int
        Decreasing class indices from ``T + 1`` to ``0`` (see :func:`sample_steps`).
    sampler : {"ddpm", "ddim", "dpm_solver_2", "euler"}
        ``"euler"`` needs the OT schedule (``alpha + sigma == 1``).
    eta : float
        DDIM stochasticity (``"ddim"`` only); 0 is deterministic, 1 equals ``"ddpm"``.
    x0_mean : Tensor, optional
        Mean of the training data in the model's space (0 when standardised).
    generator : torch.Generator, optional
        Randomness of the stochastic samplers.

    Returns
    -------
    Tensor shaped like ``x_init``.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if x0_mean is None:
        x0_mean = torch.zeros_like(x_init[0])
    if sampler == "ddpm":
        return _ddim(predict, x_init, steps, alpha, sigma, x0_mean, 1.0, generator)
    if sampler == "ddim":
        return _ddim(predict, x_init, steps, alpha, sigma, x0_mean, float(eta), generator)
    if sampler == "dpm_solver_2":
        return _dpm_solver_2(predict, x_init, steps, alpha, sigma, x0_mean)
    if sampler == "euler":
        if not np.allclose(alpha + sigma, 1.0):
            raise ValueError(
                "sampler='euler' integrates the flow-matching ODE and needs schedule='ot'; "
                "use sampler='ddim' (eta=0), its counterpart for other schedules."
            )
        return _euler(predict, x_init, steps, alpha, sigma, x0_mean)
    raise ValueError(f"sampler must be one of {SAMPLERS}; got {sampler!r}.")
