"""The :class:`Model`: a validated flat SBML model plus compiled RoadRunner instances.

A model compiles once; new parameter sets and regimens are applied to the
compiled instance without recompiling.  A regimen with IV infusions needs an
input reaction per infused species: that variant is compiled once per set of
infusion targets and cached.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import libsbml
import numpy as np
import pandas as pd

from qsp_sbml.dosing import Dose, Regimen, as_regimen
from qsp_sbml.errors import SbmlError, UnsupportedFeatureError
from qsp_sbml.simulate._initial import InitialAssignments, event_parameters, reset_keeping_values
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.plan import Action, plan_regimen
from qsp_sbml.simulate.runner import new_runner
from qsp_sbml.simulate.sbml_inputs import add_dosing_events, add_infusion_inputs, infusion_parameter
from qsp_sbml.simulate.timeline import run_timeline
from qsp_sbml.validate import ValidationReport

__all__ = ["Model"]

logger = logging.getLogger(__name__)

RegimenLike = Regimen | Dose | Iterable[Dose] | str | None


class Model:
    """A validated, flattened SBML model with a RoadRunner compiled on demand.

    Create it with :func:`qsp_sbml.load_model`, not directly.

    Examples
    --------
    >>> import qsp_sbml as qs
    >>> from qsp_sbml import resources
    >>> model = qs.load_model(resources.ONE_COMPARTMENT_IV, guard=False)
    >>> df = model.simulate([0, 1, 2], selections=["C"], regimen="100 mg iv to A")
    >>> list(df.columns)
    ['time', 'C']
    """

    def __init__(
        self,
        flat_sbml: str,
        *,
        source: str = "<SBML string>",
        report: ValidationReport | None = None,
        state: bytes | None = None,
        options: IntegratorOptions | None = None,
    ) -> None:
        self.sbml = flat_sbml
        self.source = source
        self.report = report if report is not None else ValidationReport()
        self.options = options or IntegratorOptions()
        self._state = state
        self._runners: dict[frozenset[str], Any] = {}

    def __repr__(self) -> str:
        return f"Model(id={self.id!r}, source={self.source!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_runners"] = {}
        for key in ("document", "_initial_assignments", "_rule_targets", "_event_parameters", "has_delayed_events"):
            state.pop(key, None)
        return state

    # -- introspection -------------------------------------------------
    @cached_property
    def document(self) -> libsbml.SBMLDocument:
        """The flat model as a libSBML document (do not modify)."""
        return libsbml.readSBMLFromString(self.sbml)

    @property
    def sbml_model(self) -> libsbml.Model:
        """The libSBML ``Model`` of the flat document."""
        return self.document.getModel()

    @property
    def id(self) -> str:
        """The model id."""
        return str(self.sbml_model.getId())

    @property
    def sha256(self) -> str:
        """Hash of the flat SBML text."""
        return hashlib.sha256(self.sbml.encode()).hexdigest()

    @property
    def species_ids(self) -> list[str]:
        """Ids of all species."""
        m = self.sbml_model
        return [m.getSpecies(i).getId() for i in range(m.getNumSpecies())]

    @property
    def parameter_ids(self) -> list[str]:
        """Ids of all global parameters."""
        m = self.sbml_model
        return [m.getParameter(i).getId() for i in range(m.getNumParameters())]

    @property
    def compartment_ids(self) -> list[str]:
        """Ids of all compartments."""
        m = self.sbml_model
        return [m.getCompartment(i).getId() for i in range(m.getNumCompartments())]

    @cached_property
    def _rule_targets(self) -> tuple[frozenset[str], frozenset[str]]:
        """(rate-rule variables, assignment-rule variables) of the flat model."""
        rules = self.sbml_model.getListOfRules()
        rate = frozenset(r.getVariable() for r in rules if r.isRate())
        assigned = frozenset(r.getVariable() for r in rules if r.isAssignment())
        return rate, assigned

    @cached_property
    def _event_parameters(self) -> tuple[str, ...]:
        """Global parameters and compartments that SBML events assign (e.g. an infusion rate)."""
        return event_parameters(self.sbml_model)

    @cached_property
    def _initial_assignments(self) -> InitialAssignments:
        return InitialAssignments.from_model(self.sbml_model)

    # -- compilation ---------------------------------------------------
    def roadrunner(self, infusion_targets: Iterable[str] = ()) -> Any:
        """The compiled RoadRunner instance (with inputs for ``infusion_targets``)."""
        import roadrunner

        key = frozenset(infusion_targets)
        if key in self._runners:
            return self._runners[key]
        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
        if not key and self._state is not None:
            rr = new_runner(state=self._state)
            rr.resetAll()
        else:
            from qsp_sbml.simulate.model_cache import compiled_state

            try:
                rr = new_runner(state=compiled_state(self._sbml_with_inputs(key)))  # cached across runs
                rr.resetAll()
            except RuntimeError as err:
                raise SbmlError(f"{self.source}: RoadRunner could not compile the model: {err}") from err
        self._runners[key] = rr
        return rr

    def _sbml_with_inputs(self, targets: Iterable[str]) -> str:
        targets = sorted(targets)
        if not targets:
            return self.sbml
        doc = libsbml.readSBMLFromString(self.sbml)
        add_infusion_inputs(doc, targets)
        return str(libsbml.writeSBMLToString(doc))

    # -- dosing --------------------------------------------------------
    def plan(self, regimen: RegimenLike, *, end: float) -> tuple[list[Action], frozenset[str]]:
        """Dosing actions of ``regimen`` in model units up to ``end`` (model time)."""
        reg = as_regimen(regimen)
        if reg is None:
            return [], frozenset()
        return plan_regimen(self.sbml_model, reg, end=end)

    def to_sbml(self, regimen: RegimenLike = None, *, end: float) -> str:
        """The flat model with ``regimen`` written as SBML events (for exchange).

        Simulating the result without a regimen gives the same trajectories as
        ``simulate(..., regimen=regimen)``.
        """
        actions, targets = self.plan(regimen, end=end)
        doc = libsbml.readSBMLFromString(self.sbml)
        add_infusion_inputs(doc, targets)
        add_dosing_events(doc, actions)
        return str(libsbml.writeSBMLToString(doc))

    # -- simulation ----------------------------------------------------
    def simulate(
        self,
        times: Sequence[float] | np.ndarray,
        *,
        selections: Sequence[str] | None = None,
        parameters: Mapping[str, float] | None = None,
        regimen: RegimenLike = None,
        options: IntegratorOptions | None = None,
    ) -> pd.DataFrame:
        """Simulate from t=0 and report ``selections`` at ``times``.

        Parameters
        ----------
        times
            Output times in model time units: non-decreasing, >= 0, finite.
        selections
            RoadRunner selections: ``S`` (species amount), ``[S]``
            (concentration), parameter or compartment ids, reaction ids (rates).
            Default: the amount of every floating species.
        parameters
            Values applied before the simulation: parameters and compartments
            (initial assignments that depend on them are re-evaluated), species
            ids (initial amounts) or ``[S]`` (initial concentrations).  Nothing
            persists to the next call.
        regimen
            A :class:`~qsp_sbml.dosing.Regimen`, dose(s) or regimen text.
        options
            Integrator options (default: ``self.options``).

        Returns
        -------
        pandas.DataFrame
            Column ``time`` plus one column per selection.
        """
        t = _check_times(times)
        actions, targets = self.plan(regimen, end=float(t[-1]))
        before, after = self._split_values(parameters or {})
        if self.has_delayed_events:
            rr = self._fresh_runner(targets, {**before, **after})
        else:
            rr = self.roadrunner(targets)
        (options or self.options).apply(rr)
        sels = list(selections) if selections is not None else list(rr.model.getFloatingSpeciesIds())
        self._set_selections(rr, sels)
        if not self.has_delayed_events:
            self._reset(rr, before, after)
        rates = {target: infusion_parameter(target) for target in targets}
        values = run_timeline(rr, t, actions, rates)
        values[:, 0] = t  # the requested times exactly (one frame built at once: DataFrame.insert costs ~0.5 ms)
        return pd.DataFrame(values, columns=["time", *sels])

    def _set_selections(self, rr: Any, sels: list[str]) -> None:
        if "time" in sels and "time" in {*self.parameter_ids, *self.species_ids, *self.compartment_ids}:
            raise UnsupportedFeatureError(
                f"model {self.id!r} has an element named 'time': RoadRunner reads the simulation time for the "
                "selection 'time', not the element; rename the element", feature="element named time",
                sbml_id="time")
        for s in sels:
            try:
                rr.getValue(s)
            except RuntimeError:
                ids = self.species_ids + self.parameter_ids + self.compartment_ids
                close = difflib.get_close_matches(s.strip("[]"), ids, n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise SbmlError(f"unknown selection {s!r} for model {self.id!r}{hint}", sbml_id=s) from None
        rr.timeCourseSelections = ["time", *sels]

    @cached_property
    def has_delayed_events(self) -> bool:
        """Whether an SBML event has a delay.

        RoadRunner keeps delayed events pending across ``reset()`` and fires the t=0 events again at every
        reset (measured on 2.11: an event squaring a parameter after a delay gave ``5**16`` instead of ``5**2``), so
        such a model is simulated on a RoadRunner compiled afresh for each call (from RoadRunner's in-memory
        cache when the SBML text is the same), with the values given written into the SBML.
        """
        return any(e.isSetDelay() for e in self.sbml_model.getListOfEvents())

    def _fresh_runner(self, targets: frozenset[str], values: Mapping[str, float]) -> Any:
        """A new RoadRunner of the model (with infusion inputs for ``targets``) with ``values`` as initial values."""
        if not values:
            return new_runner(self._sbml_with_inputs(targets))
        doc = libsbml.readSBMLFromString(self._sbml_with_inputs(targets))
        model = doc.getModel()
        for key, value in values.items():
            name = key[1:-1] if key.startswith("[") else key
            model.removeInitialAssignment(name)  # the given value wins, as with setValue after a reset
            species = model.getSpecies(name)
            if species is not None and key.startswith("["):
                species.setInitialConcentration(value)
            elif species is not None:
                species.setInitialAmount(value)
            else:
                (model.getParameter(name) or model.getCompartment(name)).setValue(value)
        try:
            return new_runner(str(libsbml.writeSBMLToString(doc)))
        except RuntimeError as err:
            raise SbmlError(f"{self.source}: RoadRunner could not compile the model: {err}") from err

    def _split_values(self, parameters: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """Check values given to ``simulate``; return (parameters and compartments, state initial values)."""
        if not parameters:
            return {}, {}
        rate_targets, assigned = self._rule_targets
        species = set(self.species_ids)
        states = species | rate_targets
        known = set(self.parameter_ids) | set(self.compartment_ids) | species
        later: dict[str, float] = {}
        before: dict[str, float] = {}
        for key, value in parameters.items():
            name = key[1:-1] if key.startswith("[") and key.endswith("]") else key
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise SbmlError(f"unknown parameter {key!r} for model {self.id!r}{hint}", sbml_id=key)
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise SbmlError(f"parameter {key!r} must be a finite number, got {value!r}", sbml_id=key)
            if name in assigned:
                raise SbmlError(
                    f"{key!r} is set by an assignment rule in model {self.id!r}; a value given for it would be "
                    "overwritten at every step: set the parameters its rule reads instead", sbml_id=key)
            if name in states:
                later[key] = float(value)
            else:
                before[name] = float(value)
        return before, later

    def _reset(self, rr: Any, before: Mapping[str, float], after: Mapping[str, float]) -> None:
        """Reset ``rr``, set ``before`` (re-evaluating the initial assignments that use them), then ``after``."""
        rr.resetAll()
        for name, value in before.items():
            rr.setValue(name, value)
        if before:
            reset_keeping_values(rr, self._event_parameters)
            self._initial_assignments.reapply(rr, set(before))
        for key, value in after.items():
            rr.setValue(key, value)


def _check_times(times: Sequence[float] | np.ndarray) -> np.ndarray:
    t = np.asarray(times, dtype=float).ravel()
    if t.size == 0:
        raise ValueError("times is empty; give at least one output time")
    if not np.all(np.isfinite(t)):
        raise ValueError("times must be finite")
    if t[0] < 0:
        raise ValueError(f"times must be >= 0 (simulations start at t=0), got {t[0]!r}")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be non-decreasing")
    return t
