"""Dask engine: the :class:`~qsp_sbml.engine.Engine` contract on a Dask cluster, plus a pyPESTO adapter.

:class:`DaskEngine` runs ``fn`` over ``items`` on the workers of a Dask cluster: an existing scheduler
(``address="tcp://host:8786"``, e.g. one started by dask-jobqueue on SLURM/PBS, docs/guide/distributed.md) or a
:class:`distributed.LocalCluster` of worker processes on loopback.  Per :meth:`DaskEngine.map` call:

* the initializer arguments (for cohort simulation: the compiled RoadRunner state of the model) are
  scattered once to every worker (``client.scatter(..., broadcast=True)``), and each worker runs
  ``initializer(*initargs)`` once, when its first chunk arrives (a worker that joins later fetches them
  once from a peer);
* items travel in chunks (default: about four per worker), one Dask task per chunk, ``pure=False``
  (Dask would otherwise cache identical calls);
* results come back in input order, so a computation that is deterministic per item gives the same
  results as :class:`~qsp_sbml.engine.SerialEngine`.

The cluster an engine starts itself lives for one :meth:`~DaskEngine.map` call, like the process
engine's pool, unless the engine is used as a context manager (``with DaskEngine() as engine:``), which
keeps one cluster for all calls inside the block.  Dask is imported only when a map runs (``import
qsp_sbml`` stays light); it is the ``distributed`` extra (``pip install qsp-sbml[distributed]``).

Scripts that start a LocalCluster need the ``if __name__ == "__main__":`` guard (its workers are spawned
processes that import the main module).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from qsp_sbml import log
from qsp_sbml._engine_base import Engine, Lost, WorkerLostError, usable_cpus
from qsp_sbml._optional import require

__all__ = ["LOCAL_CLUSTER_CONFIG", "DaskEngine", "pypesto_engine"]

T = TypeVar("T")
R = TypeVar("R")

#: Dask settings for a LocalCluster this engine starts: slower bookkeeping loops (system monitor for the
#: dashboard 0.5 s -> 5 s, memory monitor 0.1 s -> 1 s, event-loop tick 20 ms -> 1 s).  An idle 2-worker
#: cluster's scheduler used 0.035 CPU-s per second with Dask's defaults and 0.010 with these (measured here,
#: 20 s idle); over a long cohort run that is a few per cent of the CPU.  ``cluster_config={}`` keeps Dask's.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.tick.interval": "1s",
}

#: Per worker process: the token of the map call whose initializer ran last here.
_INITIALIZED: dict[str, str] = {}
#: Serialises initializer + chunk in a worker with several threads (the initializer's state is per process).
_LOCK = threading.Lock()


def _run_chunk(chunk: Sequence[Any], fn: Callable[[Any], Any], token: str, initializer: Callable[..., None] | None,
               initargs: tuple[Any, ...]) -> list[Any]:
    """Run ``initializer`` once per worker and map call (by ``token``), then ``fn`` over ``chunk``."""
    with _LOCK:
        if initializer is not None and _INITIALIZED.get("token") != token:
            initializer(*initargs)
            _INITIALIZED["token"] = token
        return [fn(x) for x in chunk]


def _chunks(n_items: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, n_items)) for s in range(0, n_items, size)]


class DaskEngine(Engine):
    """Apply a function to items on a Dask cluster; results in input order.

    Parameters
    ----------
    address
        Scheduler address of an existing cluster (``"tcp://host:8786"``); ``None`` starts a
        :class:`distributed.LocalCluster` on loopback.
    n_workers
        Worker processes of the LocalCluster (default: the CPUs this process may use).  For an existing
        cluster: ignored (the scheduler's workers are used).
    threads_per_worker
        Threads per LocalCluster worker (default 1: RoadRunner holds the GIL, processes give the speed-up).
    chunk_size
        Items per Dask task (default: ``ceil(len(items) / (4 * workers))``).
    cluster_kwargs
        Extra keyword arguments for :class:`distributed.LocalCluster` (e.g. ``memory_limit``).
    cluster_config
        Dask configuration while the LocalCluster starts (default :data:`LOCAL_CLUSTER_CONFIG`).
    timeout
        Seconds to wait for at least one worker of an existing cluster.

    Examples
    --------
    >>> DaskEngine(n_workers=2)
    DaskEngine(n_workers=2)
    >>> DaskEngine("tcp://127.0.0.1:8786")
    DaskEngine(address='tcp://127.0.0.1:8786')
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None, threads_per_worker: int = 1,
                 chunk_size: int | None = None, cluster_kwargs: dict[str, Any] | None = None,
                 cluster_config: dict[str, Any] | None = None, timeout: float = 60.0) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"address must be a scheduler address such as 'tcp://host:8786', got {address!r}")
        if n_workers is None:
            n_workers = usable_cpus()
        for name, value in (("n_workers", n_workers), ("threads_per_worker", threads_per_worker)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.chunk_size = chunk_size
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.cluster_config = dict(LOCAL_CLUSTER_CONFIG if cluster_config is None else cluster_config)
        self.timeout = timeout
        self._client: Any = None
        self._cluster: Any = None

    @classmethod
    def from_spec(cls, spec: str, workers: int | None = None) -> DaskEngine:
        """``"dask"`` (a LocalCluster of ``workers`` processes) or ``"dask://HOST:PORT"`` (an existing scheduler).

        >>> DaskEngine.from_spec("dask://10.0.0.5:8786")
        DaskEngine(address='tcp://10.0.0.5:8786')
        """
        if spec == "dask":
            return cls(n_workers=workers)
        rest = spec.removeprefix("dask://") if spec.startswith("dask://") else ""
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"engine {spec!r}: give a Dask scheduler as 'dask://HOST:PORT' "
                             "(e.g. dask://10.0.0.5:8786) or 'dask' for a local cluster")
        return cls(f"tcp://{host}:{port}")

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskEngine(address={self.address!r})"
        return f"DaskEngine(n_workers={self.n_workers})"

    # -- cluster lifecycle ----------------------------------------------
    def __enter__(self) -> DaskEngine:
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> Any:
        """The :class:`distributed.Client` while connected (inside ``with`` or a map call), else ``None``."""
        return self._client

    def _connect(self) -> None:
        if self._client is not None:
            return
        dd = require("distributed", extra="distributed")
        if self.address is not None:
            self._client = dd.Client(self.address, timeout=self.timeout, set_as_default=False)
            self._client.wait_for_workers(1, timeout=self.timeout)
            return
        kwargs: dict[str, Any] = {"n_workers": self.n_workers, "threads_per_worker": self.threads_per_worker,
                                  "processes": True, "host": "127.0.0.1", "dashboard_address": ":0",
                                  **self.cluster_kwargs}
        import dask

        with dask.config.set(self.cluster_config):  # the nannies hand this configuration to their workers
            self._cluster = dd.LocalCluster(**kwargs)
        try:
            self._client = dd.Client(self._cluster, set_as_default=False)
        except BaseException:
            self._cluster.close()
            self._cluster = None
            raise

    def close(self) -> None:
        """Close the client, and the LocalCluster if this engine started it."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    # -- map --------------------------------------------------------------
    def map(self, fn: Callable[[T], R], items: Sequence[T], *, initializer: Callable[..., None] | None = None,
            initargs: tuple[Any, ...] = (), progress: bool | None = None, total: int | None = None) -> list[R]:
        """See :meth:`qsp_sbml.engine.Engine.map`."""
        return self._run(fn, items, initializer, initargs, progress, self.chunk_size)

    def map_isolated(self, fn: Callable[[T], R], items: Sequence[T], *,
                     initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                     progress: bool | None = None, total: int | None = None, timeout: float | None = None,
                     on_result: Callable[[int, R | Lost], None] | None = None) -> list[R | Lost]:
        """See :meth:`qsp_sbml.engine.Engine.map_isolated`.

        ``on_result`` is called for the items of each chunk as the chunk arrives (completion order).  A
        chunk whose worker died is re-run by Dask on other workers; when it has killed
        ``distributed.scheduler.allowed-failures`` + 1 workers (Dask's ``KilledWorker``), each of its items
        gives a :class:`~qsp_sbml.engine.Lost` (``"crashed"``) and the run goes on.  A chunk that was running
        or queued on a dying worker counts as suspect too, so an innocent chunk can come back as ``Lost``
        (:func:`~qsp_sbml.population.simulate_cohort` re-runs lost batches subject by subject).  ``timeout`` is not
        enforced (:attr:`isolates_faults` is False): Dask has no per-task time limit.
        """
        return self._run(fn, items, initializer, initargs, progress, self.chunk_size, isolated=True,
                         on_result=on_result)

    def _run(self, fn: Callable[[T], R], items: Sequence[T], initializer: Callable[..., None] | None,
             initargs: tuple[Any, ...], progress: bool | None, chunk_size: int | None, *, isolated: bool = False,
             on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        if not items:
            return []
        owned = self._client is None
        self._connect()
        try:
            return self._map(fn, items, initializer, initargs, progress, chunk_size, isolated, on_result)
        finally:
            if owned:
                self.close()

    def _map(self, fn: Callable[[T], R], items: Sequence[T], initializer: Callable[..., None] | None,
             initargs: tuple[Any, ...], progress: bool | None, chunk_size: int | None, isolated: bool = False,
             on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        dd = require("distributed", extra="distributed")
        client = self._client
        n_workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        size = chunk_size or max(1, math.ceil(len(items) / (4 * n_workers)))
        spans = _chunks(len(items), size)
        token = uuid.uuid4().hex
        [shared] = client.scatter([tuple(initargs)], broadcast=True, hash=False)
        futures = client.map(_run_chunk, [list(items[a:b]) for a, b in spans], fn=fn, token=token,
                             initializer=initializer, initargs=shared, pure=False)
        index = {f.key: k for k, f in enumerate(futures)}
        out: list[list[Any] | None] = [None] * len(futures)
        try:
            for fut in log.progress(dd.as_completed(futures, loop=client.loop), enable=progress, total=len(futures)):
                k = index[fut.key]
                try:
                    out[k] = fut.result()
                except (dd.KilledWorker, dd.client.FutureCancelledError) as err:  # cancelled: its input was lost
                    if not isolated:
                        raise WorkerLostError(f"Dask lost items {spans[k][0]}-{spans[k][1] - 1} (a worker died): "
                                              f"{err}") from err
                    out[k] = [Lost("crashed", f"Dask lost this chunk (a worker died): {err}")] * (spans[k][1]
                                                                                                 - spans[k][0])
                if on_result is not None:
                    for j, r in enumerate(out[k] or []):
                        on_result(spans[k][0] + j, r)
        except BaseException:
            client.cancel(futures)
            raise
        finally:
            client.cancel([shared])
        return [r for chunk in out for r in (chunk or [])]


def _execute_task(task: bytes) -> Any:
    """Unpickle a pyPESTO task (cloudpickle, as pyPESTO's own process engine does) and run it."""
    import cloudpickle

    return cloudpickle.loads(task).execute()


def pypesto_engine(engine: DaskEngine) -> Any:
    """A ``pypesto.engine.Engine`` that runs pyPESTO's tasks (e.g. multistart starts) on ``engine``.

    Tasks are pickled with cloudpickle (as pyPESTO's ``MultiProcessEngine`` does) and mapped one per chunk;
    results come back in task order.  Our PEtab objective pickles without its compiled model and is rebuilt
    once per worker process from the problem's YAML (``qsp_sbml.calibrate._adapter``), so the problem's
    files must be readable from the workers (true on a LocalCluster and a cluster with a shared file system).
    """
    pe = require("pypesto.engine", extra="calibrate")
    base: Any = pe.Engine

    class _DaskPypestoEngine(base):
        """pyPESTO engine adapter over a :class:`DaskEngine`."""

        def __init__(self, dask_engine: DaskEngine) -> None:
            super().__init__()
            self.engine = dask_engine

        def __repr__(self) -> str:
            return f"pypesto_engine({self.engine!r})"

        def execute(self, tasks: list[Any], progress_bar: bool | None = None) -> list[Any]:
            import cloudpickle

            # one start per task: starts are long and uneven, so the finest split balances best
            return self.engine._run(_execute_task, [cloudpickle.dumps(t) for t in tasks], None, (), progress_bar, 1)

    return _DaskPypestoEngine(engine)
