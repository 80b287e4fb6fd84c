"""A federated-calibration site: ``python -m qsp_sbml.calibrate._federated_site PROBLEM.yaml --name NAME``.

Loads the site's PEtab problem, listens on ``--host``/``--port`` (port 0: any free port), prints
``LISTENING <port>`` and answers ``describe`` and ``evaluate`` requests (one JSON object per line; see
:mod:`qsp_sbml.calibrate.federated`) until a ``stop`` request.  Only the replies described there leave
the process; a request it does not know gets ``{"error": ...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from qsp_sbml.calibrate.federated import _describe_problem, _evaluate

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _serve(conn: socket.socket, objective: Any, info: dict[str, Any]) -> bool:
    """Answer one connection's requests; True when asked to stop."""
    reader = conn.makefile("r", encoding="utf-8")
    for line in reader:
        try:
            request = json.loads(line)
            op = request.get("op") if isinstance(request, dict) else None
        except json.JSONDecodeError:
            op, request = None, {}
        if op == "stop":
            return True
        if op == "describe":
            reply: dict[str, Any] = info
        elif op == "evaluate":
            try:
                reply = _evaluate(objective, request)
            except Exception as err:
                reply = {"error": f"evaluation failed: {type(err).__name__}: {err}"}
        else:
            reply = {"error": f"unknown request {op!r} (use describe or evaluate)"}
        conn.sendall((json.dumps(reply) + "\n").encode())
    return False


def main(argv: list[str] | None = None) -> int:
    """Run a site until it is asked to stop."""
    parser = argparse.ArgumentParser(prog="qsp_sbml.calibrate._federated_site")
    parser.add_argument("problem", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    objective, info = _describe_problem(args.problem, args.name)
    with socket.create_server((args.host, args.port)) as server:
        print(f"LISTENING {server.getsockname()[1]}", flush=True)  # noqa: T201 -- the parent reads the port
        while True:
            conn, _ = server.accept()
            with conn:
                if _serve(conn, objective, info):
                    return 0


if __name__ == "__main__":
    sys.exit(main())
