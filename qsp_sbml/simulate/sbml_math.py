"""SBML math as vectorised NumPy closures, with its degree in a set of state variables.

:class:`MathCompiler` turns a libSBML AST into a function of an environment (a mapping from ids to NumPy
arrays, one value per subject, broadcast together) and reports, for a given set of state ids, whether the
expression is constant in them (degree 0), affine (degree 1: linear with coefficients that read no state)
or anything else (degree 2), with the states it reads.  ``time`` counts as degree 2: a coefficient that
changes with time is not a constant one.  Ids known to be exactly 0 for every subject (``zeros``) compile
to the constant 0, and a product (a ``times`` node) with such a factor is the constant 0 whatever else it
reads (the switch of an unused nonlinear term, e.g. ``saturable_<enzyme>`` of the PBPK module, keeps the rest
linear).  The folding stops there: a quotient with a zero numerator, or a rule that folds to 0, keeps its
degree (a missed speed-up, never a wrong value), and a zero factor times an infinite or NaN value gives 0
where the integrator's path would give NaN.  Used by
:mod:`qsp_sbml.simulate.linear_pk` to find the linear subsystem of a model and to evaluate the rest.  No
``eval``: the closures call NumPy ufuncs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import libsbml
import numpy as np

__all__ = ["TIME", "Compiled", "MathCompiler", "UnsupportedMath"]

Fn = Callable[[Mapping[str, Any]], Any]


class UnsupportedMath(Exception):
    """An AST node the compiler does not handle (the caller falls back to the general path)."""


@dataclass(frozen=True)
class Compiled:
    """A compiled expression."""

    #: Evaluate with an environment of arrays.
    fn: Fn
    #: 0 constant in the states, 1 affine, 2 other (nonlinear or time-dependent).
    degree: int
    #: State ids the expression reads (through assignment rules too).
    states: frozenset[str]


_UNARY: dict[int, Callable[[Any], Any]] = {
    libsbml.AST_FUNCTION_EXP: np.exp, libsbml.AST_FUNCTION_LN: np.log, libsbml.AST_FUNCTION_ABS: np.abs,
    libsbml.AST_FUNCTION_FLOOR: np.floor, libsbml.AST_FUNCTION_CEILING: np.ceil, libsbml.AST_FUNCTION_SIN: np.sin,
    libsbml.AST_FUNCTION_COS: np.cos, libsbml.AST_FUNCTION_TAN: np.tan, libsbml.AST_FUNCTION_ARCSIN: np.arcsin,
    libsbml.AST_FUNCTION_ARCCOS: np.arccos, libsbml.AST_FUNCTION_ARCTAN: np.arctan,
    libsbml.AST_FUNCTION_SINH: np.sinh, libsbml.AST_FUNCTION_COSH: np.cosh, libsbml.AST_FUNCTION_TANH: np.tanh,
    libsbml.AST_LOGICAL_NOT: lambda x: np.logical_not(x).astype(float),
}
_RELATIONAL: dict[int, Callable[[Any, Any], Any]] = {
    libsbml.AST_RELATIONAL_EQ: np.equal, libsbml.AST_RELATIONAL_NEQ: np.not_equal,
    libsbml.AST_RELATIONAL_LT: np.less, libsbml.AST_RELATIONAL_LEQ: np.less_equal,
    libsbml.AST_RELATIONAL_GT: np.greater, libsbml.AST_RELATIONAL_GEQ: np.greater_equal,
}
_LOGICAL: dict[int, Callable[[Any, Any], Any]] = {
    libsbml.AST_LOGICAL_AND: np.logical_and, libsbml.AST_LOGICAL_OR: np.logical_or,
    libsbml.AST_LOGICAL_XOR: np.logical_xor,
}
_CONSTANTS: dict[int, float] = {
    libsbml.AST_NAME_AVOGADRO: 6.02214076e23, libsbml.AST_CONSTANT_E: math.e, libsbml.AST_CONSTANT_PI: math.pi,
    libsbml.AST_CONSTANT_TRUE: 1.0, libsbml.AST_CONSTANT_FALSE: 0.0,
}
#: The environment key of the model time.
TIME = "__time__"


def _const(value: float) -> Compiled:
    return Compiled(lambda v: value, 0, frozenset())


#: A value known to be exactly 0 for every subject (products with it are 0).
_ZERO = _const(0.0)


class MathCompiler:
    """Compile SBML math of one model for the states ``states``.

    Parameters
    ----------
    states
        Ids whose values change with time (degree 1 each).
    rules
        Assignment-rule variable -> its math (inlined where read, compiled once each).
    zeros
        Constant ids whose value is exactly 0 for every subject.
    """

    def __init__(self, states: frozenset[str], rules: Mapping[str, libsbml.ASTNode],
                 zeros: frozenset[str] = frozenset()) -> None:
        self.states = states
        self.rules = dict(rules)
        self.zeros = zeros - states - set(rules)
        self._memo: dict[str, Compiled] = {}
        self._active: set[str] = set()

    def math(self, node: libsbml.ASTNode, locals_: Mapping[str, float] | None = None) -> Compiled:
        """Compile ``node`` (``locals_``: values of names local to it, kinetic-law parameters).

        Raises :class:`UnsupportedMath` for a construct it does not handle.
        """
        if node is None:
            raise UnsupportedMath("missing math")
        return self._node(node, dict(locals_ or {}))

    def name(self, name: str) -> Compiled:
        """The compiled value of an id (a state, a constant or an assignment-rule variable)."""
        if name in self.states:
            return Compiled(lambda v: v[name], 1, frozenset({name}))
        if name in self.zeros:
            return _ZERO
        if name not in self.rules:
            return Compiled(lambda v: v[name], 0, frozenset())
        if name not in self._memo:
            if name in self._active:
                raise UnsupportedMath(f"assignment rules read each other in a cycle through {name!r}")
            self._active.add(name)
            inner = self._node(self.rules[name], {})
            self._active.discard(name)
            self._memo[name] = Compiled(inner.fn, inner.degree, inner.states)
        return self._memo[name]

    def _node(self, node: libsbml.ASTNode, loc: dict[str, float]) -> Compiled:
        t = node.getType()
        kids = [self._node(node.getChild(i), loc) for i in range(node.getNumChildren())] \
            if t not in (libsbml.AST_NAME, libsbml.AST_NAME_TIME) else []
        if node.isNumber():
            return _const(float(node.getValue()))
        if t == libsbml.AST_NAME:
            name = node.getName()
            return _const(loc[name]) if name in loc else self.name(name)
        if t == libsbml.AST_NAME_TIME:
            return Compiled(lambda v: v[TIME], 2, frozenset())
        if t in _CONSTANTS:
            return _const(_CONSTANTS[t])
        if t in (libsbml.AST_PLUS, libsbml.AST_MINUS, libsbml.AST_TIMES, libsbml.AST_DIVIDE, libsbml.AST_POWER,
                 libsbml.AST_FUNCTION_POWER):
            return _arithmetic(t, kids, node)
        if t == libsbml.AST_FUNCTION_PIECEWISE:
            return _piecewise(kids)
        return _function(t, kids, node)


def _merge(fn: Fn, degree: int, kids: list[Compiled]) -> Compiled:
    return Compiled(fn, min(degree, 2), frozenset().union(*(k.states for k in kids)))


def _arithmetic(t: int, kids: list[Compiled], node: libsbml.ASTNode) -> Compiled:
    fns = [k.fn for k in kids]
    deg = [k.degree for k in kids]
    if t == libsbml.AST_PLUS:
        if not kids:
            return _const(0.0)
        return _merge(lambda v: _fold(np.add, fns, v), max(deg), kids)
    if t == libsbml.AST_MINUS:
        if len(kids) == 1:
            f0 = fns[0]
            return _merge(lambda v: np.negative(f0(v)), deg[0], kids)
        a, b = fns
        return _merge(lambda v: np.subtract(a(v), b(v)), max(deg), kids)
    if t == libsbml.AST_TIMES:
        if not kids:
            return _const(1.0)
        if any(k is _ZERO for k in kids):
            return _ZERO
        return _merge(lambda v: _fold(np.multiply, fns, v), sum(deg), kids)
    if len(kids) != 2:
        raise UnsupportedMath(f"{libsbml.formulaToL3String(node)}: wrong number of arguments")
    a, b = fns
    if t == libsbml.AST_DIVIDE:
        return _merge(lambda v: np.divide(a(v), b(v)), deg[0] if deg[1] == 0 else 2, kids)
    exponent = node.getChild(1)
    if exponent.isNumber() and float(exponent.getValue()) == 1.0:
        degree = deg[0]
    else:
        degree = 0 if max(deg) == 0 else 2
    return _merge(lambda v: np.power(a(v), b(v)), degree, kids)


def _fold(op: Callable[[Any, Any], Any], fns: list[Fn], v: Mapping[str, Any]) -> Any:
    out = fns[0](v)
    for f in fns[1:]:
        out = op(out, f(v))
    return out


def _piecewise(kids: list[Compiled]) -> Compiled:
    pairs = [(kids[i].fn, kids[i + 1].fn) for i in range(0, len(kids) - 1, 2)]
    otherwise = kids[-1].fn if len(kids) % 2 else (lambda v: np.nan)

    def fn(v: Mapping[str, Any]) -> Any:
        out = otherwise(v)
        for value, cond in reversed(pairs):
            out = np.where(np.asarray(cond(v), dtype=bool), value(v), out)
        return out

    return _merge(fn, 0 if all(k.degree == 0 for k in kids) else 2, kids)


def _function(t: int, kids: list[Compiled], node: libsbml.ASTNode) -> Compiled:
    fns = [k.fn for k in kids]
    degree = 0 if all(k.degree == 0 for k in kids) else 2
    if t in _UNARY and len(kids) == 1:
        f, a = _UNARY[t], fns[0]
        return _merge(lambda v: f(a(v)), degree, kids)
    if t in _RELATIONAL and len(kids) == 2:
        r, a, b = _RELATIONAL[t], fns[0], fns[1]
        return _merge(lambda v: r(a(v), b(v)).astype(float), degree, kids)
    if t in _LOGICAL and kids:
        op = _LOGICAL[t]
        return _merge(lambda v: _fold(lambda x, y: op(x, y).astype(float), fns, v), degree, kids)
    if t == libsbml.AST_FUNCTION_ROOT and len(kids) in (1, 2):
        d, x = (fns[0], fns[1]) if len(kids) == 2 else ((lambda v: 2.0), fns[0])
        return _merge(lambda v: np.power(x(v), np.divide(1.0, d(v))), degree, kids)
    if t == libsbml.AST_FUNCTION_LOG and len(kids) in (1, 2):
        base, x = (fns[0], fns[1]) if len(kids) == 2 else ((lambda v: 10.0), fns[0])
        return _merge(lambda v: np.divide(np.log(x(v)), np.log(base(v))), degree, kids)
    raise UnsupportedMath(f"{libsbml.formulaToL3String(node)}: {node.getName() or 'this operator'} is not "
                          "supported by the structure-aware path")
