"""Grid search on a Dask cluster: scikit-learn's GridSearchCV, joblib's Dask backend.

    pip install -e ".[dask]"
    python examples/distributed_search.py                        # a 2-worker LocalCluster
    python examples/distributed_search.py --scheduler tcp://HOST:8786   # a running cluster

Searches a CDM's noise schedule and width on a 2-D density by the held-out log-likelihood
(``score``), once on the cluster's workers and, with ``--compare``, once sequentially in this
process; prints the table, the wall times and which workers ran the fits.

Nothing here is specific to this library: the estimators are clonable and picklable, so any
scikit-learn search runs this way. Each worker process runs torch on one thread (Dask's
nanny sets ``OMP_NUM_THREADS=1``): start one worker per core, or per GPU (below). The final
refit of the best candidate runs in this process, not on a worker; on a GPU cluster pass
``refit=False`` and fit the winner where you want it.
"""

import argparse
import time

import joblib
from distributed import Client, LocalCluster, get_task_stream
from sklearn.model_selection import GridSearchCV

from cdm_estimators import ClassificationDensityEstimator
from cdm_estimators.datasets import KNOWN_DENSITIES_2D

GRID = {"schedule": ["uniform", "linear", "cosine", "ot"], "hidden_width": [64, 128]}


def make_search(max_epochs: int, device: str) -> GridSearchCV:
    est = ClassificationDensityEstimator(max_epochs=max_epochs, device=device, random_state=0)
    return GridSearchCV(est, GRID, cv=2, n_jobs=-1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default=None,
                        help="address of a running Dask scheduler (default: start a "
                             "LocalCluster)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers")
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--device", default="cpu",
                        help="device of the fits on the workers ('cuda' on GPU workers)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the search sequentially here and compare")
    args = parser.parse_args()

    X, _ = KNOWN_DENSITIES_2D["eight_gaussians"](4000, random_state=0)
    cluster = None
    if args.scheduler is None:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        print(f"Workers: {list(client.scheduler_info()['workers'])}")
        search = make_search(args.max_epochs, args.device)
        start = time.perf_counter()
        with get_task_stream(client) as tasks, joblib.parallel_config(backend="dask"):
            search.fit(X)
        on_cluster = time.perf_counter() - start
        per_worker = {}
        for task in tasks.data:
            per_worker[task["worker"]] = per_worker.get(task["worker"], 0) + 1
        print(f"{len(GRID['schedule']) * len(GRID['hidden_width'])} candidates x 2 folds on "
              f"the cluster: {on_cluster:.1f} s; tasks per worker: {per_worker}")
    if cluster is not None:
        cluster.close()

    results = search.cv_results_
    print(f"{'schedule':10s} {'width':>6s} {'mean test log-lik.':>20s}")
    for params, score in zip(results["params"], results["mean_test_score"]):
        print(f"{params['schedule']:10s} {params['hidden_width']:6d} {score:20.4f}")
    print(f"Best: {search.best_params_}")

    if args.compare:
        import numpy as np
        import torch

        torch.set_num_threads(1)  # the workers' thread count: identical float sums
        start = time.perf_counter()
        sequential = make_search(args.max_epochs, args.device).set_params(n_jobs=1).fit(X)
        print(f"Sequentially here: {time.perf_counter() - start:.1f} s; identical "
              f"cv_results_: {np.array_equal(sequential.cv_results_['mean_test_score'], results['mean_test_score'])}")  # noqa: E501


if __name__ == "__main__":
    main()
