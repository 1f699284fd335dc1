"""Benchmark: anomaly detection on ADBench's classical tables, under two protocols.

Every detector ranks the test rows by an anomaly score and is measured by ROC-AUC and average
precision (anomaly = positive class). Sets over 50,000 rows are first subsampled to 50,000
(``train_test_split(..., train_size=50_000, stratify=y, random_state=0)``). Per seed:

1. semi-supervised (novelty): ``RandomState(seed).permutation`` of the normal rows, the first
   half is the training set (no labels), the test set is the other half plus all anomalies;
2. unsupervised (ADBench): ``train_test_split(X, y, test_size=0.3, stratify=y,
   random_state=seed)``, fit on the 70 % with its anomalies, no labels.

Detectors (all fitted on the same training rows; the distance and kernel anchors on features
standardised with the training rows' mean and standard deviation):

* ``cdm``: :class:`cdm_estimators.CDMOutlierDetector` with its defaults (``random_state=seed``;
  with ``--device`` other than ``auto``, its default CDM on that device);
* ``tre``, ``nce``: our telescoping density-ratio and noise-contrastive estimators through
  :class:`cdm_estimators.DensityOutlierDetector` with the same training budget;
* ``knn``: distance to the 5th nearest neighbour; ``lof``: ``LocalOutlierFactor(novelty=True)``;
* ``iforest``: ``IsolationForest(random_state=seed)``;
* ``kde_scott``: ``KernelDensity(bandwidth="scott")``; ``kde_cv``: bandwidth by 5-fold CV
  likelihood (:func:`cdm_estimators.comparison.kde_with_cv_bandwidth`, on at most 5,000 rows);
* ``gmm``: ``GaussianMixture(5, covariance_type="full", reg_covar=1e-4)``.

Not a test: run it by hand (the data are not part of the library)::

    python benchmarks/adbench.py --jobs 2
    python benchmarks/adbench.py --protocols 2 --methods cdm knn iforest --name adbench_p2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from harness import ROOT, Provenance, publish, run_parallel
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KernelDensity, LocalOutlierFactor, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cdm_estimators import (
    CDMOutlierDetector,
    DensityOutlierDetector,
    NoiseContrastiveEstimator,
    TelescopingDensityRatioEstimator,
)
from cdm_estimators.comparison import kde_with_cv_bandwidth
from cdm_estimators.outlier import DETECTOR_STEPS

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "adbench"
CAP = 50_000
METHODS = ("cdm", "tre", "nce", "knn", "iforest", "lof", "kde_scott", "kde_cv", "gmm")
LABELS = {"cdm": "CDM detector", "tre": "TRE", "nce": "NCE", "knn": "KNN (k=5)",
          "iforest": "IsolationForest", "lof": "LOF", "kde_scott": "KDE (Scott)",
          "kde_cv": "KDE (CV)", "gmm": "GMM (5)"}
KDE_CV_ROWS = 5_000


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(path)
    X, y = data["X"].astype(np.float64), data["y"].astype(int)
    if len(X) > CAP:
        X, _, y, _ = train_test_split(X, y, train_size=CAP, stratify=y, random_state=0)
    return X, y


def split(X, y, protocol: int, seed: int):
    """``(X_train, X_test, y_test)`` of one protocol and seed (see the module docstring)."""
    if protocol == 1:
        normal = np.random.RandomState(seed).permutation(np.flatnonzero(y == 0))
        half = len(normal) // 2
        test = np.concatenate([normal[half:], np.flatnonzero(y == 1)])
        return X[normal[:half]], X[test], y[test]
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)
    return X_train, X_test, y_test


def make_detector(method: str, seed: int, device: str, steps: int = DETECTOR_STEPS):
    """The unfitted detector; its ``score_samples`` is higher for more normal rows."""
    neural = dict(random_state=seed, device=device, normalize=False)
    if method == "cdm":
        detector = CDMOutlierDetector(training_steps=steps, random_state=seed)
        if device == "auto":
            return detector
        # The detector's own default CDM, on the requested device.
        return detector.set_params(
            estimator=detector._default_estimator(seed).set_params(device=device))
    if method == "tre":
        return DensityOutlierDetector(TelescopingDensityRatioEstimator(**neural),
                                      training_steps=steps, random_state=seed)
    if method == "nce":
        return DensityOutlierDetector(NoiseContrastiveEstimator(**neural),
                                      training_steps=steps, random_state=seed)
    if method == "knn":
        return make_pipeline(StandardScaler(), KNNDistance())
    if method == "iforest":
        return IsolationForest(random_state=seed)
    if method == "lof":
        return make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True))
    if method == "kde_scott":
        return make_pipeline(StandardScaler(), KernelDensity(bandwidth="scott"))
    if method == "kde_cv":
        return make_pipeline(StandardScaler(), _Subsampled(kde_with_cv_bandwidth(), seed))
    if method == "gmm":
        return make_pipeline(StandardScaler(), GaussianMixture(
            5, covariance_type="full", reg_covar=1e-4, random_state=seed))
    raise ValueError(method)


class KNNDistance(BaseEstimator):
    """Minus the distance to the ``k``-th nearest training row (higher = more normal)."""

    def __init__(self, k: int = 5):
        self.k = k

    def fit(self, X, y=None):
        self.nn_ = NearestNeighbors(n_neighbors=self.k).fit(X)
        return self

    def score_samples(self, X):
        return -self.nn_.kneighbors(X)[0][:, -1]


class _Subsampled(BaseEstimator):
    """Fit ``estimator`` on at most ``KDE_CV_ROWS`` rows (the CV bandwidth search is
    quadratic in the rows); score with it."""

    def __init__(self, estimator, seed: int):
        self.estimator = estimator
        self.seed = seed

    def fit(self, X, y=None):
        rows = np.random.RandomState(self.seed).permutation(len(X))[:KDE_CV_ROWS]
        self.estimator_ = clone(self.estimator).fit(X[rows])
        return self

    def score_samples(self, X):
        return self.estimator_.score_samples(X)


def run_one(path: str, protocol: int, seed: int, method: str, device: str,
            steps: int) -> dict:
    X, y = load(Path(path))
    X_train, X_test, y_test = split(X, y, protocol, seed)
    detector = make_detector(method, seed, device, steps)
    start = time.perf_counter()
    detector.fit(X_train)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    anomaly = -np.asarray(detector.score_samples(X_test), dtype=np.float64)
    score_time = time.perf_counter() - start
    anomaly = np.nan_to_num(anomaly, nan=np.inf, posinf=np.inf, neginf=-np.inf)
    anomaly = np.clip(anomaly, -1e300, 1e300)
    row = {"set": Path(path).stem, "protocol": protocol, "seed": seed, "method": method,
           "roc_auc": roc_auc_score(y_test, anomaly),
           "average_precision": average_precision_score(y_test, anomaly),
           "fit_time_s": fit_time, "score_time_s": score_time, "n_train": len(X_train),
           "n_test": len(X_test), "n_features": X.shape[1]}
    print(row, flush=True)
    return row


def cost(path: Path, method: str) -> float:
    """A rough cost for ordering the tasks (longest first)."""
    n = min(np.load(path)["X"].shape[0], CAP)
    return {"cdm": 30, "tre": 30, "nce": 20, "kde_cv": 40}.get(method, 1) * (1 + n / 1e4)


def table(rows: list[dict], methods: list[str], protocol: int) -> str:
    rows = [r for r in rows if r["protocol"] == protocol]
    sets = sorted({r["set"] for r in rows}, key=lambda s: int(s.split("_")[0]))
    mean = {(s, m): np.mean([r["roc_auc"] for r in rows if r["set"] == s and r["method"] == m])
            for s in sets for m in methods}
    lines = ["| set | rows | features | " + " | ".join(LABELS[m] for m in methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for s in sets:
        first = next(r for r in rows if r["set"] == s)
        best = max(mean[s, m] for m in methods)
        cells = [f"**{mean[s, m]:.3f}**" if mean[s, m] == best else f"{mean[s, m]:.3f}"
                 for m in methods]
        lines.append(f"| {s} | {first['n_train']} | {first['n_features']} | "
                     + " | ".join(cells) + " |")
    ranks = np.array([rankdata([-mean[s, m] for m in methods]) for s in sets])

    def per_method(key):
        return [np.mean([r[key] for r in rows if r["method"] == m]) for m in methods]

    means = [np.mean([mean[s, m] for s in sets]) for m in methods]
    lines += [
        "| **mean ROC-AUC** | | | " + " | ".join(
            f"**{v:.3f}**" if v == max(means) else f"{v:.3f}" for v in means) + " |",
        "| mean average precision | | | " + " | ".join(
            f"{v:.3f}" for v in per_method("average_precision")) + " |",
        "| average rank (1 = best) | | | " + " | ".join(f"{v:.2f}" for v in ranks.mean(0))
        + " |",
        "| mean fit time (s) | | | " + " | ".join(f"{v:.1f}" for v in per_method("fit_time_s"))
        + " |",
        "| test rows scored per s | | | " + " | ".join(
            f"{np.sum([r['n_test'] for r in rows if r['method'] == m]) / max(1e-9, np.sum([r['score_time_s'] for r in rows if r['method'] == m])):,.0f}"  # noqa: E501
            for m in methods) + " |",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", nargs="*", default=None,
                        help="file stems to run (default: every .npz in --data)")
    parser.add_argument("--protocols", nargs="+", type=int, choices=(1, 2), default=[1, 2])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--device", default="auto",
                        help="device of the neural estimators ('auto': the detector's default)")
    parser.add_argument("--training-steps", type=int, default=DETECTOR_STEPS,
                        help="optimiser steps of the CDM, TRE and NCE detectors")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--name", default="adbench", help="results file stem")
    args = parser.parse_args()

    paths = sorted(args.data.glob("*.npz"))
    if args.sets:
        paths = [p for p in paths if p.stem in args.sets]
    if not paths:
        raise SystemExit(f"no .npz files in {args.data}")
    provenance = Provenance(args.threads, args.jobs)
    detectors = {LABELS[m]: make_detector(m, 0, args.device, args.training_steps)
                 for m in args.methods if m in ("cdm", "tre", "nce")}
    if "cdm" in args.methods and args.device == "auto":
        cdm = detectors[LABELS["cdm"]]
        detectors["CDM detector's default CDM (seed drawn from random_state)"] = \
            cdm._default_estimator(0)
    provenance.add_estimators(detectors)
    tasks = sorted(((str(p), pr, s, m, args.device, args.training_steps) for p in paths
                    for pr in args.protocols for s in args.seeds for m in args.methods),
                   key=lambda t: -cost(Path(t[0]), t[3]))
    rows = run_parallel(run_one, tasks, args.jobs, args.threads)
    sections = {f"Protocol {p}: mean ROC-AUC over seeds {args.seeds} (best per set in bold)":
                table(rows, args.methods, p) for p in args.protocols}
    publish(args.name, "ADBench classical tables: anomaly detection",
            "\n\n".join(__doc__.split("\n\n")[1:5])
            + f"\n\nSets: {len(paths)} files of `{args.data.name}`.", sections, rows,
            provenance)


if __name__ == "__main__":
    main()
