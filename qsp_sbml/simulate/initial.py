"""Re-evaluate parameter initial assignments after parameter changes.

RoadRunner's ``reset()`` re-evaluates species initial assignments but not those
of parameters and compartments after ``setValue``, and it evaluates a species'
assignment through the *formulas* of the parameters it uses, ignoring a value
the user set on such a parameter (both measured on 2.11); ``setValue('init(p)')``
recompiles the model.  This module evaluates the
affected initial assignments itself, in dependency order, with a small
evaluator over libSBML's AST (no ``eval``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import libsbml

from qsp_sbml.errors import SbmlError

__all__ = ["InitialAssignments", "evaluate", "event_parameters"]

_UNARY: dict[int, Callable[[float], float]] = {
    libsbml.AST_FUNCTION_EXP: math.exp,
    libsbml.AST_FUNCTION_LN: math.log,
    libsbml.AST_FUNCTION_ABS: abs,
    libsbml.AST_FUNCTION_FLOOR: math.floor,
    libsbml.AST_FUNCTION_CEILING: math.ceil,
    libsbml.AST_FUNCTION_SIN: math.sin,
    libsbml.AST_FUNCTION_COS: math.cos,
    libsbml.AST_FUNCTION_TAN: math.tan,
    libsbml.AST_FUNCTION_ARCSIN: math.asin,
    libsbml.AST_FUNCTION_ARCCOS: math.acos,
    libsbml.AST_FUNCTION_ARCTAN: math.atan,
    libsbml.AST_FUNCTION_SINH: math.sinh,
    libsbml.AST_FUNCTION_COSH: math.cosh,
    libsbml.AST_FUNCTION_TANH: math.tanh,
    libsbml.AST_LOGICAL_NOT: lambda x: float(not x),
}
_RELATIONAL: dict[int, Callable[[float, float], bool]] = {
    libsbml.AST_RELATIONAL_EQ: lambda a, b: a == b,
    libsbml.AST_RELATIONAL_NEQ: lambda a, b: a != b,
    libsbml.AST_RELATIONAL_LT: lambda a, b: a < b,
    libsbml.AST_RELATIONAL_LEQ: lambda a, b: a <= b,
    libsbml.AST_RELATIONAL_GT: lambda a, b: a > b,
    libsbml.AST_RELATIONAL_GEQ: lambda a, b: a >= b,
}


_CONSTANTS: dict[int, float] = {
    libsbml.AST_NAME_TIME: 0.0,
    libsbml.AST_NAME_AVOGADRO: 6.02214076e23,
    libsbml.AST_CONSTANT_E: math.e,
    libsbml.AST_CONSTANT_PI: math.pi,
    libsbml.AST_CONSTANT_TRUE: 1.0,
    libsbml.AST_CONSTANT_FALSE: 0.0,
}


def _product(vals: list[float]) -> float:
    out = 1.0
    for v in vals:
        out *= v
    return out


def _root(vals: list[float]) -> float:
    degree, x = (vals[0], vals[1]) if len(vals) == 2 else (2.0, vals[0])
    return float(x ** (1.0 / degree))


def _log(vals: list[float]) -> float:
    base, x = (vals[0], vals[1]) if len(vals) == 2 else (10.0, vals[0])
    return math.log(x, base)


def _unary(f: Callable[[float], float]) -> Callable[[list[float]], float]:
    return lambda v: float(f(v[0]))


def _chained(f: Callable[[float, float], bool]) -> Callable[[list[float]], float]:
    """``a < b < c``: every neighbouring pair."""
    return lambda v: float(all(f(a, b) for a, b in zip(v, v[1:], strict=False)))


#: Operators of their evaluated arguments.
_NARY: dict[int, Callable[[list[float]], float]] = {
    libsbml.AST_PLUS: lambda v: float(sum(v)),
    libsbml.AST_TIMES: _product,
    libsbml.AST_MINUS: lambda v: -v[0] if len(v) == 1 else v[0] - v[1],
    libsbml.AST_DIVIDE: lambda v: v[0] / v[1],
    libsbml.AST_POWER: lambda v: float(v[0] ** v[1]),
    libsbml.AST_FUNCTION_POWER: lambda v: float(v[0] ** v[1]),
    libsbml.AST_FUNCTION_ROOT: _root,
    libsbml.AST_FUNCTION_LOG: _log,
    libsbml.AST_LOGICAL_XOR: lambda v: float(sum(bool(x) for x in v) % 2 == 1),
    libsbml.AST_FUNCTION_MAX: max,
    libsbml.AST_FUNCTION_MIN: min,
    **{op: _unary(f) for op, f in _UNARY.items()},
    **{op: _chained(f) for op, f in _RELATIONAL.items()},
}


def evaluate(
    node: libsbml.ASTNode,
    values: Mapping[str, float] | Callable[[str], float],
    functions: Mapping[str, libsbml.ASTNode] | None = None,
) -> float:
    """Evaluate a libSBML AST numerically.

    Examples
    --------
    >>> evaluate(libsbml.parseL3Formula("2 * p + exp(0)"), {"p": 3.0})
    7.0
    """
    functions = functions or {}
    lookup = values if callable(values) else values.__getitem__
    t = node.getType()
    kids = [node.getChild(i) for i in range(node.getNumChildren())]

    def ev(n: libsbml.ASTNode) -> float:
        return evaluate(n, lookup, functions)

    if node.isNumber():
        return float(node.getValue())
    if t == libsbml.AST_NAME:
        return float(lookup(node.getName()))
    if t in _CONSTANTS:
        return _CONSTANTS[t]
    if t in _NARY:
        return _NARY[t]([ev(k) for k in kids])
    if t == libsbml.AST_LOGICAL_AND:  # short-circuit, like the operators of the model
        return float(all(ev(k) for k in kids))
    if t == libsbml.AST_LOGICAL_OR:
        return float(any(ev(k) for k in kids))
    if t == libsbml.AST_FUNCTION_PIECEWISE:
        for k in range(0, len(kids) - 1, 2):
            if ev(kids[k + 1]):
                return ev(kids[k])
        return ev(kids[-1]) if len(kids) % 2 == 1 else math.nan
    if t == libsbml.AST_FUNCTION and node.getName() in functions:
        lam = functions[node.getName()]
        bound = {lam.getChild(i).getName(): ev(kids[i]) for i in range(lam.getNumBvars())}

        def inner(name: str) -> float:
            return bound[name] if name in bound else float(lookup(name))

        return evaluate(lam.getChild(lam.getNumChildren() - 1), inner, functions)
    raise SbmlError(
        f"cannot evaluate {libsbml.formulaToL3String(node)!r} while re-applying initial assignments"
    )


def _names(node: libsbml.ASTNode | None, out: set[str]) -> set[str]:
    if node is None:
        return out
    if node.getType() in (libsbml.AST_NAME, libsbml.AST_FUNCTION):
        out.add(node.getName())
    for i in range(node.getNumChildren()):
        _names(node.getChild(i), out)
    return out


@dataclass(frozen=True)
class InitialAssignments:
    """Initial assignments of parameters, compartments and species, in dependency order."""

    #: symbol -> (math, ids the math uses directly).
    order: tuple[tuple[str, libsbml.ASTNode, frozenset[str]], ...]
    #: function definition id -> lambda AST.
    functions: Mapping[str, libsbml.ASTNode]
    #: Species ids whose symbol means a concentration in math.
    concentration_species: frozenset[str]

    @classmethod
    def from_model(cls, model: libsbml.Model) -> InitialAssignments:
        """Collect the parameter and compartment initial assignments of ``model``."""
        targets = {model.getParameter(i).getId() for i in range(model.getNumParameters())}
        targets |= {model.getCompartment(i).getId() for i in range(model.getNumCompartments())}
        targets |= {model.getSpecies(i).getId() for i in range(model.getNumSpecies())}
        pending = {}
        for i in range(model.getNumInitialAssignments()):
            ia = model.getInitialAssignment(i)
            if ia.getSymbol() in targets and ia.isSetMath():
                math_ = ia.getMath().deepCopy()
                pending[ia.getSymbol()] = (math_, frozenset(_names(math_, set())))
        order = []
        done: set[str] = set()
        while pending:
            ready = [s for s, (_, deps) in pending.items() if not (deps & (pending.keys() - {s}))]
            if not ready:  # a cycle: libSBML validation forbids it; keep a stable order anyway
                ready = sorted(pending)
            for s in sorted(ready):
                order.append((s, *pending.pop(s)))
                done.add(s)
        functions = {
            model.getFunctionDefinition(i).getId(): model.getFunctionDefinition(i).getMath().deepCopy()
            for i in range(model.getNumFunctionDefinitions())
            if model.getFunctionDefinition(i).isSetMath()
        }
        conc = frozenset(
            model.getSpecies(i).getId()
            for i in range(model.getNumSpecies())
            if not model.getSpecies(i).getHasOnlySubstanceUnits()
        )
        return cls(tuple(order), functions, conc)

    def affected(self, changed: set[str]) -> list[str]:
        """Symbols whose initial assignment depends, directly or not, on ``changed``."""
        dirty = set(changed)
        out = []
        for symbol, _, deps in self.order:
            if deps & dirty and symbol not in changed:
                out.append(symbol)
                dirty.add(symbol)
        return out


def event_parameters(model: Any) -> tuple[str, ...]:
    """Ids of the global parameters and compartments assigned by the events of a libSBML ``model``."""
    ids = {a.getVariable() for e in model.getListOfEvents() for a in e.getListOfEventAssignments()}
    return tuple(sorted(i for i in ids if model.getParameter(i) is not None or model.getCompartment(i) is not None))
