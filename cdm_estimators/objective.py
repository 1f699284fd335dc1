"""The CDM math: logits, the training objective, the denoiser and the log-density.

Equation numbers refer to Yadin, Elata & Michaeli, "Classification Diffusion Models",
NeurIPS 2024. ``module`` is any network mapping ``x`` to ``T + 2`` raw outputs; the fixed
cumulative-sum head turns them into noise-level logits ``f(x)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CDMLoss",
    "cdm_loss",
    "classifier_logits",
    "log_density_from_logits",
    "log_std_normal",
    "predict_noise",
]


def classifier_logits(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Noise-level logits ``f(x)``: the cumulative sum of the raw outputs over classes.

    Raw output ``t`` then models ``log P(t | x) - log P(t - 1 | x)`` (the reference code's head).
    """
    return torch.cumsum(module(x), dim=1)


def _per_row(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape ``(n,)`` to ``(n, 1, ..., 1)`` so it broadcasts against ``x``."""
    return values.view(-1, *([1] * (x.ndim - 1)))


def log_std_normal(x: torch.Tensor) -> torch.Tensor:
    """``log N(x; 0, I)`` per row (all axes after the first are features)."""
    d = x[0].numel()
    return -0.5 * x.flatten(1).pow(2).sum(1) - 0.5 * d * math.log(2 * math.pi)


def log_density_from_logits(logits: torch.Tensor, x: torch.Tensor, t: int = 0) -> torch.Tensor:
    """Log-density of ``x_t`` at ``x`` from the logits, Theorem 3.2 with a uniform class prior.

    ``log p_t(x) = f(x)[t] - f(x)[T+1] + log N(x; 0, I)``.
    """
    return logits[:, t] - logits[:, -1] + log_std_normal(x)


def predict_noise(
    module: nn.Module,
    x: torch.Tensor,
    t: torch.Tensor,
    sigma: torch.Tensor,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MMSE noise prediction ``E[eps | x_t = x]`` (Theorem 3.1), and the logits at ``x``.

    ``eps_hat = sigma_t * (grad_x [f(x)[T+1] - f(x)[t]] + x)``. ``x`` must require grad; the
    caller opens ``torch.enable_grad()``. ``t`` is a ``(n,)`` long tensor of class indices.
    """
    logits = classifier_logits(module, x)
    gap = logits[:, -1] - logits.gather(1, t[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(gap.sum(), x, create_graph=create_graph)
    eps_hat = _per_row(sigma[t], x) * (grad + x)
    return eps_hat, logits


class CDMLoss(NamedTuple):
    """The CDM objective and its two parts (all scalars)."""

    loss: torch.Tensor
    cross_entropy: torch.Tensor
    mse: torch.Tensor


def cdm_loss(
    module: nn.Module,
    x0: torch.Tensor,
    alpha: torch.Tensor,
    sigma: torch.Tensor,
    ce_weight: float,
    generator: torch.Generator | None = None,
    create_graph: bool = True,
) -> CDMLoss:
    """CDM training objective (Algorithm 1): ``ce_weight * CE + MSE`` of the denoiser.

    Draws ``t ~ Uniform{0..T+1}`` and ``eps ~ N(0, I)`` from ``generator``, forms
    ``x_t = alpha_t x_0 + sigma_t eps`` and differentiates the classifier with respect to
    ``x_t`` with ``create_graph`` (double backpropagation when training). The MSE target is
    ``eps`` where ``sigma_t > 0`` and 0 at the clean class, whose input holds no noise.
    """
    n = x0.shape[0]
    t = torch.randint(0, alpha.shape[0], (n,), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = _per_row(alpha[t], x0) * x0 + _per_row(sigma[t], x0) * eps
    x_t.requires_grad_(True)
    eps_hat, logits = predict_noise(module, x_t, t, sigma, create_graph=create_graph)
    ce = F.cross_entropy(logits, t)
    target = eps * _per_row((sigma[t] > 0).to(eps.dtype), eps)
    mse = F.mse_loss(eps_hat, target)
    return CDMLoss(ce_weight * ce + mse, ce, mse)
