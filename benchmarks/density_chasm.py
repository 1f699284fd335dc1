"""Benchmark: the density chasm. NLL gap of CDM, TRE, NCE, KDE and GMM as the dimension grows.

Known densities of any dimension (``cdm_estimators.datasets.KNOWN_DENSITIES_ND``: Gaussian
mixtures, correlated Gaussians, bananas, Student t's) at a fixed sample size, every estimator
from ``cdm_estimators.comparison.default_estimators`` with its defaults. Reports the test NLL
gap to the truth (nats, lower is better, 0 is perfect), an importance-sampling estimate of
log Z with its effective sample size (trust it where the ESS is in the thousands), and fit and
scoring times. One command writes one result file whole. Not a test: run it by hand.

    python benchmarks/density_chasm.py --jobs 2                          # all dims (hours)
    python benchmarks/density_chasm.py --families banana student_t --dims 10 --seeds 0 1 2 \\
        --jobs 2 --name density_chasm_10d_3seeds
    python benchmarks/density_chasm.py --dims 5 --methods CDM KDE --max-epochs 20 --no-save
"""

from __future__ import annotations

import argparse
import itertools

from harness import (
    Provenance,
    estimators_for_record,
    known_density_task,
    publish,
    run_parallel,
)

from cdm_estimators.comparison import results_to_markdown
from cdm_estimators.datasets import KNOWN_DENSITIES_ND

METHODS = ["CDM", "TRE", "NCE", "KDE", "GMM"]
DESCRIPTION = """
Test NLL gap to the truth, `gap = mean(true log p - model log p)` over the test rows (nats; 0
is perfect, negative only for a density that is not normalised), of every estimator with its
defaults (`cdm_estimators.comparison.default_estimators`; the neural estimators' `normalize="auto"`
subtracts their own log Z estimate where it is reliable). "log Z" is a second, independent
importance-sampling estimate for the density that `score_samples` returns (0 for a normalised
density), with its standard error and effective sample size (ESS): trust it where the ESS is
in the thousands. Times are wall-clock seconds on the machine below.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=list(KNOWN_DENSITIES_ND),
                        default=["gaussian_mixture", "correlated_gaussian"])
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 5, 10, 20, 50])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-epochs", default="auto",
                        help="epochs of the neural estimators ('auto': their defaults)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per process (default: 1 when --jobs > 1)")
    parser.add_argument("--name", default="density_chasm", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()

    threads = args.threads or (1 if args.jobs > 1 else None)
    common = {} if args.max_epochs == "auto" else {"max_epochs": int(args.max_epochs)}
    provenance = Provenance(threads, args.jobs)
    provenance.add_estimators(estimators_for_record(args.methods, common))
    tasks = [(family, d, seed, args.n_train, args.n_test, args.methods, common)
             for family, d, seed in itertools.product(args.families, args.dims, args.seeds)]
    rows = list(itertools.chain.from_iterable(
        run_parallel(known_density_task, tasks, args.jobs, threads)))

    sections = {}
    if len(args.seeds) > 1:
        sections["Over seeds: test NLL gap, mean (per seed)"] = seeds_markdown(rows)
    else:
        sections["Gap to the truth (log Z where its ESS >= 1000)"] = pivot_markdown(rows)
        sections["Gap of the renormalised density (gap + log Z; where ESS >= 1000)"] = \
            pivot_markdown(rows, normalised=True)
    sections["Everything"] = results_to_markdown(
        rows, {"family": "family", "dim": "dim", "seed": "seed"})
    publish(args.name, f"Density chasm: {', '.join(args.families)} in "
            f"{', '.join(map(str, args.dims))} dimensions, seed(s) "
            f"{', '.join(map(str, args.seeds))}",
            DESCRIPTION + f"\n{args.n_train:,} training and {args.n_test:,} test rows per "
            "density, drawn with the seed, which also seeds every estimator.",
            sections, rows, provenance, save=not args.no_save)


def _cases(rows):
    families = list(dict.fromkeys(r["family"] for r in rows))
    return sorted(dict.fromkeys((r["family"], r["dim"]) for r in rows),
                  key=lambda case: (families.index(case[0]), case[1]))


def _methods(rows):
    return sorted(dict.fromkeys(r["name"] for r in rows),
                  key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))


def pivot_markdown(rows: list[dict], normalised: bool = False) -> str:
    """Gap per estimator (columns) and family/dimension (rows), one seed.

    With ``normalised=False`` each cell is the raw gap with log Z in brackets where its
    effective sample size is at least 1000; with ``normalised=True`` it is ``gap + log Z``
    (the gap of the renormalised density, the error in shape alone), where that ESS is at
    least 1000.
    """
    methods = _methods(rows)
    lines = ["| family | dim | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for family, dim in _cases(rows):
        cells = []
        for m in methods:
            match = [r for r in rows if (r["family"], r["dim"], r["name"]) == (family, dim, m)]
            if not match:
                cells.append("")
                continue
            r = match[0]
            reliable = r["log_normalizer_ess"] >= 1000
            if normalised:
                cells.append(f"{r['gap'] + r['log_normalizer']:+.3f}" if reliable else "n/a")
            else:
                z = f" ({r['log_normalizer']:+.3f})" if reliable else ""
                cells.append(f"{r['gap']:+.3f}{z}")
        lines.append(f"| {family} | {dim} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seeds_markdown(rows: list[dict], reference: str = "CDM") -> str:
    """Test NLL gaps over several seeds, and how often ``reference`` had the smallest one.

    One row per family and dimension, one column per estimator: the mean over seeds of the
    gap with the per-seed values in brackets, in seed order; ``*`` marks a cell where some
    seed's log Z could not be checked (ESS below 1000). The last column counts the seeds on
    which ``reference`` has a smaller gap than every other estimator except GMM (a parametric
    model that holds the two Gaussian families exactly).
    """
    methods = _methods(rows)
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| family | dim | " + " | ".join(methods) + f" | {reference} best (not GMM) |",
             "|---|---|" + "---|" * (len(methods) + 1)]
    for family, dim in _cases(rows):
        cells, by_seed = [], {}
        for m in methods:
            found = {r["seed"]: r for r in rows
                     if (r["family"], r["dim"], r["name"]) == (family, dim, m)}
            by_seed[m] = {seed: r["gap"] for seed, r in found.items()}
            if not found:
                cells.append("")
                continue
            values = [by_seed[m][seed] for seed in seeds if seed in found]
            flag = "" if all(r["log_normalizer_ess"] >= 1000 for r in found.values()) else "*"
            each = " / ".join(f"{v:+.3f}" for v in values)
            cells.append(f"{sum(values) / len(values):+.3f}{flag} ({each})")
        rivals = [m for m in methods if m not in (reference, "GMM")]
        wins = [seed for seed in seeds if seed in by_seed.get(reference, {})
                and all(seed in by_seed[m] and by_seed[reference][seed] < by_seed[m][seed]
                        for m in rivals)]
        played = sum(seed in by_seed.get(reference, {}) for seed in seeds)
        lines.append(f"| {family} | {dim} | " + " | ".join(cells) + f" | {len(wins)}/{played} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
