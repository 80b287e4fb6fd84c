"""Lazy import of optional dependencies."""

from __future__ import annotations

import importlib
from types import ModuleType

from qsp_sbml.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Examples
    --------
    >>> require("json", extra="core").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(module, extra) from err
