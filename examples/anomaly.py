"""Anomaly detection: a CDM detector in a Pipeline beside IsolationForest and KNN, ROC curves.

    python examples/anomaly.py                       # detector defaults: about 15 s on 2 cores
    python examples/anomaly.py --training-steps 100  # a quick look

The table is built like ADBench's WDBC (shipped with scikit-learn, nothing downloaded): the
benign tumours of ``load_breast_cancer`` are the normal class, a few malignant ones are the
anomalies. As in the semi-supervised protocol, the detectors are fitted on half of the benign
rows and ranked on the other half plus the anomalies. Prints ROC-AUC, average precision and
what the thresholds flag; writes ``anomaly_roc.png``.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from cdm_estimators import CDMOutlierDetector  # noqa: E402


class KNNDistance(BaseEstimator):
    """Minus the distance to the ``k``-th nearest training row (higher = more normal)."""

    def __init__(self, n_neighbors=5):
        self.n_neighbors = n_neighbors

    def fit(self, X, y=None):
        self.nn_ = NearestNeighbors(n_neighbors=self.n_neighbors).fit(X)
        return self

    def score_samples(self, X):
        return -self.nn_.kneighbors(X)[0][:, -1]


def wdbc_like(n_anomalies, seed):
    """``(X_train, X_test, y_test)``: half of the benign rows to fit, the other half plus
    ``n_anomalies`` malignant rows to rank (``y_test`` 1 = anomaly)."""
    X, y = load_breast_cancer(return_X_y=True)  # target 1 = benign
    rng = np.random.RandomState(seed)
    benign = rng.permutation(np.flatnonzero(y == 1))
    malignant = rng.choice(np.flatnonzero(y == 0), n_anomalies, replace=False)
    half = len(benign) // 2
    test = np.concatenate([benign[half:], malignant])
    return X[benign[:half]], X[test], np.r_[np.zeros(len(benign) - half), np.ones(n_anomalies)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-steps", type=int, default=None,
                        help="optimiser steps of the CDM (default: the detector's 1,000)")
    parser.add_argument("--anomalies", type=int, default=20, help="malignant rows in the test")
    parser.add_argument("--output", default="examples/output", help="folder for the figure")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    X_train, X_test, y_test = wdbc_like(args.anomalies, seed=0)
    print(f"{len(X_train)} benign rows to fit, {len(X_test)} to rank "
          f"({args.anomalies} malignant), {X_train.shape[1]} features")
    cdm = CDMOutlierDetector(contamination=0.05, random_state=0)
    if args.training_steps is not None:
        cdm.set_params(training_steps=args.training_steps)
    detectors = {
        "CDM detector": make_pipeline(StandardScaler(), cdm),
        "IsolationForest": IsolationForest(random_state=0),
        "KNN (k=5)": make_pipeline(StandardScaler(), KNNDistance()),
    }
    fig, ax = plt.subplots(figsize=(5, 5))
    print(f"{'detector':16s} ROC-AUC  avg. precision")
    for name, detector in detectors.items():
        detector.fit(X_train)
        anomaly_score = -detector.score_samples(X_test)  # higher = more abnormal
        auc = roc_auc_score(y_test, anomaly_score)
        print(f"{name:16s} {auc:.3f}    {average_precision_score(y_test, anomaly_score):.3f}")
        fpr, tpr, _ = roc_curve(y_test, anomaly_score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")

    # The detector's threshold: contamination=0.05 is the quantile of held-out benign rows.
    flagged = detectors["CDM detector"].predict(X_test) == -1
    print(f"CDM detector, contamination=0.05: flags {flagged[y_test == 0].mean():.1%} of the "
          f"new benign rows and {flagged[y_test == 1].mean():.1%} of the malignant ones")
    cdm.set_contamination(0.2)  # a looser threshold, no refit
    flagged = detectors["CDM detector"].predict(X_test) == -1
    print(f"                  contamination=0.2:  {flagged[y_test == 0].mean():.1%} and "
          f"{flagged[y_test == 1].mean():.1%}")

    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    ax.set(xlabel="false-positive rate (benign flagged)",
           ylabel="true-positive rate (malignant flagged)",
           title="Breast-cancer tumours, benign = normal")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path = out / "anomaly_roc.png"
    fig.savefig(path, dpi=120)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
