"""Run the Monte Carlo tasks on Dask distributed: a LocalCluster of N workers or a scheduler.

Results do not depend on where the tasks run: each carries its own seed and returns
integer counts (see `simulate.power`), so `--workers 2` and one process agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import InvalidValueError

__all__ = ["dask_mapper"]


@contextmanager
def dask_mapper(*, workers: int | None = None, scheduler: str | None = None) -> Iterator[Callable]:
    """A `mapper` for `simulate_power` backed by a Dask client, closed on exit.

    `workers`: start a LocalCluster of that many single-threaded worker processes
    (numpy already vectorizes within a task). `scheduler`: connect to a running
    scheduler, e.g. tcp://host:8786. Give one of the two.
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as error:  # an optional dependency
        raise InvalidValueError(
            "--workers/--scheduler need Dask distributed: pip install 'dask[distributed]'"
        ) from error
    if (workers is None) == (scheduler is None):
        raise InvalidValueError("give exactly one of --workers N and --scheduler ADDRESS")
    if workers is not None and workers < 1:
        raise InvalidValueError(f"--workers: {workers}; at least 1")
    cluster = None
    try:
        if workers is not None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0")
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout="10s")
    except OSError as error:
        if cluster is not None:
            cluster.close()
        raise InvalidValueError(f"--scheduler {scheduler}: cannot connect: {error}") from error

    def mapper(func, tasks):
        futures = client.map(func, tasks, pure=False)
        for future in as_completed(futures):
            yield future.result()

    try:
        yield mapper
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
