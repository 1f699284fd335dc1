"""Classifier networks: any module mapping inputs to ``T + 2`` raw outputs."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResidualMLP"]


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

    Examples
    --------
    >>> net = ResidualMLP(2, 12, width=32, n_blocks=2)
    >>> net(torch.zeros(5, 2)).shape
    torch.Size([5, 12])
    """

    def __init__(self, n_features: int, n_outputs: int, width: int = 256, n_blocks: int = 3):
        super().__init__()
        self.input = nn.Linear(n_features, width)
        self.blocks = nn.Sequential(*[_ResidualBlock(width) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, n_outputs))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.input(x.flatten(1))))
