"""Benchmark: CDM vs KernelDensity (CV bandwidth) vs GaussianMixture on known 2-D densities.

For each dataset it reports the test NLL gap to the truth (model NLL - true NLL, nats; lower
is better, 0 is perfect), an importance-sampling estimate of the model's log-normaliser
(0 for a normalised density), and fit and scoring times. Not a test: run it by hand.

    python benchmarks/density_2d.py                      # full run, writes benchmarks/results/
    python benchmarks/density_2d.py --datasets moons --methods cdm --cdm '{"max_epochs": 50}'
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from cdm_estimators import ClassificationDensityEstimator, estimate_log_normalizer
from cdm_estimators.datasets import KNOWN_DENSITIES_2D

RESULTS = Path(__file__).parent / "results"


def make_estimator(method: str, cdm_params: dict, seed: int):
    if method == "cdm":
        return ClassificationDensityEstimator(random_state=seed, **cdm_params)
    if method == "kde":
        return GridSearchCV(KernelDensity(), {"bandwidth": np.logspace(-2, 0.5, 26)}, cv=3)
    if method == "gmm":
        return GridSearchCV(GaussianMixture(random_state=seed, n_init=2),
                            {"n_components": [2, 5, 10, 20, 40]}, cv=3)
    raise ValueError(method)


def run_one(dataset: str, method: str, n_train: int, n_test: int, seed: int, cdm_params: dict):
    make = KNOWN_DENSITIES_2D[dataset]
    X, log_prob = make(n_train + n_test, random_state=seed)
    X_train, X_test = X[:n_train], X[n_train:]
    est = make_estimator(method, cdm_params, seed)
    start = time.perf_counter()
    est.fit(X_train)
    fit_s = time.perf_counter() - start
    model = est.best_estimator_ if hasattr(est, "best_estimator_") else est
    start = time.perf_counter()
    scores = model.score_samples(X_test)
    score_s = time.perf_counter() - start
    norm = estimate_log_normalizer(model, X_train, n_samples=50_000, random_state=seed)
    return {
        "dataset": dataset, "method": method, "seed": seed,
        "true_nll": float(-np.mean(log_prob(X_test))),
        "nll": float(-np.mean(scores)),
        "gap": float(np.mean(log_prob(X_test) - scores)),
        "log_normalizer": norm.log_normalizer,
        "log_normalizer_se": norm.standard_error,
        "fit_s": fit_s, "score_s": score_s,
        "detail": str(getattr(est, "best_params_", "")),
    }


def to_markdown(rows: list[dict]) -> str:
    lines = ["| dataset | method | true NLL | NLL | gap | log Z (se) | fit s | score s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['method']} | {r['true_nll']:.3f} | {r['nll']:.3f} | "
            f"{r['gap']:+.3f} | {r['log_normalizer']:+.3f} ({r['log_normalizer_se']:.3f}) | "
            f"{r['fit_s']:.1f} | {r['score_s']:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(KNOWN_DENSITIES_2D),
                        default=["eight_gaussians", "checkerboard", "rings", "two_spirals",
                                 "moons"])
    parser.add_argument("--methods", nargs="+", default=["cdm", "kde", "gmm"])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--cdm", type=json.loads, default={},
                        help="JSON dict of ClassificationDensityEstimator parameters")
    parser.add_argument("--name", default="density_2d", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    rows = []
    for dataset in args.datasets:
        for method in args.methods:
            for seed in args.seeds:
                row = run_one(dataset, method, args.n_train, args.n_test, seed, args.cdm)
                rows.append(row)
                print(json.dumps(row), flush=True)
    table = to_markdown(rows)
    print(table)
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        header = (
            f"# {args.name}\n\nCommand: `python benchmarks/density_2d.py "
            f"{' '.join(_quoted_args())}`\n\nMachine: {platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU. "
            f"n_train={args.n_train}, n_test={args.n_test}, seeds={args.seeds}, "
            f"CDM parameters: {args.cdm or 'defaults'}.\n\n"
            "gap = mean(true log p - model log p) on the test set (nats); log Z = "
            "importance-sampling estimate of the model's log-normaliser (0 = normalised).\n\n"
        )
        (RESULTS / f"{args.name}.md").write_text(header + table + "\n")
        (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")


def _quoted_args():
    import shlex
    import sys
    return [shlex.quote(a) for a in sys.argv[1:]]


if __name__ == "__main__":
    main()
