"""Scaling out: a grid search on a Dask LocalCluster, and one fit on several processes.

    python benchmarks/scaling.py                       # both parts, 2-core CPU sizes
    python benchmarks/scaling.py --parts grid          # the grid search only

Part ``grid``: a 16-candidate ``GridSearchCV`` (schedule x width x timesteps, 2 folds, 32
fits, ``refit=False``) on a built-in 2-D density, timed sequentially in this process (torch
on all cores, then on 1 thread) and through joblib's Dask backend on a ``LocalCluster`` of
``--workers`` single-threaded worker processes (cluster start-up timed apart), once with
Dask's defaults and once with the workers' statistical profiler off (it samples the running
task's Python stack every 10 ms, and skorch's loop is Python-heavy). The ``cv_results_`` of
the cluster runs are compared with the 1-thread sequential run.
With CUDA, one more row: the same search on a 1-worker cluster whose fits use
``device="cuda"``.

Part ``accelerate``: ``examples/multi_gpu.py`` (the image CDM on 8x8 digits, fixed epochs)
on 1 process and on ``--workers`` processes (CPU processes over gloo, or GPUs when CUDA
is there), each with one torch thread: optimiser steps per second over the same total batch,
and the test log-likelihood of each fit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import dask
import numpy as np
import torch
from harness import ROOT, Provenance, save_result
from sklearn.model_selection import GridSearchCV

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import make_eight_gaussians

GRID = {"schedule": ["uniform", "linear", "cosine", "ot"], "hidden_width": [64, 128],
        "n_timesteps": [50, 200]}


def make_search(max_epochs: int, device: str, n_jobs) -> GridSearchCV:
    est = ClassificationDensityEstimator(max_epochs=max_epochs, batch_size=256,
                                         early_stopping=False, device=device, random_state=0)
    return GridSearchCV(est, GRID, cv=2, n_jobs=n_jobs, refit=False)


def timed_search(X, max_epochs, device="cpu", n_jobs=1, dask=False):
    search = make_search(max_epochs, device, n_jobs)
    start = time.perf_counter()
    if dask:
        import joblib

        with joblib.parallel_config(backend="dask"):
            search.fit(X)
    else:
        search.fit(X)
    return search, time.perf_counter() - start


def grid_part(args, provenance) -> tuple[list[dict], str]:
    from distributed import Client, LocalCluster, get_task_stream

    X, _ = make_eight_gaussians(args.n_train, random_state=0)
    provenance.add_estimators({"CDM (grid base)": make_search(args.max_epochs, "cpu", 1)
                               .estimator})
    rows = []
    threads = torch.get_num_threads()
    n_fits = 2 * int(np.prod([len(v) for v in GRID.values()]))
    _, seconds = timed_search(X, args.max_epochs)
    rows.append({"run": f"sequential, n_jobs=1, torch {threads} threads", "seconds": seconds,
                 "mean_fit_seconds": seconds / n_fits})
    torch.set_num_threads(1)
    reference, seconds = timed_search(X, args.max_epochs)
    torch.set_num_threads(threads)
    rows.append({"run": "sequential, n_jobs=1, torch 1 thread", "seconds": seconds,
                 "mean_fit_seconds": seconds / n_fits})

    for profiler in (True, False):
        with dask.config.set({"distributed.worker.profile.enabled": profiler}):
            start = time.perf_counter()
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
            client.wait_for_workers(args.workers)
            startup = time.perf_counter() - start
            with get_task_stream(client) as tasks:
                search, seconds = timed_search(X, args.max_epochs, n_jobs=-1, dask=True)
        workers = {task["worker"] for task in tasks.data}
        busy = sum(s["stop"] - s["start"] for task in tasks.data
                   for s in task["startstops"] if s["action"] == "compute")
        same = all(np.array_equal(search.cv_results_[k], reference.cv_results_[k])
                   for k in ("mean_test_score", "split0_test_score", "split1_test_score"))
        rows.append({"run": f"Dask LocalCluster, {args.workers} workers x 1 thread, worker "
                            f"profiler {'on (Dask default)' if profiler else 'off'}",
                     "seconds": seconds, "startup_seconds": startup,
                     "mean_fit_seconds_on_workers": busy / max(len(tasks.data), 1),
                     "workers_used": len(workers), "identical_to_1_thread": same})
        client.close()
        cluster.close()

    if torch.cuda.is_available():
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        search, seconds = timed_search(X, args.max_epochs, device="cuda", n_jobs=-1, dask=True)
        rows.append({"run": "Dask LocalCluster, 1 worker, device='cuda'", "seconds": seconds,
                     "best_mean_test_score": float(np.max(search.cv_results_["mean_test_score"]))})
        client.close()
        cluster.close()
    else:
        rows.append({"run": "Dask LocalCluster, 1 worker, device='cuda'", "seconds": None,
                     "note": "pending: no GPU on this machine"})

    base = rows[0]["seconds"]
    table = ["| run | wall time (s) | speed-up vs the first row | mean time per fit (s) | notes |",
             "|---|---|---|---|---|"]
    for row in rows:
        per_fit = row.get("mean_fit_seconds", row.get("mean_fit_seconds_on_workers"))
        notes = []
        if "startup_seconds" in row:
            notes.append(f"cluster start-up {row['startup_seconds']:.1f} s (not included); "
                         f"{row['workers_used']} workers ran fits; cv_results_ identical to "
                         f"the 1-thread run: {row['identical_to_1_thread']}")
        if row.get("note"):
            notes.append(row["note"])
        shown = "pending" if row["seconds"] is None else f"{row['seconds']:.1f}"
        speed = "" if row["seconds"] is None else f"{base / row['seconds']:.2f}x"
        per_fit = "" if per_fit is None else f"{per_fit:.2f}"
        table.append(f"| {row['run']} | {shown} | {speed} | {per_fit} | {'; '.join(notes)} |")
    text = (f"16 candidates ({', '.join(f'{k}: {v}' for k, v in GRID.items())}), cv=2: 32 fits "
            f"of {args.max_epochs} epochs, each on one half ({args.n_train // 2} rows) of "
            f"{args.n_train} rows of eight_gaussians, batch 256, refit=False.\n\n"
            + "\n".join(table))
    return [dict(r, part="grid") for r in rows], text


def launch_example(n_processes: int, max_epochs: int, out: str) -> dict:
    """``examples/multi_gpu.py`` on ``n_processes`` processes (torchrun); its report."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if not torch.cuda.is_available():
        env["ACCELERATE_USE_CPU"] = "true"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={n_processes}", str(ROOT / "examples" / "multi_gpu.py"),
               "--max-epochs", str(max_epochs), "--batch-size", "64", "--output", out]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-2000:])
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def accelerate_part(args) -> tuple[list[dict], str]:
    rows = []
    for n in (1, args.workers):
        with tempfile.TemporaryDirectory() as out:
            report = launch_example(n, args.accelerate_epochs, out)
        rows.append({"part": "accelerate", "processes": n,
                     "distributed_type": report["distributed_type"],
                     "device": report["device"], "steps": report["steps"],
                     "seconds": report["fit_seconds"],
                     "steps_per_second": report["steps_per_second"],
                     "test_score": report["test_score"],
                     "processes_agree": all(report["processes_agree"].values())})
    table = ["| processes | kind | device | steps | fit (s) | steps/s | speed-up | test "
             "log-likelihood | processes agree |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        table.append(f"| {row['processes']} | {row['distributed_type']} | {row['device']} | "
                     f"{row['steps']} | {row['seconds']:.1f} | {row['steps_per_second']:.2f} |"
                     f" {row['steps_per_second'] / rows[0]['steps_per_second']:.2f}x | "
                     f"{row['test_score']:.3f} | {row['processes_agree']} |")
    if not torch.cuda.is_available():
        table.append("| 1 vs all GPUs | MULTI_GPU | cuda | pending | | | | | |")
    text = ("`examples/multi_gpu.py --max-epochs "
            f"{args.accelerate_epochs} --batch-size 64` (image CDM, image defaults otherwise, "
            "on 1,257 training digits), started with torchrun; one torch thread per process; "
            "the total batch is 64 in every row, so each of N processes computes 64/N rows per "
            "step.\n\n" + "\n".join(table))
    return rows, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["grid", "accelerate"],
                        choices=["grid", "accelerate"])
    parser.add_argument("--workers", type=int, default=2,
                        help="Dask workers, and processes of the data-parallel fit")
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--max-epochs", type=int, default=40,
                        help="epochs of each grid-search fit")
    parser.add_argument("--accelerate-epochs", type=int, default=10)
    parser.add_argument("--name", default=None, help="results file name (default by device)")
    args = parser.parse_args()

    provenance = Provenance()
    rows, sections = [], {}
    if "grid" in args.parts:
        part_rows, sections["Grid search: sequential vs Dask LocalCluster"] = grid_part(
            args, provenance)
        rows += part_rows
    if "accelerate" in args.parts:
        part_rows, sections["One fit on several processes (accelerate)"] = accelerate_part(
            args)
        rows += part_rows
    name = args.name or ("scaling_cuda" if torch.cuda.is_available() else "scaling_cpu")
    path = save_result(name, "Scaling out", __doc__.split("\n\n", 2)[2], sections, rows,
                       provenance)
    print(path.read_text())


if __name__ == "__main__":
    main()
