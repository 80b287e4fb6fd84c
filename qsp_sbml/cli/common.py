"""Shared pieces of the command line: error handling and JSON output."""

from __future__ import annotations

import functools
import json
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from qsp_sbml.errors import QspError
from qsp_sbml.validate import issue_from_error

__all__ = ["_emit_json", "check_engine_spec", "handle_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def _emit_json(obj: Any) -> None:
    """Print ``obj`` as valid JSON: NaN and infinities become ``null``, numpy scalars plain values."""
    click.echo(json.dumps(_finite(obj), indent=2, default=str, allow_nan=False))


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN); other values unchanged.

    >>> _finite({"a": [float("nan"), 1.5], "b": float("inf")})
    {'a': [None, 1.5], 'b': None}
    """
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj


def handle_errors(fn: F) -> F:
    """Turn expected errors into a message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = bool(ctx.find_root().params.get("debug"))
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except (QspError, ValueError, OSError) as err:
            if debug:
                traceback.print_exc()
            if as_json:
                payload: dict[str, Any] = {"ok": False, "error": {"type": type(err).__name__, "message": str(err)}}
                report = getattr(err, "report", None)
                payload["issues"] = (report.to_dicts() if report is not None
                                     else [issue_from_error(err).to_dict()])
                _emit_json(payload)
            else:
                click.echo(f"error: {err}", err=True)
            ctx.exit(1)

    return wrapper  # type: ignore[return-value]


def check_engine_spec(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback for ``--engine``: ``serial``, ``process``, ``dask`` or ``dask://HOST:PORT`` (usage error else)."""
    if value is None or value in ("serial", "process", "dask"):
        return value
    host, _, port = value.removeprefix("dask://").rpartition(":")
    if value.startswith("dask://") and host and port.isdigit():
        return value
    raise click.BadParameter(f"{value!r}: use serial, process, dask (a local Dask cluster) or dask://HOST:PORT "
                             "(an existing Dask scheduler)")
