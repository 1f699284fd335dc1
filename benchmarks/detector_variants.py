"""Variants of the CDM detector side by side: the tool for trying a new default.

    python benchmarks/detector_variants.py --variants base training_steps=2000 lr=0.003
    python benchmarks/detector_variants.py --variants base n_timesteps=50,lr=0.002 \\
        --tables builtin 26_optdigits --seeds 0 1 --name detector_variants_digits

Each variant is ``base`` (the detector's defaults) or comma-separated ``name=value`` pairs:
names of :class:`cdm_estimators.CDMOutlierDetector`'s parameters (``training_steps``,
``n_scales``, ``level_margin``, ``holdout_fraction``, ``score_type``) set the detector, every
other name is set on its default CDM (``lr``, ``n_timesteps``, ``batch_size``,
``hidden_width``, ``schedule``...), which keeps the seed it draws from ``random_state``, so
``base`` reproduces the CDM column of the other anomaly benchmarks on the same splits.
``members=k`` (k >= 2) fits ``k`` such detectors, the first with ``random_state=seed``, the
others with ``seed + 10_000 * j`` (so each its own hold-out split), and averages their
scores (their views too); with ``training_steps=1000 // k`` the ensemble costs the steps of
one default fit. The detector's own ``n_members=k`` (one hold-out split shared by the
members, views averaged before the minimum) is an ordinary detector parameter here.
Tables: ``builtin`` (the eleven tables of ``builtin_anomaly.py``, which played no part in
choosing the defaults) and/or file stems of ``--data`` (ADBench). Protocol 1 of
``adbench.py``. Reported per variant: the mean ROC-AUC of ``score_samples`` and of the
clean density (``log_density_t0``) and noise-level views of :meth:`score_views`, and the
mean fit time (one torch thread per process, ``--jobs`` processes side by side).
"""

import argparse
import ast
import time
from pathlib import Path

import numpy as np
from adbench import DEFAULT_DATA, load, split
from builtin_anomaly import builtin_tables
from harness import Provenance, publish, run_parallel
from sklearn.metrics import roc_auc_score

from cdm_estimators import CDMOutlierDetector

DETECTOR_PARAMS = set(CDMOutlierDetector().get_params()) - {"estimator", "random_state"}
MEMBER_SEED_STEP = 10_000


class VariantDetector(CDMOutlierDetector):
    """:class:`CDMOutlierDetector` whose default CDM gets ``cdm_params`` on top of its own
    (an instance attribute, so ``get_params`` is that of the detector)."""

    cdm_params: dict = {}

    def _default_estimator(self, seed):
        return super()._default_estimator(seed).set_params(**self.cdm_params)


def parse_variant(spec: str) -> tuple[dict, dict, int]:
    """``(detector_params, cdm_params, members)`` of a ``--variants`` entry."""
    if spec == "base":
        return {}, {}, 1
    detector, cdm, members = {}, {}, 1
    for pair in spec.split(","):
        name, _, text = pair.partition("=")
        if not text:
            raise SystemExit(f"variant {spec!r}: expected name=value pairs, got {pair!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a string such as a schedule name
        if name == "members":
            if not isinstance(value, int) or value < 1:
                raise SystemExit(f"variant {spec!r}: members must be an int >= 1")
            members = value
        else:
            (detector if name in DETECTOR_PARAMS else cdm)[name] = value
    return detector, cdm, members


def make_variant(spec: str, seed: int) -> list[VariantDetector]:
    """The variant's detectors (one unless it has ``members``)."""
    detector_params, cdm_params, members = parse_variant(spec)
    detectors = []
    for j in range(members):
        detector = VariantDetector(random_state=seed + MEMBER_SEED_STEP * j,
                                   **detector_params)
        detector.cdm_params = cdm_params
        detectors.append(detector)
    return detectors


def run_one(spec: str, name: str, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
    X_train, X_test, y_test = split(X, y, 1, seed)
    detectors = make_variant(spec, seed)
    start = time.perf_counter()
    for detector in detectors:
        detector.fit(X_train)
    fit_time = time.perf_counter() - start
    member_views = [d.score_views(X_test) for d in detectors]
    scores = np.mean([v.min(axis=1) for v in member_views], axis=0)  # each one's score_samples
    views = np.mean(member_views, axis=0)
    auc = {view: roc_auc_score(y_test, -views[:, j])
           for j, view in enumerate(detectors[0].view_names_)}
    row = {"variant": spec, "set": name, "seed": seed, "fit_time_s": fit_time,
           "roc_auc": roc_auc_score(y_test, -scores), "view_roc_auc": auc}
    print({k: v for k, v in row.items() if k != "view_roc_auc"}, flush=True)
    return row


def tables(names: list[str], data: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in names:
        if name == "builtin":
            out.update(builtin_tables())
        else:
            out[name] = load(data / f"{name}.npz")
    return out


def summary(rows: list[dict], variants: list[str]) -> str:
    lines = ["| variant | mean ROC-AUC | log_density_t0 view | noise_level view | "
             "mean fit time (s) |", "|---|---|---|---|---|"]
    for spec in variants:
        mine = [r for r in rows if r["variant"] == spec]

        def view(key, mine=mine):
            values = [r["view_roc_auc"][key] for r in mine if key in r["view_roc_auc"]]
            return f"{np.mean(values):.3f}" if values else "-"

        lines.append(f"| `{spec}` | {np.mean([r['roc_auc'] for r in mine]):.3f} | "
                     f"{view('log_density_t0')} | {view('noise_level')} | "
                     f"{np.mean([r['fit_time_s'] for r in mine]):.1f} |")
    return "\n".join(lines)


def per_set(rows: list[dict], variants: list[str]) -> str:
    sets = list(dict.fromkeys(r["set"] for r in rows))
    lines = ["| set | " + " | ".join(f"`{v}`" for v in variants) + " |",
             "|---|" + "---|" * len(variants)]
    for name in sets:
        cells = [np.mean([r["roc_auc"] for r in rows if r["set"] == name
                          and r["variant"] == v]) for v in variants]
        lines.append(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["base"])
    parser.add_argument("--tables", nargs="+", default=["builtin"],
                        help="'builtin' and/or file stems of --data")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--name", default="detector_variants", help="results file stem")
    args = parser.parse_args()

    for spec in args.variants:
        make_variant(spec, 0)[0]._check_params()  # refuse a bad variant before any fit
    data = tables(args.tables, args.data)
    provenance = Provenance(args.threads, args.jobs)
    estimators = {}
    for spec in args.variants:
        detector = make_variant(spec, 0)[0]
        estimators[f"{spec}: detector"] = detector
        estimators[f"{spec}: its default CDM (seed drawn from random_state)"] = \
            detector._default_estimator(0)
    provenance.add_estimators(estimators)
    tasks = [(spec, name, X, y, seed) for spec in args.variants
             for name, (X, y) in data.items() for seed in args.seeds]
    rows = run_parallel(run_one, tasks, args.jobs, args.threads)
    sections = {f"Mean over {len(data)} tables and seeds {args.seeds}, protocol 1":
                summary(rows, args.variants),
                "Mean ROC-AUC per table (over the seeds)": per_set(rows, args.variants)}
    publish(args.name, "CDM detector variants", "\n\n".join(__doc__.split("\n\n")[2:3]),
            sections, rows, provenance)


if __name__ == "__main__":
    main()
