"""Engines: apply a function to a list of items, results in input order.

An engine runs ``fn`` over ``items`` after running ``initializer(*initargs)``
once per worker (the place to load a compiled model once per process).  The
serial engine runs in this process; the process engine in a pool of worker
processes.  Results come back in the order of ``items`` whatever the engine or
the number of workers, so a computation that is deterministic per item gives
identical results on every engine.

Nothing parallel starts at import; a pool lives only inside one :meth:`Engine.map` call.

Examples
--------
>>> SerialEngine().map(abs, [-2, 3, -1])
[2, 3, 1]
"""

from __future__ import annotations

import multiprocessing
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from qsp_sbml import log

__all__ = ["Engine", "ProcessEngine", "SerialEngine", "as_engine"]

T = TypeVar("T")
R = TypeVar("R")


class Engine(ABC):
    """Apply a function to items; results are returned in input order."""

    #: Number of workers (1 for the serial engine).
    n_workers: int = 1

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T], *, initializer: Callable[..., None] | None = None,
            initargs: tuple[Any, ...] = (), progress: bool | None = None, total: int | None = None) -> list[R]:
        """Apply ``fn`` to every item of ``items`` and return the results in input order.

        Parameters
        ----------
        fn
            A picklable (module-level) function for process engines.
        items
            The work items (picklable for process engines).
        initializer, initargs
            Run once per worker before any item (in this process for the serial engine).
        progress
            Show a progress bar (tqdm, when installed); ``None`` shows one on a terminal only.
        total
            Length shown by the bar when items are batches of a larger count (default ``len(items)``).
        """


class SerialEngine(Engine):
    """Run everything in this process, one item after the other."""

    def __repr__(self) -> str:
        return "SerialEngine()"

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, initializer: Callable[..., None] | None = None,
            initargs: tuple[Any, ...] = (), progress: bool | None = None, total: int | None = None) -> list[R]:
        """See :meth:`Engine.map`."""
        if initializer is not None:
            initializer(*initargs)
        return [fn(x) for x in log.progress(items, enable=progress, total=len(items))]


class ProcessEngine(Engine):
    """A pool of worker processes (``concurrent.futures``), one ``initializer`` call per worker.

    Parameters
    ----------
    n_workers
        Number of processes (default: the CPUs this process may use).
    start_method
        ``"spawn"`` (default: safe with native libraries that hold threads or locks), ``"forkserver"``
        or ``"fork"``.
    """

    def __init__(self, n_workers: int | None = None, *, start_method: str = "spawn") -> None:
        if n_workers is None:
            n_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(f"start_method must be one of {multiprocessing.get_all_start_methods()}, "
                             f"got {start_method!r}")
        self.n_workers = n_workers
        self.start_method = start_method

    def __repr__(self) -> str:
        return f"ProcessEngine(n_workers={self.n_workers}, start_method={self.start_method!r})"

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, initializer: Callable[..., None] | None = None,
            initargs: tuple[Any, ...] = (), progress: bool | None = None, total: int | None = None) -> list[R]:
        """See :meth:`Engine.map`."""
        if not items:
            return []
        ctx = multiprocessing.get_context(self.start_method)
        out: list[Any] = [None] * len(items)
        with ProcessPoolExecutor(min(self.n_workers, len(items)), mp_context=ctx, initializer=initializer,
                                 initargs=initargs) as pool:
            futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
            for fut in log.progress(as_completed(futures), enable=progress, total=len(items)):
                out[futures[fut]] = fut.result()
        return out


def as_engine(engine: Engine | str | None, workers: int | None = None) -> Engine:
    """An engine from an instance, a name (``"serial"``, ``"process"``) or ``None`` (serial).

    >>> as_engine("process", 2)
    ProcessEngine(n_workers=2, start_method='spawn')
    """
    if isinstance(engine, Engine):
        return engine
    if engine is None or engine == "serial":
        return SerialEngine()
    if engine == "process":
        return ProcessEngine(workers)
    raise ValueError(f"unknown engine {engine!r}: use 'serial' or 'process'")
