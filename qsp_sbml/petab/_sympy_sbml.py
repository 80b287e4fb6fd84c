"""libSBML math to sympy and sympy back to SBML Level 3 infix (internal; for the sensitivity equations)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import libsbml

from qsp_sbml.errors import UnsupportedFeatureError

__all__ = ["TIME", "ast_to_sympy", "to_l3"]


def _time() -> Any:
    import sympy as sp

    return sp.Symbol("__qsps_time")


#: The sympy symbol standing for SBML's ``time`` csymbol.
TIME = _time()


def _unsupported(what: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"gradient: {what} is not supported by the sensitivity equations yet",
                                   feature="petab-gradient-math")


def _as_condition(expr: Any) -> Any:
    import sympy as sp

    if isinstance(expr, sp.logic.boolalg.Boolean):
        return expr
    return sp.Ne(expr, 0)


def ast_to_sympy(node: libsbml.ASTNode, resolve: Callable[[str], Any]) -> Any:
    """Sympy expression of a libSBML AST; ``resolve(name)`` gives the expression of an id.

    Examples
    --------
    >>> import sympy as sp
    >>> ast_to_sympy(libsbml.parseL3Formula("k * pow(A, 2) + piecewise(1, time > 2, 0)"), sp.Symbol)
    A**2*k + Piecewise((1, __qsps_time > 2), (0, True))
    """
    kids = [ast_to_sympy(node.getChild(i), resolve) for i in range(node.getNumChildren())]
    handler = _handlers().get(node.getType())
    if handler is None:
        raise _unsupported_math(node)
    return handler(node, kids, resolve)


#: ``(node, its children as sympy, resolve) -> sympy`` for one AST node type.
_Handler = Callable[[libsbml.ASTNode, list[Any], Callable[[str], Any]], Any]


def _unsupported_math(node: libsbml.ASTNode) -> UnsupportedFeatureError:
    return _unsupported(f"the math {libsbml.formulaToL3String(node)!r}")


@functools.cache
def _handlers() -> dict[int, _Handler]:
    """AST node type -> handler (built once, on first use: sympy is imported only then)."""
    import sympy as sp

    table: dict[int, _Handler] = {
        libsbml.AST_INTEGER: lambda node, kids, resolve: sp.Integer(node.getInteger()),
        libsbml.AST_RATIONAL: lambda node, kids, resolve: sp.Rational(node.getNumerator(), node.getDenominator()),
        libsbml.AST_REAL: _real,
        libsbml.AST_REAL_E: _real,
        libsbml.AST_NAME: lambda node, kids, resolve: resolve(node.getName()),
        libsbml.AST_NAME_TIME: lambda node, kids, resolve: TIME,
        libsbml.AST_NAME_AVOGADRO: lambda node, kids, resolve: sp.Float(6.02214076e23),
        libsbml.AST_CONSTANT_E: lambda node, kids, resolve: sp.E,
        libsbml.AST_CONSTANT_PI: lambda node, kids, resolve: sp.pi,
        libsbml.AST_CONSTANT_TRUE: lambda node, kids, resolve: sp.true,
        libsbml.AST_CONSTANT_FALSE: lambda node, kids, resolve: sp.false,
        libsbml.AST_PLUS: lambda node, kids, resolve: sp.Add(*kids),
        libsbml.AST_MINUS: lambda node, kids, resolve: -kids[0] if len(kids) == 1 else kids[0] - kids[1],
        libsbml.AST_TIMES: lambda node, kids, resolve: sp.Mul(*kids),
        libsbml.AST_DIVIDE: lambda node, kids, resolve: kids[0] / kids[1],
        libsbml.AST_POWER: lambda node, kids, resolve: kids[0] ** kids[1],
        libsbml.AST_FUNCTION_POWER: lambda node, kids, resolve: kids[0] ** kids[1],
        libsbml.AST_FUNCTION_ROOT: lambda node, kids, resolve: (
            kids[1] ** (1 / kids[0]) if len(kids) == 2 else sp.sqrt(kids[0])),
        libsbml.AST_FUNCTION_LOG: lambda node, kids, resolve: (
            sp.log(kids[1]) / sp.log(kids[0]) if len(kids) == 2 else sp.log(kids[0]) / sp.log(10)),
        libsbml.AST_FUNCTION_PIECEWISE: _piecewise,
        libsbml.AST_LOGICAL_AND: lambda node, kids, resolve: sp.And(*map(_as_condition, kids)),
        libsbml.AST_LOGICAL_OR: lambda node, kids, resolve: sp.Or(*map(_as_condition, kids)),
        libsbml.AST_LOGICAL_NOT: lambda node, kids, resolve: sp.Not(_as_condition(kids[0])),
        libsbml.AST_LOGICAL_XOR: lambda node, kids, resolve: sp.Xor(*map(_as_condition, kids)),
    }
    unary = {
        libsbml.AST_FUNCTION_EXP: sp.exp, libsbml.AST_FUNCTION_LN: sp.log, libsbml.AST_FUNCTION_ABS: sp.Abs,
        libsbml.AST_FUNCTION_FLOOR: sp.floor, libsbml.AST_FUNCTION_CEILING: sp.ceiling,
        libsbml.AST_FUNCTION_SIN: sp.sin, libsbml.AST_FUNCTION_COS: sp.cos, libsbml.AST_FUNCTION_TAN: sp.tan,
        libsbml.AST_FUNCTION_ARCSIN: sp.asin, libsbml.AST_FUNCTION_ARCCOS: sp.acos,
        libsbml.AST_FUNCTION_ARCTAN: sp.atan, libsbml.AST_FUNCTION_SINH: sp.sinh,
        libsbml.AST_FUNCTION_COSH: sp.cosh, libsbml.AST_FUNCTION_TANH: sp.tanh,
    }
    table.update({t: _unary(f) for t, f in unary.items()})
    relational = {
        libsbml.AST_RELATIONAL_EQ: sp.Eq, libsbml.AST_RELATIONAL_NEQ: sp.Ne, libsbml.AST_RELATIONAL_LT: sp.Lt,
        libsbml.AST_RELATIONAL_LEQ: sp.Le, libsbml.AST_RELATIONAL_GT: sp.Gt, libsbml.AST_RELATIONAL_GEQ: sp.Ge,
    }
    table.update({t: _chained(rel) for t, rel in relational.items()})
    for name, f in (("AST_FUNCTION_MAX", sp.Max), ("AST_FUNCTION_MIN", sp.Min)):  # newer libSBML only
        if hasattr(libsbml, name):
            table[getattr(libsbml, name)] = _variadic(f)
    return table


def _real(node: libsbml.ASTNode, kids: list[Any], resolve: Callable[[str], Any]) -> Any:
    import sympy as sp

    value = node.getReal()
    # integral reals as integers: x**2.0 differentiates to 0/0 forms at x = 0
    return sp.Integer(int(value)) if value.is_integer() and abs(value) < 2**53 else sp.Float(value)


def _piecewise(node: libsbml.ASTNode, kids: list[Any], resolve: Callable[[str], Any]) -> Any:
    import sympy as sp

    n = len(kids)
    pairs = [(kids[i], _as_condition(kids[i + 1])) for i in range(0, n - 1, 2)]
    pairs.append((kids[-1] if n % 2 else sp.Integer(0), sp.true))
    return sp.Piecewise(*pairs)


def _unary(f: Callable[[Any], Any]) -> _Handler:
    """A handler applying ``f`` to the one child (another arity is unsupported)."""
    def handle(node: libsbml.ASTNode, kids: list[Any], resolve: Callable[[str], Any]) -> Any:
        if len(kids) != 1:
            raise _unsupported_math(node)
        return f(kids[0])
    return handle


def _variadic(f: Callable[..., Any]) -> _Handler:
    """A handler applying ``f`` to all the children."""
    def handle(node: libsbml.ASTNode, kids: list[Any], resolve: Callable[[str], Any]) -> Any:
        return f(*kids)
    return handle


def _chained(rel: Callable[[Any, Any], Any]) -> _Handler:
    """A handler for ``a < b < c``: the conjunction of neighbouring pairs (fewer than two children: unsupported)."""
    import sympy as sp

    def handle(node: libsbml.ASTNode, kids: list[Any], resolve: Callable[[str], Any]) -> Any:
        if len(kids) < 2:
            raise _unsupported_math(node)
        return sp.And(*(rel(kids[i], kids[i + 1]) for i in range(len(kids) - 1)))
    return handle


_FUNCTIONS = {"exp": "exp", "log": "ln", "sin": "sin", "cos": "cos", "tan": "tan", "asin": "arcsin",
              "acos": "arccos", "atan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
              "Abs": "abs", "floor": "floor", "ceiling": "ceil"}
_RELATIONS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!="}


def to_l3(expr: Any) -> str:
    """SBML Level 3 infix of a sympy expression (the inverse of :func:`ast_to_sympy`).

    Examples
    --------
    >>> import sympy as sp
    >>> a, k = sp.symbols("a k")
    >>> to_l3(sp.Piecewise((k * a**2, a > 1), (sp.exp(-a) / 2, True)))
    'piecewise((k * pow(a, 2)), (a > 1), ((1/2) * exp((-1 * a))))'
    """
    import sympy as sp

    if expr is sp.true or expr == sp.true:
        return "true"
    if expr is sp.false or expr == sp.false:
        return "false"
    if expr == TIME:
        return "time"
    if isinstance(expr, sp.Symbol):
        return str(expr.name)
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Rational:
        return f"({int(expr.p)}/{int(expr.q)})"
    if expr.is_Float:
        return repr(float(expr))
    if expr is sp.pi:
        return "pi"
    if expr is sp.E:
        return "exponentiale"
    if expr.is_Add:
        return "(" + " + ".join(to_l3(a) for a in expr.args) + ")"
    if expr.is_Mul:
        return "(" + " * ".join(to_l3(a) for a in expr.args) + ")"
    if expr.is_Pow:
        base, exp = expr.args
        if exp == -1:
            return f"(1 / {to_l3(base)})"
        if exp == sp.Rational(1, 2):
            return f"sqrt({to_l3(base)})"
        return f"pow({to_l3(base)}, {to_l3(exp)})"
    if isinstance(expr, sp.Piecewise):
        parts = []
        for value, cond in expr.args:
            if cond is sp.true or cond == sp.true:
                parts.append(to_l3(value))
                break
            parts += [to_l3(value), to_l3(cond)]
        else:
            parts.append("0")
        return f"piecewise({', '.join(parts)})"
    if isinstance(expr, sp.sign):
        a = to_l3(expr.args[0])
        return f"piecewise(1, {a} > 0, -1, {a} < 0, 0)"
    if isinstance(expr, sp.Heaviside):
        a = to_l3(expr.args[0])
        return f"piecewise(1, {a} > 0, 0)"
    if isinstance(expr, sp.Max | sp.Min):
        op = ">=" if isinstance(expr, sp.Max) else "<="
        first, rest = expr.args[0], expr.func(*expr.args[1:])
        return f"piecewise({to_l3(first)}, {to_l3(first)} {op} {to_l3(rest)}, {to_l3(rest)})"
    if isinstance(expr, sp.core.relational.Relational) and expr.rel_op in _RELATIONS:
        return f"({to_l3(expr.lhs)} {_RELATIONS[expr.rel_op]} {to_l3(expr.rhs)})"
    if isinstance(expr, sp.And | sp.Or | sp.Xor):
        name = {sp.And: "and", sp.Or: "or", sp.Xor: "xor"}[type(expr)]
        return f"{name}({', '.join(to_l3(a) for a in expr.args)})"
    if isinstance(expr, sp.Not):
        return f"not({to_l3(expr.args[0])})"
    if isinstance(expr, sp.Function) and type(expr).__name__ in _FUNCTIONS and len(expr.args) == 1:
        return f"{_FUNCTIONS[type(expr).__name__]}({to_l3(expr.args[0])})"
    raise _unsupported(f"the expression {expr} (in a derivative)")
