"""A grid search on a Dask LocalCluster equals the sequential one (the [dask] extra)."""

import numpy as np
import pytest
from conftest import tiny, two_clusters
from sklearn.model_selection import GridSearchCV

from cdm_estimators.distributed import TorchThreads, worker_torch_threads

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

GRID = {"schedule": ["uniform", "linear", "cosine"], "n_timesteps": [4, 8]}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def search():
    return GridSearchCV(tiny("CDM", max_epochs=4, device="cpu"), GRID, cv=2, n_jobs=-1)


@pytest.fixture
def one_torch_thread():
    """The workers' thread count in this process: torch's float sums depend on it (the same
    fit on 1 and 2 threads differed by 1e-9 relative in the scores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_grid_search_on_workers_equals_the_sequential_run(client, one_torch_thread):
    X = two_clusters(400)
    sequential = search().set_params(n_jobs=1).fit(X)
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_config(backend="dask"):
            parallel = search().fit(X)
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= set(client.scheduler_info()["workers"])
    # Twelve fits (six candidates, two folds): some on each of the two workers.
    assert len(workers) == 2
    for key in ("params", "mean_test_score", "split0_test_score", "split1_test_score",
                "rank_test_score"):
        a, b = sequential.cv_results_[key], parallel.cv_results_[key]
        if key == "params":
            assert a == b
        else:
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(parallel.best_estimator_.score_samples(X[:20]),
                                  sequential.best_estimator_.score_samples(X[:20]))


def test_workers_run_torch_on_one_thread_and_the_plugin_changes_it(client):
    assert set(worker_torch_threads(client).values()) == {1}
    client.register_plugin(TorchThreads(2))
    try:
        assert set(worker_torch_threads(client).values()) == {2}
    finally:
        client.register_plugin(TorchThreads(1))
    with pytest.raises(ValueError, match="n_threads"):
        TorchThreads(0)
