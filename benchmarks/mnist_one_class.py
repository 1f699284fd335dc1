"""Benchmark: one-class MNIST. One digit is normal, the other nine are anomalies.

For each digit ``d``, a detector is fitted on ``--n-train`` training images of ``d`` (a
random subsample with seed 0; all of them with ``--n-train 0``) and ranks the test images:
those of ``d`` normal, all others anomalous (ROC-AUC per digit and its mean). Pixels are
scaled to [0, 1]. Detectors:

* ``cdm``: :class:`cdm_estimators.CDMOutlierDetector` with its defaults (the MLP on the 784
  pixel columns);
* ``cdm_image``: the same detector around a convolutional CDM,
  ``ClassificationDensityEstimator(image_shape=(1, 28, 28), dequantize=1/256,
  early_stopping=False, normalize=False)`` (the image defaults), with the detector's budget;
* ``knn``: distance to the 5th nearest training image; ``iforest``: ``IsolationForest``.

MNIST is not built in: pass ``--data`` (an ``.npz`` with ``x_train``, ``y_train``,
``x_test``, ``y_test``; the team's copy is ``../shared/data/mnist.npz``, "our split"). Not a
test: run it by hand::

    python benchmarks/mnist_one_class.py --n-train 2000 --methods cdm knn iforest --jobs 2
    python benchmarks/mnist_one_class.py --n-train 0 --device cuda --name mnist_one_class_cuda
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from adbench import KNNDistance
from harness import ROOT, Provenance, run_parallel, save_result
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from cdm_estimators import CDMOutlierDetector

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist.npz"
METHODS = ("cdm", "cdm_image", "knn", "iforest")
LABELS = {"cdm": "CDM detector (MLP)", "cdm_image": "CDM detector (image CDM)",
          "knn": "KNN (k=5)", "iforest": "IsolationForest"}


def make_detector(method: str, device: str, seed: int = 0):
    detector = CDMOutlierDetector(random_state=seed)
    cdm = detector._default_estimator(seed).set_params(device=device)
    if method == "cdm":
        # The detector's own default CDM (seeded from random_state) unless a device is named.
        return detector if device == "auto" else detector.set_params(estimator=cdm)
    if method == "cdm_image":
        return detector.set_params(estimator=cdm.set_params(image_shape=(1, 28, 28),
                                                            dequantize=1 / 256))
    if method == "knn":
        return KNNDistance(k=5)
    if method == "iforest":
        return IsolationForest(random_state=seed)
    raise ValueError(method)


def run_one(data: str, digit: int, method: str, n_train: int, device: str) -> dict:
    with np.load(data) as d:
        x_train, y_train = d["x_train"], d["y_train"]
        x_test, y_test = d["x_test"], d["y_test"]
    rows = np.flatnonzero(y_train == digit)
    if n_train:
        rows = np.random.RandomState(0).permutation(rows)[:n_train]
    X = x_train[rows].reshape(len(rows), -1) / 255.0
    X_test = x_test.reshape(len(x_test), -1) / 255.0
    detector = make_detector(method, device)
    start = time.perf_counter()
    detector.fit(X)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    anomaly = -np.nan_to_num(np.asarray(detector.score_samples(X_test), dtype=np.float64),
                             nan=-np.inf)
    score_time = time.perf_counter() - start
    row = {"digit": digit, "method": method, "n_train": len(rows),
           "roc_auc": roc_auc_score(y_test != digit, anomaly), "fit_time_s": fit_time,
           "test_images_per_s": len(X_test) / score_time}
    print(row, flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["cdm", "knn",
                                                                          "iforest"])
    parser.add_argument("--digits", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--n-train", type=int, default=2000,
                        help="training images of the normal digit (0: all)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--name", default="mnist_one_class")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: pass --data PATH/mnist.npz")

    provenance = Provenance(args.threads, args.jobs)
    provenance.add_estimators({LABELS[m]: make_detector(m, args.device)
                               for m in args.methods if m.startswith("cdm")})
    tasks = [(str(args.data), d, m, args.n_train, args.device) for m in args.methods
             for d in args.digits]
    rows = run_parallel(run_one, tasks, args.jobs, args.threads)
    lines = ["| digit | " + " | ".join(LABELS[m] for m in args.methods) + " |",
             "|---|" + "---|" * len(args.methods)]
    auc = {(r["digit"], r["method"]): r["roc_auc"] for r in rows}
    for d in args.digits:
        best = max(auc[d, m] for m in args.methods)
        lines.append(f"| {d} | " + " | ".join(
            f"**{auc[d, m]:.3f}**" if auc[d, m] == best else f"{auc[d, m]:.3f}"
            for m in args.methods) + " |")
    means = [np.mean([auc[d, m] for d in args.digits]) for m in args.methods]
    lines.append("| **mean** | " + " | ".join(
        f"**{v:.3f}**" if v == max(means) else f"{v:.3f}" for v in means) + " |")
    lines.append("| mean fit time (s) | " + " | ".join(
        f"{np.mean([r['fit_time_s'] for r in rows if r['method'] == m]):.1f}"
        for m in args.methods) + " |")
    lines.append("| test images scored per s | " + " | ".join(
        f"{np.mean([r['test_images_per_s'] for r in rows if r['method'] == m]):,.0f}"
        for m in args.methods) + " |")
    n_train = rows[0]["n_train"] if args.n_train else "all"
    sections = {f"ROC-AUC per normal digit ({n_train} training images per digit; 10,000 test "
                "images)": "\n".join(lines)}
    print(sections[next(iter(sections))])
    path = save_result(args.name, "One-class MNIST: ROC-AUC per normal digit",
                       "\n\n".join(__doc__.split("\n\n")[1:3]), sections, rows, provenance)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
