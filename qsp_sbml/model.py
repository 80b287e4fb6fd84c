"""The :class:`Model`: a validated flat SBML model plus compiled RoadRunner instances.

A model compiles once; new parameter sets and regimens are applied to the
compiled instance without recompiling.  A regimen with IV infusions needs an
input reaction per infused species: that variant is compiled once per set of
infusion targets and cached.
"""

from __future__ import annotations

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
from qsp_sbml.errors import SbmlError
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.plan import Action, plan_regimen
from qsp_sbml.simulate.sbml_inputs import add_dosing_events, add_infusion_inputs, infusion_parameter
from qsp_sbml.simulate.simulator import ModelStructure, Simulator, check_times
from qsp_sbml.validate import ValidationReport

__all__ = ["Model"]

logger = logging.getLogger(__name__)

RegimenLike = Regimen | Dose | Iterable[Dose] | str | None


class Model:
    """A validated, flattened SBML model with a :class:`~qsp_sbml.simulate.simulator.Simulator` compiled on demand.

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
        self._simulators: dict[frozenset[str], Simulator] = {}

    def __repr__(self) -> str:
        return f"Model(id={self.id!r}, source={self.source!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_simulators"] = {}
        for key in ("document", "structure"):
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
    def structure(self) -> ModelStructure:
        """What simulating the model needs to know about its SBML (rules, events, initial assignments)."""
        return ModelStructure.from_model(self.sbml_model)

    # -- compilation ---------------------------------------------------
    def simulator(self, infusion_targets: Iterable[str] = ()) -> Simulator:
        """The compiled model (with inputs for ``infusion_targets``), compiled once and kept."""
        key = frozenset(infusion_targets)
        sim = self._simulators.get(key)
        if sim is None:
            if not key and self._state is not None:
                sim = Simulator.from_state(self._state, self.structure, source=self.source)
            else:
                sim = Simulator.compile(self._sbml_with_inputs(key), self.structure, source=self.source)
            self._simulators[key] = sim
        return sim

    def roadrunner(self, infusion_targets: Iterable[str] = ()) -> Any:
        """The compiled RoadRunner instance (with inputs for ``infusion_targets``), for interactive use.

        Setting values on it changes what :meth:`simulate` starts from only until the next call, which
        resets the model; prefer ``parameters=``.
        """
        return self.simulator(infusion_targets).rr

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
        t = check_times(times)
        actions, targets = self.plan(regimen, end=float(t[-1]))
        values = dict(parameters or {})
        self._check_values(values)
        before, after = self.structure.split(values)
        if self.has_delayed_events:
            sim = Simulator.fresh(self._sbml_with_inputs(targets), self.structure, values, source=self.source)
        else:
            sim = self.simulator(targets)
        sim.set_options(options or self.options)
        sels = sim.select(selections)
        if not self.has_delayed_events:
            sim.reset({k: values[k] for k in before}, {k: values[k] for k in after})
        out = sim.run(t, actions, {target: infusion_parameter(target) for target in targets})
        out[:, 0] = t  # the requested times exactly (one frame built at once: DataFrame.insert costs ~0.5 ms)
        return pd.DataFrame(out, columns=["time", *sels])

    @property
    def has_delayed_events(self) -> bool:
        """Whether an SBML event has a delay (simulated on a fresh compilation per call, see ``Simulator``)."""
        return self.structure.delayed_event is not None

    def _check_values(self, values: Mapping[str, float]) -> None:
        """Raise :class:`~qsp_sbml.errors.SbmlError` naming a value that is not a known id or not a finite number."""
        self.structure.check_keys(values)
        for key, value in values.items():
            if not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise SbmlError(f"parameter {key!r} must be a finite number, got {value!r}", sbml_id=key)
