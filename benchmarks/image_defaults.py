"""Benchmark: the candidates for the image defaults, on digits, side by side.

Each candidate is a :class:`~cdm_estimators.ClassificationDensityEstimator` with
``image_shape=(1, 8, 8)`` and ``dequantize=1/17`` plus the parameters in ``CANDIDATES``, fitted
on the digits split of ``benchmarks/digits.py`` and scored in test and train bits/dim (4
dequantisation draws per row). The last candidate is the estimator's own image defaults
(``"auto"`` everywhere). The wall time per fit is that of one process with ``--threads``
torch threads; with ``--jobs 2 --threads 1`` two fits share the 2 cores, so a fit alone on 2
threads takes roughly half as long. Not a test::

    python benchmarks/image_defaults.py --jobs 2      # about 25 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import time

from digits import N_LEVELS, SHAPE
from harness import Provenance, run_parallel, save_result
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.estimator import IMAGE_DEFAULTS
from cdm_estimators.metrics import bits_per_dim

#: (label, parameters); epochs are set so that each candidate runs the stated number of
#: optimiser steps on the 1,131 rows left after the early-stopping split.
CANDIDATES = [
    ("encoder 32x1, batch 128, lr 1e-3, 1500 steps, no quadratic path",
     dict(network="encoder", hidden_width=32, n_blocks=1, batch_size=128, lr=1e-3,
          max_epochs=167, quadratic_rank=0)),
    ("encoder 32x1, batch 128, lr 1e-3, 1500 steps",
     dict(network="encoder", hidden_width=32, n_blocks=1, batch_size=128, lr=1e-3,
          max_epochs=167)),
    ("U-Net 16x1, batch 128, lr 1e-3, 1500 steps",
     dict(network="unet", hidden_width=16, n_blocks=1, batch_size=128, lr=1e-3,
          max_epochs=167)),
    ("encoder 32x1, batch 128, lr 2e-3, 1500 steps",
     dict(network="encoder", hidden_width=32, n_blocks=1, batch_size=128, lr=2e-3,
          max_epochs=167)),
    ("encoder 32x1, batch 64, lr 1e-3, 3000 steps",
     dict(network="encoder", hidden_width=32, n_blocks=1, batch_size=64, lr=1e-3,
          max_epochs=167)),
    ("encoder 64x1, batch 64, lr 2e-3, 1500 steps",
     dict(network="encoder", hidden_width=64, n_blocks=1, batch_size=64, lr=2e-3,
          max_epochs=84)),
    ("the image defaults ('auto'): " + ", ".join(f"{k} {v}" for k, v in IMAGE_DEFAULTS.items()),
     dict()),
]


def fit_candidate(label: str, params: dict, seed: int) -> dict:
    levels = load_digits().data.astype(int)
    train, test = train_test_split(levels, test_size=0.3, random_state=0)
    est = ClassificationDensityEstimator(image_shape=SHAPE, dequantize=1 / N_LEVELS,
                                         random_state=seed, **params)
    start = time.perf_counter()
    est.fit(train / N_LEVELS)
    fit_time = time.perf_counter() - start
    history = est.net_.history
    row = {"candidate": label, "seed": seed,
           "steps": sum("train_loss" in b for h in history for b in h["batches"]),
           "epochs": len(history), "fit_time_s": fit_time,
           "test_bits_per_dim": bits_per_dim(est, test, N_LEVELS, n_draws=4, random_state=1000),
           "train_bits_per_dim": bits_per_dim(est, train, N_LEVELS, n_draws=4,
                                              random_state=1000)}
    print(row, flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: 1 when --jobs > 1)")
    parser.add_argument("--only", type=int, nargs="+", default=None,
                        help="indices of CANDIDATES to run (default: all)")
    parser.add_argument("--name", default="image_defaults")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    threads = args.threads or (1 if args.jobs > 1 else None)
    chosen = [CANDIDATES[i] for i in (args.only or range(len(CANDIDATES)))]
    provenance = Provenance(threads, args.jobs)
    provenance.add_estimators({label: ClassificationDensityEstimator(
        image_shape=SHAPE, dequantize=1 / N_LEVELS, random_state=args.seed, **params)
        for label, params in chosen})
    rows = run_parallel(fit_candidate, [(label, params, args.seed) for label, params in chosen],
                        args.jobs, threads)
    lines = ["| candidate | steps (epochs) | fit time (s) | test bits/dim | train bits/dim |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['candidate']} | {r['steps']} ({r['epochs']}) | {r['fit_time_s']:.0f} | "
              f"{r['test_bits_per_dim']:.3f} | {r['train_bits_per_dim']:.3f} |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        path = save_result(args.name, "Image defaults: candidates on digits",
                           __doc__.split("\n\n")[1].replace(" Not a test::", ""),
                           {"Digits, test bits/dim": text}, rows,
                           provenance)
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
