"""Benchmark: scoring throughput of the CDM detector against KernelDensity and KNN as the
training set grows.

Training rows: ``--n-train`` rows (default 1,000, 10,000 and 100,000) of a 10-D mixture of
four Gaussians (``cdm_estimators.datasets``); 10,000 new rows are then scored, and the
throughput is test rows per second of ``score_samples`` (the best of ``--repeats`` runs).
A KDE and a nearest-neighbour search look at the training rows for every new row, so their
cost grows with the training set; the CDM's forward pass does not. Detectors:

* ``CDMOutlierDetector(random_state=0)`` (its default ``"combined"`` score: one forward
  pass for all noise levels), and the same CDM's plain ``score_samples`` (``log p_0``);
* ``KernelDensity(bandwidth="scott")`` on standardised rows (scikit-learn's tree);
* KNN: the distance to the 5th nearest neighbour (``NearestNeighbors``, its "auto" index).

Not a test: run it by hand, alone on the machine (timings)::

    python benchmarks/outlier_throughput.py --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch
from harness import Provenance, save_result
from sklearn.neighbors import KernelDensity, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cdm_estimators import CDMOutlierDetector
from cdm_estimators.datasets import KNOWN_DENSITIES_ND

N_TEST = 10_000


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scorers(cdm, kde, knn, scaler, X_test) -> dict:
    """What is timed: one call scores all of ``X_test``."""
    return {
        "CDM detector (combined)": lambda: cdm.score_samples(X_test),
        "CDM log p_0": lambda: cdm.estimator_.score_samples(X_test),
        "KDE (Scott)": lambda: kde.score_samples(X_test),
        "KNN (k=5)": lambda: knn.kneighbors(scaler.transform(X_test)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", nargs="+", type=int, default=[1_000, 10_000, 100_000])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--name", default="outlier_throughput")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    provenance = Provenance(args.threads)
    provenance.add_estimators({"CDM detector": CDMOutlierDetector(random_state=0)})
    rows = []
    sample = KNOWN_DENSITIES_ND["gaussian_mixture"]
    for n in args.n_train:
        X, _ = sample(n + N_TEST, args.dim, random_state=0)
        X_train, X_test = X[:n], X[n:]
        cdm = CDMOutlierDetector(random_state=0)
        if args.device != "auto":
            cdm.set_params(estimator=cdm._default_estimator(0).set_params(device=args.device))
        start = time.perf_counter()
        cdm.fit(X_train)
        cdm_fit = time.perf_counter() - start
        kde = make_pipeline(StandardScaler(), KernelDensity(bandwidth="scott")).fit(X_train)
        scaler = StandardScaler().fit(X_train)
        knn = NearestNeighbors(n_neighbors=5).fit(scaler.transform(X_train))
        for name, fn in scorers(cdm, kde, knn, scaler, X_test).items():
            fn()  # warm-up
            seconds = best_time(fn, args.repeats)
            row = {"n_train": n, "method": name, "score_time_s": seconds,
                   "rows_per_s": N_TEST / seconds}
            if name.startswith("CDM detector"):
                row["fit_time_s"] = cdm_fit
            rows.append(row)
            print(row, flush=True)

    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| training rows | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for n in args.n_train:
        rate = {r["method"]: r["rows_per_s"] for r in rows if r["n_train"] == n}
        lines.append(f"| {n:,} | " + " | ".join(f"{rate[m]:,.0f}" for m in methods) + " |")
    fits = ", ".join(f"{r['n_train']:,} rows {r['fit_time_s']:.1f} s" for r in rows
                     if "fit_time_s" in r)
    sections = {f"Test rows scored per second ({N_TEST:,} rows, {args.dim}-D, "
                f"{args.threads} torch threads)": "\n".join(lines),
                "CDM detector fit times": fits}
    print("\n".join(lines))
    path = save_result(args.name, "Outlier scores: throughput against the training-set size",
                       "\n\n".join(__doc__.split("\n\n")[1:3]), sections, rows, provenance)
    print(f"Wrote {path}")


if __name__ == "__main__":
    main()
