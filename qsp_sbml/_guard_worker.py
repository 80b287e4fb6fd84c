"""The guard worker process (see :mod:`qsp_sbml._guard`, which starts it without the package's ``__init__``)."""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sys
from typing import Any

from qsp_sbml._guard import _recv, _send

__all__: list[str] = []


def _serve() -> None:
    """Worker loop: read (module, name, args), reply ("ok", result) or ("err", exception).

    SIGINT is ignored: a Ctrl-C or a Jupyter interrupt reaches the whole process group, and the parent
    decides (it kills this worker when it is interrupted mid-call, see ``run_guarded``).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything native code prints goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    stream_in = sys.stdin.buffer
    while True:
        try:
            module, name, args = _recv(stream_in)
        except EOFError:
            return
        try:
            target: Any = importlib.import_module(module)
            for part in name.split("."):
                target = getattr(target, part)
            reply: tuple[str, Any] = ("ok", target(*args))
        except Exception as err:
            reply = ("err", err)
        try:
            _send(protocol_out, reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            _send(protocol_out, ("err", RuntimeError(repr(reply[1]))))


if __name__ == "__main__":
    _serve()
