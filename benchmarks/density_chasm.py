"""Benchmark: the density chasm. NLL gap of CDM, TRE, NCE, KDE and GMM as the dimension grows.

Gaussian mixtures and correlated Gaussians (``cdm_estimators.datasets``; also, on request,
bananas and Student t's) in 2, 5, 10, 20 and 50 dimensions at a fixed sample size, every
estimator with its default parameters (KDE and GMM with cross-validated bandwidth / number of
components). Reports the test NLL gap to the truth (nats, lower is better, 0 is perfect), an
importance-sampling estimate of log Z with its effective sample size (trust it where the ESS
is in the thousands), and fit and scoring times. Not a test: run it by hand.

    python benchmarks/density_chasm.py                        # full run (about 2 CPU hours)
    python benchmarks/density_chasm.py --families gaussian_mixture --dims 10 --no-save
    python benchmarks/density_chasm.py --families banana student_t --dims 10 --name chasm_10d
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import torch

from cdm_estimators.comparison import compare_estimators, default_estimators, results_to_markdown
from cdm_estimators.datasets import (
    make_banana,
    make_correlated_gaussian,
    make_gaussian_mixture,
    make_student_t,
)

RESULTS = Path(__file__).parent / "results"
FAMILIES = {"gaussian_mixture": make_gaussian_mixture,
            "correlated_gaussian": make_correlated_gaussian,
            "banana": make_banana,
            "student_t": make_student_t}
METHODS = ["CDM", "TRE", "NCE", "KDE", "GMM"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", choices=list(FAMILIES),
                        default=["gaussian_mixture", "correlated_gaussian"])
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 5, 10, 20, 50])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS)
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--name", default="density_chasm", help="results file stem")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--merge", nargs="+", metavar="STEM[:NAME,...]",
                        help="only merge earlier results/STEM.json files into --name (their "
                             "rows at --dims; with :NAME,... only those estimators' rows)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.merge:
        rows = []
        for spec in args.merge:  # STEM or STEM:NAME,NAME (only those estimators' rows)
            stem, _, names = spec.partition(":")
            rows += [row for row in json.loads((RESULTS / f"{stem}.json").read_text())
                     if row["dim"] in args.dims and (not names or row["name"] in names.split(","))]
        save(rows, args, note=f"Merged from {', '.join(args.merge)} (run in parallel, one "
                              "process per family or seed).")
        print(seeds_markdown(rows) if len({r["seed"] for r in rows}) > 1 else pivot_markdown(rows))
        return

    rows: list[dict] = []
    for family in args.families:
        for d in args.dims:
            X, log_prob = FAMILIES[family](args.n_train + args.n_test, d, random_state=args.seed)
            estimators = {k: v for k, v in default_estimators(args.seed).items()
                          if k in args.methods}

            def report(result, family=family, d=d):
                row = {"family": family, "dim": d, "seed": args.seed, **result._asdict()}
                rows.append(row)
                print(json.dumps(row), flush=True)
                if not args.no_save:
                    save(rows, args)

            compare_estimators(estimators, X[:args.n_train], X[args.n_train:], log_prob,
                               random_state=args.seed, callback=report)
    print(results_to_markdown(rows, {"family": "family", "dim": "dim"}))
    print(pivot_markdown(rows))


def pivot_markdown(rows: list[dict], normalised: bool = False) -> str:
    """Gap per estimator (columns) and family/dimension (rows).

    With ``normalised=False`` each cell is the raw gap with log Z in brackets where its
    importance-sampling estimate has an effective sample size of at least 1000; with
    ``normalised=True`` it is ``gap + log Z`` (the gap of the renormalised density, the error
    in shape alone), shown only where that ESS is at least 1000.
    """
    methods = list(dict.fromkeys(r["name"] for r in rows))
    families = list(dict.fromkeys(r["family"] for r in rows))
    cases = sorted(dict.fromkeys((r["family"], r["dim"]) for r in rows),
                   key=lambda case: (families.index(case[0]), case[1]))
    lines = ["| family | dim | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for family, dim in cases:
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
    gap that ``score_samples`` gives (after each estimator's own normalisation) with the
    per-seed values in brackets, in seed order; ``*`` marks a cell where some seed's log Z
    could not be checked (ESS below 1000). The last column counts the seeds on which
    ``reference`` has a smaller gap than every other estimator except GMM (a parametric
    model that holds the two Gaussian families exactly).
    """
    methods = sorted(dict.fromkeys(r["name"] for r in rows),
                     key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))
    families = list(dict.fromkeys(r["family"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    cases = sorted(dict.fromkeys((r["family"], r["dim"]) for r in rows),
                   key=lambda case: (families.index(case[0]), case[1]))
    lines = ["| family | dim | " + " | ".join(methods) + f" | {reference} best (not GMM) |",
             "|---|---|" + "---|" * (len(methods) + 1)]
    for family, dim in cases:
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


def save(rows, args, note=""):
    RESULTS.mkdir(exist_ok=True)
    header = (
        f"# {args.name}\n\nCommand: `python benchmarks/density_chasm.py "
        f"{' '.join(shlex.quote(a) for a in sys.argv[1:])}`\n\n{note}\n\n"
        f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}. n_train={args.n_train}, n_test={args.n_test}, "
        f"seed(s)={sorted({r['seed'] for r in rows})}; every estimator with its defaults.\n\n"
        "gap = mean(true log p - model log p) over the test rows (nats; 0 is perfect, "
        "negative only for an unnormalised model). log Z = importance-sampling estimate of the "
        "model's log-normaliser with its standard error; trust it only where the ESS is large "
        "(low dimensions).\n\n"
    )
    table = results_to_markdown(rows, {"family": "family", "dim": "dim", "seed": "seed"})
    if len({r["seed"] for r in rows}) > 1:
        summary = ("## Over seeds: test NLL gap, mean (per seed)\n\n" + seeds_markdown(rows)
                   + "\n\n## Everything\n\n")
    else:
        summary = ("## Gap to the truth (log Z where reliable)\n\n" + pivot_markdown(rows)
                   + "\n\n## Gap of the renormalised density (gap + log Z; where ESS >= 1000)"
                   "\n\n" + pivot_markdown(rows, normalised=True) + "\n\n## Everything\n\n")
    (RESULTS / f"{args.name}.md").write_text(header + summary + table + "\n")
    (RESULTS / f"{args.name}.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
