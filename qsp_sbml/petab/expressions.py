"""PEtab math expressions: parse to sympy, evaluate to floats.

Parsing uses petab's own grammar (``petab.v1.math.sympify_petab``); errors
become :class:`~qsp_sbml.errors.PetabError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from qsp_sbml._optional import require
from qsp_sbml.errors import PetabError

__all__ = ["evaluate_expression", "parse_expression"]


def parse_expression(text: str | float, *, where: str | None = None) -> Any:
    """Parse a PEtab math expression into a sympy expression (booleans become 0/1).

    Examples
    --------
    >>> str(parse_expression("2 * k1 + obs_scale"))
    '2.0*k1 + obs_scale'
    """
    petab_math = require("petab.v1.math", extra="calibrate")
    try:
        return petab_math.sympify_petab(text)
    except (ValueError, TypeError) as err:
        raise PetabError(f"{where + ': ' if where else ''}cannot parse {text!r}: {err}") from None


def evaluate_expression(text: str | float, values: Mapping[str, float] | None = None) -> float:
    """Evaluate a PEtab math expression with ``values`` for its symbols.

    Examples
    --------
    >>> evaluate_expression("piecewise(1, 2 >= 2, 0) + a", {"a": 2.0})
    3.0
    >>> evaluate_expression("log(0)")
    -inf
    """
    expr = parse_expression(text)
    values = values or {}
    missing = sorted(str(s) for s in expr.free_symbols if str(s) not in values)
    if missing:
        raise PetabError(f"no value for {missing} in {text!r}")
    subs = {s: values[str(s)] for s in expr.free_symbols}
    result = complex(expr.subs(subs).evalf())
    if result.imag:
        raise PetabError(f"{text!r} is not real-valued ({result})")
    value = result.real
    return value if not math.isnan(value) else math.nan
