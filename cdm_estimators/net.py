"""The training engine: a skorch ``NeuralNet`` that owns the CDM training step.

It extends skorch only through documented hooks (``initialize_module``,
``train_step_single``, ``validation_step``, ``get_all_learnable_params`` and the net's own
``on_*`` callback methods). Device handling, history, callbacks, early stopping, the LR
schedule, ``warm_start``/``partial_fit`` and pickling stay skorch's.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from skorch import NeuralNet
from torch import nn
from torch.optim.swa_utils import AveragedModel

from . import parallel
from .objective import cdm_loss, classifier_logits, log_density_from_logits

__all__ = ["ArrayBatchLoader", "CDMNet", "DensityNet", "EMAWithWarmup", "ObjectiveIsNotACriterion",
           "WarmupCosine"]


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
        for avg, cur in zip(averaged, current):
            avg.lerp_(cur, 1.0 - decay)


class WarmupCosine:
    """LR multiplier: linear warm-up over ``warmup_steps``, then cosine decay to ``final``.

    :meth:`cool_down` cuts the schedule short: from a given step the multiplier decays from its
    current value to ``final`` along a half cosine of ``n_steps``.
    """

    def __init__(self, total_steps: int, warmup_steps: int, final: float = 0.01) -> None:
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)
        self.final = final
        self.cooldown: tuple[int, int, float] | None = None

    def cool_down(self, step: int, n_steps: int) -> None:
        """Decay from the multiplier at ``step`` to ``final`` over the next ``n_steps``."""
        self.cooldown = (int(step), max(int(n_steps), 1), self._planned(step))

    def reset(self) -> None:
        """Forget a cool-down: the planned schedule again (a new fit runs all of it)."""
        self.cooldown = None

    def __call__(self, step: int) -> float:
        if self.cooldown is not None and step >= self.cooldown[0]:
            start, n_steps, start_value = self.cooldown
            progress = min((step - start) / n_steps, 1.0)
            return self.final + (start_value - self.final) * 0.5 * (
                1.0 + math.cos(math.pi * progress))
        return self._planned(step)

    def _planned(self, step: int) -> float:
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

    For data-parallel training, :meth:`shard` makes it yield only this process's share of
    each batch: every process draws the same order (the same ``generator`` seed), cuts each
    batch of ``batch_size`` rows (the total over processes) into ``n_shards`` near-equal parts
    and keeps part ``index``; a batch with fewer rows than processes is skipped by all.
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
        self.n_shards, self.shard_index = 1, 0

    def shard(self, n_shards: int, index: int) -> ArrayBatchLoader:
        """Yield only part ``index`` of ``n_shards`` of every batch (see the class notes)."""
        self.n_shards, self.shard_index = int(n_shards), int(index)
        return self

    def _n_batches(self) -> int:
        n = len(self.X)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __len__(self) -> int:
        n_batches = self._n_batches()
        last = len(self.X) - (n_batches - 1) * self.batch_size
        return n_batches - int(n_batches > 0 and last < self.n_shards)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, None]]:
        n = len(self.X)
        index = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            rows = index[i * self.batch_size: min((i + 1) * self.batch_size, n)]
            if self.n_shards > 1:
                rows = torch.tensor_split(rows, self.n_shards)[self.shard_index]
            yield self.X[rows], None


class ObjectiveIsNotACriterion(nn.Module):
    """The ``criterion`` of a :class:`DensityNet`: a stateless stand-in that refuses to run.

    skorch's ``NeuralNet`` requires a criterion and its checkpointing saves one, but a
    density objective needs the network itself and input gradients (double
    backpropagation), which a criterion's ``(y_pred, y_true)`` signature cannot carry. The
    loss lives in :meth:`DensityNet.objective`; anything that calls the criterion instead
    (``NeuralNet.get_loss``) fails loudly here rather than computing something else.
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            "A DensityNet has no criterion: its loss is DensityNet.objective(module, X, "
            "generator, training), which train_step_single and validation_step call."
        )


class DensityNet(NeuralNet):
    """skorch net for an unsupervised objective, with a weight EMA and seeded noise.

    The base of every training engine in this library. A subclass supplies
    :meth:`objective`; this class runs it, records its parts, keeps an exponential moving
    average of the weights in ``ema_module_`` (used for validation, scoring and sampling) and
    owns the generators that draw the objective's noise.

    Parameters
    ----------
    module : nn.Module
        The trained network.
    ema_decay : float
        Decay of the weight EMA kept in ``ema_module_``.
    seed : int
        Seed of the generators that draw the objective's noise.
    dequantize : array-like of shape (n_features,) or None, default=None
        Bin width of discrete data in model space, per feature: every training and
        validation batch gets fresh uniform noise ``U[0, width)`` added before the objective
        (uniform dequantisation). ``None`` leaves the data as given.
    mixed_precision : bool, default=False
        Compute the training objective under bfloat16 autocast on the net's device (weights,
        optimiser state, validation, scoring and sampling stay float32).
    accelerator : accelerate.Accelerator or None, default=None
        Train data-parallel on the accelerator's processes (see :mod:`cdm_estimators.parallel`):
        ``module_`` is wrapped in DistributedDataParallel for the training steps and unwrapped
        at the end of training, each process trains on its share of every batch (the
        ``batch_size`` is the total), the objective's noise differs per process, the EMA
        follows the unwrapped weights, and each epoch's batch records are averaged over the
        processes (batch sizes summed) so that history, early stopping and the LR schedule
        agree everywhere. The net's ``device`` must be the accelerator's.
    **kwargs
        Everything ``skorch.NeuralNet`` accepts. ``criterion`` defaults to
        :class:`ObjectiveIsNotACriterion`: the loss is :meth:`objective`.
    """

    #: Names of the scalar parts of the objective, recorded per batch as ``train_<name>``.
    loss_parts: tuple[str, ...] = ()
    #: Noise draws per validation row: more draws make ``valid_loss`` less noisy.
    valid_repeats: int = 4

    def __init__(self, module, *args, ema_decay=0.999, seed=0, dequantize=None,
                 mixed_precision=False, accelerator=None, criterion=ObjectiveIsNotACriterion,
                 **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.ema_decay = ema_decay
        self.seed = seed
        self.dequantize = dequantize
        self.mixed_precision = mixed_precision
        self.accelerator = accelerator

    # -- initialisation -------------------------------------------------------------------
    def initialize_module(self):
        """Build the module as skorch does, then its EMA copy and the noise generators."""
        super().initialize_module()
        self._init_ema()
        self._init_generators()
        return self

    def _init_ema(self) -> None:
        self.ema_module_ = AveragedModel(
            self._trained_module(), multi_avg_fn=EMAWithWarmup(self.ema_decay),
            use_buffers=True)

    def _init_generators(self) -> None:
        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        seed = self.seed
        if parallel.n_processes(self.accelerator) > 1:  # each process draws its own noise
            key = [int(self.seed), parallel.process_index(self.accelerator)]
            seed = int(np.random.SeedSequence(key).generate_state(1)[0])
        self.noise_generator_ = torch.Generator(device=device).manual_seed(seed)
        self.valid_generator_ = torch.Generator(device=device)

    def initialize(self):
        """Initialise as skorch does; with an ``accelerator``, then wrap the module for
        data-parallel training (the EMA is rebuilt from the unwrapped, now synchronised,
        weights)."""
        super().initialize()
        if self.accelerator is not None:
            parallel.check_accelerator(self.accelerator)
            if not isinstance(self.module_, nn.parallel.DistributedDataParallel):
                self.module_ = self.accelerator.prepare_model(self.module_)
            self._init_ema()
        return self

    def _trained_module(self) -> nn.Module:
        """``module_`` without its DistributedDataParallel wrapper (if it has one)."""
        module = self.module_
        return module.module if isinstance(module, nn.parallel.DistributedDataParallel) \
            else module

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; in data-parallel training, this process's share of the batches."""
        iterator = super().get_iterator(dataset, training=training)
        if training and parallel.n_processes(self.accelerator) > 1:
            if not isinstance(iterator, ArrayBatchLoader):
                raise TypeError("Data-parallel training needs iterator_train=ArrayBatchLoader; "
                                f"got {type(iterator).__name__}.")
            iterator.shard(parallel.n_processes(self.accelerator),
                           parallel.process_index(self.accelerator))
        return iterator

    def get_all_learnable_params(self):
        """Only the trained module's parameters; the EMA copy is not optimised."""
        yield from self._trained_module().named_parameters()

    # -- the objective --------------------------------------------------------------------
    def objective(
        self, module: nn.Module, X: torch.Tensor, generator: torch.Generator, training: bool
    ) -> dict[str, torch.Tensor]:
        """The loss of ``module`` on the batch ``X`` (model space), with its noise drawn from
        ``generator``. Returns ``{"loss": ..., **parts}`` with one scalar per ``loss_parts``.
        """
        raise NotImplementedError

    def log_density(self, module: nn.Module, X: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-density (float64, shape ``(n,)``) that ``module`` assigns to the
        standardised points ``X``."""
        raise NotImplementedError

    def _batch_tensor(self, X, generator: torch.Generator) -> torch.Tensor:
        """The batch on the net's device, dequantised (fresh noise from ``generator``) when
        ``dequantize`` is set."""
        X = torch.as_tensor(X, device=self.device, dtype=torch.float32)
        if self.dequantize is None:
            return X
        width = torch.as_tensor(np.asarray(self.dequantize), dtype=X.dtype, device=X.device)
        u = torch.rand(X.shape, generator=generator, device=X.device, dtype=X.dtype)
        return X + u * width.reshape(X.shape[1:])

    def train_step_single(self, batch, **fit_params):
        """One step on the trained weights; records the objective's parts per batch."""
        self._set_training(True)
        Xi, _ = batch
        X = self._batch_tensor(Xi, self.noise_generator_)
        with contextlib.ExitStack() as stack:
            if self.accelerator is not None:
                stack.enter_context(self.accelerator.autocast())
            stack.enter_context(torch.autocast(X.device.type, dtype=torch.bfloat16,
                                               enabled=bool(self.mixed_precision)))
            out = self.objective(self.module_, X, self.noise_generator_, True)
        loss = out["loss"]
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"The training loss of {type(self).__name__} became non-finite "
                f"({loss.item()}) at epoch {len(self.history)}; lower lr, or standardize the "
                "inputs."
            )
        if self.accelerator is not None:
            self.accelerator.backward(loss)  # DDP all-reduces the parameter gradients here
        else:
            loss.backward()
        for name in self.loss_parts:
            self.history.record_batch(f"train_{name}", out[name].item())
        return {"loss": loss, "y_pred": None}

    def validation_step(self, batch, **fit_params):
        """The objective of the EMA weights on fixed validation noise, and their NLL.

        The mean negative log-likelihood of the batch is recorded as ``valid_nll``; it needs no
        noise, so it is exact for the current weights. skorch runs validation under
        ``no_grad``; objectives that need an input gradient (the CDM's denoiser) get it back
        here, without a graph for double backpropagation.
        """
        self._set_training(False)
        Xi, _ = batch
        X = self._batch_tensor(Xi, self.valid_generator_)
        module = self.ema_module_.module
        repeated = X.repeat(self.valid_repeats, *([1] * (X.ndim - 1)))
        with torch.enable_grad():
            out = self.objective(module, repeated, self.valid_generator_, False)
        self.history.record_batch("valid_nll", -self.log_density(module, X).mean().item())
        return {"loss": out["loss"].detach(), "y_pred": None}

    # -- callback hooks of the net itself -------------------------------------------------
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        # Same validation noise every epoch, so valid_loss is comparable across epochs.
        self.valid_generator_.manual_seed(self.seed + 1)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        super().on_batch_end(net, batch=batch, training=training, **kwargs)
        if training:
            self.ema_module_.update_parameters(self._trained_module())

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # The net's own hook runs before the callbacks that turn batch records into epoch
        # scores: in data-parallel training, agree on the records first.
        if parallel.n_processes(self.accelerator) > 1:
            self._average_batch_records()
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    def _average_batch_records(self) -> None:
        """Replace this epoch's numeric batch records by their mean over the processes
        (``train_batch_size`` by the sum: the total batch), identically on every process."""
        batches = self.history[-1]["batches"]
        keys = [(i, key) for i, batch in enumerate(batches) for key in sorted(batch)
                if isinstance(batch[key], (int, float)) and not isinstance(batch[key], bool)]
        totals = parallel.sum_over_processes(
            self.accelerator, np.array([batches[i][key] for i, key in keys], dtype=float))
        world = parallel.n_processes(self.accelerator)
        for (i, key), total in zip(keys, totals):
            batches[i][key] = float(total) if key == "train_batch_size" \
                else float(total) / world

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        if self.accelerator is not None:  # scoring, sampling and pickling see the plain module
            self.accelerator.wait_for_everyone()
            self.module_ = self._trained_module()

    # -- pickling -------------------------------------------------------------------------
    #: Attributes that hold tensors of the fitted module besides skorch's own cuda-dependent
    #: ones: the ``module`` argument (an instance is the very object ``module_`` trained) and
    #: the callbacks (the learning-rate scheduler holds the optimiser). They travel with
    #: skorch's cuda-dependent attributes, so that a net fitted on a GPU loads on a machine
    #: without one (skorch maps them to the CPU with a ``DeviceWarning``).
    _device_bound = ("module", "callbacks")

    def __getstate__(self):
        own = self.cuda_dependent_attributes_
        self.cuda_dependent_attributes_ = own + [a for a in self._device_bound if a not in own]
        try:
            state = super().__getstate__()
        finally:
            self.cuda_dependent_attributes_ = own
        state["cuda_dependent_attributes_"] = own
        # An Accelerator belongs to the processes that trained: a loaded net is a plain one.
        state["accelerator"] = None
        # Generators are device-bound; they are recreated (freshly seeded) on load.
        state.pop("noise_generator_", None)
        state.pop("valid_generator_", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "initialized_", False):
            self._init_generators()


class CDMNet(DensityNet):
    """skorch net trained with the CDM objective (Algorithm 1 of the paper).

    Parameters
    ----------
    module : nn.Module
        Maps inputs to ``T + 2`` raw outputs.
    alpha, sigma : ndarray of shape (T + 2,)
        The noise schedule.
    ce_weight : float
        Weight of the cross-entropy term.
    **kwargs
        ``ema_decay``, ``seed`` and everything ``skorch.NeuralNet`` accepts.
    """

    loss_parts = ("ce", "mse")

    def __init__(self, module, *args, alpha=None, sigma=None, ce_weight=1.0, **kwargs):
        super().__init__(module, *args, **kwargs)
        self.alpha = alpha
        self.sigma = sigma
        self.ce_weight = ce_weight

    def _schedule_tensors(self, device):
        cached = getattr(self, "_schedule_cache", None)
        if cached is None or cached[0].device != device:
            cached = tuple(
                torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)
                for v in (self.alpha, self.sigma)
            )
            self._schedule_cache = cached
        return cached

    def objective(self, module, X, generator, training):
        """Algorithm 1: ``ce_weight * CE + MSE``, double backpropagation when training."""
        alpha, sigma = self._schedule_tensors(X.device)
        out = cdm_loss(
            module, X, alpha, sigma, self.ce_weight, generator=generator, create_graph=training
        )
        return {"loss": out.loss, "ce": out.cross_entropy, "mse": out.mse}

    def log_density(self, module, X, timestep=0):
        """Theorem 3.2: ``log p_t(x) = f(x)[t] - f(x)[T+1] + log N(x; 0, I)``."""
        logits = classifier_logits(module, X)
        return log_density_from_logits(logits.double(), X.double(), timestep)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_schedule_cache", None)
        return state
