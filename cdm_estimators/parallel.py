"""Data-parallel training through Hugging Face accelerate: what the processes must agree on.

An estimator given ``accelerator=Accelerator()`` in a script started with ``accelerate launch``
(or ``torchrun``) trains one network on several processes: each process takes its share of
every batch, the network is wrapped in ``DistributedDataParallel`` (whose all-reduce averages
the parameter gradients once per step, after the double backpropagation of the CDM
objective), and the processes keep identical weights. This module holds the checks and the
small collective operations that keep the processes in step; the training loop itself stays
skorch's (:class:`~cdm_estimators.net.DensityNet`). ``accelerate`` is imported only by the
user's script: nothing here needs it installed.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = ["check_accelerator", "accelerator_device", "agreed_random_state", "n_processes",
           "process_index", "is_main_process", "sum_over_processes"]

#: ``accelerator.distributed_type`` values supported: one process, several CPU processes
#: (gloo), several GPUs on DistributedDataParallel.
SUPPORTED_DISTRIBUTED_TYPES = ("NO", "MULTI_CPU", "MULTI_GPU")


def check_accelerator(accelerator) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``accelerator`` unless it can train a CDM.

    Supported: an ``accelerate.Accelerator`` with one process, several CPU processes or several
    GPUs (DistributedDataParallel), ``mixed_precision`` "no" or "bf16", no gradient
    accumulation.
    """
    if accelerator is None:
        return
    needed = ("prepare_model", "unwrap_model", "backward", "reduce", "distributed_type",
              "num_processes", "process_index", "device")
    if not all(hasattr(accelerator, name) for name in needed):
        raise TypeError(f"accelerator must be an accelerate.Accelerator or None; got "
                        f"{type(accelerator).__name__}.")
    kind = getattr(accelerator.distributed_type, "name", str(accelerator.distributed_type))
    if kind not in SUPPORTED_DISTRIBUTED_TYPES:
        raise ValueError(
            f"accelerator: distributed_type {kind} is not supported; use one process, "
            "several CPU processes or several GPUs with DistributedDataParallel "
            "(accelerate launch --multi_gpu), not DeepSpeed, FSDP or XLA.")
    precision = str(getattr(accelerator, "mixed_precision", "no"))
    if precision not in ("no", "bf16"):
        raise ValueError(
            f"accelerator: mixed_precision={precision!r} is not supported (fp16's loss "
            "scaling and the CDM's input gradient do not mix); use "
            "Accelerator(mixed_precision='bf16') or the estimator's mixed_precision=True.")
    if getattr(accelerator, "gradient_accumulation_steps", 1) != 1:
        raise ValueError(
            "accelerator: gradient_accumulation_steps must be 1; raise batch_size instead (it "
            "is the total batch over all processes).")


def accelerator_device(accelerator, device: str) -> str:
    """The device of a fit with ``accelerator``: the accelerator's, which ``device`` (the
    estimator's parameter) must leave to it ("auto") or name."""
    chosen = torch.device(accelerator.device)
    if device != "auto":
        asked = torch.device(device)
        if asked.type != chosen.type or asked.index not in (None, chosen.index):
            raise ValueError(
                f"device={device!r} conflicts with the accelerator's device {chosen}; leave "
                "device='auto' when an accelerator is given (it places each process).")
    # Several CPU processes report "cpu:0"; torch restores pickled CPU tensors only as "cpu".
    return "cpu" if chosen.type == "cpu" else str(chosen)


def n_processes(accelerator) -> int:
    """Number of training processes (1 without an accelerator)."""
    return 1 if accelerator is None else int(accelerator.num_processes)


def process_index(accelerator) -> int:
    """This process's rank (0 without an accelerator)."""
    return 0 if accelerator is None else int(accelerator.process_index)


def is_main_process(accelerator) -> bool:
    """Whether this process reports (progress bar, logs) and saves."""
    return process_index(accelerator) == 0


def agreed_random_state(accelerator, random_state):
    """``random_state`` as a ``RandomState`` that every process draws the same seeds from.

    An int gives the same stream everywhere already (and exactly the stream of a fit without
    an accelerator); ``None`` or a ``RandomState`` differ between processes, so rank 0 draws a
    seed and sends it to the others.
    """
    rng = check_random_state(random_state)
    if n_processes(accelerator) == 1 or isinstance(random_state, numbers.Integral):
        return rng
    from accelerate.utils import broadcast_object_list

    seed = [int(rng.randint(0, 2**31 - 1))]
    broadcast_object_list(seed, from_process=0)
    return np.random.RandomState(seed[0])


def sum_over_processes(accelerator, values: np.ndarray) -> np.ndarray:
    """Element-wise sum of a float64 vector over all processes (every process gets it).

    Raises a ``RuntimeError`` when the processes hold vectors of different lengths (they
    have fallen out of step).
    """
    values = np.asarray(values, dtype=np.float64)
    if n_processes(accelerator) == 1:
        return values
    device = torch.device(accelerator.device)
    lengths = accelerator.gather(torch.tensor([len(values)], device=device))
    if len(set(lengths.tolist())) != 1:
        raise RuntimeError(f"The training processes are out of step: they recorded "
                           f"{lengths.tolist()} values this epoch.")
    total = accelerator.reduce(torch.as_tensor(values, device=device), reduction="sum")
    return total.cpu().numpy()
