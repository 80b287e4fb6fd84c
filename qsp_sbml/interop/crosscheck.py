"""Cross-check a model in two simulators: RoadRunner (ours) and COPASI (through basico).

:func:`crosscheck` simulates a model (module, comp document or flat model)
with RoadRunner and with COPASI under one :class:`ExchangePlan` and reports the
largest relative difference per output.  :func:`default_plan` gives the plan
a shipped model is checked with:

- a composed model (``models/composed/<name>.xml`` or ``<name>_flat.xml``)
  takes the ``exchange:`` key of its spec ``<name>.yaml``;
- a module with a species input port takes two test doses of 100 (model
  substance units) into that port, 24 h apart (a depot-like port with
  ``hasOnlySubstanceUnits`` is preferred), over 168 h.  The amount is a test
  input that exercises the dosing events, not a clinical dose;
- a module's input parameters that are 0 by default get a test value so that
  the check exercises the drug's effect: 0.5 for ``E_drug`` (fractional
  inhibition in [0, 1]), 10 model units for any other (e.g. ``C_drug`` in nM);
- the outputs of a module are its output ports.

Differences are relative (``|copasi - roadrunner| / |roadrunner|``); values
below ``floor`` (default 1e-6) times an output's peak count as that floor,
because a state cleared a million-fold is resolved only to the absolute
tolerance by either integrator.

Outputs are reported at 0 and at the midpoints of equal intervals, never at a
dose time (at a dose time one tool may report the value before the dose and
the other the value after it).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import libsbml
import numpy as np

from qsp_sbml.errors import SbmlError

__all__ = ["CrosscheckResult", "ExchangePlan", "crosscheck", "default_plan"]

#: Test dose (model substance units) given by :func:`default_plan` into a module's input species.
DEFAULT_TEST_AMOUNT = 100.0
#: Simulated time (hours) of :func:`default_plan` for a module.
DEFAULT_END_H = 168.0
#: Test value of a zero-valued ``E_drug`` input (fractional inhibition, dimensionless).
DEFAULT_TEST_EFFECT = 0.5
#: Test value (model units) of any other zero-valued input parameter.
DEFAULT_TEST_INPUT = 10.0


@dataclass(frozen=True)
class ExchangePlan:
    """What to simulate when a model is exchanged or cross-checked.

    Parameters
    ----------
    end
        End time (model time units).
    selections
        Outputs, RoadRunner syntax on flat ids (``S``, ``[S]``, parameter,
        compartment or reaction ids).
    regimen
        Regimen text (:mod:`qsp_sbml.dosing`) with flat target ids, or None.
    points
        Number of output intervals.
    parameters
        Parameter values (flat ids) written into the model before simulating.
    """

    end: float
    selections: list[str]
    regimen: str | None = None
    points: int = 50
    parameters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check ranges."""
        if not np.isfinite(self.end) or self.end <= 0:
            raise ValueError(f"end must be a positive number, got {self.end!r}")
        if self.points < 1:
            raise ValueError(f"points must be >= 1, got {self.points!r}")
        if not self.selections:
            raise ValueError("at least one selection (output) is needed")

    def times(self) -> list[float]:
        """0, then the midpoints of ``points`` equal intervals up to ``end``."""
        step = self.end / self.points
        return [0.0, *((k + 0.5) * step for k in range(self.points))]

    def regimen_object(self) -> Any:
        """The parsed :class:`~qsp_sbml.dosing.Regimen` (or None)."""
        from qsp_sbml.dosing import Regimen

        return Regimen.parse(self.regimen) if self.regimen else None

    def apply(self, model: Any, *, events: bool = True) -> str:
        """The flat SBML of ``model`` (:class:`~qsp_sbml.Model`) with the plan's parameter values.

        With ``events``, the regimen is written as SBML events
        (:meth:`qsp_sbml.Model.to_sbml`); simulating the result without a
        regimen gives the plan's trajectories.
        """
        text = model.to_sbml(self.regimen_object() if events else None, end=self.end)
        if not self.parameters:
            return str(text)
        doc = libsbml.readSBMLFromString(text)
        flat = doc.getModel()
        for pid, value in self.parameters.items():
            parameter = flat.getParameter(pid)
            if parameter is None:
                raise SbmlError(f"model {flat.getId()!r} has no parameter {pid!r} to set", sbml_id=pid)
            if flat.getInitialAssignmentBySymbol(pid) is not None or flat.getRuleByVariable(pid) is not None:
                raise SbmlError(f"parameter {pid!r} of model {flat.getId()!r} is computed by a rule or an "
                                "initial assignment; set the values it reads instead", sbml_id=pid)
            parameter.setValue(float(value))
        return str(libsbml.writeSBMLToString(doc))


@dataclass
class CrosscheckResult:
    """Largest relative difference (COPASI vs RoadRunner) per output."""

    model: str
    plan: ExchangePlan
    tolerance: float
    rtol: float
    atol: float
    floor: float
    differences: dict[str, float] = field(default_factory=dict)

    @property
    def worst(self) -> float:
        """The largest difference over all outputs."""
        return max(self.differences.values(), default=0.0)

    @property
    def passed(self) -> bool:
        """True when every output is within the tolerance."""
        return self.worst <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {"ok": self.passed, "model": self.model, "tolerance": self.tolerance, "rtol": self.rtol,
                "atol": self.atol, "floor": self.floor,
                "worst": self.worst, "differences": self.differences, "plan": asdict(self.plan)}


def _spec_for(path: Path) -> Path | None:
    stem = path.stem.removesuffix("_flat")
    spec = path.with_name(f"{stem}.yaml")
    return spec if spec.is_file() else None


def _route(species_id: str) -> str:
    """The route word of a test dose into ``species_id`` (only the regimen text needs it)."""
    low = species_id.lower()
    if any(key in low for key in ("gi_", "gut", "stomach", "lumen", "oral")):
        return "po"
    if "sc" in low.split("_") or "subcut" in low:
        return "sc"
    return "iv"


def default_plan(path: str | os.PathLike[str]) -> ExchangePlan:
    """The plan a model file is exchanged and cross-checked with (see the module docstring).

    Raises
    ------
    SbmlError
        The file cannot be read, or it has neither a spec with ``exchange:``
        nor output ports to report.
    """
    path = Path(path)
    spec_path = _spec_for(path)
    if spec_path is not None:
        from qsp_sbml.compose import load_spec

        spec = load_spec(spec_path)
        if spec.exchange is not None:
            ex = spec.exchange
            return ExchangePlan(ex.end, list(ex.selections), ex.regimen, ex.points)
    from qsp_sbml.compose.ports import ports

    doc = libsbml.readSBMLFromFile(str(path))
    if doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL):
        raise SbmlError(f"{path}: libSBML cannot read this file: {doc.getError(0).getMessage().strip()}")
    model = doc.getModel()
    found = ports(doc)
    outputs = [p.element for p in found if p.direction == "output"]
    if not outputs:
        raise SbmlError(f"{path}: no output ports and no spec with 'exchange:'; give the outputs explicitly "
                        "(selections / --selections)")
    species_inputs = [model.getSpecies(p.element) for p in found
                      if p.direction == "input" and model.getSpecies(p.element) is not None]
    species_inputs.sort(key=lambda s: not s.getHasOnlySubstanceUnits())
    parameters = {}
    for port in found:
        parameter = model.getParameter(port.element)
        if port.direction == "input" and parameter is not None and parameter.getValue() == 0.0:
            parameters[port.element] = DEFAULT_TEST_EFFECT if port.element == "E_drug" else DEFAULT_TEST_INPUT
    regimen = None
    if species_inputs:
        target = species_inputs[0]
        unit = target.getSubstanceUnits() or model.getSubstanceUnits()
        regimen = f"{DEFAULT_TEST_AMOUNT:g} {unit} {_route(target.getId())} at 0, 24 h to {target.getId()}"
    return ExchangePlan(DEFAULT_END_H, outputs, regimen, 56, parameters)


def crosscheck(
    path: str | os.PathLike[str],
    plan: ExchangePlan | None = None,
    *,
    tolerance: float = 1e-4,
    rtol: float = 1e-8,
    atol: float = 1e-12,
    floor: float = 1e-6,
) -> CrosscheckResult:
    """Simulate ``path`` with RoadRunner and COPASI; largest relative difference per output.

    Parameters
    ----------
    path
        SBML file: a module, a comp document or a flat model.
    plan
        What to simulate (default: :func:`default_plan`).
    tolerance
        Largest relative difference accepted (``result.passed``).
    rtol, atol
        Integrator tolerances of both simulators.
    floor
        Values below ``floor`` times an output's peak are compared against that floor.

    Notes
    -----
    RoadRunner runs :meth:`qsp_sbml.Model.simulate` with the regimen on our
    timeline; COPASI runs the flat model with the regimen written as SBML
    events.  Without a regimen and parameter values COPASI reads the file
    itself (a comp document is then flattened by COPASI's own libSBML).
    """
    import tempfile

    from qsp_sbml.interop.copasi import relative_difference, simulate_copasi
    from qsp_sbml.loading import load_model
    from qsp_sbml.simulate.options import IntegratorOptions

    path = Path(path)
    plan = plan or default_plan(path)
    times = np.asarray(plan.times())
    model = load_model(path)
    with tempfile.TemporaryDirectory() as tmp:
        copasi_file = path
        if plan.parameters:
            model = load_model(plan.apply(model, events=False), guard=False)
        if plan.parameters or plan.regimen:
            copasi_file = Path(tmp, "model_with_events.xml")
            copasi_file.write_text(plan.apply(model), encoding="utf-8")
        rr = model.simulate(times, selections=plan.selections, regimen=plan.regimen_object(),
                            options=IntegratorOptions(rtol=rtol, atol=atol))
        cps = simulate_copasi(copasi_file, times, plan.selections, rtol=rtol, atol=atol)
    diffs = {sel: relative_difference(cps[sel].to_numpy(), rr[sel].to_numpy(), floor=floor)
             for sel in plan.selections}
    return CrosscheckResult(str(path), plan, tolerance, rtol, atol, floor, diffs)
