"""Forward sensitivities of PEtab simulations (internal).

Route: the sensitivity equations are generated symbolically into an
*augmented* SBML model that RoadRunner compiles once per objective.  From the
flat model (reactions x stoichiometry, rate rules; assignment rules and
kinetic laws inlined; libSBML AST -> sympy) we take the right-hand side
``F(y, q, t)`` of the state ``n`` (species amounts, rate-rule variables), where
``y`` are the values symbols have in SBML math (a species symbol means its
concentration ``n / V`` unless it has only substance units) and ``q`` the
constants PEtab may set (parameters, compartments, boundary species).  For each
estimated parameter ``theta_j`` that enters the simulation the augmented model
carries

* ``s_ij = d n_i / d theta_j`` as rate-ruled parameters:
  ``ds_ij/dt = sum_y dF_i/dy * dy/dtheta_j`` with ``dy/dtheta_j = s_kj`` for an
  amount, ``(s_kj - y dV_j) / V`` for a concentration in compartment ``V`` and
  ``dq_j`` for a constant;
* ``dq_j = d q / d theta_j`` as plain parameters, set by the runner wherever
  PEtab sets ``q`` (0 for a constant, 1 for the parameter itself, the chain rule
  for expressions);
* ``d m / d theta_j`` for every model value ``m`` the observables read, as
  assignment rules (the chain rule through ``m``'s formula);
* for events with triggers that depend on time and insensitive constants
  only, event assignments ``s+ = d(assignment)/d theta`` evaluated before the
  event.  Triggers that depend on states or on parameters with a sensitivity
  would need the trigger-time term: refused (``UnsupportedFeatureError``).

Structural zeros are left out: ``s_ij`` gets an equation only when
``theta_j`` can reach state ``i`` (a fixed point over PEtab's settings of
targets, initial and event assignments and the states and constants each
right-hand side reads; a target set from a model value may depend on every
parameter).  The others stay 0 and are dropped from every formula; the runner
refuses to write a nonzero value into one (a gap in the analysis would
otherwise be a silently wrong gradient).

:class:`SensitivityRunner` integrates the augmented model with the same
segment logic as :class:`~qsp_sbml.petab._runner.ExperimentRunner` and sets the
sensitivities where the runner changes the state: initial values (pre-set
values, initial assignments, concentrations kept in a resized compartment),
condition changes, and steady states, where ``J s = -dF/dq dq`` is solved at
the converged state (with conservation laws: on the left null space of ``J``,
keeping the conserved totals of ``s``); when that system is singular in another
way the steady state is simulated again with the sensitivities in the
convergence check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import libsbml
import numpy as np

from qsp_sbml.errors import SimulationError, UnsupportedFeatureError
from qsp_sbml.petab._common import ModelEntities
from qsp_sbml.petab._runner import _TIME, ExperimentRunner
from qsp_sbml.petab._spec import Change
from qsp_sbml.petab._sympy_sbml import TIME, ast_to_sympy, to_l3
from qsp_sbml.petab.options import SteadyStateOptions
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.simulator import Simulator

__all__ = ["SensitivityModel", "SensitivityRunner"]

logger = logging.getLogger(__name__)

PREFIX = "__qsps_"


def _unsupported(message: str, feature: str, sbml_id: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"gradient: {message}", feature=feature, sbml_id=sbml_id)


class SensitivityModel:
    """The augmented SBML model of a flat model for the parameters ``thetas``.

    Parameters
    ----------
    sbml_model
        The flat libSBML model.
    thetas
        Ids of the (linear-scale) parameters to differentiate by.
    settable
        Model ids PEtab sets to values that depend on ``thetas`` or on model
        values (condition-table targets, parameter-table mappings).
    outputs
        Model ids whose values the observables read.
    depends
        For each target in ``settable``, the ids in ``thetas`` its value may depend on; a target not in
        the mapping may depend on all of them (``None``: every target may).
    prune
        Leave out the structural zeros: ``s_ij`` for a parameter that cannot reach state ``i`` (it
        enters neither the state's initial value nor, through the right-hand sides, any state or
        constant the state depends on) stays 0 without an equation.  ``False`` integrates them all.
    """

    def __init__(self, sbml_model: libsbml.Model, thetas: Sequence[str], settable: Iterable[str],
                 outputs: Sequence[str], *, depends: Mapping[str, Iterable[str]] | None = None,
                 prune: bool = True) -> None:
        import sympy as sp

        self.thetas = list(thetas)
        doc = sbml_model.getSBMLDocument().clone()
        props = libsbml.ConversionProperties()
        props.addOption("expandFunctionDefinitions", True)
        if doc.getModel().getNumFunctionDefinitions() and doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise _unsupported("function definitions could not be expanded", "petab-gradient-functions")
        self.doc = doc
        model = doc.getModel()
        self.model = model
        rules = [model.getRule(i) for i in range(model.getNumRules())]
        if any(r.isAlgebraic() for r in rules):
            raise _unsupported("algebraic rules", "petab-gradient-algebraic-rule")
        self._assigned = {r.getVariable(): r.getMath() for r in rules if r.isAssignment()}
        rate = {r.getVariable(): r.getMath() for r in rules if r.isRate()}
        self._reactions = {model.getReaction(i).getId(): model.getReaction(i) for i in range(model.getNumReactions())}
        self._classify(model, rate)
        self.states = list(self.kind)
        self._memo: dict[str, Any] = {}
        self.sym = {n: sp.Symbol(n) for n in [*self.states, *self.constants]}
        self.rhs = self._right_hand_sides(model, rate)
        settable = set(settable)
        self._find_sensitive(model, settable)
        self.sensitive_list = sorted(self.sensitive)
        self.dynamic = {self.sym[n] for n in [*self.states, *self.sensitive_list]}
        n_theta = len(self.thetas)
        self.s_ids = [[f"{PREFIX}s{i}_{j}" for j in range(n_theta)] for i in range(len(self.states))]
        self.q_ids = [[f"{PREFIX}q{k}_{j}" for j in range(n_theta)] for k in range(len(self.sensitive_list))]
        self.outputs = list(outputs)
        self.m_ids = [[f"{PREFIX}m{c}_{j}" for j in range(n_theta)] for c in range(len(self.outputs))]
        self.state_index = {s: i for i, s in enumerate(self.states)}
        self.q_index = {q: k for k, q in enumerate(self.sensitive_list)}
        self._rhs_partials = {state: self.partials(self.rhs[state]) for state in self.states}
        self._reach = self._reachable(settable, depends, prune)
        #: ``s_live[i, j]``: ``s_ij`` may be nonzero (it has an equation); the others are structural zeros.
        self.s_live = np.array([[j in self._reach[s] for j in range(n_theta)] for s in self.states],
                               dtype=bool).reshape(len(self.states), n_theta)
        self.q_live = np.array([[j in self._reach[q] for j in range(n_theta)] for q in self.sensitive_list],
                               dtype=bool).reshape(len(self.sensitive_list), n_theta)
        self._build()

    def _classify(self, model: libsbml.Model, rate: dict[str, Any]) -> None:
        """States (with their kind and compartment) and constants; refuses what the gradient cannot follow."""
        species = [model.getSpecies(i) for i in range(model.getNumSpecies())]
        #: state id -> "conc" (species symbol is a concentration), "amount" or "value"
        self.kind: dict[str, str] = {}
        self.compartment_of: dict[str, str] = {}
        self.constants: set[str] = set()
        for s in species:
            sid = s.getId()
            if sid in self._assigned:
                continue
            if sid in rate or not (s.getBoundaryCondition() or s.getConstant()):
                self.kind[sid] = "amount" if s.getHasOnlySubstanceUnits() else "conc"
                self.compartment_of[sid] = s.getCompartment()
            else:
                self.constants.add(sid)
        for i in range(model.getNumParameters()):
            pid = model.getParameter(i).getId()
            if pid in rate:
                self.kind[pid] = "value"
            elif pid not in self._assigned:
                self.constants.add(pid)
        for i in range(model.getNumCompartments()):
            cid = model.getCompartment(i).getId()
            if cid in rate:
                raise _unsupported(f"compartment {cid!r} has a rate rule", "petab-gradient-compartment-rate-rule", cid)
            if cid not in self._assigned:
                self.constants.add(cid)
        for sid, kind in self.kind.items():
            if kind == "conc" and self.compartment_of[sid] not in self.constants:
                raise _unsupported(f"species {sid!r} is in compartment {self.compartment_of[sid]!r}, whose size "
                                   "is given by a rule", "petab-gradient-variable-compartment", sid)

    def _right_hand_sides(self, model: libsbml.Model, rate: dict[str, Any]) -> dict[str, Any]:
        """Right-hand sides of the amounts (species) and values (rate-rule parameters)."""
        import sympy as sp

        rhs: dict[str, Any] = {s: sp.Integer(0) for s in self.states}
        for sid, math in rate.items():
            if sid not in self.kind:
                continue
            expr = self.expression(math)
            if self.kind[sid] == "conc":
                expr = self.sym[self.compartment_of[sid]] * expr
            rhs[sid] = expr
        for rid, reaction in self._reactions.items():
            v = self.value(rid)
            for refs, sign in ((reaction.getListOfReactants(), -1), (reaction.getListOfProducts(), 1)):
                for ref in refs:
                    sid = ref.getSpecies()
                    if sid not in self.kind or sid in rate:
                        continue
                    if ref.isSetId() and (ref.getId() in self._assigned or ref.getId() in rate or
                                          model.getInitialAssignmentBySymbol(ref.getId()) is not None):
                        raise _unsupported(f"variable stoichiometry {ref.getId()!r}", "petab-gradient-stoichiometry",
                                           ref.getId())
                    stoich = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
                    rhs[sid] += sign * sp.Float(stoich) * v
        return rhs

    def _find_sensitive(self, model: libsbml.Model, settable: Iterable[str]) -> None:
        """Constants whose value can depend on theta: set by PEtab, or initial/event assignments of such values."""
        dynamic = set(self.states)
        self.sensitive = {q for q in settable if q in self.constants}
        ias = {model.getInitialAssignment(i).getSymbol(): model.getInitialAssignment(i).getMath()
               for i in range(model.getNumInitialAssignments()) if model.getInitialAssignment(i).isSetMath()}
        self.ia = {k: self.expression(m) for k, m in ias.items()}
        self.events = [model.getEvent(i) for i in range(model.getNumEvents())]
        event_values = [(ea.getVariable(), self.expression(ea.getMath())) for ev in self.events
                        for ea in ev.getListOfEventAssignments() if ea.isSetMath()]
        while True:
            names = {str(s) for s in dynamic | self.sensitive}
            grown = {k for k, e in [*self.ia.items(), *event_values]
                     if k in self.constants and {str(s) for s in e.free_symbols} & names} - self.sensitive
            if not grown:
                break
            self.sensitive |= grown

    def _reachable(self, settable: set[str], depends: Mapping[str, Iterable[str]] | None, prune: bool,
                   ) -> dict[str, set[int]]:
        """For each state and sensitive constant, the indices ``j`` of the parameters that can reach it.

        A fixed point over the ways a parameter enters: PEtab setting a target (``depends``, else every
        parameter), initial and event assignments (from the symbols they read), the right-hand side of a
        state (from the states and constants it reads) and, for a concentration species, its compartment.
        """
        every = set(range(len(self.thetas)))
        names = [*self.states, *self.sensitive_list]
        if not prune:
            return {n: set(every) for n in names}
        index = {t: j for j, t in enumerate(self.thetas)}
        reach: dict[str, set[int]] = {n: set() for n in names}
        for target in settable:
            if target in reach:
                given = None if depends is None else depends.get(target)
                reach[target] |= every if given is None else {index[t] for t in given if t in index}
        edges: dict[str, set[str]] = {n: set() for n in names}
        for k, expr in self.ia.items():
            if k in edges:
                edges[k] |= {str(s) for s in expr.free_symbols} & reach.keys()
        for ev in self.events:
            for ea in ev.getListOfEventAssignments():
                if ea.isSetMath() and ea.getVariable() in edges:
                    edges[ea.getVariable()] |= ({str(s) for s in self.expression(ea.getMath()).free_symbols}
                                                & reach.keys())
        for state in self.states:
            edges[state] |= {str(s) for s in self._rhs_partials[state]} & reach.keys()
            if self.kind[state] == "conc" and self.compartment_of[state] in reach:
                edges[state].add(self.compartment_of[state])
        changed = True
        while changed:
            changed = False
            for n, sources in edges.items():
                grown = set().union(*(reach[m] for m in sources)) - reach[n] if sources else set()
                if grown:
                    reach[n] |= grown
                    changed = True
        return reach

    # -- symbols -------------------------------------------------------------------
    def value(self, name: str) -> Any:
        """Sympy expression of the value ``name`` has in SBML math (rules and kinetic laws inlined)."""
        if name in self.sym:
            return self.sym[name]
        if name in self._memo:
            return self._memo[name]
        if name in self._assigned:
            expr = self.expression(self._assigned[name])
        elif name in self._reactions:
            law = self._reactions[name].getKineticLaw()
            if law is None or not law.isSetMath():
                raise _unsupported(f"reaction {name!r} has no kinetic law", "petab-gradient-reaction", name)
            local = {law.getParameter(i).getId(): law.getParameter(i).getValue() for i in range(law.getNumParameters())}
            local.update({law.getLocalParameter(i).getId(): law.getLocalParameter(i).getValue()
                          for i in range(law.getNumLocalParameters())})
            expr = self.expression(law.getMath(), local)
        else:
            raise _unsupported(f"the symbol {name!r} (neither species, parameter, compartment nor reaction)",
                               "petab-gradient-symbol", name)
        self._memo[name] = expr
        return expr

    def expression(self, math: libsbml.ASTNode, local: Mapping[str, float] | None = None) -> Any:
        """Sympy expression of SBML math (ids resolved with :meth:`value`)."""
        import sympy as sp

        local = local or {}
        return ast_to_sympy(math, lambda n: sp.Float(local[n]) if n in local else self.value(n))

    def dy(self, sym: Any, j: int) -> Any:
        """Symbolic ``d y / d theta_j`` of a dynamic symbol, in augmented-model ids."""
        import sympy as sp

        name = str(sym)
        if name in self.state_index:
            i = self.state_index[name]
            s = sp.Symbol(self.s_ids[i][j]) if self.s_live[i, j] else sp.Integer(0)
            if self.kind[name] != "conc":
                return s
            comp = self.compartment_of[name]
            v = self.sym[comp]
            k = self.q_index.get(comp)
            if k is not None and self.q_live[k, j]:
                return (s - sym * sp.Symbol(self.q_ids[k][j])) / v
            return s / v
        k = self.q_index[name]
        return sp.Symbol(self.q_ids[k][j]) if self.q_live[k, j] else sp.Integer(0)

    def partials(self, expr: Any) -> dict[Any, Any]:
        """Nonzero partial derivatives of ``expr`` by its dynamic symbols."""
        import sympy as sp

        out = {}
        for sym in sorted(expr.free_symbols & self.dynamic, key=str):
            d = sp.diff(expr, sym)
            if d != 0:
                out[sym] = d
        return out

    def derivative_l3(self, partials: Mapping[Any, Any], j: int) -> str:
        """SBML infix of ``sum dexpr/dy * dy/dtheta_j``."""
        terms = []
        for sym, d in partials.items():
            dy = self.dy(sym, j)
            if dy != 0:
                terms.append(f"{to_l3(d)} * {to_l3(dy)}")
        return " + ".join(terms) if terms else "0"

    # -- the augmented model ------------------------------------------------------
    def _parameter(self, pid: str, value: float = 0.0) -> None:
        p = self.model.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setConstant(False)

    def _math(self, formula: str, where: str) -> libsbml.ASTNode:
        ast = libsbml.parseL3Formula(formula)
        if ast is None:
            raise _unsupported(f"could not write the sensitivity of {where}: {libsbml.getLastParseL3Error()}",
                               "petab-gradient-math")
        return ast

    def _build(self) -> None:
        import sympy as sp

        model = self.model
        taken = {e.getId() for e in model.getListOfAllElements() if e.isSetId()}
        clash = sorted(i for i in taken if i.startswith(PREFIX))
        if clash:
            raise _unsupported(f"model ids {clash} use the reserved prefix {PREFIX!r}", "petab-gradient-ids")
        for row in self.q_ids:
            for qid in row:
                self._parameter(qid)
        rhs_partials = self._rhs_partials
        for i, state in enumerate(self.states):
            parts = rhs_partials[state]
            for j, sid in enumerate(self.s_ids[i]):
                self._parameter(sid)
                if not self.s_live[i, j]:
                    continue  # a structural zero: stays 0 (the runner writes only zeros there)
                rule = model.createRateRule()
                rule.setVariable(sid)
                rule.setMath(self._math(self.derivative_l3(parts, j), f"state {state!r}"))
        for c, name in enumerate(self.outputs):
            parts = self.partials(self.value(name))
            for j, mid in enumerate(self.m_ids[c]):
                self._parameter(mid)
                rule = model.createAssignmentRule()
                rule.setVariable(mid)
                rule.setMath(self._math(self.derivative_l3(parts, j), f"model value {name!r}"))
        for ev in self.events:
            self._event(ev)
        # steady state: J = dF/dn, B = dF/dq (total, at fixed amounts)
        jac, bq = [], []
        for state in self.states:
            parts = rhs_partials[state]
            row = []
            for s in self.states:
                d = parts.get(self.sym[s], sp.Integer(0))
                row.append(d / self.sym[self.compartment_of[s]] if self.kind[s] == "conc" else d)
            jac.append(row)
            brow = []
            for q in self.sensitive_list:
                d = parts.get(self.sym[q], sp.Integer(0))
                for s in self.states:
                    if self.kind[s] == "conc" and self.compartment_of[s] == q and self.sym[s] in parts:
                        d += parts[self.sym[s]] * -self.sym[s] / self.sym[q]
                brow.append(d)
            bq.append(brow)
        args = sorted({s for row in (*jac, *bq) for e in row for s in e.free_symbols}, key=str)
        self.matrix_args = [_name(a) for a in args]
        self._jac = sp.lambdify(args, sp.Matrix(jac), modules="numpy") if jac else None
        self._bq = sp.lambdify(args, sp.Matrix(bq), modules="numpy") if jac and self.sensitive_list else None

    def _event(self, ev: libsbml.Event) -> None:
        eid = ev.getId()
        assigns = [ea for ea in ev.getListOfEventAssignments() if ea.isSetMath()]
        affected = [ea for ea in assigns if ea.getVariable() in self.kind or ea.getVariable() in self.sensitive]
        if not affected:
            return
        if ev.isSetDelay():
            raise _unsupported(f"event {eid!r} has a delay", "petab-gradient-delayed-event", eid)
        trigger = self.expression(ev.getTrigger().getMath())
        if trigger.free_symbols & self.dynamic:
            names = sorted(str(s) for s in trigger.free_symbols & self.dynamic)
            raise _unsupported(f"the trigger of event {eid!r} depends on {names}: trigger-time sensitivities are "
                               "not implemented yet (triggers on time and constants are)",
                               "petab-gradient-state-event", eid)
        for ea in assigns:
            var = ea.getVariable()
            if var in self.constants and var not in self.sensitive:
                continue
            if var not in self.kind and var not in self.sensitive:
                raise _unsupported(f"event {eid!r} assigns {var!r}", "petab-gradient-event-target", eid)
            g = self.expression(ea.getMath())
            parts = self.partials(g)
            for j in range(len(self.thetas)):
                live = (self.s_live[self.state_index[var], j] if var in self.kind
                        else self.q_live[self.q_index[var], j])
                if not live:
                    continue
                formula = self.derivative_l3(parts, j)
                if var in self.kind:
                    target = self.s_ids[self.state_index[var]][j]
                    if self.kind[var] == "conc":
                        comp = self.compartment_of[var]
                        formula = f"({formula}) * {comp}"
                        if comp in self.q_index:
                            formula += f" + {to_l3(g)} * {self.q_ids[self.q_index[comp]][j]}"
                else:
                    target = self.q_ids[self.q_index[var]][j]
                out = ev.createEventAssignment()
                out.setVariable(target)
                out.setMath(self._math(formula, f"event {eid!r}"))

    def sbml(self) -> str:
        """The augmented model as an SBML string."""
        return str(libsbml.writeSBMLToString(self.doc))

    # -- numbers ------------------------------------------------------------------
    def jacobians(self, lookup: Callable[[str], float]) -> tuple[np.ndarray, np.ndarray]:
        """``dF/dn`` (states x states) and ``dF/dq`` (states x sensitive constants) at the current values."""
        args = [lookup(n) for n in self.matrix_args]
        n, m = len(self.states), len(self.sensitive_list)
        jac = np.zeros((n, n)) if self._jac is None else np.asarray(self._jac(*args), dtype=float).reshape(n, n)
        bq = np.zeros((n, m)) if self._bq is None else np.asarray(self._bq(*args), dtype=float).reshape(n, m)
        return jac, bq


def _name(sym: Any) -> str:
    return _TIME if sym == TIME else str(sym)


class _Partials:
    """Numeric partial derivatives of one sympy expression by some of its symbols."""

    def __init__(self, expr: Any, by: Iterable[Any]) -> None:
        import sympy as sp

        self.by = sorted(set(by), key=str)
        derivs = [sp.diff(expr, s) for s in self.by]
        args = sorted(set().union(*(d.free_symbols for d in derivs)) if derivs else set(), key=str)
        self.names = [_name(a) for a in args]
        self.by_names = [_name(s) for s in self.by]
        self.fn = sp.lambdify(args, derivs, modules="numpy") if derivs else None

    def __call__(self, lookup: Callable[[str], float]) -> list[tuple[str, float]]:
        if self.fn is None:
            return []
        values = self.fn(*(lookup(n) for n in self.names))
        return [(n, float(v)) for n, v in zip(self.by_names, values, strict=True)]


class SensitivityRunner(ExperimentRunner):
    """:class:`ExperimentRunner` on the augmented model: selections are followed by their sensitivities.

    Each run returns the original selections' values, then for each selection
    ``c`` and parameter ``j`` (c-major) ``d value_c / d theta_j``.
    """

    _newton_conserves = True

    def __init__(self, sm: SensitivityModel, sim: Simulator, entities: ModelEntities,
                 model_parameters: Mapping[str, Any], selections: Sequence[str], *, integrator: IntegratorOptions,
                 steady_state: SteadyStateOptions) -> None:
        super().__init__(sim, sm.model, entities, model_parameters,
                         [*selections, *(m for row in sm.m_ids for m in row)],
                         integrator=integrator, steady_state=steady_state)
        self.sm = sm
        self._model_parameters_expr = dict(model_parameters)
        self.n_theta = len(sm.thetas)
        self._theta_index = {t: j for j, t in enumerate(sm.thetas)}
        gp = sim.global_parameter_ids()
        self._s_idx = np.array([[gp.index(i) for i in row] for row in sm.s_ids], dtype=int).reshape(
            len(sm.states), self.n_theta)
        self._q_idx = np.array([[gp.index(i) for i in row] for row in sm.q_ids], dtype=int).reshape(
            len(sm.sensitive_list), self.n_theta)
        self._x_ids = list(sm.states)
        self._vector = sim.state_vector_ids()
        self._x_pos = np.array([self._vector.index(s) for s in self._x_ids], dtype=int)
        self._s_pos = np.array([self._vector.index(sid) for i, row in enumerate(sm.s_ids)
                                for j, sid in enumerate(row) if sm.s_live[i, j]], dtype=int)
        self._value_partials: dict[str, _Partials] = {}
        self._change_partials: dict[Any, _Partials] = {}
        self._ia_partials = {k: _Partials(e, e.free_symbols & sm.dynamic) for k, e in sm.ia.items()}
        self._with_sensitivities = False
        self._sens_init: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

    # -- reading and writing s, dq ------------------------------------------------------
    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.sim.global_parameter_values(self._s_idx.ravel().tolist())
        q = self.sim.global_parameter_values(self._q_idx.ravel().tolist())
        return s.reshape(self._s_idx.shape), q.reshape(self._q_idx.shape)

    def _write(self, s: np.ndarray, q: np.ndarray) -> None:
        """Write ``s`` and ``dq``; refuses a structural zero that is not zero (a gap in the analysis)."""
        for values, live, what in ((s, self.sm.s_live, "state"), (q, self.sm.q_live, "constant")):
            if values.size and not live.all():
                stray = float(np.max(np.abs(values[~live])))
                scale = max(float(np.max(np.abs(values[live]))) if live.any() else 0.0, 1.0)
                if not stray <= 1e-9 * scale:
                    raise SimulationError(f"gradient: internal error, a {what} sensitivity that the structural "
                                          f"analysis puts at 0 is {stray:g}; please report it with the problem")
                values = np.where(live, values, 0.0)
                if what == "state":
                    s = values
                else:
                    q = values
        if s.size:
            self.sim.set_global_parameter_values(self._s_idx.ravel().tolist(), s.ravel().tolist())
        if q.size:
            self.sim.set_global_parameter_values(self._q_idx.ravel().tolist(), q.ravel().tolist())

    def _lookup(self, values: Mapping[str, float]) -> Callable[[str], float]:
        base = super()._lookup(values)

        def lookup(name: str) -> float:
            if name.startswith(PREFIX):
                return self.sim.value(name)
            return base(name)

        return lookup

    def _dy(self, s: np.ndarray, q: np.ndarray, lookup: Callable[[str], float]) -> Callable[[str], np.ndarray]:
        sm = self.sm

        def dy(name: str) -> np.ndarray:
            i = sm.state_index.get(name)
            if i is None:
                k = sm.q_index.get(name)
                return q[k] if k is not None else np.zeros(self.n_theta)
            if sm.kind[name] != "conc":
                return s[i]
            comp = sm.compartment_of[name]
            v = lookup(comp)
            k = sm.q_index.get(comp)
            return (s[i] - lookup(name) * q[k]) / v if k is not None else s[i] / v

        return dy

    def _value_derivative(self, name: str, lookup: Callable[[str], float], dy: Callable[[str], np.ndarray],
                          ) -> np.ndarray:
        """``d value(name) / d theta`` at the current state."""
        p = self._value_partials.get(name)
        if p is None:
            expr = self.sm.value(name)
            p = self._value_partials[name] = _Partials(expr, expr.free_symbols & self.sm.dynamic)
        out = np.zeros(self.n_theta)
        for n, d in p(lookup):
            out += d * dy(n)
        return out

    def _expression_derivative(self, expr: Any, lookup: Callable[[str], float], dy: Callable[[str], np.ndarray],
                               ) -> np.ndarray:
        """``d expr / d theta`` for a PEtab expression (of parameter ids and model ids)."""
        p = self._change_partials.get(expr)
        if p is None:
            p = self._change_partials[expr] = _Partials(expr, expr.free_symbols)
        out = np.zeros(self.n_theta)
        for n, d in p(lookup):
            if d == 0.0:
                continue
            if n in self._theta_index:
                out[self._theta_index[n]] += d
            elif n in self.entities.all:
                out += d * self._value_derivative(n, lookup, dy)
        return out

    # -- the hooks -------------------------------------------------------------------
    def _initialise(self, first_before_init: Sequence[Change], values: Mapping[str, float]) -> None:
        """The base reset, then the initial sensitivities (computed once per parameter values and first period)."""
        super()._initialise(first_before_init, values)
        key = (self._values_key, tuple(first_before_init))
        cached = self._sens_init.get(key)
        if cached is None:
            cached = self._initial_sensitivities(first_before_init, values)
            self._sens_init = {k: v for k, v in self._sens_init.items() if k[0] == self._values_key}
            self._sens_init[key] = cached
        self._write(*cached)

    def _initial_sensitivities(self, first_before_init: Sequence[Change], values: Mapping[str, float],
                               ) -> tuple[np.ndarray, np.ndarray]:
        sm = self.sm
        s = np.zeros(self._s_idx.shape)
        q = np.zeros(self._q_idx.shape)
        lookup = self._lookup(values)
        dy = self._dy(s, q, lookup)
        pre = dict(self._model_parameters_expr)
        pre.update({ch.target: ch.value for ch in first_before_init})
        dpre = {t: self._expression_derivative(e, lookup, dy) for t, e in pre.items()}
        for t, d in dpre.items():
            if t in sm.q_index:
                q[sm.q_index[t]] = d

        def set_states() -> None:
            for t, d in dpre.items():
                if t in sm.state_index:
                    s[sm.state_index[t]] = self._state_jump(t, d, lookup(t), lookup, q)

        set_states()
        for sym, _, _ in self.ia.order:
            if sym in pre or sym not in self._ia_partials:
                continue
            d = np.zeros(self.n_theta)
            for n, v in self._ia_partials[sym](lookup):
                d += v * dy(n)
            if sym in sm.state_index:
                s[sm.state_index[sym]] = self._state_jump(sym, d, lookup(sym), lookup, q)
            elif sym in sm.q_index:
                q[sm.q_index[sym]] = d
        set_states()
        comps = (set(pre) | set(self.ia.affected(set(pre)))) & self.entities.compartments  # as Simulator.reset
        for sid, i in sm.state_index.items():
            if (sm.kind[sid] == "conc" and sm.compartment_of[sid] in comps and sid not in pre
                    and sid not in self._ia_partials and sid in self._init_conc
                    and sm.compartment_of[sid] in sm.q_index):
                s[i] = self._init_conc[sid] * q[sm.q_index[sm.compartment_of[sid]]]
        return s, q

    def _state_jump(self, target: str, d: np.ndarray, value: float, lookup: Callable[[str], float],
                    q: np.ndarray, *, volume: float | None = None, dvolume: np.ndarray | None = None) -> np.ndarray:
        """``d n / d theta`` of a state set to ``value`` (a concentration for a concentration species)."""
        sm = self.sm
        if sm.kind[target] != "conc":
            return d
        comp = sm.compartment_of[target]
        v = lookup(comp) if volume is None else volume
        if dvolume is None:
            k = sm.q_index.get(comp)
            dvolume = q[k] if k is not None else np.zeros(self.n_theta)
        return d * v + value * dvolume

    def _before_changes(self, changes: Sequence[Change], new: Mapping[str, float],
                        lookup: Callable[[str], float]) -> Any:
        sm = self.sm
        s, q = self._read()
        dy = self._dy(s, q, lookup)
        dnew = {ch.target: self._expression_derivative(ch.value, lookup, dy) for ch in changes}
        s_new, q_new = s.copy(), q.copy()
        zero = np.zeros(self.n_theta)
        for sid, i in sm.state_index.items():
            comp = sm.compartment_of.get(sid, "")
            if sm.kind[sid] == "conc" and comp in new and sid not in new:
                conc = lookup(sid)
                s_new[i] = dy(sid) * new[comp] + conc * dnew.get(comp, zero)
        for t, d in dnew.items():
            if t in sm.state_index:
                comp = sm.compartment_of.get(t, "")
                volume = new.get(comp) if comp in new else None
                dvolume = dnew.get(comp) if comp in new else None
                s_new[sm.state_index[t]] = self._state_jump(t, d, new[t], lookup, q, volume=volume, dvolume=dvolume)
            elif t in sm.q_index:
                q_new[sm.q_index[t]] = d
            elif np.any(d != 0.0):  # pragma: no cover - settable targets are sensitive by construction
                raise SimulationError(f"gradient: {t!r} is set to a parameter-dependent value but has no sensitivity")
        return s_new, q_new

    def _after_changes(self, pending: Any) -> None:
        if pending is not None:
            self._write(*pending)

    # -- steady state -------------------------------------------------------------------
    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        rates = self.sim.rates_of_change()
        x = np.array([self.sim.value(i) for i in self._x_ids], dtype=float)
        return x, rates[self._x_pos]

    def _converged(self) -> bool:
        if not super()._converged():
            return False
        if not self._with_sensitivities:
            return True
        s, _ = self._read()
        ds = self.sim.rates_of_change()[self._s_pos]
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(ds))):
            return False
        return ds.size == 0 or float(np.max(np.abs(ds))) <= self.steady.atol + self.steady.rtol * float(
            np.max(np.abs(s)))

    def _newton(self) -> bool:
        """Newton's method on the state alone (RoadRunner's solver would iterate on the augmented system).

        Steps solve ``[J; L] dx = [-F; 0]`` in the least-squares sense, ``L``
        the stoichiometric conservation laws (the totals stay; refused when
        ``[J; L]`` is rank deficient, e.g. conservation through rate rules),
        halved until ``|F|`` decreases;
        accepted under the base runner's convergence, non-negativity and
        conservation checks, one more step taken after convergence.
        """
        if self._with_sensitivities or not self._x_ids:
            return False
        sim = self.sim
        species = sim.floating_species
        pos = {s: k for k, s in enumerate(species)}
        laws_sp = self._conservation()
        laws = np.zeros((laws_sp.shape[0], len(self._x_ids)))
        for i, sid in enumerate(self._x_ids):
            if sid in pos:
                laws[:, i] = laws_sp[:, pos[sid]]
        x0, _ = self._state()
        lookup = self._lookup({})

        def put(x: np.ndarray) -> None:
            for sid, v in zip(self._x_ids, x, strict=True):
                sim.set_value(sid, float(v))

        x = x0.copy()
        extra = 1
        for _ in range(100):
            _, f = self._state()
            if not np.all(np.isfinite(f)):
                break
            if self._converged():
                if extra == 0:
                    break
                extra -= 1
            jac, _ = self.sm.jacobians(lookup)
            system = np.vstack([jac, laws]) if laws.size else jac
            if not np.all(np.isfinite(system)) or np.linalg.matrix_rank(system) < len(x):
                break  # singular beyond the stoichiometric conservation laws: leave it to the simulation
            rhs = np.concatenate([-f, np.zeros(laws.shape[0])])
            try:
                step = np.linalg.lstsq(system, rhs, rcond=None)[0]
            except np.linalg.LinAlgError:
                break
            norm = float(np.max(np.abs(f)))
            for _half in range(30):
                put(x + step)
                _, f_new = self._state()
                if (np.all(np.isfinite(f_new)) and float(np.max(np.abs(f_new))) < norm) or not norm:
                    break
                step = step / 2.0
            else:
                break
            x = x + step
        xs, _ = self._state()
        ok = (self._converged() and bool(np.all(xs >= -self.steady.atol))
              and (not laws.size or bool(np.all(np.abs(laws @ (xs - x0)) <= 1e-6 * (np.abs(laws) @ np.abs(x0))
                                                + self.steady.atol))))
        if not ok:
            put(x0)
        return ok

    def steady_state(self) -> None:
        """Steady state of the state, then of the sensitivities (linear solve, else long simulation)."""
        sim = self.sim
        s0, q = self._read()
        ids = sim.floating_species + self._rate_rules
        saved = [sim.value(i) for i in ids]
        t0 = sim.time
        super().steady_state()
        if self._solve_steady(s0, q):
            return
        logger.info("steady-state sensitivities: linear system singular; simulating them to steady state")
        for i, v in zip(ids, saved, strict=True):
            sim.set_value(i, v)
        sim.set_time(t0)
        self._write(s0, q)
        self._with_sensitivities = True
        try:
            super().steady_state()
        finally:
            self._with_sensitivities = False

    def _save_steady(self) -> Any:
        """The state and the sensitivities at a steady state."""
        return super()._save_steady(), self._read()

    def _restore_steady(self, saved: Any) -> None:
        state, (s, q) = saved
        super()._restore_steady(state)
        self._write(s, q)

    def _solve_steady(self, s0: np.ndarray, q: np.ndarray) -> bool:
        n = len(self.sm.states)
        if n == 0:
            return True
        lookup = self._lookup({})
        jac, bq = self.sm.jacobians(lookup)
        b = bq @ q if bq.size else np.zeros((n, self.n_theta))
        if not (np.all(np.isfinite(jac)) and np.all(np.isfinite(b))):
            return False
        u, sv, _ = np.linalg.svd(jac)
        tol = max(float(sv[0]), 1e-300) * 1e-10
        rank = int(np.sum(sv > tol))
        if rank == n:
            s = np.linalg.solve(jac, -b)
        else:
            left = u[:, rank:]  # conservation laws: l^T F = 0, so l^T s keeps its value
            scale = max(float(np.max(np.abs(b))), 1e-300)
            if float(np.max(np.abs(left.T @ b))) > 1e-8 * scale:
                return False
            system = np.vstack([jac, left.T])
            rhs = np.vstack([-b, left.T @ s0])
            s, _, r, _ = np.linalg.lstsq(system, rhs, rcond=None)
            if r < n or float(np.max(np.abs(system @ s - rhs))) > 1e-8 * max(float(np.max(np.abs(rhs))), 1.0):
                return False
        if not np.all(np.isfinite(s)):
            return False
        self._write(s, q)
        return True
