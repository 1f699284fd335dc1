"""Launched on two CPU processes by ``tests/test_parallel.py``: the data-parallel CDM step.

For the first batches of a fit with ``accelerator=``, recompute each process's own gradient
(same weights, same batch share, same noise) on a copy of the unwrapped module and compare
the gradient that DistributedDataParallel left in the parameters with the mean over the
processes of these local gradients: equal when the gradients were all-reduced exactly once
(twice would double them, never would leave each process its own). Process 0 writes the
findings as JSON to the path given as the first argument.
"""

import copy
import json
import sys

import numpy as np
import torch
from accelerate import Accelerator
from skorch.callbacks import Callback

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import make_eight_gaussians


class LocalGradients(Callback):
    """Per batch: the DDP gradient and this process's own gradient, flattened."""

    def __init__(self, n_batches=3):
        self.n_batches = n_batches

    def initialize(self):
        self.records_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.batch_, self.noise_state_ = batch, net.noise_generator_.get_state()

    def on_grad_computed(self, net, named_parameters, batch=None, training=None, **kwargs):
        if len(self.records_) >= self.n_batches:
            return
        synced = torch.cat([p.grad.flatten() for _, p in named_parameters]).clone()
        own = copy.deepcopy(net._trained_module())
        generator = torch.Generator(device=net.noise_generator_.device)
        generator.set_state(self.noise_state_)
        X = net._batch_tensor(self.batch_[0], generator)
        net.objective(own, X, generator, True)["loss"].backward()
        local = torch.cat([p.grad.flatten() for p in own.parameters()])
        self.records_.append((synced, local, len(X)))


def main():
    accelerator = Accelerator(cpu=True)
    torch.set_num_threads(1)
    X, _ = make_eight_gaussians(600, random_state=0)
    est = ClassificationDensityEstimator(
        n_timesteps=10, hidden_width=16, n_blocks=1, batch_size=64, max_epochs=1,
        early_stopping=False, normalize=False, callbacks=[LocalGradients()],
        accelerator=accelerator, random_state=0).fit(X)
    records = dict(est.net_.callbacks_)["user_0"].records_
    findings = []
    for synced, local, n_rows in records:
        every_local = accelerator.gather(local[None])  # (n_processes, n_params)
        findings.append({
            "rows": n_rows,
            "synced_vs_mean_of_local": float((synced - every_local.mean(0)).abs().max()),
            "synced_vs_own_local": float((synced - local).abs().max()),
            "synced_vs_sum_of_local": float((synced - every_local.sum(0)).abs().max()),
            "gradient_scale": float(synced.abs().max()),
        })
    if accelerator.is_main_process:
        with open(sys.argv[1], "w") as f:
            json.dump({"n_processes": accelerator.num_processes, "batches": findings,
                       "finite": bool(np.isfinite(est.score_samples(X)).all())}, f)
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
