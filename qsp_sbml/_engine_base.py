"""The engine contract: :class:`Engine`, the :class:`Lost` marker and :class:`WorkerLostError`.

Every engine builds on these: the serial and process engines (:mod:`qsp_sbml.engine`) and the Dask engine
(:mod:`qsp_sbml.distributed`).  They sit here, below both, so that :func:`qsp_sbml.engine.as_engine` can
name every engine without an import cycle.  The public names are exported, and documented, by
:mod:`qsp_sbml.engine`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from qsp_sbml.errors import QspError

__all__ = ["Engine", "Lost", "WorkerLostError", "usable_cpus"]

T = TypeVar("T")
R = TypeVar("R")


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else the CPU count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Lost:
    """In place of a result: the worker running this item died or was killed.

    ``reason`` is ``"crashed"`` (the process ended without answering: native crash, ``os._exit``, a signal)
    or ``"timeout"`` (the watchdog killed it after the per-item time limit).
    """

    reason: str
    message: str
    exitcode: int | None = None


class WorkerLostError(QspError, RuntimeError):
    """A worker died on an item during :meth:`Engine.map` (use :meth:`Engine.map_isolated` to go on)."""


class Engine(ABC):
    """Apply a function to items; results are returned in input order."""

    #: Number of workers (1 for the serial engine).
    n_workers: int = 1
    #: True when :meth:`map_isolated` survives a worker crash and enforces ``timeout``.
    isolates_faults: bool = False

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

    def map_isolated(self, fn: Callable[[T], R], items: Sequence[T], *,
                     initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                     progress: bool | None = None, total: int | None = None, timeout: float | None = None,
                     on_result: Callable[[int, R | Lost], None] | None = None) -> list[R | Lost]:
        """Like :meth:`map`, but an item whose worker dies yields a :class:`Lost` instead of ending the run.

        Parameters
        ----------
        fn, items, initializer, initargs, progress, total
            As in :meth:`map`.
        timeout
            Wall-clock limit per item in seconds (engines with :attr:`isolates_faults` only; ignored otherwise).
        on_result
            Called in this process with ``(index, result)`` as each result arrives (in completion order), for
            example to write finished work to disk before the run ends.

        This default (engines that cannot isolate faults) runs :meth:`map` and then reports every result.
        """
        results: list[Any] = self.map(fn, items, initializer=initializer, initargs=initargs, progress=progress,
                                      total=total)
        if on_result is not None:
            for i, r in enumerate(results):
                on_result(i, r)
        return results
