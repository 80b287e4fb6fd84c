"""Engines: apply a function to a list of items, results in input order.

An engine runs ``fn`` over ``items`` after running ``initializer(*initargs)``
once per worker (the place to load a compiled model once per process).  The
serial engine runs in this process; the process engine in a pool of worker
processes.  Results come back in the order of ``items`` whatever the engine or
the number of workers, so a computation that is deterministic per item gives
identical results on every engine.

Fault isolation (:meth:`Engine.map_isolated`): the process engine survives a
worker that dies on an item (a crash in native code, ``os._exit``, a signal)
or that exceeds a per-item time limit (the watchdog kills it): the worker is
replaced, the item is reported as :class:`Lost`, the other items go on.  Its
workers are also recycled after ``max_tasks_per_child`` items, so memory that
native libraries leak stays bounded over long runs.  The serial engine runs in
this process and cannot isolate a crash or enforce a time limit.

Nothing parallel starts at import; a pool lives only inside one :meth:`Engine.map` call.

The contract (:class:`Engine`, :class:`Lost`, :class:`WorkerLostError`) is defined in
``qsp_sbml._engine_base``, below this module and the Dask engine (:mod:`qsp_sbml.distributed`), and
exported here.

Examples
--------
>>> SerialEngine().map(abs, [-2, 3, -1])
[2, 3, 1]
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from qsp_sbml import log
from qsp_sbml._engine_base import Engine, Lost, WorkerLostError, usable_cpus

__all__ = ["Engine", "Lost", "ProcessEngine", "SerialEngine", "WorkerLostError", "as_engine"]

T = TypeVar("T")
R = TypeVar("R")


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

    def map_isolated(self, fn: Callable[[T], R], items: Sequence[T], *,
                     initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                     progress: bool | None = None, total: int | None = None, timeout: float | None = None,
                     on_result: Callable[[int, R | Lost], None] | None = None) -> list[R | Lost]:
        """See :meth:`Engine.map_isolated`; results are reported as they are computed (no crash isolation)."""
        if initializer is not None:
            initializer(*initargs)
        out: list[R | Lost] = []
        for i, x in enumerate(log.progress(items, enable=progress, total=len(items))):
            out.append(fn(x))
            if on_result is not None:
                on_result(i, out[-1])
        return out


# -- the process pool ------------------------------------------------------------------------------------------


def _worker_main(conn: Connection, fn: Callable[[Any], Any], initializer: Callable[..., None] | None,
                 initargs: tuple[Any, ...]) -> None:
    """Worker loop: initialise once, then answer ``(index, item)`` messages until ``None`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the pool
    try:
        if initializer is not None:
            initializer(*initargs)
    except BaseException as err:
        _send(conn, ("init_error", -1, err, traceback.format_exc()))
        return
    conn.send(("ready", -1, None, ""))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if msg is None:
            return
        index, item = msg
        try:
            result = fn(item)
        except BaseException as err:
            reply = ("error", index, err, traceback.format_exc())
        else:
            reply = ("ok", index, result, "")
        try:
            _send(conn, reply)
        except OSError:  # the parent is gone (killed): nobody to answer
            return


def _send(conn: Connection, msg: tuple[str, int, Any, str]) -> None:
    """Send ``msg``; an exception that does not pickle travels as a RuntimeError with its text."""
    try:
        conn.send(msg)
    except (pickle.PicklingError, TypeError, AttributeError):
        kind, index, payload, tb = msg
        conn.send((kind, index, RuntimeError(f"{type(payload).__name__}: {payload}"), tb))


@dataclass
class _Worker:
    proc: Any                 # multiprocessing.Process (context-specific class)
    conn: Connection
    ready: bool = False
    task: int | None = None   # index of the item in flight
    started: float = 0.0      # when the item in flight was sent (time.monotonic)
    done: int = 0             # items answered by this process


class _Bar:
    """A tqdm bar updated by hand, or nothing."""

    def __init__(self, enable: bool | None, total: int) -> None:
        self.bar: Any = None
        if enable is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, disable=None if enable is None else not enable)

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ProcessEngine(Engine):
    """A pool of worker processes, one ``initializer`` call per worker, fault-isolating.

    Parameters
    ----------
    n_workers
        Number of processes (default: the CPUs this process may use).
    start_method
        ``"spawn"`` (default: safe with native libraries that hold threads or locks), ``"forkserver"``
        or ``"fork"``.
    max_tasks_per_child
        Items a worker process runs before it is replaced by a fresh one (bounds the memory native libraries
        leak over long runs); ``None`` keeps workers for the whole run.
    """

    isolates_faults = True

    def __init__(self, n_workers: int | None = None, *, start_method: str = "spawn",
                 max_tasks_per_child: int | None = 200) -> None:
        if n_workers is None:
            n_workers = usable_cpus()
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
        if start_method not in multiprocessing.get_all_start_methods():
            raise ValueError(f"start_method must be one of {multiprocessing.get_all_start_methods()}, "
                             f"got {start_method!r}")
        if max_tasks_per_child is not None and (isinstance(max_tasks_per_child, bool)
                                                or not isinstance(max_tasks_per_child, int)
                                                or max_tasks_per_child < 1):
            raise ValueError(f"max_tasks_per_child must be a positive integer or None, got {max_tasks_per_child!r}")
        self.n_workers = n_workers
        self.start_method = start_method
        self.max_tasks_per_child = max_tasks_per_child
        #: Worker processes started by the last run (initial ones, replacements and recycled ones).
        self.last_spawned = 0

    def __repr__(self) -> str:
        return f"ProcessEngine(n_workers={self.n_workers}, start_method={self.start_method!r})"

    def map(self, fn: Callable[[T], R], items: Sequence[T], *, initializer: Callable[..., None] | None = None,
            initargs: tuple[Any, ...] = (), progress: bool | None = None, total: int | None = None) -> list[R]:
        """See :meth:`Engine.map`; a worker that dies raises :class:`WorkerLostError`."""
        out = self.map_isolated(fn, items, initializer=initializer, initargs=initargs, progress=progress,
                                total=total, stop_on_lost=True)
        return out  # type: ignore[return-value]  # stop_on_lost: no Lost in the list

    def map_isolated(self, fn: Callable[[T], R], items: Sequence[T], *,
                     initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                     progress: bool | None = None, total: int | None = None, timeout: float | None = None,
                     on_result: Callable[[int, R | Lost], None] | None = None,
                     stop_on_lost: bool = False) -> list[R | Lost]:
        """See :meth:`Engine.map_isolated`.

        A worker that dies (or is killed by the watchdog after ``timeout`` seconds on one item) is replaced
        and its item reported as :class:`Lost`; ``stop_on_lost`` raises :class:`WorkerLostError` instead.
        An exception raised by ``fn`` or by ``initializer`` stops the run and is raised here.
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if len(items) == 0:
            return []
        self.last_spawned = 0
        run = _PoolRun(self, fn, items, initializer=initializer, initargs=initargs, progress=progress,
                       timeout=timeout, on_result=on_result, stop_on_lost=stop_on_lost)
        return run.run()


class _PoolRun:
    """One :meth:`ProcessEngine.map_isolated` call: the workers, the items not yet sent, the results.

    :meth:`run` starts the workers, then loops: recycle and feed idle workers, wait for an answer, a worker's
    death or the next time limit, handle what arrived, kill workers over the time limit.  Every exit (done,
    an exception raised by ``fn``, Ctrl-C) retires the workers still alive.
    """

    def __init__(self, engine: ProcessEngine, fn: Callable[[Any], Any], items: Sequence[Any], *,
                 initializer: Callable[..., None] | None, initargs: tuple[Any, ...], progress: bool | None,
                 timeout: float | None, on_result: Callable[[int, Any], None] | None, stop_on_lost: bool) -> None:
        self.engine = engine
        self.fn, self.items = fn, items
        self.initializer, self.initargs = initializer, initargs
        self.timeout, self.on_result, self.stop_on_lost = timeout, on_result, stop_on_lost
        self.n = len(items)
        self.out: list[Any] = [None] * self.n
        self.ctx: Any = multiprocessing.get_context(engine.start_method)
        self.pending: deque[int] = deque(range(self.n))
        self.workers: list[_Worker] = []
        self.bar = _Bar(progress, self.n)
        #: Items answered or lost.
        self.done = 0

    def run(self) -> list[Any]:
        """Run every item; the results (or :class:`Lost`) in input order."""
        try:
            for _ in range(min(self.engine.n_workers, self.n)):
                self._spawn()
            while self.done < self.n:
                self._feed()
                ready = self._wait()
                for w in list(self.workers):
                    if w.conn in ready or w.conn.poll():
                        self._receive(w)
                    elif w.proc.sentinel in ready:
                        self._exited(w)
                self._enforce_timeout()
        finally:
            self.bar.close()
            for w in list(self.workers):
                self._retire(w, kill=w.task is not None)
        return self.out

    def _spawn(self) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(child, self.fn, self.initializer, self.initargs),
                                daemon=True)
        proc.start()
        child.close()
        self.workers.append(_Worker(proc, parent))
        self.engine.last_spawned += 1

    def _finish(self, i: int, result: Any) -> None:
        self.out[i] = result
        self.bar.update()
        if self.on_result is not None:
            self.on_result(i, result)

    def _retire(self, w: _Worker, *, kill: bool = False) -> None:
        if kill:
            w.proc.kill()
        else:
            try:
                w.conn.send(None)
            except OSError:
                pass
        w.proc.join(timeout=None if kill else 5)
        if w.proc.is_alive():
            w.proc.kill()
            w.proc.join()
        w.conn.close()
        self.workers.remove(w)

    def _lose(self, w: _Worker, reason: str) -> None:
        """Kill a busy worker and report its item as :class:`Lost` (or raise, with ``stop_on_lost``)."""
        i = w.task
        if reason != "timeout":
            w.proc.join(timeout=2)  # it is dying: collect its exit code
        code = w.proc.exitcode
        self._retire(w, kill=True)
        assert i is not None  # noqa: S101 -- only called for busy workers
        what = (f"the worker was killed after the time limit of {self.timeout:g} s" if reason == "timeout"
                else f"the worker process died (exit code {code}"
                     + (f", signal {signal.Signals(-code).name}" if code is not None and code < 0
                        and -code in signal.valid_signals() else "") + ")")
        lost = Lost(reason, what, None if reason == "timeout" else code)
        if self.stop_on_lost:
            raise WorkerLostError(f"{what} on item {i}")
        self._finish(i, lost)

    def _feed(self) -> None:
        """Recycle idle workers that reached their quota, then hand out work to idle, ready workers."""
        for w in list(self.workers):
            if w.ready and w.task is None and self.engine.max_tasks_per_child is not None \
                    and w.done >= self.engine.max_tasks_per_child:
                self._retire(w)
                if self.pending:
                    self._spawn()
        for w in self.workers:
            if w.ready and w.task is None and self.pending:
                i = self.pending.popleft()
                w.conn.send((i, self.items[i]))
                w.task, w.started = i, time.monotonic()

    def _wait(self) -> set[Any]:
        """Wait for a message or a worker's exit, at most until the first busy worker's time limit."""
        now = time.monotonic()
        wait_for: float | None = None
        if self.timeout is not None:
            busy = [w.started + self.timeout - now for w in self.workers if w.task is not None]
            wait_for = max(0.0, min(busy)) if busy else None
        handles: list[Any] = [w.conn for w in self.workers] + [w.proc.sentinel for w in self.workers]
        return set(wait(handles, timeout=wait_for))

    def _receive(self, w: _Worker) -> None:
        """Handle one message of ``w``: ready, a result, or an exception that stops the run."""
        try:
            kind, i, payload, tb = w.conn.recv()
        except (EOFError, OSError):
            self._hung_up(w)
            return
        if kind == "ready":
            w.ready = True
        elif kind == "ok":
            w.task = None
            w.done += 1
            self._finish(i, payload)
            self.done += 1
        else:  # error or init_error: the run stops with that exception
            where = "initializer" if kind == "init_error" else f"item {i}"
            raise _with_note(payload, f"raised in a worker process ({where}):\n{tb}")

    def _hung_up(self, w: _Worker) -> None:
        """``w``'s pipe closed: it died in the initializer (the run stops), between items, or on one."""
        if not w.ready:
            self._retire(w, kill=True)
            raise WorkerLostError(f"a worker process died while running the initializer "
                                  f"(exit code {w.proc.exitcode})") from None
        if w.task is None:  # died between items: just replace it
            self._retire(w, kill=True)
        else:
            self._lose(w, "crashed")
            self.done += 1
        if self.pending or self.done < self.n:
            self._spawn()

    def _exited(self, w: _Worker) -> None:
        """``w``'s process ended with nothing left in its pipe."""
        if w.task is None:
            self._retire(w, kill=True)
            raise WorkerLostError(f"a worker process died before taking work (exit code "
                                  f"{w.proc.exitcode})")
        self._lose(w, "crashed")
        self.done += 1
        if self.done < self.n:
            self._spawn()

    def _enforce_timeout(self) -> None:
        """Kill the workers that have run their item past the time limit (the watchdog)."""
        if self.timeout is None:
            return
        now = time.monotonic()
        for w in list(self.workers):
            if w.task is not None and now - w.started > self.timeout:
                self._lose(w, "timeout")
                self.done += 1
                if self.done < self.n:
                    self._spawn()


def _with_note(err: BaseException, note: str) -> BaseException:
    if isinstance(err, BaseException):
        err.add_note(note)
        return err
    return RuntimeError(f"{err!r}\n{note}")


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
    if isinstance(engine, str) and (engine == "dask" or engine.startswith("dask://")):  # Dask: qsp_sbml.distributed
        from qsp_sbml.distributed import DaskEngine

        return DaskEngine.from_spec(engine, workers)
    raise ValueError(f"unknown engine {engine!r}: use 'serial', 'process', 'dask' or 'dask://HOST:PORT'")
