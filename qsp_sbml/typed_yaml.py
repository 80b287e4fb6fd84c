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

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

__all__ = ["SpecModel", "YamlDoc", "field_path", "parse", "read_yaml"]

M = TypeVar("M", bound=pydantic.BaseModel)


class SpecModel(pydantic.BaseModel):
    """Base class of the spec models.

    Unknown fields are errors (never ignored) and models are immutable; values are validated in
    pydantic's lax mode (``"12"`` for an integer field is accepted as 12, ``"many"`` is an error).
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=False, populate_by_name=True)


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
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{source}, line {mark.line + 1}" if mark is not None else source
            problem = getattr(err, "problem", None) or str(err)
            raise ValueError(f"{where}: not valid YAML: {problem}") from None
        lines: dict[str, int] = {}
        if node is not None:
            _walk(node, "", lines)
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
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
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


def _message(err: Mapping[str, Any], model: type[pydantic.BaseModel]) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against the documented fields"
    if kind == "missing":
        return "required field is missing"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


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
        problems = []
        for err in exc.errors(include_url=False):
            path = field_path(tuple(p for p in err["loc"] if not _is_tag(p, err)))
            problems.append(f"{doc.where(path)}: {_message(err, model)}")
        raise error("\n".join(dict.fromkeys(problems))) from None


def _is_tag(part: int | str, err: Mapping[str, Any]) -> bool:
    """Discriminated unions and function validators add non-field names to ``loc``; drop them."""
    return isinstance(part, str) and (part.startswith("function-") or "[" in part)
