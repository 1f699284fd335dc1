"""What every benchmark script shares: provenance, parallel runs, and writing one result.

A result is one Markdown file (for people) and one JSON file (for programs) under
``benchmarks/results/``, both written whole by one command from one code version. Each records
the commit (and whether the working tree had uncommitted changes), the exact command, every
estimator's ``get_params()``, the library versions, the machine and the wall time. The
baselines and datasets themselves come from :mod:`cdm_estimators.comparison` and
:mod:`cdm_estimators.datasets`, never from a script.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from joblib import Parallel, delayed

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = ("cdm_estimators", "torch", "skorch", "scikit-learn", "numpy", "scipy")


# ----------------------------------------------------------------------------- provenance
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.rstrip("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_version() -> dict:
    """The commit and whether tracked files outside ``benchmarks/results`` were modified.

    On a copy of the tree (a GPU machine that receives the files, with a ``.git`` folder
    that may be stale or absent), the environment variable ``BENCHMARK_COMMIT``, set by
    whoever copied a clean checkout of that commit, wins over git, and ``dirty`` is
    ``None``: not checked there.
    """
    if os.environ.get("BENCHMARK_COMMIT"):
        return {"commit": os.environ["BENCHMARK_COMMIT"] + " (a copied tree, clean when "
                "copied)", "dirty": None, "changed_files": []}
    commit = _git("rev-parse", "HEAD")
    changed = [line for line in _git("status", "--porcelain", "--untracked-files=no")
               .splitlines() if "benchmarks/results/" not in line]
    return {"commit": commit, "dirty": bool(changed),
            "changed_files": [line[3:] for line in changed]}


def machine(threads: int | None = None) -> dict:
    """CPU model, cores, torch threads per process and the GPU, if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "torch_threads_per_process": threads or torch.get_num_threads(), "gpu": gpu}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def describe_params(estimator) -> dict:
    """``get_params(deep=False)`` as text; a ``GridSearchCV`` also shows its inner estimator
    and its grid (the grid is part of what "KDE (CV)" means)."""
    params = {k: _text(v) for k, v in sorted(estimator.get_params(deep=False).items())}
    inner = getattr(estimator, "estimator", None)
    if inner is not None and hasattr(inner, "get_params"):
        params["estimator"] = {k: _text(v) for k, v in sorted(inner.get_params().items())}
    return params


def _text(value) -> str:
    """One-line text of a parameter value (arrays as lists of 4 significant digits)."""
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(f"{float(v):.4g}" for v in value.ravel()) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return repr(value)


def command() -> str:
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT),
                                                        *sys.argv[1:]])


class Provenance:
    """Collects the record of one benchmark run; :meth:`as_dict` closes it with the wall time."""

    def __init__(self, threads: int | None = None, jobs: int = 1) -> None:
        self.start = time.perf_counter()
        self.record = {
            "command": command(),
            **code_version(),
            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(),
            "machine": {**machine(threads), "parallel_processes": jobs},
            "estimators": {},
        }

    def add_estimators(self, estimators: Mapping[str, object]) -> None:
        for name, est in estimators.items():
            self.record["estimators"].setdefault(name, describe_params(est))

    def as_dict(self) -> dict:
        return {**self.record, "wall_time_s": round(time.perf_counter() - self.start, 1)}


# ----------------------------------------------------------------------- running and saving
def run_parallel(task: Callable, args: Iterable[tuple], jobs: int, threads: int | None):
    """``[task(*a) for a in args]``, in ``jobs`` processes with ``threads`` torch threads
    each (in this process when ``jobs == 1``). Tasks must be module-level functions."""
    args = list(args)
    if jobs == 1:
        if threads:
            torch.set_num_threads(threads)
        return [task(*a) for a in args]
    return Parallel(n_jobs=jobs, backend="loky")(
        delayed(_with_threads)(task, threads or 1, a) for a in args)


def _with_threads(task, threads, args):
    torch.set_num_threads(threads)
    return task(*args)


def _plain(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def provenance_markdown(record: dict) -> str:
    m, v = record["machine"], record["versions"]
    dirty = " (with uncommitted changes: " + ", ".join(record["changed_files"]) + ")" \
        if record["dirty"] else ""
    if record["dirty"] is None:
        dirty = " (uncommitted changes not checked on the copy)"
    lines = [
        f"* Command: `{record['command']}`",
        f"* Code: commit `{record['commit']}`{dirty}",
        f"* Machine: {m['cpu']}, {m['cores']} cores, {m['parallel_processes']} process(es) "
        f"with {m['torch_threads_per_process']} torch thread(s) each, GPU: "
        f"{m['gpu'] or 'none'} ({m['platform']})",
        "* Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"* Started {record['started']}, wall time {record['wall_time_s'] / 60:.1f} min",
    ]
    for name, params in record["estimators"].items():
        inner = params.get("estimator")
        shown = ", ".join(f"{k}={v}" for k, v in params.items()
                          if k != "estimator" or not isinstance(v, dict))
        if isinstance(inner, dict):
            shown += "; estimator: " + ", ".join(f"{k}={v}" for k, v in inner.items())
        lines.append(f"* {name} parameters (`get_params()`): {shown}")
    return "\n".join(lines)


def save_result(name: str, title: str, description: str, sections: Mapping[str, str],
                rows: list[dict], provenance: Provenance) -> Path:
    """Write ``results/NAME.md`` and ``results/NAME.json`` whole; returns the Markdown path."""
    RESULTS.mkdir(exist_ok=True)
    record = provenance.as_dict()
    body = [f"# {title}", "", description.strip(), "", "## Provenance", "",
            provenance_markdown(record), ""]
    for heading, text in sections.items():
        body += [f"## {heading}", "", text.strip(), ""]
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(body))
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"provenance": record, "rows": rows}, indent=1, default=_plain) + "\n")
    return path



def publish(name: str, title: str, description: str, sections: Mapping[str, str],
            rows: list[dict], provenance: Provenance, save: bool = True) -> None:
    """Print the tables of ``sections`` and, with ``save``, write them with
    :func:`save_result` and print where."""
    for text in sections.values():
        print(text + "\n")
    if save:
        print(f"Wrote {save_result(name, title, description, sections, rows, provenance)}")

# ------------------------------------------------------------------- known-density benchmarks
def known_density_task(family: str, dim: int | None, seed: int, n_train: int, n_test: int,
                       methods: list[str], common: dict) -> list[dict]:
    """Fit the chosen :func:`~cdm_estimators.comparison.default_estimators` on one known
    density (``dim=None``: a 2-D set of ``KNOWN_DENSITIES_2D``) and return one row each."""
    from cdm_estimators.comparison import compare_estimators, default_estimators
    from cdm_estimators.datasets import KNOWN_DENSITIES_2D, KNOWN_DENSITIES_ND

    if dim is None:
        X, log_prob = KNOWN_DENSITIES_2D[family](n_train + n_test, random_state=seed)
    else:
        X, log_prob = KNOWN_DENSITIES_ND[family](n_train + n_test, dim, random_state=seed)
    estimators = {k: v for k, v in default_estimators(seed, **common).items() if k in methods}
    rows = []

    def report(result):
        row = {"family": family, "dim": X.shape[1], "seed": seed, **result._asdict()}
        rows.append(row)
        print(json.dumps(row, default=_plain), flush=True)

    compare_estimators(estimators, X[:n_train], X[n_train:], log_prob, random_state=seed,
                       callback=report)
    return rows


def estimators_for_record(methods: list[str], common: dict) -> dict:
    """The unfitted estimators a known-density run uses (seed 0 shown; ``random_state``
    takes each run's seed)."""
    from cdm_estimators.comparison import default_estimators

    return {k: v for k, v in default_estimators(0, **common).items() if k in methods}
