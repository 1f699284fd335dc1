"""Classifier networks: any module mapping inputs to ``T + 2`` raw outputs."""

from __future__ import annotations

import numbers

import torch
from torch import nn

__all__ = ["ResidualMLP", "QuadraticSkip", "AUTO_QUADRATIC_RANK", "check_quadratic_rank",
           "resolve_quadratic_rank"]

#: Largest rank that ``quadratic_rank="auto"`` gives the quadratic skip path.
AUTO_QUADRATIC_RANK = 64


class _ResidualBlock(nn.Module):
    """Pre-norm residual block ``h + W2 silu(W1 silu(norm(h))))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LayerNorm(width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class ResidualMLP(nn.Module):
    """Residual MLP that maps ``(n, n_features)`` inputs to ``(n, n_outputs)`` raw outputs.

    Smooth activations (SiLU) and LayerNorm keep the second derivatives that the CDM
    objective's double backpropagation needs. The output layer starts at zero, so with the
    cumulative-sum head an untrained model is exactly the standard normal density.

    The LayerNorm before the output layer bounds the MLP's outputs, so far from the data a
    density built on ``log N(x; 0, I)`` plus those outputs falls off like the standard normal.
    A heavy-tailed or correlated density needs log-ratios that grow quadratically with ``x``:
    ``quadratic_rank > 0`` adds the skip path ``W [(V x)^2, x]`` (``V`` of shape
    ``(quadratic_rank, n_features)``, ``W`` starting at zero), which represents the
    log-ratio of any two Gaussians whose precision difference has that rank.

    Parameters
    ----------
    n_features : int
        Input dimension (inputs with more axes are flattened).
    n_outputs : int
        Number of raw outputs, ``T + 2`` for a CDM.
    width : int, default=256
        Hidden width.
    n_blocks : int, default=3
        Number of residual blocks.
    quadratic_rank : int, default=0
        Rank of the quadratic skip path; 0 leaves it out.

    Examples
    --------
    >>> net = ResidualMLP(2, 12, width=32, n_blocks=2)
    >>> net(torch.zeros(5, 2)).shape
    torch.Size([5, 12])
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        width: int = 256,
        n_blocks: int = 3,
        quadratic_rank: int = 0,
    ) -> None:
        super().__init__()
        self.input = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*[_ResidualBlock(width) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, n_outputs))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.projection: nn.Linear | None = None
        self.quadratic: nn.Linear | None = None
        if quadratic_rank > 0:
            self.projection = nn.Linear(n_features, quadratic_rank, bias=False)
            self.quadratic = nn.Linear(quadratic_rank + n_features, n_outputs, bias=False)
            nn.init.zeros_(self.quadratic.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        out = self.head(self.blocks(self.input(x)))
        if self.projection is not None and self.quadratic is not None:
            out = out + self.quadratic(torch.cat([self.projection(x) ** 2, x], dim=1))
        return out


class QuadraticSkip(nn.Module):
    """The skip path ``W [(V x)^2, x]`` on flat inputs, ``W`` starting at zero.

    Added to a network's raw outputs, it represents the log-ratio of any two Gaussians whose
    precision difference has rank ``rank`` (see :class:`ResidualMLP`), which smooth networks
    otherwise only approximate over the range they were trained on.

    Parameters
    ----------
    n_features : int
        Input dimension (inputs with more axes are flattened).
    n_outputs : int
    rank : int
        Rows of ``V``.
    """

    def __init__(self, n_features: int, n_outputs: int, rank: int) -> None:
        super().__init__()
        self.projection = nn.Linear(n_features, rank, bias=False)
        self.quadratic = nn.Linear(rank + n_features, n_outputs, bias=False)
        nn.init.zeros_(self.quadratic.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.quadratic(torch.cat([self.projection(x) ** 2, x], dim=1))


def resolve_quadratic_rank(quadratic_rank: int | str, n_features: int) -> int:
    """The rank an estimator's ``quadratic_rank`` parameter gives its default network.

    ``"auto"`` is ``min(n_features, AUTO_QUADRATIC_RANK)``: full rank for tabular data, a
    bounded number of weights for images. An int is returned as it is.
    """
    if quadratic_rank == "auto":
        return min(n_features, AUTO_QUADRATIC_RANK)
    return int(quadratic_rank)


def check_quadratic_rank(quadratic_rank: object) -> None:
    """Raise a ``ValueError``/``TypeError`` naming ``quadratic_rank`` unless it is valid."""
    if isinstance(quadratic_rank, str):
        if quadratic_rank != "auto":
            raise ValueError(f"quadratic_rank must be 'auto' or an int >= 0; got "
                             f"{quadratic_rank!r}.")
        return
    if isinstance(quadratic_rank, bool) or not isinstance(quadratic_rank, numbers.Integral):
        raise TypeError(f"quadratic_rank must be 'auto' or an int >= 0; got {quadratic_rank!r}.")
    if quadratic_rank < 0:
        raise ValueError(f"quadratic_rank must be 'auto' or an int >= 0; got {quadratic_rank!r}.")
