"""Metropolis-adjusted Langevin sampling from an unnormalised log-density.

Used by the baselines (NCE, TRE), whose networks give a log-density but no denoiser. MALA's
Metropolis correction makes the learned density its stationary distribution, so the only
approximation is a finite chain: modes the chains do not reach are under-sampled.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["mala"]

#: Acceptance rate that the step-size adaptation aims for (Roberts & Rosenthal, 1998).
TARGET_ACCEPTANCE = 0.574


def _value_and_grad(
    log_density: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        value = log_density(x)
        (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach().to(x.dtype), grad.detach()


def mala(
    log_density: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_steps: int,
    step_size: float,
    generator: torch.Generator | None = None,
    adapt_fraction: float = 0.5,
) -> torch.Tensor:
    """Run one MALA chain per row of ``x`` and return the final states.

    Proposal ``x' = x + h grad log p(x) + sqrt(2 h) xi`` with a Metropolis-Hastings accept step
    (Roberts & Tweedie, 1996). Each chain's step size ``h`` starts at ``step_size`` and is
    adapted towards 57.4 % acceptance during the first ``adapt_fraction`` of the steps, then
    frozen so that the rest of the chain leaves the target invariant.

    Parameters
    ----------
    log_density : callable
        Maps ``(n, d)`` points to ``(n,)`` unnormalised log-densities; differentiable.
    x : Tensor of shape (n, d)
        Starting points.
    n_steps : int
        MALA steps.
    step_size : float
        Initial Langevin step size ``h``.
    generator : torch.Generator, optional
        Source of the proposal and acceptance noise.
    adapt_fraction : float, default=0.5
        Fraction of the steps that adapt the step size.

    Returns
    -------
    Tensor of shape (n, d)

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x = mala(lambda v: -0.5 * (v**2).sum(1), torch.zeros(2000, 1), 200, 0.5, g)
    >>> round(float(x.std()), 1)
    1.0
    """
    x = x.detach().clone()
    h = torch.full((len(x), 1), float(step_size), dtype=x.dtype, device=x.device)
    logp, grad = _value_and_grad(log_density, x)
    n_adapt = int(adapt_fraction * n_steps)
    for step in range(n_steps):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        mean = x + h * grad
        proposal = mean + torch.sqrt(2 * h) * noise
        logp_new, grad_new = _value_and_grad(log_density, proposal)
        mean_back = proposal + h * grad_new
        log_q_forward = -((proposal - mean) ** 2).sum(1) / (4 * h[:, 0])
        log_q_back = -((x - mean_back) ** 2).sum(1) / (4 * h[:, 0])
        log_ratio = logp_new - logp + log_q_back - log_q_forward
        u = torch.rand(len(x), generator=generator, device=x.device, dtype=x.dtype)
        accept = torch.log(u) < log_ratio  # NaN proposals are rejected
        x = torch.where(accept[:, None], proposal, x)
        logp = torch.where(accept, logp_new, logp)
        grad = torch.where(accept[:, None], grad_new, grad)
        if step < n_adapt:
            rate = torch.exp(torch.clamp(log_ratio, max=0.0)).nan_to_num(0.0)
            gain = 1.0 / (1.0 + step) ** 0.6
            h = h * torch.exp(gain * (rate - TARGET_ACCEPTANCE))[:, None]
    return x
