"""Anomaly detection on tables built from scikit-learn's shipped data: a check outside ADBench.

    python benchmarks/builtin_anomaly.py --jobs 2
    python benchmarks/builtin_anomaly.py --methods cdm knn --seeds 0 --name builtin_quick

The detector's defaults were chosen on the 33 ADBench files of ``benchmarks/adbench.py``; these
tables were not used for that choice, so they show how the choice carries to other data. Two
families, built like ADBench's sets of the same origin (nothing downloaded):

* ``wdbc_like``: ``load_breast_cancer``; the benign tumours are normal, 10 malignant ones
  (drawn once, ``RandomState(0)``) are the anomalies, as in ADBench's WDBC (357 + 10 rows);
* ``digitsK`` (K = 0..9): ``load_digits`` (8x8 images of the UCI optdigits data as flat rows of
  64 features); every other digit is normal, 50 images of digit K (drawn once,
  ``RandomState(0)``) are the anomalies, as in ADBench's optdigits (digit 0, 2.9 %
  anomalies).

Protocol 1 of ``benchmarks/adbench.py`` (semi-supervised: per seed half of the normal rows to
fit, the other half plus all anomalies to rank), the same detectors and anchors.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from adbench import LABELS, METHODS, cost, make_detector, run_one, table
from harness import Provenance, publish, run_parallel
from sklearn.datasets import load_breast_cancer, load_digits

from cdm_estimators.outlier import DETECTOR_STEPS

#: Anomalies per table: ADBench's WDBC keeps 10 malignant rows; 50 digits are 2.8 to 3.0 %
#: of the 1,797 images, as optdigits' 150 of 5,216.
N_ANOMALIES = {"wdbc_like": 10, "digits": 50}


def builtin_tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (X, y)}`` with ``y`` 1 for the anomalies; the same tables on every call."""
    tables = {}
    X, target = load_breast_cancer(return_X_y=True)  # target 1 = benign
    tables["wdbc_like"] = _with_anomalies(X, target == 1, N_ANOMALIES["wdbc_like"])
    X, digit = load_digits(return_X_y=True)
    for k in range(10):
        tables[f"digits{k}"] = _with_anomalies(X, digit != k, N_ANOMALIES["digits"])
    return tables


def _with_anomalies(X: np.ndarray, normal: np.ndarray, n_anomalies: int):
    anomalies = np.random.RandomState(0).choice(np.flatnonzero(~normal), n_anomalies,
                                                replace=False)
    rows = np.r_[np.flatnonzero(normal), np.sort(anomalies)]
    y = np.r_[np.zeros(normal.sum(), dtype=int), np.ones(n_anomalies, dtype=int)]
    return X[rows].astype(np.float64), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS,
                        default=["cdm", "knn", "iforest", "lof", "kde_scott", "gmm"])
    parser.add_argument("--training-steps", type=int, default=DETECTOR_STEPS,
                        help="optimiser steps of the CDM, TRE and NCE detectors")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--name", default="builtin_anomaly", help="results file stem")
    args = parser.parse_args()

    provenance = Provenance(args.threads, args.jobs)
    detectors = {LABELS[m]: make_detector(m, 0, "auto", args.training_steps)
                 for m in args.methods if m in ("cdm", "tre", "nce")}
    if "cdm" in args.methods:
        detectors["CDM detector's default CDM (seed drawn from random_state)"] = \
            detectors[LABELS["cdm"]]._default_estimator(0)
    provenance.add_estimators(detectors)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (name, (X, y)) in enumerate(builtin_tables().items(), start=1):
            # adbench's table() orders the sets by the number before the first "_".
            paths.append(Path(folder) / f"{i}_{name}.npz")
            np.savez(paths[-1], X=X, y=y)
        tasks = sorted(((str(p), 1, s, m, "auto", args.training_steps) for p in paths
                        for s in args.seeds for m in args.methods),
                       key=lambda t: -cost(Path(t[0]), t[3]))
        rows = run_parallel(run_one, tasks, args.jobs, args.threads)
    sections = {f"Protocol 1: mean ROC-AUC over seeds {args.seeds} (best per set in bold)":
                table(rows, args.methods, 1)}
    publish(args.name, "Anomaly detection on scikit-learn's shipped data",
            "\n\n".join(__doc__.split("\n\n")[2:5]), sections, rows, provenance)


if __name__ == "__main__":
    main()
