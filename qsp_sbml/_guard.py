"""Run a function in a child process so that a native crash becomes an error.

RoadRunner and, more rarely, libSBML can crash the interpreter on some invalid
input.  :func:`run_guarded` executes a module-level function in a long-lived
worker process (a new interpreter running :mod:`qsp_sbml._guard_worker`, talking pickles
over pipes, so that nothing of the caller's ``__main__`` is re-imported: safe in notebooks
and scripts without a main guard; it imports only the modules the call needs).  If the
worker dies, it is replaced on the next call and :class:`~qsp_sbml.errors.NativeCrashError` is raised.  The worker is
the package's only lazily started process; it stops at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from qsp_sbml.errors import NativeCrashError

__all__ = ["run_guarded", "shutdown_guard"]

logger = logging.getLogger(__name__)
R = TypeVar("R")
_HEADER = struct.Struct("!Q")

_lock = threading.Lock()
_worker: subprocess.Popen[bytes] | None = None


def _send(stream: IO[bytes], obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError
    return pickle.loads(payload)  # noqa: S301 -- our own child process


#: The worker's entry point.  It registers ``qsp_sbml`` as a bare package of its folder before importing
#: :mod:`qsp_sbml._guard_worker`, so that the worker imports only what a guarded call needs (libSBML, RoadRunner,
#: the loading pipeline) and not the package's ``__init__`` (pandas, pyarrow, the dosing and model modules: most of
#: the worker's start-up, 3.1 s -> 0.2 s on a loaded machine in ``benchmarks/first_load.py``).  The folder is given
#: explicitly, so the worker also finds the package when the caller put it on ``sys.path`` at run time.
_BOOT = (
    "import logging, sys, types\n"
    "logging.getLogger('qsp_sbml').addHandler(logging.NullHandler())\n"  # as the package's __init__ does
    "pkg = types.ModuleType('qsp_sbml')\n"
    "pkg.__path__ = [sys.argv[1]]\n"
    "pkg.__package__ = 'qsp_sbml'\n"
    "sys.modules['qsp_sbml'] = pkg\n"
    "from qsp_sbml._guard_worker import _serve\n"
    "_serve()\n"
)


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _BOOT, os.path.dirname(os.path.abspath(__file__))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def shutdown_guard() -> None:
    """Stop the guard worker (it is restarted on the next guarded call)."""
    global _worker
    with _lock:
        if _worker is not None:
            try:
                if _worker.stdin:
                    _worker.stdin.close()
                _worker.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                _worker.kill()
            _worker = None


atexit.register(shutdown_guard)


def run_guarded(fn: Callable[..., R], *args: Any, what: str = "input") -> R:
    """Call ``fn(*args)`` in the guard worker and return its result.

    Exceptions raised by ``fn`` are re-raised here (they must be picklable).  A
    crash of the worker (segmentation fault, abort) raises
    :class:`NativeCrashError` naming ``what``.
    """
    global _worker
    with _lock:
        if _worker is None or _worker.poll() is not None:
            _worker = _start()
        worker = _worker
        assert worker.stdin is not None and worker.stdout is not None  # noqa: S101
        try:
            _send(worker.stdin, (fn.__module__, fn.__qualname__, args))
            status, value = _recv(worker.stdout)
            result: Any = value
        except (EOFError, BrokenPipeError, OSError) as err:
            code = worker.wait()
            _worker = None
            logger.error("guard worker died (exit code %s) while processing %s", code, what)
            raise NativeCrashError(
                f"{what}: a native library (libSBML or RoadRunner) crashed while reading this "
                f"input (exit code {code}); the file is probably invalid. Run "
                "'qsp-sbml validate' on it and fix the errors it reports."
            ) from err
        except BaseException:  # interrupted mid-call: the reply would arrive for the next call, so drop the worker
            worker.kill()
            worker.wait()
            _worker = None
            raise
    if status == "ok":
        return result
    raise result
