"""Benchmark: test bits/dim on scikit-learn's digits (8x8, 17 grey levels), CDM against the
classical density estimators, and a grid of CDM samples.

The split is ``train_test_split(load_digits().data, test_size=0.3, random_state=0)``; levels
``k`` are modelled on ``[0, 1)`` as ``(k + u) / 17``. The CDMs dequantise every training
batch afresh (``dequantize=1/17``); KDE and GMM are fitted on one dequantised draw of the
training rows. Every method is scored by :func:`cdm_estimators.metrics.bits_per_dim` on the
same dequantisation draws of the test rows (``--n-draws`` per row). Rows:

* CDM (image defaults): ``ClassificationDensityEstimator(image_shape=(1, 8, 8))``;
* CDM (tabular MLP): the tabular defaults on the same flat rows;
* KDE (CV) and GMM (CV): :mod:`cdm_estimators.comparison`'s definitions;
* uniform: ``log2(17)`` bits/dim, the floor any model must beat.

Not a test: run it by hand. On the 2-core CPU the default run takes about 15 minutes::

    python benchmarks/digits.py
    python benchmarks/digits.py --methods cdm_image --seeds 0 1 2 --name digits_3seeds
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from harness import RESULTS, Provenance, save_result
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.comparison import gmm_with_cv_components, kde_with_cv_bandwidth
from cdm_estimators.metrics import bits_per_dim, dequantize

N_LEVELS = 17
SHAPE = (1, 8, 8)
METHODS = ("cdm_image", "cdm_mlp", "kde", "gmm")
LABELS = {"cdm_image": "CDM (image defaults)", "cdm_mlp": "CDM (tabular MLP)",
          "kde": "KDE (CV)", "gmm": "GMM (CV)"}


def make_estimator(method: str, seed: int, device: str, max_epochs):
    common = dict(dequantize=1 / N_LEVELS, random_state=seed, device=device, verbose=1)
    if max_epochs is not None:
        common["max_epochs"] = max_epochs
    if method == "cdm_image":
        return ClassificationDensityEstimator(image_shape=SHAPE, **common)
    if method == "cdm_mlp":
        return ClassificationDensityEstimator(**common)
    if method == "kde":
        return kde_with_cv_bandwidth()
    if method == "gmm":
        return gmm_with_cv_components(random_state=seed)
    raise ValueError(method)


def run(method: str, seed: int, train: np.ndarray, test: np.ndarray, args) -> dict:
    est = make_estimator(method, seed, args.device, args.max_epochs)
    if method.startswith("cdm"):
        X_fit = train / N_LEVELS  # the levels' lower bin edges; the CDM adds the noise
    else:
        X_fit = dequantize(train, N_LEVELS, random_state=seed)
    start = time.perf_counter()
    est.fit(X_fit)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    test_bpd = bits_per_dim(est, test, N_LEVELS, n_draws=args.n_draws, random_state=1000)
    score_time = time.perf_counter() - start
    train_bpd = bits_per_dim(est, train, N_LEVELS, n_draws=args.n_draws, random_state=1000)
    row = {"method": LABELS[method], "seed": seed, "test_bits_per_dim": test_bpd,
           "train_bits_per_dim": train_bpd, "fit_time_s": fit_time,
           "test_rows_per_s": len(test) * args.n_draws / score_time}
    if method.startswith("cdm"):
        history = est.net_.history
        steps = sum("train_loss" in b for h in history for b in h["batches"])
        row.update(epochs=len(history), steps=steps,
                   stopped_early=bool(len(history) < est.net_.max_epochs))
        if seed == args.seeds[0] and not args.no_save:
            from cdm_estimators.plotting import save_image_grid

            start = time.perf_counter()
            samples = est.sample(64, random_state=0)
            row["sample_time_s"] = time.perf_counter() - start
            row["samples_finite"] = bool(np.all(np.isfinite(samples)))
            path = RESULTS / f"{args.name}_{method}_samples.png"
            save_image_grid(samples.reshape(64, *SHAPE), path, value_range=(0, 1),
                            title=f"{LABELS[method]}: 64 samples (DDPM, all steps)")
            row["samples_png"] = path.name
    elif hasattr(est, "best_params_"):
        row["best_params"] = str(est.best_params_)
    print(row, flush=True)
    return row


def table(rows: list[dict]) -> str:
    uniform = f"{math.log2(N_LEVELS):.3f}"
    lines = ["| method | seeds | test bits/dim | train bits/dim | fit time (s) | "
             "test rows/s | epochs (steps) |", "|---|---|---|---|---|---|---|",
             f"| uniform | - | {uniform} | {uniform} | - | - | - |"]
    for label in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == label]

        def mean(key, mine=mine):
            return float(np.mean([r[key] for r in mine]))

        test = mean("test_bits_per_dim")
        spread = f" ± {np.std([r['test_bits_per_dim'] for r in mine]):.3f}" if len(mine) > 1 \
            else ""
        steps = (f"{mean('epochs'):.0f} ({mean('steps'):.0f})" if "epochs" in mine[0]
                 else mine[0].get("best_params", "-"))
        lines.append(f"| {label} | {len(mine)} | {test:.3f}{spread} | "
                     f"{mean('train_bits_per_dim'):.3f} | {mean('fit_time_s'):.0f} | "
                     f"{mean('test_rows_per_s'):.0f} | {steps} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--n-draws", type=int, default=4,
                        help="dequantisation draws per test row")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs of the CDMs (default: their own 'auto')")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--name", default="digits", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    levels = load_digits().data.astype(int)
    train, test = train_test_split(levels, test_size=0.3, random_state=0)
    provenance = Provenance(args.threads)
    provenance.add_estimators({LABELS[m]: make_estimator(m, 0, args.device, args.max_epochs)
                               for m in args.methods})
    rows = [run(m, seed, train, test, args) for seed in args.seeds for m in args.methods]
    sections = {"Test bits/dim (lower is better)": table(rows)}
    pictures = [r for r in rows if "samples_png" in r]
    if pictures:
        sections["Samples"] = "\n\n".join(f"![{r['method']}]({r['samples_png']})"
                                          for r in pictures)
    print(sections["Test bits/dim (lower is better)"])
    if not args.no_save:
        path = save_result(
            args.name, "Digits (8x8, 17 levels): test bits/dim",
            "\n\n".join(__doc__.split("\n\n")[1:3]) + "\n\n"
            + f"{len(train)} training and {len(test)} test "
            f"images; {args.n_draws} dequantisation draws per row for scoring.",
            sections, rows, provenance)
        print(f"Wrote {path}")


if __name__ == "__main__":
    main()
