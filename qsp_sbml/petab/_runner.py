"""Simulate one PEtab experiment (v2) or condition pair (v1) on a compiled RoadRunner (internal).

The timeline of an experiment:

1. the model is reset with the parameter-table values of model parameters and
   the first period's pre-initialisation overrides (v1 condition parameters,
   compartments and initial values) by the one reset sequence of
   :meth:`qsp_sbml.simulate.simulator.Simulator.reset` (initial assignments
   that depend on them re-evaluated, concentrations of species in a resized
   compartment restored, t=0 events fired once);
2. each period's changes are evaluated on the current state and applied
   simultaneously; SBML events whose trigger a change switched on fire
   after the changes;
3. a preequilibration period (start ``-inf``) runs to steady state;
4. the other periods are integrated to the measurement times (duplicates
   removed, including the start time) and to the next period's start;
5. measurements at ``t = inf`` are read at the steady state reached from the
   end of the last period.

Experiments that share their preequilibration (the same first period and the
same parameter values; models without events) reuse its steady state: the state
(and, in the sensitivity runner, the sensitivities) is saved after the first one
and restored in the others, which then start from exactly the values they would
have computed (Isensee_JCB2018: 123 experiments, one preequilibration).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import libsbml
import numpy as np

from qsp_sbml.errors import SimulationError, UnsupportedFeatureError
from qsp_sbml.petab._common import TIME_SYMBOLS, ModelEntities
from qsp_sbml.petab._spec import Change, ExperimentSpec, Period
from qsp_sbml.petab.options import SteadyStateOptions
from qsp_sbml.simulate.initial import evaluate
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.simulator import Simulator

__all__ = ["ExperimentRunner"]

logger = logging.getLogger(__name__)

_TIME = "__petab_time__"


def _replace_time(node: libsbml.ASTNode) -> libsbml.ASTNode:
    if node.getType() == libsbml.AST_NAME_TIME:
        node.setType(libsbml.AST_NAME)
        node.setName(_TIME)
    for i in range(node.getNumChildren()):
        _replace_time(node.getChild(i))
    return node


@dataclass(frozen=True)
class _Event:
    id: str
    trigger: libsbml.ASTNode
    assignments: tuple[tuple[str, libsbml.ASTNode], ...]
    delayed: bool


class _Compiled:
    """A sympy expression compiled to a Python function of named values."""

    def __init__(self, expr: Any) -> None:
        import sympy as sp

        self.names = sorted({str(s) for s in expr.free_symbols})
        symbols = sorted(expr.free_symbols, key=str)
        self.constant = float(expr) if not self.names else None
        self.fn = sp.lambdify(symbols, expr, modules="numpy") if self.names else None

    def __call__(self, lookup: Callable[[str], float]) -> float:
        if self.constant is not None:
            return self.constant
        assert self.fn is not None  # noqa: S101 - for mypy
        return float(self.fn(*(lookup(n) for n in self.names)))


class ExperimentRunner:
    """Run experiments of one problem on one compiled model (a :class:`~qsp_sbml.simulate.simulator.Simulator`).

    The reset is the simulator's; what PEtab adds on top (simultaneous condition changes, events switched on
    by a change, steady states, integration pieces at piecewise switching times) lives here.
    """

    #: Whether :meth:`_newton` solves with the stoichiometric conservation laws (see :meth:`steady_state`).
    _newton_conserves = False

    def __init__(
        self,
        sim: Simulator,
        sbml_model: libsbml.Model,
        entities: ModelEntities,
        model_parameters: Mapping[str, Any],
        selections: Sequence[str],
        *,
        integrator: IntegratorOptions,
        steady_state: SteadyStateOptions,
    ) -> None:
        self.sim = sim
        self.entities = entities
        self.selections = list(selections)
        self.integrator = integrator
        self.steady = steady_state
        self.ia = sim.structure.initial_assignments
        self._model_parameters = {k: _Compiled(v) for k, v in model_parameters.items()}
        self._compiled: dict[Any, _Compiled] = {}
        self._init_conc = sim.structure.initial_concentration
        self.events = self._read_events(sbml_model)
        delayed = [ev.id for ev in self.events if ev.delayed]
        if delayed:
            # RoadRunner keeps delayed events pending across reset() and fires t=0 events again at every reset
            raise UnsupportedFeatureError(
                f"event {delayed[0]!r} has a delay: PEtab experiments reset one compiled model, and RoadRunner "
                "keeps delayed events pending across resets (a silently wrong result); not supported in PEtab "
                "problems yet (Model.simulate runs such models)", feature="petab-delayed-event", sbml_id=delayed[0])
        self._rate_rules = [sbml_model.getRule(i).getVariable() for i in range(sbml_model.getNumRules())
                            if sbml_model.getRule(i).isRate()]
        self._conserved: np.ndarray | None = None
        self._breakpoints = self._read_breakpoints(sbml_model)
        # steady states of preequilibrations at the parameter values of the last run (see the module docstring)
        self._preeq_values: tuple[tuple[str, float], ...] | None = None
        self._preeq_states: dict[Period, Any] = {}
        # the parameter values of the current run, and the initial values computed from them
        self._values_key: tuple[tuple[str, float], ...] | None = None
        self._init_key: tuple[tuple[str, float], ...] | None = None
        self._init_values: dict[tuple[Change, ...], tuple[dict[str, float], dict[str, float]]] = {}

    # -- setup -----------------------------------------------------------
    @staticmethod
    def _read_events(model: libsbml.Model) -> list[_Event]:
        out = []
        for i in range(model.getNumEvents()):
            ev = model.getEvent(i)
            if not ev.isSetTrigger() or not ev.getTrigger().isSetMath():
                continue
            assigns = tuple((ea.getVariable(), _replace_time(ea.getMath().deepCopy()))
                            for ea in ev.getListOfEventAssignments() if ea.isSetMath())
            out.append(_Event(ev.getId(), _replace_time(ev.getTrigger().getMath().deepCopy()), assigns,
                              ev.isSetDelay()))
        return out

    def _compile(self, expr: Any) -> _Compiled:
        c = self._compiled.get(expr)
        if c is None:
            c = self._compiled[expr] = _Compiled(expr)
        return c

    # -- values ------------------------------------------------------------
    def _model_value(self, name: str) -> float:
        if name == _TIME or name in TIME_SYMBOLS:
            return self.sim.time
        return float(self.sim.value(self.entities.selection(name)))

    def _lookup(self, values: Mapping[str, float]) -> Callable[[str], float]:
        model = self.entities.all

        def lookup(name: str) -> float:
            if name in model or name in TIME_SYMBOLS or name == _TIME:
                return self._model_value(name)
            return values[name]

        return lookup

    def _set(self, target: str, value: float) -> None:
        try:
            self.sim.set_value(self.entities.selection(target), value)
        except RuntimeError as err:
            raise SimulationError(f"cannot set {target!r} to {value!r}: {err}") from err

    # -- initialisation and changes -------------------------------------------
    def _initialise(self, first_before_init: Sequence[Change], values: Mapping[str, float]) -> None:
        key = tuple(first_before_init)
        split = self._init_values.get(key) if self._init_key == self._values_key else None
        if split is None:
            params_only = values.__getitem__
            pre: dict[str, float] = {k: c(params_only) for k, c in self._model_parameters.items()}
            for ch in first_before_init:
                pre[ch.target] = self._compile(ch.value)(params_only)
            given = {self.entities.selection(k): v for k, v in pre.items()}
            before, after = self.sim.structure.split(given)
            split = ({k: given[k] for k in before}, {k: given[k] for k in after})
            if self._init_key != self._values_key:
                self._init_key, self._init_values = self._values_key, {}
            self._init_values[key] = split
        try:
            self.sim.reset(*split)
        except RuntimeError as err:
            raise SimulationError(f"cannot set the initial values {split}: {err}") from err

    def _triggers(self, lookup: Callable[[str], float]) -> list[bool]:
        return [bool(evaluate(ev.trigger, lookup)) for ev in self.events]

    def _apply_changes(self, changes: Sequence[Change], values: Mapping[str, float]) -> None:
        if not changes:
            return
        lookup = self._lookup(values)
        new = {ch.target: self._compile(ch.value)(lookup) for ch in changes}
        pending = self._before_changes(changes, new, lookup)
        before = self._triggers(lookup) if self.events else []
        comps = [t for t in new if t in self.entities.compartments]
        keep = {}
        if comps:
            for sid in self.entities.species - self.entities.amount_species:
                if self.entities.compartment_of[sid] in comps and sid not in new:
                    keep[sid] = float(self.sim.value(f"[{sid}]"))
        for t in comps:
            self._set(t, new[t])
        for sid, conc in keep.items():
            self.sim.set_value(f"[{sid}]", conc)
        for t, v in new.items():
            if t not in self.entities.compartments:
                self._set(t, v)
        self._after_changes(pending)
        if self.events:
            self._fire_switched_on(before, lookup)

    def _before_changes(self, changes: Sequence[Change], new: Mapping[str, float],
                        lookup: Callable[[str], float]) -> Any:
        """Hook called with the new values before they are set (the sensitivity runner's jumps)."""
        return None

    def _after_changes(self, pending: Any) -> None:
        """Hook called after the changes are set, before events fire."""

    def _fire_switched_on(self, before: list[bool], lookup: Callable[[str], float]) -> None:
        after = self._triggers(lookup)
        for ev, was, now in zip(self.events, before, after, strict=True):
            if was or not now:
                continue
            if ev.delayed:
                raise UnsupportedFeatureError(
                    f"event {ev.id!r} (with a delay) is triggered by a PEtab condition change",
                    feature="petab-delayed-event-at-condition", sbml_id=ev.id)
            new = {var: evaluate(m, lookup) for var, m in ev.assignments}
            for var, v in new.items():
                self._set(var, v)

    # -- integration -----------------------------------------------------------
    def _current(self) -> np.ndarray:
        return np.array([self.sim.value(s) for s in self.selections], dtype=float)

    @staticmethod
    def _read_breakpoints(model: libsbml.Model) -> list[_Compiled]:
        """Times where a piecewise condition of time and constants switches (rules and kinetic laws).

        Only conditions linear in time are used (``time - T < 0`` and the like);
        the switching time is a formula of parameters and compartments without
        rules, evaluated at the start of each integration.
        """
        import sympy as sp

        from qsp_sbml.petab._sympy_sbml import TIME, ast_to_sympy

        ruled = {model.getRule(i).getVariable() for i in range(model.getNumRules())}
        constant = ({model.getParameter(i).getId() for i in range(model.getNumParameters())}
                    | {model.getCompartment(i).getId() for i in range(model.getNumCompartments())}) - ruled
        maths = [model.getRule(i).getMath() for i in range(model.getNumRules()) if model.getRule(i).isSetMath()]
        maths += [model.getReaction(i).getKineticLaw().getMath() for i in range(model.getNumReactions())
                  if model.getReaction(i).getKineticLaw() is not None
                  and model.getReaction(i).getKineticLaw().isSetMath()]
        relational = {libsbml.AST_RELATIONAL_LT, libsbml.AST_RELATIONAL_LEQ, libsbml.AST_RELATIONAL_GT,
                      libsbml.AST_RELATIONAL_GEQ, libsbml.AST_RELATIONAL_EQ, libsbml.AST_RELATIONAL_NEQ}
        nodes: list[libsbml.ASTNode] = []

        def walk(node: libsbml.ASTNode) -> None:
            if node.getType() in relational and node.getNumChildren() == 2:
                nodes.append(node)
            for i in range(node.getNumChildren()):
                walk(node.getChild(i))

        for m in maths:
            walk(m)
        out: dict[Any, _Compiled] = {}
        for node in nodes:
            try:
                expr = ast_to_sympy(node.getChild(0), sp.Symbol) - ast_to_sympy(node.getChild(1), sp.Symbol)
            except UnsupportedFeatureError:
                continue
            names = {str(x) for x in expr.free_symbols - {TIME}}
            if TIME not in expr.free_symbols or not names <= constant:
                continue
            slope = sp.diff(expr, TIME)
            if slope == 0 or slope.free_symbols & {TIME}:
                continue
            root = -expr.subs(TIME, 0) / slope
            out.setdefault(root, _Compiled(root))
        return list(out.values())

    def _integrate(self, t0: float, t1: float, out_times: np.ndarray) -> np.ndarray:
        """Integrate from ``t0`` to ``t1``; values (rows) at ``out_times`` (within [t0, t1]).

        The integrator restarts at every time where a piecewise condition of time
        switches: it stops ``1e-10 * max(1, |b|)`` before the switching time ``b``
        and the clock is moved to ``b``.  Without this CVODE (with RoadRunner's
        root functions for piecewise conditions) can stall at the switch:
        CV_TOO_MUCH_WORK at t=60 on 21 of 123 conditions of Isensee_JCB2018
        after preequilibration.
        """
        breaks: list[float] = []
        if self._breakpoints and t1 > t0:
            get = self.sim.value
            with np.errstate(all="ignore"):
                found = {c(lambda n: float(get(n))) for c in self._breakpoints}
            breaks = sorted(b for b in found if math.isfinite(b) and t0 < b <= t1)
        if not breaks:
            return self._integrate_piece(t0, t1, out_times)
        out = np.full((len(out_times), len(self.selections)), np.nan)
        edges = [t0, *breaks] + ([t1] if breaks[-1] < t1 else [])
        done = np.zeros(len(out_times), dtype=bool)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            is_break = b in breaks
            sel = ~done & (out_times >= a) & ((out_times < b) if is_break else (out_times <= b))
            end = max(a, b - 1e-10 * max(1.0, abs(b))) if is_break else b
            out[sel] = self._integrate_piece(a, end, np.minimum(out_times[sel], end))
            done |= sel
            if is_break:
                self.sim.set_time(b)
        if np.any(~done):  # at t1, itself a switching time
            out[~done] = self._current()
        return out

    def _integrate_piece(self, t0: float, t1: float, out_times: np.ndarray) -> np.ndarray:
        grid = np.unique(np.concatenate(([t0], out_times, [t1])))
        if len(grid) == 1:
            self.sim.set_time(t0)
            return np.tile(self._current(), (len(out_times), 1))
        try:  # the selections are set every time: RoadRunner's steady-state solver resets them
            values = self.sim.simulate_grid(grid, self.selections)
        except RuntimeError as err:
            raise SimulationError(f"integration failed between t={t0:g} and t={t1:g}: {err}{self.sim.failure_hint()}",
                                  time=t0) from err
        return values[np.searchsorted(grid, out_times), 1:]

    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([self.sim.amounts(), self.sim.values(self._rate_rules)])
        dx = self.sim.rates_of_change()
        return x, dx

    def _converged(self) -> bool:
        x, dx = self._state()
        if dx.size == 0:
            return True
        if not np.all(np.isfinite(dx)) or not np.all(np.isfinite(x)):
            return False
        scale = self.steady.atol + self.steady.rtol * float(np.max(np.abs(x))) if x.size else self.steady.atol
        return float(np.max(np.abs(dx))) <= scale

    def steady_state(self) -> None:
        """Drive the current state to steady state (Newton, then long simulation).

        With ``method="auto"`` Newton is not tried on models with stoichiometric conservation laws: RoadRunner's
        solver runs without moiety analysis (see :meth:`_newton`), on a singular Jacobian there, and was measured
        failing on every steady state of Blasi_CellSystems2016, Brannmark_JBC2010 and Isensee_JCB2018 (nominal
        and 7 random points each; 0.09-0.28 CPU-s per failed attempt, ~97 % of an objective value) before the
        simulation took over.  The sensitivity runner's own Newton (:meth:`SensitivityRunner._newton`) solves
        with the conservation laws and is tried on such models.
        """
        method = self.steady.method
        try_newton = method == "newton" or (method == "auto" and (self._newton_conserves or
                                                                  not self._conservation().size))
        if try_newton and not self.events and self._newton():
            return
        if method == "newton":
            raise SimulationError("RoadRunner's steady-state solver did not converge")
        t = self.sim.time
        t = 0.0 if not math.isfinite(t) else t
        dt = self.steady.first_window
        elapsed = 0.0
        while elapsed < self.steady.max_time:
            try:
                self.sim.advance(t, t + dt)
            except RuntimeError as err:
                raise SimulationError(f"integration to steady state failed near t={t:g}: {err}", time=t) from err
            t += dt
            elapsed += dt
            if self._converged():
                return
            dt *= 10.0
        _, dx = self._state()
        raise SimulationError(f"no steady state within t={elapsed:g} (max |dx/dt| = {np.max(np.abs(dx)):.3g})")

    def _conservation(self) -> np.ndarray:
        """Conservation laws (rows) of the floating species amounts: the left null space of the stoichiometry."""
        if self._conserved is None:
            ids = self.sim.floating_species
            if not ids or not self.sim.n_reactions:
                self._conserved = np.zeros((0, len(ids)))
                return self._conserved
            n = self.sim.stoichiometry()
            n[[k for k, i in enumerate(ids) if i in self._rate_rules]] = np.nan  # rate rules: not conserved
            rows = [k for k in range(len(ids)) if np.all(np.isfinite(n[k]))]
            laws = np.zeros((0, len(ids)))
            if rows:
                u, sv, _ = np.linalg.svd(n[rows])
                rank = int(np.sum(sv > 1e-9 * max(float(sv[0]) if sv.size else 0.0, 1.0)))
                laws = np.zeros((len(rows) - rank, len(ids)))
                laws[:, rows] = u[:, rank:].T
            self._conserved = laws
        return self._conserved

    def _keeps_conserved(self, before: np.ndarray, after: np.ndarray) -> bool:
        laws = self._conservation()
        if not laws.size:
            return True
        a, b = laws @ before, laws @ after
        return bool(np.all(np.abs(a - b) <= 1e-6 * np.maximum(np.abs(laws) @ np.abs(before), 1e-300)
                           + self.steady.atol))

    def _newton(self) -> bool:
        """RoadRunner's steady-state solver; rejected unless converged, non-negative and on the same moiety totals.

        The solver runs without moiety analysis: from some starting points it
        converges to a steady state of another conservation class (measured on
        Blasi_CellSystems2016: an objective 1886 higher after a 1e-4 step in one
        parameter); the long simulation then takes over.
        """
        sim = self.sim
        saved = {i: sim.value(i) for i in sim.floating_species + self._rate_rules}
        species = sim.floating_species
        before = np.array([saved[i] for i in species], dtype=float)
        t = sim.time
        try:
            sim.newton_steady_state()
            after = np.array([sim.value(i) for i in species], dtype=float)
            ok = (self._converged() and bool(np.all(after >= -self.steady.atol))
                  and self._keeps_conserved(before, after))
        except RuntimeError:
            ok = False
        if not ok:
            for i, v in saved.items():
                sim.set_value(i, v)
            sim.set_time(t)
        return ok

    def _restart_clock(self, t: float) -> None:
        """Restart at ``t`` after a preequilibration and its changes, keeping the state.

        Without this, RoadRunner keeps the piecewise-trigger states of the end of
        the steady-state run, computed with the preequilibration parameters:
        integration then stalls at the first time-dependent discontinuity
        (CV_TOO_MUCH_WORK at t=60 on Isensee_JCB2018).  ``reset()`` re-evaluates
        them; the state is saved and restored around it (parameters set with
        ``setValue`` survive ``reset()``).
        """
        self.sim.restart(t, self._rate_rules)

    # -- preequilibration ------------------------------------------------------------
    def _preequilibrate(self, period: Period, values: Mapping[str, float]) -> None:
        """Steady state of a preequilibration, reused across experiments that share it.

        The reached state depends only on the first period and the parameter values (the model is reset
        before it); with events, which may change parameters during the long simulation, it is not reused.
        """
        if self.events:
            self.steady_state()
            return
        key = self._values_key
        if key != self._preeq_values:
            self._preeq_values = key
            self._preeq_states = {}
        saved = self._preeq_states.get(period)
        if saved is not None:
            self._restore_steady(saved)
            return
        self.steady_state()
        self._preeq_states[period] = self._save_steady()

    def _save_steady(self) -> Any:
        """What a steady state leaves in the model: the state (amounts, then rate-rule variables)."""
        return self.sim.amounts(), self.sim.values(self._rate_rules)

    def _restore_steady(self, saved: Any) -> None:
        amounts, rated = saved
        self.sim.set_amounts(amounts)
        self.sim.set_values(self._rate_rules, rated)

    # -- the timeline ------------------------------------------------------------
    def run(self, experiment: ExperimentSpec, values: Mapping[str, float], times: np.ndarray) -> np.ndarray:
        """Values of the selections (columns) at sorted unique ``times`` (rows; may end with inf)."""
        self.sim.set_options(self.integrator)
        self._values_key = tuple(values.items())
        out = np.full((len(times), len(self.selections)), np.nan)
        periods = list(experiment.periods)
        self._initialise(periods[0].before_init, values)
        t_cur = periods[0].start if math.isfinite(periods[0].start) else 0.0
        self.sim.set_time(t_cur)
        self._apply_changes(periods[0].changes, values)
        if periods[0].is_preequilibration:
            self._preequilibrate(periods[0], values)
            periods = periods[1:] or [Period(0.0)]  # preequilibration only: simulate on from t=0
            t_cur = periods[0].start
            self.sim.set_time(t_cur)
            self._apply_changes(periods[0].changes, values)
            self._restart_clock(t_cur)
        finite = np.isfinite(times)
        if np.any(times[finite] < t_cur):
            raise SimulationError(f"experiment {experiment.id!r} starts at t={t_cur:g} but has measurements "
                                  f"at t={float(np.min(times[finite])):g}")
        for k, period in enumerate(periods):
            nxt = periods[k + 1].start if k + 1 < len(periods) else math.inf
            sel = finite & (times >= period.start) & (times < nxt)
            if k + 1 < len(periods):
                # with events, stop just before the next start: events due at that instant fire after its changes
                stop = max(t_cur, nxt - 1e-9 * max(1.0, abs(nxt))) if self.events else nxt
                out[sel] = self._integrate(t_cur, stop, times[sel])
                t_cur = stop
                self.sim.set_time(t_cur)
                self._apply_changes(periods[k + 1].changes, values)
            elif np.any(sel):
                seg = times[sel]
                out[sel] = self._integrate(t_cur, float(seg[-1]), seg)
                t_cur = float(seg[-1])
        if np.any(~finite):
            self.steady_state()
            out[~finite] = self._current()
        return out
