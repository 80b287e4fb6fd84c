"""The :class:`Simulator`: the one object that compiles and drives a RoadRunner instance.

Every simulation of the package goes through it: :meth:`qsp_sbml.model.Model.simulate`, the workers of
:func:`qsp_sbml.population.simulate_cohort` (and so trial arms, VBE and twins, which simulate cohorts or
models), and PEtab's experiment runner.  It owns

* compilation (through the on-disk model cache, :mod:`qsp_sbml.simulate.model_cache`) and loading of a
  compiled state shipped to a worker;
* selections (checked, with close names on a typo);
* integrator options;
* the one **reset sequence** that puts the model at t=0 with given values (:meth:`Simulator.reset`);
* the dosing timeline (:meth:`Simulator.run`).

The reset sequence, with ``before`` the values of parameters and compartments and ``after`` the initial
values of states (species, ``[S]`` concentrations, rate-rule variables):

1. ``resetAll()``: every value back to the model's, t=0, the t=0 events fired once;
2. ``before`` is set; the parameters that SBML events assign are set to their given value or back to
   their initial value, then ``reset()`` restores the states and fires the t=0 events once more on those
   values, so an event adding to a parameter at t=0 (an infusion starting at t=0) adds once, not twice;
3. ``after`` is set;
4. every computed initial value that depends, directly or not, on a given value is computed again, in
   dependency order: initial assignments (RoadRunner's ``reset()`` does not re-evaluate those of
   parameters and compartments after ``setValue``, and evaluates those of species ignoring values set on
   the parameters they read; both measured on libroadrunner 2.11), and species whose symbol means a
   concentration (not ``hasOnlySubstanceUnits``) in a compartment whose size changed: one with an
   ``initialConcentration`` or an initial assignment gets that concentration back (SBML: its initial
   amount is the concentration times the *initial* size, where RoadRunner keeps the amount computed with
   the old size), one with an ``initialAmount`` keeps its amount, and what reads its concentration is
   computed again;
5. ``after`` is set again, so the states given are exactly those values.

Models with delayed events are not reset: RoadRunner keeps delayed events pending across ``reset()`` and
fires t=0 events again at every reset (a parameter squared by a delayed t=0 event reached 5**16 instead of
5**2 on 2.11).  For them :meth:`Simulator.fresh` compiles a new instance with the values written into the
SBML (callers that reset many times, cohorts and PEtab, refuse such models).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import libsbml
import numpy as np

from qsp_sbml.errors import SbmlError
from qsp_sbml.simulate.initial import InitialAssignments, evaluate, event_parameters
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.plan import Action
from qsp_sbml.simulate.runner import new_runner, set_log_level
from qsp_sbml.simulate.timeline import failure_hint, run_timeline

__all__ = ["ModelStructure", "Simulator", "check_times"]


def _name(key: str) -> str:
    """``"[S]"`` -> ``"S"``; other keys unchanged."""
    return key[1:-1] if key.startswith("[") and key.endswith("]") else key


@dataclass(frozen=True)
class ModelStructure:
    """What the reset sequence needs to know about a flat SBML model (read once from libSBML)."""

    model_id: str
    species: frozenset[str]
    parameters: frozenset[str]
    compartments: frozenset[str]
    #: Variables of rate rules and of assignment rules.
    rate_targets: frozenset[str]
    assigned: frozenset[str]
    #: Global parameters and compartments that SBML events assign.
    event_targets: tuple[str, ...]
    initial_assignments: InitialAssignments
    #: Species whose symbol means a concentration (not ``hasOnlySubstanceUnits``) -> compartment.
    compartment_of: Mapping[str, str]
    #: ``initialConcentration`` of such species, where it is set.
    initial_concentration: Mapping[str, float]
    #: Id of the first event with a delay (``None``: no delayed event).
    delayed_event: str | None

    @classmethod
    def from_model(cls, model: libsbml.Model) -> ModelStructure:
        """Read the structure of a libSBML ``Model``."""
        rules = list(model.getListOfRules())
        conc = {s.getId(): s.getCompartment() for s in model.getListOfSpecies() if not s.getHasOnlySubstanceUnits()}
        init = {
            s.getId(): float(s.getInitialConcentration())
            for s in model.getListOfSpecies()
            if s.getId() in conc and s.isSetInitialConcentration()
        }
        delayed = next((e.getId() for e in model.getListOfEvents() if e.isSetDelay()), None)
        return cls(
            model_id=str(model.getId()),
            species=frozenset(s.getId() for s in model.getListOfSpecies()),
            parameters=frozenset(p.getId() for p in model.getListOfParameters()),
            compartments=frozenset(c.getId() for c in model.getListOfCompartments()),
            rate_targets=frozenset(r.getVariable() for r in rules if r.isRate()),
            assigned=frozenset(r.getVariable() for r in rules if r.isAssignment()),
            event_targets=event_parameters(model),
            initial_assignments=InitialAssignments.from_model(model),
            compartment_of=conc,
            initial_concentration=init,
            delayed_event=delayed if delayed is not None else None,
        )

    @classmethod
    def from_sbml(cls, sbml: str) -> ModelStructure:
        """Read the structure of an SBML text."""
        return cls.from_model(libsbml.readSBMLFromString(sbml).getModel())

    @property
    def ids(self) -> frozenset[str]:
        """Ids a value can be given for: species, parameters and compartments."""
        return self.species | self.parameters | self.compartments

    def is_state(self, key: str) -> bool:
        """Whether ``key`` (an id or ``[S]``) is a state, set after the reset, or a parameter set before it."""
        name = _name(key)
        return key.startswith("[") or name in self.species or name in self.rate_targets

    def split(self, keys: Iterable[str]) -> tuple[list[str], list[str]]:
        """``keys`` as (set before the reset: parameters, compartments; set after it: states)."""
        before: list[str] = []
        after: list[str] = []
        for key in keys:
            (after if self.is_state(key) else before).append(key)
        return before, after

    def check_keys(
        self,
        keys: Iterable[str],
        error: Callable[[str, str], Exception] = lambda msg, key: SbmlError(msg, sbml_id=key),
        *,
        what: str = "parameter",
    ) -> None:
        """Raise ``error(message, key)`` for a key that is not an id of the model or that an assignment rule sets.

        ``what`` names a key in the message (``unknown parameter 'x'``, ``unknown column``...).
        """
        known = self.ids
        for key in keys:
            name = _name(key)
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise error(
                    f"unknown {what} {key!r}: model {self.model_id!r} has no parameter, compartment or "
                    f"species {name!r}{hint}",
                    key,
                )
            if name in self.assigned:
                raise error(
                    f"{key!r} is set by an assignment rule in model {self.model_id!r}; a value given for "
                    "it would be overwritten at every step: set the parameters its rule reads instead",
                    key,
                )


@dataclass(frozen=True)
class _Node:
    """A value the initial state computes from others.

    An initial assignment, or a species whose symbol is a concentration (its amount follows its
    compartment's size).
    """

    key: str                      # what to set: ``[S]`` for a concentration species, else the id
    math: Any                     # the initial assignment's AST, or None
    constant: float | None        # the initial concentration of a species without an assignment, or None
    deps: frozenset[str]


def _initial_nodes(st: ModelStructure) -> tuple[tuple[str, _Node], ...]:
    """Every computed initial value, in dependency order (a concentration species depends on its compartment)."""
    ia_math = {sym: (m, deps) for sym, m, deps in st.initial_assignments.order}
    nodes: dict[str, _Node] = {}
    for sym, (m, deps) in ia_math.items():
        comp = st.compartment_of.get(sym)
        nodes[sym] = _Node(f"[{sym}]" if comp else sym, m, None, deps | ({comp} if comp else set()))
    for sid, comp in st.compartment_of.items():
        if sid not in nodes:
            nodes[sid] = _Node(f"[{sid}]", None, st.initial_concentration.get(sid), frozenset({comp}))
    order: list[tuple[str, _Node]] = []
    pending = dict(nodes)
    while pending:
        ready = sorted(s for s, n in pending.items() if not (n.deps & (pending.keys() - {s})))
        ready = ready or sorted(pending)  # a cycle: libSBML validation forbids it; keep a stable order
        for s in ready:
            order.append((s, pending.pop(s)))
    return tuple(order)


class Simulator:
    """A compiled model and the one way to reset, set and integrate it.

    Create one with :meth:`compile`, :meth:`from_state` or :meth:`fresh`.  Attribute ``rr`` is the
    RoadRunner instance, for the PEtab experiment runner's steady states and integration pieces; other code
    uses the methods.
    """

    def __init__(self, rr: Any, structure: ModelStructure, *, source: str = "<SBML string>") -> None:
        self.rr = rr
        self.structure = structure
        self.source = source
        self._plans: dict[frozenset[str], tuple[tuple[str, Any, float], ...]] = {}
        self._nodes: tuple[tuple[str, _Node], ...] | None = None
        self._options: IntegratorOptions | None = None
        self._selected: tuple[str, ...] | None = None
        self._floating: tuple[str, ...] | None = None
        self._keep_plans: dict[tuple[str, ...], tuple[list[int], list[int], list[str], list[int]]] = {}

    def __repr__(self) -> str:
        return f"Simulator(model={self.structure.model_id!r}, source={self.source!r})"

    # -- construction ----------------------------------------------------------------
    @classmethod
    def compile(
        cls, sbml: str, structure: ModelStructure | None = None, *, cache: bool = True, source: str = "<SBML string>"
    ) -> Simulator:
        """Compile ``sbml`` (through the on-disk compiled-model cache unless ``cache=False``)."""
        from qsp_sbml.simulate.model_cache import compiled_state

        set_log_level("error")
        try:
            rr = new_runner(state=compiled_state(sbml)) if cache else new_runner(sbml)
        except RuntimeError as err:
            raise SbmlError(f"{source}: RoadRunner could not compile the model: {err}") from err
        rr.resetAll()
        return cls(rr, structure or ModelStructure.from_sbml(sbml), source=source)

    @classmethod
    def from_state(cls, state: bytes, structure: ModelStructure, *, source: str = "<SBML string>") -> Simulator:
        """Load a compiled state (:meth:`save_state`), e.g. in a worker process, without compiling."""
        rr = new_runner(state=state)
        rr.resetAll()
        return cls(rr, structure, source=source)

    @classmethod
    def fresh(
        cls, sbml: str, structure: ModelStructure, values: Mapping[str, float], *, source: str = "<SBML string>"
    ) -> Simulator:
        """A new instance with ``values`` written into the SBML as initial values (models with delayed events).

        A given value replaces the element's initial assignment, as a value set after a reset does.
        """
        if values:
            doc = libsbml.readSBMLFromString(sbml)
            model = doc.getModel()
            for key, value in values.items():
                name = _name(key)
                model.removeInitialAssignment(name)
                species = model.getSpecies(name)
                if species is not None and key.startswith("["):
                    species.setInitialConcentration(value)
                elif species is not None:
                    species.setInitialAmount(value)
                else:
                    (model.getParameter(name) or model.getCompartment(name)).setValue(value)
            sbml = str(libsbml.writeSBMLToString(doc))
        try:
            rr = new_runner(sbml)
        except RuntimeError as err:
            raise SbmlError(f"{source}: RoadRunner could not compile the model: {err}") from err
        return cls(rr, structure, source=source)

    def save_state(self) -> bytes:
        """The compiled model and its current state (``saveStateS``), to ship to workers."""
        return bytes(self.rr.saveStateS())

    # -- settings --------------------------------------------------------------------
    def set_options(self, options: IntegratorOptions) -> None:
        """Use these integrator options (applied only when they change)."""
        if options != self._options:
            options.apply(self.rr)
            self._options = options

    def select(self, selections: Sequence[str] | None) -> list[str]:
        """Report ``selections`` (default: every floating species' amount); return them.

        Raises :class:`~qsp_sbml.errors.SbmlError` naming an unknown selection (with close names).
        """
        rr = self.rr
        sels = list(selections) if selections is not None else list(rr.model.getFloatingSpeciesIds())
        if tuple(sels) == self._selected and list(rr.timeCourseSelections)[1:] == sels:
            return sels  # checked already (a per-call cost of Model.simulate otherwise)
        if "time" in sels and "time" in self.structure.ids:
            import warnings

            from qsp_sbml.errors import SimulationWarning

            warnings.warn(
                f"model {self.structure.model_id!r} has an element named 'time': the selection 'time' reads that "
                "element (as RoadRunner does), so a Model.simulate frame has two columns labelled 'time', the first "
                "the simulation time, the second the element; select columns by position (df.iloc[:, k])",
                SimulationWarning, stacklevel=3)
        for s in sels:
            try:
                rr.getValue(s)
            except RuntimeError:
                close = difflib.get_close_matches(_name(s), sorted(self.structure.ids), n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise SbmlError(
                    f"unknown selection {s!r} for model {self.structure.model_id!r}{hint}", sbml_id=s
                ) from None
        rr.timeCourseSelections = ["time", *sels]
        self._selected = tuple(sels)
        return sels

    @property
    def selections(self) -> list[str]:
        """The reported selections (without ``time``)."""
        return list(self.rr.timeCourseSelections)[1:]

    # -- values ----------------------------------------------------------------------
    def value(self, key: str) -> float:
        """The current value of an id or selection (``[S]`` a concentration)."""
        return float(self.rr.getValue(key))

    @property
    def time(self) -> float:
        """The model time."""
        return float(self.rr.model.getTime())

    def failure_hint(self) -> str:
        """The integrator settings in force and what to try, for an integration failure's message."""
        return failure_hint(self.rr)

    # -- the reset sequence ------------------------------------------------------------
    def reset(self, before: Mapping[str, float] | None = None, after: Mapping[str, float] | None = None) -> None:
        """Put the model at t=0 with ``before`` (parameters, compartments) and ``after`` (states) applied.

        See the module docstring for the sequence.  Nothing persists from an earlier run.
        """
        rr = self.rr
        rr.resetAll()
        if not before and not after:
            return
        given = frozenset(_name(k) for k in (*(before or ()), *(after or ())))
        if before:
            rr.setValues(list(before), list(before.values()))
            targets = self.structure.event_targets
            if targets:
                rr.setValues(list(targets), [before[t] if t in before else rr.getValue(f"init({t})")
                                             for t in targets])
            rr.reset()
        if after:
            rr.setValues(list(after), list(after.values()))
        steps = self._plan(given)
        functions = self.structure.initial_assignments.functions
        for key, math_, constant in steps:
            rr.setValue(key, constant if math_ is None else evaluate(math_, self._lookup, functions))
        if after and steps:
            rr.setValues(list(after), list(after.values()))

    def _lookup(self, name: str) -> float:
        ia = self.structure.initial_assignments
        return float(self.rr.getValue(f"[{name}]" if name in ia.concentration_species else name))

    def _plan(self, given: frozenset[str]) -> tuple[tuple[str, Any, float], ...]:
        """Step 4 for the names given: the computed initial values that depend on them, in order."""
        plan = self._plans.get(given)
        if plan is None:
            if self._nodes is None:
                self._nodes = _initial_nodes(self.structure)
            dirty = set(given)
            steps = []
            for sym, node in self._nodes:
                if sym in given or not node.deps & dirty:
                    continue
                dirty.add(sym)
                if node.math is not None or node.constant is not None:
                    steps.append((node.key, node.math, node.constant if node.constant is not None else 0.0))
            plan = self._plans[given] = tuple(steps)
        return plan

    # -- integration -------------------------------------------------------------------
    def run(
        self,
        times: np.ndarray,
        actions: Sequence[Action] = (),
        rates: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """Integrate from the current state through the dosing ``actions``; selections (columns) at ``times``.

        ``times`` must be sorted and start at or after the current time; the first column is the time.
        """
        return run_timeline(self.rr, np.asarray(times, dtype=float), actions, rates or {})

    def simulate_grid(self, grid: np.ndarray, selections: Sequence[str] | None = None) -> np.ndarray:
        """One integration over ``grid`` (no dosing actions); rows per grid time, first column the time.

        ``selections`` (already checked) replace the reported ones first: RoadRunner's steady-state solver
        resets them.  Raises RoadRunner's ``RuntimeError`` on a CVODE failure (callers that record failures
        per subject catch it).
        """
        if selections is not None and list(self.rr.timeCourseSelections)[1:] != list(selections):
            self.rr.timeCourseSelections = ["time", *selections]  # reading them is ~10x cheaper than setting
        return np.asarray(self.rr.simulate(times=grid))

    def advance(self, t0: float, t1: float) -> None:
        """Integrate from ``t0`` to ``t1`` without reporting (raises ``RuntimeError`` on a CVODE failure)."""
        self.rr.simulate(t0, t1, 2)

    # -- state access for the solvers built on top (PEtab's steady states and sensitivities) --------------------
    def set_value(self, key: str, value: float) -> None:
        """Set an id or selection now (raises ``RuntimeError`` when RoadRunner refuses)."""
        self.rr.setValue(key, value)

    def set_time(self, t: float) -> None:
        """Move the model clock to ``t`` (the state is kept)."""
        self.rr.model.setTime(t)

    @property
    def floating_species(self) -> list[str]:
        """Ids of the floating species, in RoadRunner's order."""
        if self._floating is None:
            self._floating = tuple(self.rr.model.getFloatingSpeciesIds())
        return list(self._floating)

    def amounts(self) -> np.ndarray:
        """Amounts of the floating species (:attr:`floating_species` order), read in one call."""
        return np.array(self.rr.model.getFloatingSpeciesAmounts(), dtype=float)

    def set_amounts(self, values: Sequence[float] | np.ndarray) -> None:
        """Set the amounts of all floating species (:attr:`floating_species` order) in one call."""
        values = [float(v) for v in values]
        if values:
            self.rr.model.setFloatingSpeciesAmounts(list(range(len(values))), values)

    @property
    def n_reactions(self) -> int:
        """Number of reactions."""
        return int(self.rr.model.getNumReactions())

    def rates_of_change(self) -> np.ndarray:
        """Time derivatives of the state vector (:meth:`state_vector_ids` order)."""
        return np.asarray(self.rr.getRatesOfChange(), dtype=float)

    def state_vector_ids(self) -> list[str]:
        """Ids of the state vector's entries."""
        return [self.rr.model.getStateVectorId(i) for i in range(len(self.rr.getRatesOfChange()))]

    def stoichiometry(self) -> np.ndarray:
        """The full stoichiometry matrix (floating species x reactions)."""
        n = len(self.floating_species)
        return np.array(self.rr.getFullStoichiometryMatrix(), dtype=float).reshape(n, -1)

    def global_parameter_ids(self) -> list[str]:
        """Ids of the global parameters, in RoadRunner's order."""
        return list(self.rr.model.getGlobalParameterIds())

    def global_parameter_values(self, indices: Sequence[int]) -> np.ndarray:
        """Values of the global parameters at ``indices`` (:meth:`global_parameter_ids` order)."""
        return np.asarray(self.rr.model.getGlobalParameterValues(list(indices)), dtype=float)

    def set_global_parameter_values(self, indices: Sequence[int], values: Sequence[float]) -> None:
        """Set global parameters by index."""
        self.rr.model.setGlobalParameterValues(list(indices), list(values))

    def newton_steady_state(self) -> None:
        """RoadRunner's steady-state solver from the current state, without moiety analysis or presimulation.

        Raises ``RuntimeError`` when it fails; the caller checks convergence and restores the state.
        """
        solver = self.rr.getSteadyStateSolver()
        solver.setValue("auto_moiety_analysis", False)
        solver.setValue("allow_presimulation", False)
        self.rr.steadyState()

    def restart(self, t: float, keep: Sequence[str]) -> None:
        """Restart the integration at ``t`` keeping the state.

        ``reset()`` re-evaluates the trigger states of piecewise conditions; the floating species' amounts
        and the values of ``keep`` (e.g. rate-rule variables) are saved and restored around it (parameters
        set with ``setValue`` survive it).
        """
        amounts = self.amounts()
        saved = self.values(keep)
        self.rr.reset()
        self.set_amounts(amounts)
        self.set_values(keep, saved)
        self.rr.model.setTime(t)

    def _values_plan(self, keys: Sequence[str]) -> tuple[list[int], list[int], list[str], list[int]]:
        """Positions and global-parameter indices of ``keys`` that are global parameters, and the others."""
        plan = self._keep_plans.get(tuple(keys))
        if plan is None:
            index = {p: k for k, p in enumerate(self.global_parameter_ids())}
            plan = ([k for k, i in enumerate(keys) if i in index], [index[i] for i in keys if i in index],
                    [i for i in keys if i not in index], [k for k, i in enumerate(keys) if i not in index])
            self._keep_plans[tuple(keys)] = plan
        return plan

    def values(self, keys: Sequence[str]) -> np.ndarray:
        """Current values of ``keys`` (global parameters read in one call)."""
        pos, index, others, other_pos = self._values_plan(keys)
        out = np.empty(len(keys))
        if index:
            out[pos] = self.global_parameter_values(index)
        for k, i in zip(other_pos, others, strict=True):
            out[k] = self.rr.getValue(i)
        return out

    def set_values(self, keys: Sequence[str], values: np.ndarray) -> None:
        """Set ``keys`` to ``values`` (global parameters in one call)."""
        pos, index, others, other_pos = self._values_plan(keys)
        if index:
            self.set_global_parameter_values(index, [float(values[k]) for k in pos])
        for k, i in zip(other_pos, others, strict=True):
            self.rr.setValue(i, float(values[k]))


def check_times(times: Sequence[float] | np.ndarray) -> np.ndarray:
    """Output times as a float array: raises ``ValueError`` unless non-empty, finite, >= 0 and non-decreasing."""
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
