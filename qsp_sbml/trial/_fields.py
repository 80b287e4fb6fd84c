"""Field checks shared by the trial kinds read from their own modules (``vbe``, ``n_of_1``).

Each raises :class:`~qsp_sbml.errors.TrialDesignError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from qsp_sbml.errors import TrialDesignError

__all__ = ["check_kind", "file_path", "mapping", "number"]


def check_kind(spec: object, kind: str, keys: Collection[str]) -> Mapping[str, Any]:
    """``spec`` as a mapping of known ``keys`` whose ``type`` is ``kind``."""
    if not isinstance(spec, Mapping):
        raise TrialDesignError("the design must be a mapping", field="type")
    unknown = sorted(set(spec) - set(keys))
    if unknown:
        raise TrialDesignError(f"unknown key; known keys: {', '.join(sorted(keys))}", field=unknown[0])
    if spec.get("type") != kind:
        raise TrialDesignError(f"must be {kind!r} for this kind, got {spec.get('type')!r}", field="type")
    return spec


def number(spec: Mapping[str, Any], key: str, field: str, *, positive: bool = True,
           default: float | None = None) -> float:
    """A finite number (positive unless ``positive=False``); ``default`` when the key is absent."""
    if key not in spec:
        if default is not None:
            return default
        raise TrialDesignError("is required", field=field)
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or (positive and v <= 0):
        raise TrialDesignError(f"must be a {'positive ' if positive else ''}number, got {v!r}", field=field, value=v)
    return float(v)


def mapping(spec: Mapping[str, Any], key: str, field: str, *, nonempty: bool = False) -> Mapping[str, Any]:
    """The mapping under ``key`` (non-empty when ``nonempty``)."""
    v = spec.get(key)
    if not isinstance(v, Mapping) or (nonempty and not v):
        what = "a non-empty mapping" if nonempty else "a mapping"
        raise TrialDesignError(f"must be {what}, got {v!r}", field=field, value=v)
    return v


def file_path(spec: Mapping[str, Any], key: str, base: Path, *, must_exist: bool = True) -> Path:
    """The file named under ``key``, relative to the design file's folder ``base`` (existing unless told)."""
    v = spec.get(key)
    if not isinstance(v, str) or not v:
        raise TrialDesignError("must be a file path (relative to the design file)", field=key, value=v)
    p = (base / v).resolve()
    if must_exist and not p.is_file():
        raise TrialDesignError(f"no such file: {p}", field=key, value=v)
    return p
