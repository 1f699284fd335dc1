"""Benchmark: MNIST (28x28, 256 levels): test bits/dim, App. D known-density images at 28x28,
training and likelihood throughput, a grid of samples.

Data: ``--data`` (default ``../shared/data/mnist.npz`` beside the repository: 60,000 training
and 10,000 test digits, "MNIST, our split"), pixels ``k`` modelled on ``[0, 1)`` as
``(k + u) / 256`` (``dequantize=1/256``, fresh noise every batch) and scored with
:func:`cdm_estimators.metrics.bits_per_dim`. The App. D check fits the same estimator to
images of iid uniform pixels and of correlated Gaussian pixels, whose log-density is known,
and compares the mean predicted and true log-likelihood per dimension.

The budget is explicit: ``--n-train`` rows, ``--steps`` optimiser steps. On the 2-core CPU
the stated reduced run (about 10 minutes) is::

    python benchmarks/mnist.py --device cpu --threads 2 --n-train 10000 --n-test 2000 \\
        --steps 300 --known-density-steps 100 --name mnist_cpu

On a GPU (bfloat16 autocast for training, float32 scoring)::

    python benchmarks/mnist.py --device cuda --steps 3000 --batch-size 256 \\
        --known-density-steps 500 --name mnist_cuda

Published single-pass MNIST figures (bits/dim): RealNVP 1.06, Glow 1.05, FFJORD 0.99.
Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from harness import RESULTS, ROOT, Provenance, save_result

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import make_correlated_gaussian_pixels, make_uniform_pixels
from cdm_estimators.estimator import IMAGE_DEFAULTS
from cdm_estimators.metrics import bits_per_dim

SHAPE = (1, 28, 28)
N_LEVELS = 256


def estimator(args, n_rows: int, seed: int, steps: int, **extra):
    batch = min(args.batch_size or IMAGE_DEFAULTS["batch_size"], n_rows)
    fit_rows = n_rows - int(round(0.1 * n_rows))  # early stopping holds out 10 %
    epochs = max(1, math.ceil(steps / math.ceil(fit_rows / batch)))
    return ClassificationDensityEstimator(
        image_shape=SHAPE, network=args.network, hidden_width=args.hidden_width,
        batch_size=batch, max_epochs=epochs, mixed_precision=args.mixed_precision,
        device=args.device, random_state=seed, verbose=1, **extra)


def fit_timed(est, X):
    start = time.perf_counter()
    est.fit(X)
    if str(est.device_).startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def steps_run(est) -> int:
    return sum("train_loss" in b for h in est.net_.history for b in h["batches"])


def score_throughput(est, X) -> float:
    est.score_samples(X[:64])  # warm-up
    start = time.perf_counter()
    est.score_samples(X)
    return len(X) / (time.perf_counter() - start)


def known_density_rows(args) -> list[dict]:
    rows = []
    n = min(args.n_train, 10_000)
    cases = {"uniform pixels U[-1/2, 1/2]": make_uniform_pixels,
             "correlated Gaussian pixels": make_correlated_gaussian_pixels}
    for name, make in cases.items():
        X, log_prob = make(n + 2000, (28, 28), random_state=0)
        est = estimator(args, n, 0, args.known_density_steps)
        fit_time = fit_timed(est, X[:n])
        pred, truth = est.score_samples(X[n:]), log_prob(X[n:])
        row = {"case": name, "n_train": n, "steps": steps_run(est), "fit_time_s": fit_time,
               "predicted_per_dim": float(np.mean(pred) / 784),
               "true_per_dim": float(np.mean(truth) / 784),
               "correlation": (float(np.corrcoef(pred, truth)[0, 1]) if np.std(truth) > 0
                               else None)}
        print(row, flush=True)
        rows.append(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "mnist.npz"))
    parser.add_argument("--n-train", type=int, default=60_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1500, help="optimiser steps (about)")
    parser.add_argument("--known-density-steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: the image default")
    parser.add_argument("--network", default="auto", choices=["auto", "unet", "encoder"])
    parser.add_argument("--hidden-width", default="auto",
                        type=lambda v: v if v == "auto" else int(v))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--mixed-precision", default=None, action=argparse.BooleanOptionalAction,
                        help="bfloat16 autocast in training (default: on for CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--name", default="mnist", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.mixed_precision is None:
        args.mixed_precision = args.device.startswith("cuda")
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.data).exists():
        parser.error(f"--data {args.data}: no such file (see ../shared/data/README.md)")

    data = np.load(args.data)
    rng = np.random.RandomState(0)
    train = data["x_train"][rng.permutation(len(data["x_train"]))[:args.n_train]]
    test = data["x_test"][:args.n_test]
    est = estimator(args, len(train), 0, args.steps, dequantize=1 / N_LEVELS)
    provenance = Provenance(args.threads)
    provenance.add_estimators({"CDM": est})

    fit_time = fit_timed(est, train.astype(np.float32) / N_LEVELS)
    steps = steps_run(est)
    row = {"n_train": len(train), "n_test": len(test), "steps": steps,
           "epochs": len(est.net_.history), "batch_size": est.net_.batch_size,
           "fit_time_s": fit_time, "train_images_per_s": steps * est.net_.batch_size / fit_time,
           "test_bits_per_dim": bits_per_dim(est, test, N_LEVELS, random_state=1),
           "train_bits_per_dim": bits_per_dim(est, train[:len(test)], N_LEVELS,
                                              random_state=1),
           "likelihood_images_per_s": score_throughput(
               est, test.reshape(len(test), -1).astype(np.float32) / N_LEVELS)}
    print(row, flush=True)
    start = time.perf_counter()
    samples = est.sample(64, random_state=0)
    row["sample_time_s"] = time.perf_counter() - start
    row["samples_finite"] = bool(np.all(np.isfinite(samples)))
    picture = f"{args.name}_samples.png"
    if not args.no_save:
        from cdm_estimators.plotting import save_image_grid

        save_image_grid(samples, RESULTS / picture, value_range=(0, 1),
                        title=f"CDM samples after {steps} steps (DDPM, every noise level)")
    known = known_density_rows(args)

    main_table = "\n".join([
        "| rows | steps (epochs) | batch | fit (s) | train images/s | test bits/dim | "
        "train bits/dim | likelihood images/s |", "|---|---|---|---|---|---|---|---|",
        f"| {row['n_train']:,} | {row['steps']} ({row['epochs']}) | {row['batch_size']} | "
        f"{row['fit_time_s']:.0f} | {row['train_images_per_s']:.0f} | "
        f"{row['test_bits_per_dim']:.3f} | {row['train_bits_per_dim']:.3f} | "
        f"{row['likelihood_images_per_s']:.0f} |"])
    known_table = "\n".join(
        ["| images | rows | steps | predicted log-lik / dim | true log-lik / dim | "
         "correlation |", "|---|---|---|---|---|---|"]
        + [f"| {r['case']} | {r['n_train']:,} | {r['steps']} | {r['predicted_per_dim']:.3f} | "
           f"{r['true_per_dim']:.3f} | "
           + ("- (constant truth)" if r["correlation"] is None else f"{r['correlation']:.3f}")
           + " |" for r in known])
    print(main_table + "\n\n" + known_table)
    if not args.no_save:
        path = save_result(
            args.name, f"MNIST (our split), {args.device}", __doc__.split("\n\n")[1],
            {"Test bits/dim and throughput": main_table,
             "App. D known-density images at 28x28": known_table,
             "Samples": f"![samples]({picture})"},
            [row, *known], provenance)
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
