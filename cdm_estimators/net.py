"""The training engine: a skorch ``NeuralNet`` that owns the CDM training step.

It extends skorch only through documented hooks (``initialize_module``,
``train_step_single``, ``validation_step``, ``get_all_learnable_params`` and the net's own
``on_*`` callback methods). Device handling, history, callbacks, early stopping, the LR
schedule, ``warm_start``/``partial_fit`` and pickling stay skorch's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn
from torch.optim.swa_utils import AveragedModel

from .objective import cdm_loss

__all__ = ["ArrayBatchLoader", "CDMNet", "EMAWithWarmup", "WarmupCosine"]


class EMAWithWarmup:
    """Exponential moving average of weights whose decay ramps up as ``(1 + n) / (10 + n)``.

    Used as ``AveragedModel(..., multi_avg_fn=EMAWithWarmup(decay))``. The warm-up keeps short
    runs from being dominated by the initial weights.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def __call__(self, averaged: list, current: list, num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        decay = min(self.decay, (1.0 + n) / (10.0 + n))
        torch._foreach_lerp_(averaged, current, 1.0 - decay)


class WarmupCosine:
    """LR multiplier: linear warm-up over ``warmup_steps``, then cosine decay to ``final``."""

    def __init__(self, total_steps: int, warmup_steps: int, final: float = 0.01) -> None:
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.final = final

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        span = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / span, 1.0)
        return self.final + (1.0 - self.final) * 0.5 * (1.0 + math.cos(math.pi * progress))


class ArrayBatchLoader:
    """Batches of an in-memory array by slicing, replacing a per-row ``DataLoader``.

    skorch calls it as ``iterator(dataset, batch_size=..., shuffle=..., generator=...)``; the
    dataset must expose the array as ``dataset.X`` (skorch's ``Dataset`` does). Yields
    ``(X_batch, None)``.
    """

    def __init__(
        self,
        dataset,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        self.X = torch.as_tensor(np.asarray(dataset.X))
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, None]]:
        n = len(self.X)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for i in range(len(self)):
            rows = slice(i * self.batch_size, min((i + 1) * self.batch_size, n))
            yield (self.X[order[rows]] if order is not None else self.X[rows]), None


class CDMNet(NeuralNet):
    """skorch net trained with the CDM objective (Algorithm 1 of the paper).

    Parameters
    ----------
    module : nn.Module
        Maps inputs to ``T + 2`` raw outputs.
    alpha, sigma : ndarray of shape (T + 2,)
        The noise schedule.
    ce_weight : float
        Weight of the cross-entropy term.
    ema_decay : float
        Decay of the weight EMA kept in ``ema_module_`` and used for validation, scoring and
        sampling.
    seed : int
        Seed of the generators that draw noise levels and noise.
    **kwargs
        Everything ``skorch.NeuralNet`` accepts. ``criterion`` is unused.
    """

    def __init__(
        self,
        module,
        *args,
        alpha=None,
        sigma=None,
        ce_weight=1.0,
        ema_decay=0.999,
        seed=0,
        criterion=nn.Identity,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.alpha = alpha
        self.sigma = sigma
        self.ce_weight = ce_weight
        self.ema_decay = ema_decay
        self.seed = seed

    # -- initialisation -------------------------------------------------------------------
    def initialize_module(self):
        """Build the module as skorch does, then its EMA copy and the noise generators."""
        super().initialize_module()
        self.ema_module_ = AveragedModel(
            self.module_, multi_avg_fn=EMAWithWarmup(self.ema_decay), use_buffers=True
        )
        self._init_generators()
        return self

    def _init_generators(self) -> None:
        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        self.noise_generator_ = torch.Generator(device=device).manual_seed(self.seed)
        self.valid_generator_ = torch.Generator(device=device)

    def get_all_learnable_params(self):
        """Only the trained module's parameters; the EMA copy is not optimised."""
        yield from self.module_.named_parameters()

    # -- the objective --------------------------------------------------------------------
    def _schedule_tensors(self, device):
        alpha = torch.as_tensor(np.asarray(self.alpha), dtype=torch.float32, device=device)
        sigma = torch.as_tensor(np.asarray(self.sigma), dtype=torch.float32, device=device)
        return alpha, sigma

    def _objective(self, module, X, generator, training):
        x0 = torch.as_tensor(X, device=self.device, dtype=torch.float32)
        alpha, sigma = self._schedule_tensors(x0.device)
        return cdm_loss(
            module, x0, alpha, sigma, self.ce_weight, generator=generator, create_graph=training
        )

    def train_step_single(self, batch, **fit_params):
        """One CDM step on the trained weights; records the CE and MSE parts per batch."""
        self._set_training(True)
        Xi, _ = batch
        out = self._objective(self.module_, Xi, self.noise_generator_, training=True)
        if not torch.isfinite(out.loss):
            raise FloatingPointError(
                f"The CDM training loss became non-finite ({out.loss.item()}) at epoch "
                f"{len(self.history)}; lower lr or ce_weight, or standardize the inputs."
            )
        out.loss.backward()
        self.history.record_batch("train_ce", out.cross_entropy.item())
        self.history.record_batch("train_mse", out.mse.item())
        return {"loss": out.loss, "y_pred": None}

    def validation_step(self, batch, **fit_params):
        """The objective of the EMA weights on fixed validation noise.

        skorch runs validation under ``no_grad``; the denoiser needs an input gradient, so it
        is re-enabled here (without building a graph for double backpropagation).
        """
        self._set_training(False)
        Xi, _ = batch
        with torch.enable_grad():
            out = self._objective(self.ema_module_.module, Xi, self.valid_generator_, False)
        return {"loss": out.loss.detach(), "y_pred": None}

    # -- callback hooks of the net itself -------------------------------------------------
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        # Same validation noise every epoch, so valid_loss is comparable across epochs.
        self.valid_generator_.manual_seed(self.seed + 1)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training:
            self.ema_module_.update_parameters(self.module_)

    # -- pickling -------------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        # Generators are device-bound; they are recreated (freshly seeded) on load.
        state.pop("noise_generator_", None)
        state.pop("valid_generator_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "initialized_", False):
            self._init_generators()
