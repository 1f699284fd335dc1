"""Helpers for running the estimators on a Dask cluster (``pip install -e ".[dask]"``).

A grid search needs nothing from this module: scikit-learn's ``GridSearchCV`` runs its fits
on the workers of a ``distributed.Client`` inside ``joblib.parallel_config(backend="dask")``,
and the estimators are clonable and picklable. What matters is how many torch threads each
worker uses: Dask's nanny starts every worker process with ``OMP_NUM_THREADS=1`` (so torch
uses one thread), which suits one worker per core. :class:`TorchThreads` sets another
number on every worker, present and future, for workers that each own several cores.
"""

from __future__ import annotations

try:  # the [dask] extra
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - without distributed the plugin cannot be registered
    WorkerPlugin = object

__all__ = ["TorchThreads", "worker_torch_threads"]


class TorchThreads(WorkerPlugin):
    """A Dask worker plugin that sets torch's intra-op threads on each worker.

    Parameters
    ----------
    n_threads : int
        Threads per worker process. Give a worker as many as the cores it owns, and run it
        with ``threads_per_worker=1`` (one fit at a time): torch's thread count is per
        process, so two fits in one worker would share, and oversubscribe, the same cores.

    Examples
    --------
    >>> from distributed import Client, LocalCluster                # doctest: +SKIP
    >>> cluster = LocalCluster(n_workers=1, threads_per_worker=1)   # doctest: +SKIP
    >>> client = Client(cluster)                                    # doctest: +SKIP
    >>> client.register_plugin(TorchThreads(2))                     # doctest: +SKIP
    >>> worker_torch_threads(client)                                # doctest: +SKIP
    {'tcp://127.0.0.1:40915': 2}
    """

    name = "cdm-estimators-torch-threads"

    def __init__(self, n_threads: int) -> None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
            raise ValueError(f"n_threads must be a positive int; got {n_threads!r}.")
        self.n_threads = n_threads

    def setup(self, worker) -> None:
        """Set the thread count on ``worker`` (called by Dask when the plugin is registered
        and when a worker starts)."""
        import torch

        torch.set_num_threads(self.n_threads)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def worker_torch_threads(client) -> dict:
    """Torch's intra-op thread count on each worker of ``client``: ``{address: threads}``."""
    return client.run(_torch_threads)
