"""Noise schedules: the (signal scale, noise scale) pair of every CDM class.

A CDM classifier predicts the noise level of ``x_t = alpha[t] * x_0 + sigma[t] * eps`` over
``T + 2`` classes. Class ``0`` is clean data (``alpha = 1, sigma = 0``) and class ``T + 1`` is
pure ``N(0, I)`` noise (``alpha = 0, sigma = 1``). Every schedule, variance-preserving or not,
is represented by these two arrays; the denoiser of Theorem 3.1 (Tweedie's formula),
``E[eps | x_t] = sigma[t] * (grad_x[f_last - f_t] + x_t)``, holds for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SCHEDULES", "NoiseSchedule", "make_schedule"]

SCHEDULES = ("linear", "cosine", "uniform", "ot")


@dataclass(frozen=True)
class NoiseSchedule:
    """Signal and noise scales of the ``n_timesteps + 2`` CDM classes.

    Parameters
    ----------
    name : str
        ``"linear"``, ``"cosine"``, ``"uniform"``, ``"ot"`` or ``"custom"``.
    alpha : ndarray of shape (n_timesteps + 2,)
        Signal scale ``a_t``; ``alpha[0] == 1`` and ``alpha[-1] == 0``.
    sigma : ndarray of shape (n_timesteps + 2,)
        Noise scale ``sigma_t``; ``sigma[0] == 0`` and ``sigma[-1] == 1``.
    """

    name: str
    alpha: np.ndarray
    sigma: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of classifier outputs, ``n_timesteps + 2``."""
        return int(self.alpha.shape[0])

    @property
    def n_timesteps(self) -> int:
        """Number of intermediate noise levels ``T``."""
        return self.n_classes - 2

    @property
    def variance_preserving(self) -> bool:
        """Whether ``alpha**2 + sigma**2 == 1`` at every class."""
        return bool(np.allclose(self.alpha**2 + self.sigma**2, 1.0))


def _from_alpha_bar(name: str, alpha_bar: np.ndarray) -> NoiseSchedule:
    """Variance-preserving schedule from ``abar_1..abar_T`` (classes 0 and T+1 added)."""
    alpha_bar = np.concatenate([[1.0], alpha_bar, [0.0]])
    return NoiseSchedule(name, np.sqrt(alpha_bar), np.sqrt(1.0 - alpha_bar))


def _linear(n_timesteps: int) -> NoiseSchedule:
    # DDPM (Ho et al. 2020): betas from 1e-4 to 0.02 at T = 1000, rescaled by 1000 / T so that
    # other T span the same range of noise (Nichol & Dhariwal 2021, App. A).
    scale = 1000.0 / n_timesteps
    betas = np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), n_timesteps)
    return _from_alpha_bar("linear", np.cumprod(1.0 - betas))


def _cosine(n_timesteps: int, offset: float = 0.008) -> NoiseSchedule:
    # Improved DDPM (Nichol & Dhariwal 2021, eq. 17), betas clipped at 0.999.
    steps = np.arange(n_timesteps + 1) / n_timesteps
    f = np.cos((steps + offset) / (1 + offset) * np.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    return _from_alpha_bar("cosine", np.cumprod(1.0 - betas))


def _uniform(n_timesteps: int) -> NoiseSchedule:
    # TRE's waymarks as used by CDM(unif.): sqrt(1 - abar_t) = t / (T + 1).
    sigma = np.arange(n_timesteps + 2) / (n_timesteps + 1)
    return NoiseSchedule("uniform", np.sqrt(1.0 - sigma**2), sigma)


def _ot(n_timesteps: int) -> NoiseSchedule:
    # Flow matching / CDM(OT): x_t = (1 - s) x_0 + s eps with s = t / (T + 1), so that the last
    # of the T + 2 classes is pure noise like in every other schedule.
    sigma = np.arange(n_timesteps + 2) / (n_timesteps + 1)
    return NoiseSchedule("ot", 1.0 - sigma, sigma)


def _custom(noise_levels: np.ndarray) -> NoiseSchedule:
    levels = np.asarray(noise_levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size < 1:
        raise ValueError(
            "schedule given as an array must be a 1-D array of noise levels sigma_1 < ... < "
            f"sigma_T in (0, 1); got shape {levels.shape}."
        )
    if not np.all(np.isfinite(levels)) or levels[0] <= 0 or levels[-1] >= 1:
        raise ValueError(
            "schedule given as an array must hold noise levels strictly between 0 and 1 "
            f"(classes 0 and T+1 are added automatically); got min={levels.min()!r}, "
            f"max={levels.max()!r}."
        )
    if np.any(np.diff(levels) <= 0):
        raise ValueError("schedule given as an array must be strictly increasing.")
    sigma = np.concatenate([[0.0], levels, [1.0]])
    return NoiseSchedule("custom", np.sqrt(1.0 - sigma**2), sigma)


def make_schedule(schedule: str | np.ndarray, n_timesteps: int) -> NoiseSchedule:
    """Build a :class:`NoiseSchedule`.

    Parameters
    ----------
    schedule : {"linear", "cosine", "uniform", "ot"} or array-like of shape (T,)
        A named schedule, or the increasing noise levels ``sigma_1 < ... < sigma_T`` of a
        variance-preserving schedule (``alpha = sqrt(1 - sigma**2)``). With an array,
        ``n_timesteps`` is ignored: ``T`` is the array's length.
    n_timesteps : int
        Number of intermediate noise levels ``T`` of a named schedule.

    Returns
    -------
    NoiseSchedule

    Examples
    --------
    >>> s = make_schedule("uniform", 3)
    >>> s.sigma
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES} or an increasing array of noise "
                f"levels; got {schedule!r}."
            )
        if isinstance(n_timesteps, bool) or not isinstance(n_timesteps, (int, np.integer)):
            raise TypeError(f"n_timesteps must be an int >= 1; got {n_timesteps!r}.")
        if n_timesteps < 1:
            raise ValueError(f"n_timesteps must be >= 1; got {n_timesteps}.")
        builder = {"linear": _linear, "cosine": _cosine, "uniform": _uniform, "ot": _ot}
        return builder[schedule](int(n_timesteps))
    return _custom(schedule)
