"""Typed YAML specs: read a YAML file into a pydantic model, with errors that name file, line and field.

Every spec file of the package (composition, virtual population, trial design, sensitivity
analysis, FHIR mapping...) is read the same way:

1. :func:`read_yaml` parses the text and records the line of every node by its field path
   (``arms[1].regimen``), so that no reader tracks lines by hand;
2. :func:`parse` validates the data against a pydantic model (``extra="forbid"``: an unknown field
   is an error, never ignored) and turns every pydantic error into one message per field::

       design.yaml, line 14, field arms[1].regimen: Input should be a valid string (got 12)

   raised as the caller's error class (``TrialDesignError``, ``PopulationError``,
   ``CompositionError``...).

Validators that need the folder of the file (paths in a spec are relative to the spec) read it from
the validation context: ``info.context["base"]``.

>>> from pydantic import BaseModel, ConfigDict
>>> class Spec(BaseModel):
...     model_config = ConfigDict(extra="forbid")
...     n: int
>>> doc = YamlDoc.from_text("n: many\\n", source="spec.yaml")
>>> parse(Spec, doc, error=ValueError)
Traceback (most recent call last):
...
ValueError: spec.yaml, line 1, field n: Input should be a valid integer, ... (got 'many')
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml

__all__ = [
    "At",
    "Finite",
    "NonNegative",
    "Positive",
    "Problem",
    "SpecModel",
    "YamlDoc",
    "existing_file",
    "field_path",
    "parse",
    "read_yaml",
    "spec_error",
]

M = TypeVar("M", bound=pydantic.BaseModel)

#: A finite number (no NaN or infinity).
Finite = Annotated[float, pydantic.Field(allow_inf_nan=False)]
#: A finite number > 0.
Positive = Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)]
#: A finite number >= 0.
NonNegative = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]


class SpecModel(pydantic.BaseModel):
    """Base class of the spec models.

    Unknown fields are errors (never ignored) and models are immutable; values are validated in
    pydantic's lax mode (``"12"`` for an integer field is accepted as 12, ``"many"`` is an error).
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=False, populate_by_name=True)


class At(ValueError):
    """A validator's error about a part of the value it checks: ``At("[2].to", "no such port")``.

    Raised inside a pydantic validator, the path is appended to the field's own path in the message, so a
    check of a whole mapping or list still names the entry (``links[2].to``) and its line.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One problem of a spec: the field path, its line (when known), the message and the file."""

    path: str
    line: int | None
    message: str
    source: str = ""

    def format(self) -> str:
        """``file, line N, field PATH: message``."""
        parts = [self.source] if self.source else []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.path:
            parts.append(f"field {self.path}")
        return f"{', '.join(parts)}: {self.message}"


def _join(path: str, sub: str) -> str:
    if not sub:
        return path
    if not path:
        return sub.lstrip(".")
    return path + (sub if sub.startswith("[") else "." + sub.lstrip("."))


def existing_file(name: str, info: pydantic.ValidationInfo) -> str:
    """A pydantic validator's check that ``name`` (relative to the spec's folder) is a file; returns ``name``."""
    if not name:
        raise ValueError("must be a file path (relative to the spec file)")
    p = Path(name)
    base = info.context.get("base") if info.context else None
    p = p if p.is_absolute() or base is None else Path(base) / p
    if not p.is_file():
        raise ValueError(f"no such file: {p}")
    return name


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("arms", 1, "regimen")`` -> ``"arms[1].regimen"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document, its source and the line of every node by field path."""

    data: Any
    source: str
    lines: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_text(cls, text: str, *, source: str) -> YamlDoc:
        """Parse ``text``; a YAML syntax error raises ``ValueError`` naming source and line."""
        lines: dict[str, int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
            if node is not None:
                _walk(node, "", lines)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{source}, line {mark.line + 1}" if mark is not None else source
            problem = getattr(err, "problem", None) or str(err)
            raise ValueError(f"{where}: not valid YAML: {problem}") from None
        return cls(data=data, source=source, lines=lines)

    def line(self, path: str) -> int | None:
        """The line of ``path`` or of its nearest enclosing node that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            if path.endswith("]"):
                path = path[: path.rindex("[")]
            else:
                path = path.rsplit(".", 1)[0] if "." in path else ""
        return self.lines.get("")

    def where(self, path: str) -> str:
        """``"file.yaml, line 4, field arms[0].id"`` (line and field when known)."""
        parts = [self.source]
        line = self.line(path)
        if line is not None:
            parts.append(f"line {line}")
        if path:
            parts.append(f"field {path}")
        return ", ".join(parts)


def _walk(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:  # YAML keeps the last value silently: refuse the ambiguity
                raise yaml.MarkedYAMLError(problem=f"key {key.value!r} given twice", problem_mark=key.start_mark)
            seen.add(key.value)
            lines[sub] = key.start_mark.line + 1
            _walk(value, sub, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", lines)


def read_yaml(
    path: str | os.PathLike[str], *, error: Callable[[str], Exception] = ValueError, what: str = "spec"
) -> YamlDoc:
    """Read a YAML file; a missing file or a syntax error raises ``error`` naming the file (and line)."""
    p = Path(path)
    if not p.is_file():
        raise error(f"no such {what} file: {p}")
    try:
        return YamlDoc.from_text(p.read_text(encoding="utf-8"), source=str(p))
    except ValueError as err:
        raise error(str(err)) from None
    except UnicodeDecodeError as err:
        raise error(f"{p}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None


def _attach(exc: Exception, problems: list[Problem]) -> Exception:
    """Give ``exc`` the problems (``exc.problems``) and, if it has an unset ``field``, the first one's path."""
    exc.problems = tuple(problems)  # type: ignore[attr-defined]
    if problems and hasattr(exc, "field") and exc.field is None:
        exc.field = problems[0].path
    return exc


def spec_error(doc: YamlDoc, path: str, message: str, *, error: Callable[[str], Exception] = ValueError) -> Exception:
    """``error("file, line N, field PATH: message")`` for a check made after :func:`parse` (cross-field checks).

    The returned exception carries ``problems`` and, for error classes with a ``field`` attribute (such as
    :class:`~qsp_sbml.errors.TrialDesignError`), that field.
    """
    return _attach(error(f"{doc.where(path)}: {message}"), [Problem(path, doc.line(path), message, doc.source)])


def _message(err: Mapping[str, Any], model: type[pydantic.BaseModel]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        loc = tuple(err["loc"])
        known = _fields_at(model, loc[:-1])
        if not known:
            return "unknown field; check its spelling against the documented fields"
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown field; {hint}known fields: {', '.join(known)}"
    if kind == "missing":
        return "required field is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if isinstance(err.get("ctx", {}).get("error"), At):
        return msg
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def _fields_at(model: type[pydantic.BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names (aliases) of the model at ``loc`` inside ``model`` ([] when it cannot be told)."""
    current: Any = model
    for part in loc:
        current = _model_in(current, part)
        if current is None:
            return []
    models = [m for m in _members(current) if isinstance(m, type) and issubclass(m, pydantic.BaseModel)]
    if len(models) == 1:
        return [f.alias or name for name, f in models[0].model_fields.items()]
    return []


def _members(tp: Any) -> list[Any]:
    """``tp`` without ``Annotated`` and ``Optional``; the members of a union."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _members(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in args if a is not type(None) for m in _members(a)]
    return [tp]


def _model_in(tp: Any, part: int | str) -> Any:
    """The type one step (a field, an index, a key or a union member's name) inside ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        return _model_in(args[0], part)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        # a member model, or its validator's tag "function-after[_check(), Member]"
        named = [
            a
            for a in members
            if isinstance(part, str)
            and getattr(a, "__name__", None)
            in (part, part.removeprefix("function-after[").rpartition(", ")[2].removesuffix("]"))
        ]
        if named:  # pydantic names the union member in the loc
            return named[0]
        found = [m for m in (_model_in(a, part) for a in members) if m is not None]
        return found[0] if len(found) == 1 else None
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        fields = {f.alias or name: f for name, f in tp.model_fields.items()}
        return fields[part].annotation if isinstance(part, str) and part in fields else None
    if origin in (list, tuple) and isinstance(part, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def parse(
    model: type[M],
    doc: YamlDoc,
    *,
    error: Callable[[str], Exception] = ValueError,
    base: Path | None = None,
    context: Mapping[str, Any] | None = None,
) -> M:
    """Validate ``doc.data`` against ``model``.

    Every problem is reported at once, one line each, as ``file, line, field: message``; the
    exception raised is ``error(text)``.  ``base`` (default: the file's folder) is passed to
    validators as ``info.context["base"]``.
    """
    ctx = {"base": base if base is not None else Path(doc.source).parent, "doc": doc, **(context or {})}
    try:
        return model.model_validate(doc.data, context=ctx)
    except pydantic.ValidationError as exc:
        found: list[tuple[Problem, bool]] = []
        for err in exc.errors(include_url=False):
            path = field_path(_data_loc(err, doc.data))
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, At):
                path = _join(path, cause.path)
            # a union member of another shape (a scalar or a literal offered a mapping): reported only if alone
            other_shape = isinstance(err.get("input"), dict | list) and (
                str(err.get("type", "")).endswith("_type") or err.get("type") == "literal_error"
            )
            found.append((Problem(path, doc.line(path), _message(err, model), doc.source), other_shape))
        problems: list[Problem] = []
        for problem, other_shape in found:
            if other_shape and any(
                q is not problem
                and not o
                and (
                    q.path == problem.path
                    or q.path.startswith(problem.path + ".")
                    or q.path.startswith(problem.path + "[")
                )
                for q, o in found
            ):
                continue
            if problem not in problems:
                problems.append(problem)
        text = "\n".join(f"{doc.where(p.path)}: {p.message}" for p in problems)
        raise _attach(error(text), problems) from None


def _data_loc(err: Mapping[str, Any], data: Any) -> tuple[int | str, ...]:
    """The error's ``loc`` without the names pydantic adds for union members and validators.

    Those names (``str``, ``_Link``, ``function-after[...]``) are not in the data; a name is kept when the
    data has it at that place, or when it is the last one of a missing or unknown field.
    """
    loc = tuple(err["loc"])
    out: list[int | str] = []
    for k, part in enumerate(loc):
        if isinstance(data, Mapping) and part in data:
            data = data[part]
            out.append(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
            out.append(part)
        elif k == len(loc) - 1 and err.get("type") in ("missing", "extra_forbidden"):
            out.append(part)
        # anything else is a tag (a missing field is always the last name of its loc)
    return tuple(out)
