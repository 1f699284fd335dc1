"""Convolutional noise-level classifiers for images.

Two networks, both taking only the (noisy) image, never the noise level:

* :class:`UNetClassifier`: the paper's classifier, a DDPM-style U-Net with every
  time-conditioning layer removed, then a last convolution, global average pooling and a
  linear layer to ``T + 2`` outputs;
* :class:`EncoderClassifier`: the cheaper encoder-only variant the paper suggests (the
  down-sampling half and the middle block of the same U-Net, then the pooled head).

Both take flat rows ``(n, C * H * W)`` (the estimator's internal layout) or images
``(n, C, H, W)``. They use SiLU and GroupNorm, which are smooth (the CDM objective
differentiates through the network twice) and normalise each image on its own, so an
image's output never depends on the other rows of its batch. The output layer starts at
zero: an untrained classifier gives exactly the standard normal density.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .images import check_image_shape
from .networks import QuadraticSkip

__all__ = ["EncoderClassifier", "UNetClassifier", "default_image_network"]


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count that divides ``channels`` and is <= ``groups``."""
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class _ResBlock(nn.Module):
    """``x + conv(silu(norm(conv(silu(norm(x))))))``, a 1x1 skip when the width changes."""

    def __init__(self, c_in: int, c_out: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _norm(c_in, groups), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1),
            _norm(c_out, groups), nn.SiLU(), nn.Dropout(dropout),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class _Attention(nn.Module):
    """Single-head self-attention over positions, written out with ``softmax``.

    ``scaled_dot_product_attention`` is avoided on purpose: its fused CUDA kernels have no
    second derivative, which the CDM objective needs.
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        weights = torch.softmax(torch.einsum("ncq,nck->nqk", q, k) / math.sqrt(c), dim=-1)
        return x + self.out(torch.einsum("nqk,nck->ncq", weights, v).reshape(n, c, h, w))


class _ImageClassifier(nn.Module):
    """What both classifiers share: the argument checks, the encoder and the pooled head."""

    def __init__(
        self,
        image_shape: Sequence[int],
        n_outputs: int,
        base_channels: int,
        channel_mults: Sequence[int],
        n_res_blocks: int,
        attention_resolutions: Sequence[int],
        dropout: float,
        norm_groups: int,
        quadratic_rank: int,
    ) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        channels, height, width = self.image_shape
        mults = self.channel_mults = tuple(int(m) for m in check_channel_mults(channel_mults))
        self.groups = int(norm_groups)
        self.attention_resolutions = tuple(int(r) for r in attention_resolutions)
        self.conv_in = nn.Conv2d(channels, base_channels, 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        self.skip_channels = [base_channels]
        c = base_channels
        resolution = min(height, width)
        for level, mult in enumerate(mults):
            blocks = []
            for _ in range(n_res_blocks):
                blocks.append(self._block(c, base_channels * mult, resolution, dropout))
                c = base_channels * mult
                self.skip_channels.append(c)
            self.down.append(nn.ModuleList(blocks))
            if level < len(mults) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                self.skip_channels.append(c)
                resolution = (resolution + 1) // 2
        self.middle = nn.ModuleList([
            _ResBlock(c, c, self.groups, dropout), _Attention(c, self.groups),
            _ResBlock(c, c, self.groups, dropout),
        ])
        self.bottom_channels = c
        self.bottom_resolution = resolution
        self.n_outputs = int(n_outputs)
        self.quadratic: QuadraticSkip | None = None
        if quadratic_rank > 0:
            self.quadratic = QuadraticSkip(channels * height * width, n_outputs,
                                           int(quadratic_rank))

    def _with_skip(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return out if self.quadratic is None else out + self.quadratic(x)

    def _block(self, c_in: int, c_out: int, resolution: int, dropout: float) -> nn.Module:
        block = _ResBlock(c_in, c_out, self.groups, dropout)
        if resolution in self.attention_resolutions:
            return nn.Sequential(block, _Attention(c_out, self.groups))
        return block

    def _head(self, c_in: int, head_channels: int) -> nn.Sequential:
        linear = nn.Linear(head_channels, self.n_outputs)
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)
        return nn.Sequential(
            _norm(c_in, self.groups), nn.SiLU(), nn.Conv2d(c_in, head_channels, 3, padding=1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear,
        )

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.image_shape)

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.conv_in(self._as_images(x))
        skips = [h]
        for level, blocks in enumerate(self.down):
            for block in blocks:
                h = block(h)
                skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
                skips.append(h)
        for layer in self.middle:
            h = layer(h)
        return h, skips


def check_channel_mults(channel_mults: Sequence[int]) -> tuple[int, ...]:
    """``channel_mults`` as a tuple of positive ints, or a ``ValueError`` naming it."""
    mults = tuple(channel_mults)
    if not mults or any(isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 1
                        for m in mults):
        raise ValueError(f"channel_mults must be a non-empty sequence of positive ints; got "
                         f"{channel_mults!r}.")
    return mults


class UNetClassifier(_ImageClassifier):
    """The paper's classifier: a DDPM U-Net without time conditioning and a pooled head.

    The encoder (``conv_in``, then per resolution ``n_res_blocks`` residual blocks and a
    stride-2 convolution, then a middle block with attention) is followed by the mirrored
    decoder (``n_res_blocks + 1`` residual blocks per resolution on the concatenated skip
    connections, nearest-neighbour up-sampling and a convolution), a last GroupNorm-SiLU-
    convolution to ``head_channels`` channels (the paper's ``2 * C``), global average pooling
    and a linear layer to ``n_outputs``. With ``base_channels=128``, ``channel_mults=(1, 2, 2,
    2)``, ``n_res_blocks=2``, ``attention_resolutions=(16,)`` on 32x32x3 images it is the
    paper's CIFAR-10 network (about 33 M parameters).

    Parameters
    ----------
    image_shape : (int, int, int)
        ``(channels, height, width)``.
    n_outputs : int
        Number of raw outputs, ``T + 2`` for a CDM.
    base_channels : int, default=64
        Channels at the first resolution.
    channel_mults : sequence of int, default=(1, 2, 2)
        Channel multiplier per resolution; each level after the first halves the resolution.
    n_res_blocks : int, default=2
        Residual blocks per resolution in the encoder (the decoder has one more).
    attention_resolutions : sequence of int, default=()
        Resolutions (the smaller side, in pixels) whose blocks are followed by self-attention.
        The middle block always has one.
    dropout : float, default=0.0
        Dropout inside the residual blocks.
    norm_groups : int, default=32
        GroupNorm groups (fewer where a layer's channel count is not a multiple).
    head_channels : int or None, default=None
        Channels of the last convolution before pooling; ``None`` is ``2 * channels``.
    quadratic_rank : int, default=0
        Rank of a :class:`~cdm_estimators.networks.QuadraticSkip` path added to the outputs
        (Gaussian log-ratios exactly); 0 leaves it out, as in the paper.

    Examples
    --------
    >>> net = UNetClassifier((1, 8, 8), 12, base_channels=16, channel_mults=(1, 2))
    >>> net(torch.zeros(3, 64)).shape
    torch.Size([3, 12])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_outputs: int,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 2),
        n_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (),
        dropout: float = 0.0,
        norm_groups: int = 32,
        head_channels: int | None = None,
        quadratic_rank: int = 0,
    ) -> None:
        super().__init__(image_shape, n_outputs, base_channels, channel_mults, n_res_blocks,
                         attention_resolutions, dropout, norm_groups, quadratic_rank)
        mults = self.channel_mults
        skips = list(self.skip_channels)
        c = self.bottom_channels
        resolution = self.bottom_resolution
        sizes = _resolutions(self.image_shape, len(mults))
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level in reversed(range(len(mults))):
            blocks = []
            for _ in range(n_res_blocks + 1):
                out = base_channels * mults[level]
                blocks.append(self._block(c + skips.pop(), out, resolution, dropout))
                c = out
            self.up.append(nn.ModuleList(blocks))
            if level > 0:
                self.upsample.append(_Upsample(c, sizes[level - 1]))
                resolution = min(sizes[level - 1])
        head = head_channels if head_channels is not None else 2 * self.image_shape[0]
        self.head = self._head(c, int(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, skips = self._encode(x)
        for level, blocks in enumerate(self.up):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1))
            if level < len(self.upsample):
                h = self.upsample[level](h)
        return self._with_skip(x, self.head(h))


class EncoderClassifier(_ImageClassifier):
    """The encoder-only classifier: the U-Net's down-sampling half and middle block, then
    GroupNorm-SiLU-convolution to ``head_channels``, global average pooling and a linear
    layer to ``n_outputs``. About half the cost of :class:`UNetClassifier` of the same size.

    Parameters
    ----------
    image_shape, n_outputs, base_channels, channel_mults, n_res_blocks,
    attention_resolutions, dropout, norm_groups
        As for :class:`UNetClassifier`.
    head_channels : int or None, default=None
        Channels of the last convolution before pooling; ``None`` keeps the middle block's
        channel count (the pooled features are then the encoder's own).
    quadratic_rank : int, default=0
        As for :class:`UNetClassifier`.

    Examples
    --------
    >>> net = EncoderClassifier((1, 8, 8), 12, base_channels=16, channel_mults=(1, 2))
    >>> net(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 12])
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        n_outputs: int,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 2),
        n_res_blocks: int = 2,
        attention_resolutions: Sequence[int] = (),
        dropout: float = 0.0,
        norm_groups: int = 32,
        head_channels: int | None = None,
        quadratic_rank: int = 0,
    ) -> None:
        super().__init__(image_shape, n_outputs, base_channels, channel_mults, n_res_blocks,
                         attention_resolutions, dropout, norm_groups, quadratic_rank)
        head = head_channels if head_channels is not None else self.bottom_channels
        self.head = self._head(self.bottom_channels, int(head))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self._encode(x)
        return self._with_skip(x, self.head(h))


class _Upsample(nn.Module):
    """Nearest-neighbour up-sampling to a given size, then a 3x3 convolution."""

    def __init__(self, channels: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = tuple(size)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.interpolate(x, size=self.size, mode="nearest"))


def _resolutions(image_shape: tuple[int, int, int], n_levels: int) -> list[tuple[int, int]]:
    """``(height, width)`` at each level of the encoder (stride-2 convolutions round up)."""
    h, w = image_shape[1], image_shape[2]
    sizes = [(h, w)]
    for _ in range(n_levels - 1):
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((h, w))
    return sizes


def default_image_network(
    kind: str, image_shape: tuple[int, int, int], n_outputs: int, base_channels: int,
    n_res_blocks: int, quadratic_rank: int = 0, **overrides,
) -> nn.Module:
    """The estimator's default convolutional classifier for ``image_shape``.

    Levels halve the resolution down to at least 4 pixels (8x8 -> 8, 4; 28x28 -> 28, 14, 7;
    32x32 -> 32, 16, 8, 4) with channel multipliers ``(1, 2, 2, 2, ...)``; the middle block
    carries the only attention layer. ``overrides`` replace any constructor argument.
    """
    side = min(image_shape[1], image_shape[2])
    n_levels = 1
    while side >= 8 and n_levels < 4:
        side = (side + 1) // 2
        n_levels += 1
    options = dict(base_channels=base_channels, channel_mults=(1,) + (2,) * (n_levels - 1),
                   n_res_blocks=n_res_blocks, attention_resolutions=(),
                   quadratic_rank=quadratic_rank)
    options.update(overrides)
    if kind == "unet":
        return UNetClassifier(image_shape, n_outputs, **options)
    if kind == "encoder":
        return EncoderClassifier(image_shape, n_outputs, **options)
    raise ValueError(f"network must be 'auto', 'mlp', 'unet' or 'encoder'; got {kind!r}.")
