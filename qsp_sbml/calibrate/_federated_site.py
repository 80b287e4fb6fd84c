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

from qsp_sbml.calibrate.federated import _describe_problem, _evaluate, _PrivateSite

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
                reply = (
                    objective.evaluate(request)
                    if isinstance(objective, _PrivateSite)
                    else _evaluate(objective, request)
                )
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
    parser.add_argument("--dp-clip", type=float, help="differential privacy: L2 bound of a subject's gradient")
    parser.add_argument("--dp-noise", type=float, help="differential privacy: noise multiplier z")
    parser.add_argument("--dp-epsilon", type=float, help="differential privacy: the site's epsilon budget")
    parser.add_argument("--dp-delta", type=float, default=1e-5, help="differential privacy: delta")
    parser.add_argument("--dp-seed", type=int, help="seed of the site's noise (default: from the OS)")
    args = parser.parse_args(argv)
    objective: Any
    objective, info = _describe_problem(args.problem, args.name)
    if args.dp_clip is not None or args.dp_noise is not None or args.dp_epsilon is not None:
        from qsp_sbml.calibrate.privacy import DpSettings

        settings = DpSettings(
            clip=args.dp_clip or 0.0,
            noise_multiplier=args.dp_noise or 0.0,
            epsilon=args.dp_epsilon or 0.0,
            delta=args.dp_delta,
        )
        objective = _PrivateSite(args.problem, settings, seed=args.dp_seed)
        info = {**info, "dp": objective.describe()}
    with socket.create_server((args.host, args.port)) as server:
        print(f"LISTENING {server.getsockname()[1]}", flush=True)  # noqa: T201 -- the parent reads the port
        while True:
            conn, _ = server.accept()
            with conn:
                if _serve(conn, objective, info):
                    return 0


if __name__ == "__main__":
    sys.exit(main())
