"""Benchmark: CDM, TRE, NCE, KDE (CV) and GMM (CV) on known 2-D densities.

The 2-D sets of ``cdm_estimators.datasets.KNOWN_DENSITIES_2D``, every estimator from
``cdm_estimators.comparison.default_estimators`` with its defaults. Reports the test NLL gap to
the truth (nats; 0 is perfect), an independent importance-sampling estimate of log Z (0 for a
normalised density) and fit and scoring times. One command writes one result file whole. Not a
test: run it by hand.

    python benchmarks/density_2d.py --jobs 2                   # five sets, five estimators
    python benchmarks/density_2d.py --datasets moons --methods CDM KDE --max-epochs 50 --no-save
"""

from __future__ import annotations

import argparse
import itertools

from density_chasm import DESCRIPTION, METHODS, pivot_markdown
from harness import (
    Provenance,
    estimators_for_record,
    known_density_task,
    publish,
    run_parallel,
)

from cdm_estimators.comparison import results_to_markdown
from cdm_estimators.datasets import KNOWN_DENSITIES_2D


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=list(KNOWN_DENSITIES_2D),
                        default=["eight_gaussians", "checkerboard", "rings", "two_spirals",
                                 "moons"])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", default="auto",
                        help="epochs of the neural estimators ('auto': their defaults)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: 1 when --jobs > 1)")
    parser.add_argument("--name", default="density_2d", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    threads = args.threads or (1 if args.jobs > 1 else None)
    common = {} if args.max_epochs == "auto" else {"max_epochs": int(args.max_epochs)}
    provenance = Provenance(threads, args.jobs)
    provenance.add_estimators(estimators_for_record(args.methods, common))
    tasks = [(dataset, None, args.seed, args.n_train, args.n_test, args.methods, common)
             for dataset in args.datasets]
    rows = list(itertools.chain.from_iterable(
        run_parallel(known_density_task, tasks, args.jobs, threads)))
    sections = {
        "Gap to the truth (log Z where its ESS >= 1000)": pivot_markdown(rows),
        "Gap of the renormalised density (gap + log Z; where ESS >= 1000)":
            pivot_markdown(rows, normalised=True),
        "Everything": results_to_markdown(rows, {"family": "dataset"}),
    }
    publish(args.name, f"Known 2-D densities, seed {args.seed}",
            DESCRIPTION + f"\n{args.n_train:,} training and {args.n_test:,} test rows per "
            "set, drawn with the seed, which also seeds every estimator.",
            sections, rows, provenance, save=not args.no_save)


if __name__ == "__main__":
    main()
