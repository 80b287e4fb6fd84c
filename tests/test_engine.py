"""Engines: order, fault isolation (a worker that dies, a hanging item), worker recycling, errors."""

from __future__ import annotations

import os
import signal
import time

import pytest

from qsp_sbml.engine import Lost, ProcessEngine, SerialEngine, WorkerLostError

_STATE: dict[str, int] = {}
FAST = "forkserver"  # workers forked from a clean server process: quicker to start than spawn, as safe


def _init(offset: int) -> None:
    _STATE["offset"] = offset


def _square(x: int) -> int:
    return x * x + _STATE["offset"]


def _crash_on_three(x: int) -> int:
    if x == 3:
        os._exit(17)  # a worker dying without answering, as a native crash does
    if x == 5:
        os.kill(os.getpid(), signal.SIGSEGV)  # a segmentation fault
    return x * x


def _hang_on_two(x: float) -> float:
    if x == 2:
        time.sleep(60)  # a hanging item: the watchdog must cut it off
    return x


def _pid(_: int) -> int:
    return os.getpid()


def _boom(x: int) -> int:
    if x == 1:
        raise ValueError("bad item 1")
    return x


def test_process_engine_order_and_initializer_once_per_worker() -> None:
    items = list(range(25))
    serial = SerialEngine().map(_square, items, initializer=_init, initargs=(1,))
    engine = ProcessEngine(2, start_method=FAST, max_tasks_per_child=None)
    par = engine.map(_square, items, initializer=_init, initargs=(1,), progress=False)
    assert par == serial == [x * x + 1 for x in items]
    assert engine.last_spawned == 2


def test_crashed_worker_is_replaced_and_its_item_reported() -> None:
    engine = ProcessEngine(2, start_method=FAST)
    seen: dict[int, object] = {}
    out = engine.map_isolated(_crash_on_three, list(range(8)), progress=False,
                              on_result=lambda i, r: seen.__setitem__(i, r))
    assert isinstance(out[3], Lost) and out[3].reason == "crashed" and out[3].exitcode == 17
    assert "exit code 17" in out[3].message
    assert isinstance(out[5], Lost) and out[5].exitcode == -signal.SIGSEGV and "signal SIGSEGV" in out[5].message
    assert [r for i, r in enumerate(out) if i not in (3, 5)] == [x * x for x in range(8) if x not in (3, 5)]
    assert seen == dict(enumerate(out))  # every result reported once, as it arrived
    assert engine.last_spawned == 4  # two workers plus two replacements
    # plain map raises at the first worker lost: item 3's or item 5's, whichever the scheduler ran first
    with pytest.raises(WorkerLostError, match="exit code 17|signal SIGSEGV"):
        engine.map(_crash_on_three, list(range(8)), progress=False)


def test_hanging_item_cut_off_by_the_time_limit() -> None:
    t0 = time.monotonic()
    engine = ProcessEngine(2, start_method=FAST)
    out = engine.map_isolated(_hang_on_two, [0.0, 1.0, 2.0, 3.0], timeout=3.0, progress=False)
    assert time.monotonic() - t0 < 50  # not the 60 s of the hanging item (a loose bound, not a timing test)
    assert out[:2] == [0.0, 1.0] and out[3] == 3.0
    assert isinstance(out[2], Lost) and out[2].reason == "timeout" and "time limit of 3 s" in out[2].message


def test_workers_recycled_after_max_tasks() -> None:
    engine = ProcessEngine(1, start_method=FAST, max_tasks_per_child=2)
    pids = engine.map(_pid, list(range(4)), progress=False)
    assert pids[0] == pids[1] != pids[2] == pids[3]
    assert engine.last_spawned == 2


def test_exception_in_fn_is_raised_with_the_worker_traceback() -> None:
    with pytest.raises(ValueError, match="bad item 1") as info:
        ProcessEngine(2, start_method=FAST).map(_boom, [0, 1, 2], progress=False)
    assert any("raised in a worker process (item 1)" in n for n in getattr(info.value, "__notes__", []))


def test_bad_engine_arguments() -> None:
    with pytest.raises(ValueError, match="max_tasks_per_child"):
        ProcessEngine(1, start_method=FAST, max_tasks_per_child=0)
    with pytest.raises(ValueError, match="timeout"):
        ProcessEngine(1).map_isolated(_pid, [1], timeout=0)
