"""Benchmark: the CDM detector's ROC-AUC against its training budget, per score type.

For each training budget (``--steps``), one :class:`cdm_estimators.CDMOutlierDetector` per
set and seed is fitted under ADBench protocol 1 (semi-supervised; see ``adbench.py``) and its
test rows are ranked four ways from the same fit: ``score_type="combined"`` (the detector's
default), ``"multiscale"`` (the same without the noise-level view), ``"log_density"`` (the
CDM's ``log p_0``) and ``"noise_level"`` (the expected noise level under the classifier's
posterior, standardised on the held-out rows). The mean ROC-AUC over the sets is
the curve the default budget is chosen from; the last table is the fit time of the detector
on a 10,000 x 100 table (standard normal rows), alone on the machine, with ``--timing-threads``
torch threads: the "about a minute on 2 cores" budget.

Not a test: run it by hand::

    python benchmarks/detector_budget.py --steps 250 1000 3000 --jobs 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from adbench import DEFAULT_DATA, load, split
from harness import Provenance, publish, run_parallel
from sklearn.metrics import roc_auc_score

from cdm_estimators import CDMOutlierDetector

SCORES = ("combined", "multiscale", "log_density", "noise_level")
PER_SET = ("combined", "log_density")


def run_one(path: str, seed: int, steps: int) -> dict:
    X, y = load(Path(path))
    X_train, X_test, y_test = split(X, y, 1, seed)
    detector = CDMOutlierDetector(training_steps=steps, random_state=seed)
    start = time.perf_counter()
    detector.fit(X_train)
    fit_time = time.perf_counter() - start
    # One fit, four scores: the combined score's views are the multiscale levels and the
    # (standardised) noise level, its last column.
    views = detector.score_views(X_test)
    assert detector.view_names_[-1] == "noise_level"
    normal = {"combined": views.min(axis=1),
              "multiscale": views[:, :-1].min(axis=1),
              "log_density": detector.estimator_.score_samples(X_test),
              "noise_level": views[:, -1]}
    row = {"set": Path(path).stem, "seed": seed, "steps": steps, "fit_time_s": fit_time,
           "n_train": len(X_train), "n_features": X.shape[1],
           **{f"roc_auc_{k}": roc_auc_score(y_test, -np.nan_to_num(v, nan=-np.inf))
              for k, v in normal.items()}}
    print(row, flush=True)
    return row


def timing(steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    X = np.random.RandomState(0).standard_normal((10_000, 100))
    start = time.perf_counter()
    CDMOutlierDetector(training_steps=steps, random_state=0).fit(X)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", nargs="+", type=int, default=[250, 1000, 3000])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--timing-threads", type=int, default=2)
    parser.add_argument("--name", default="detector_budget")
    args = parser.parse_args()

    paths = sorted(args.data.glob("*.npz"))
    if not paths:
        raise SystemExit(f"no .npz files in {args.data}: pass --data PATH")
    provenance = Provenance(args.threads, args.jobs)
    provenance.add_estimators({"CDM detector": CDMOutlierDetector(random_state=0)})
    tasks = sorted(((str(p), s, k) for p in paths for s in args.seeds for k in args.steps),
                   key=lambda t: -t[2] * min(np.load(t[0])["X"].shape[0], 50_000))
    rows = run_parallel(run_one, tasks, args.jobs, args.threads)

    lines = ["| steps | " + " | ".join(SCORES) + " | mean fit time (s) | max fit time (s) |",
             "|---|" + "---|" * (len(SCORES) + 2)]
    for steps in args.steps:
        mine = [r for r in rows if r["steps"] == steps]
        aucs = " | ".join(f"{np.mean([r[f'roc_auc_{k}'] for r in mine]):.3f}" for k in SCORES)
        times = [r["fit_time_s"] for r in mine]
        lines.append(f"| {steps} | {aucs} | {np.mean(times):.1f} | {np.max(times):.1f} |")
    per_set = ["| set | rows | features | " + " | ".join(
        f"{k} @ {s}" for s in args.steps for k in PER_SET) + " |",
        "|---|---|---|" + "---|" * (2 * len(args.steps))]
    for path in paths:
        mine = {r["steps"]: r for r in rows
                if r["set"] == path.stem and r["seed"] == args.seeds[0]}
        first = next(iter(mine.values()))
        cells = " | ".join(f"{mine[s][f'roc_auc_{k}']:.3f}" for s in args.steps
                           for k in PER_SET)
        per_set.append(f"| {path.stem} | {first['n_train']} | {first['n_features']} | {cells} |")
    timings = ["| steps | fit time of 10,000 x 100 (s) |", "|---|---|"]
    for steps in args.steps:
        seconds = timing(steps, args.timing_threads)
        rows.append({"timing_steps": steps, "timing_threads": args.timing_threads,
                     "fit_time_10k_x_100_s": seconds})
        timings.append(f"| {steps} | {seconds:.1f} |")
    sections = {
        f"Mean ROC-AUC over {len(paths)} sets, protocol 1, seeds {args.seeds}":
            "\n".join(lines),
        f"Per set (seed {args.seeds[0]})": "\n".join(per_set),
        f"Fit time on 10,000 x 100, {args.timing_threads} torch threads, alone":
            "\n".join(timings),
    }
    publish(args.name, "CDM detector: ROC-AUC against the training budget",
            __doc__.split("\n\n")[1], sections, rows, provenance)


if __name__ == "__main__":
    main()
