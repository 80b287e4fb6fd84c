"""Create RoadRunner instances: the one way qsp-sbml constructs and loads them.

libroadrunner's Python wrapper adds a property to the ``RoadRunner`` *class* for every id of the last loaded
model, and deletes them at the next load (measured on 2.11).  A model with a parameter or species named like a
method (``reset``, ``simulate``, ``getValue``, ...) replaces that method with a property, and the next load
deletes it: every RoadRunner in the process then raises ``AttributeError: reset`` (SBML semantic suite case
00952 poisons every case after it).  Here the dynamic properties are switched off while we construct or load
(``Config.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES``, restored afterwards, so Tellurium users keep
``r.S1``), and any method of the class that something else replaced or deleted is put back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["new_runner", "repair_roadrunner_class", "set_log_level"]

_lock = threading.Lock()
_ORIGINAL: dict[str, Any] = {}


def _roadrunner() -> Any:
    import roadrunner

    if not _ORIGINAL:
        _ORIGINAL.update({name: value for name, value in vars(roadrunner.RoadRunner).items()
                          if not name.startswith("__") and name != "_properties"
                          and name not in roadrunner.RoadRunner._properties})
    return roadrunner


def repair_roadrunner_class() -> list[str]:
    """Put back RoadRunner methods that a model's dynamic properties replaced or deleted; return their names."""
    roadrunner = _roadrunner()
    cls = roadrunner.RoadRunner
    repaired = [name for name, value in _ORIGINAL.items() if cls.__dict__.get(name) is not value]
    for name in repaired:
        setattr(cls, name, _ORIGINAL[name])
    cls._properties = [p for p in cls._properties if p not in _ORIGINAL]
    return repaired


@contextmanager
def _without_dynamic_properties() -> Iterator[Any]:
    roadrunner = _roadrunner()
    key = roadrunner.Config.ROADRUNNER_DISABLE_PYTHON_DYNAMIC_PROPERTIES
    with _lock:
        repair_roadrunner_class()
        before = roadrunner.Config.getValue(key)
        roadrunner.Config.setValue(key, True)
        try:
            yield roadrunner
        finally:
            roadrunner.Config.setValue(key, before)


def new_runner(sbml: str | None = None, *, state: bytes | None = None) -> Any:
    """A RoadRunner compiled from ``sbml`` text, or loaded from a ``saveStateS`` ``state``.

    ``sbml`` is compiled with a hidden root event for each relation of a composite event trigger
    (:func:`qsp_sbml.simulate.trigger_roots.with_trigger_roots`; a model without one compiles as given).
    Raises RoadRunner's ``RuntimeError`` when it refuses the model.
    """
    if (sbml is None) == (state is None):
        raise ValueError("give exactly one of sbml or state")
    if sbml is not None:
        from qsp_sbml.simulate.trigger_roots import with_trigger_roots

        sbml = with_trigger_roots(sbml)
    with _without_dynamic_properties() as roadrunner:
        if state is not None:
            rr = roadrunner.RoadRunner()
            rr.loadStateS(state)
        else:
            rr = roadrunner.RoadRunner(sbml)
    return rr


def set_log_level(level: str) -> None:
    """Set RoadRunner's console log level.

    ``"error"`` is what the package uses; ``"critical"`` is for cohort workers, which record each subject's
    failure themselves.
    """
    roadrunner = _roadrunner()
    levels = {"error": roadrunner.Logger.LOG_ERROR, "critical": roadrunner.Logger.LOG_CRITICAL,
              "warning": roadrunner.Logger.LOG_WARNING}
    roadrunner.Logger.setLevel(levels[level])
