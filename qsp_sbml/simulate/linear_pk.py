"""Structure-aware cohort simulation: the linear pharmacokinetic subsystem solved exactly.

Many PBPK-PD models are a linear PK part (flows, first-order absorption and clearances: every right-hand
side affine in the states with coefficients that read parameters only) driving a small nonlinear PD part.
:meth:`LinearPkStructure.detect` finds that split from the SBML (libSBML ASTs, :mod:`.sbml_math`): the
largest set of states whose right-hand sides are affine in, and read only, states of the set; every dose
must go into it.  :meth:`LinearPkStructure.solve` then simulates a batch of subjects at once:

* the PK states by modal superposition: per subject ``A = V diag(lambda) V^-1`` (``numpy.linalg.eig``),
  ``z = V^-1 y`` propagated exactly over each interval between dose and output times,
  ``z(t0 + tau) = exp(lambda tau) z(t0) + w (exp(lambda tau) - 1) / lambda`` with ``w = V^-1 u`` the
  constant input (zero-order infusions, constant terms); bolus doses add ``V^-1`` times the dose;
* the other states (needed by the outputs) with the explicit Dormand-Prince 5(4) pair (Dormand & Prince,
  J. Comput. Appl. Math. 6:19-26, 1980; coefficients as in Hairer, Norsett & Wanner, Solving ODEs I, 2nd
  ed., Table II.5.2) with per-subject step-size control at the integrator options' tolerances, stopping at
  every dose and output time, the PK input evaluated exactly at each stage.

Only the states the outputs need are computed (PK states no dose or initial value reaches stay 0).  A
subject whose eigenvector matrix is ill-conditioned (a defective or nearly defective ``A``, condition number
over 1e8), whose integration exceeds its step budget (a stiff PD part) or gives a non-finite value is
reported as not done, for the caller's general path.  Results for a subject do not depend on the other
subjects of its batch (elementwise arithmetic, per-subject step control).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import libsbml
import numpy as np

from qsp_sbml.simulate.plan import Action, group_by_time
from qsp_sbml.simulate.sbml_math import TIME, Compiled, MathCompiler, UnsupportedMath

__all__ = ["LinearPkStructure", "NotDetected"]

#: Largest condition number of a subject's eigenvector matrix (rounding error ~ cond x 1e-16).
MAX_CONDITION = 1e8


class NotDetected(Exception):
    """The model does not have the structure; the message says why (for the result's attrs and the log)."""


@dataclass(frozen=True)
class _State:
    """A state variable: its value is what its id means in SBML math (a concentration for most species)."""

    sid: str
    #: Compartment dividing the amount (species whose symbol is a concentration), else None.
    compartment: str | None
    #: Terms of the right-hand side: (stoichiometry or 1, compiled rate).
    terms: tuple[tuple[float, Compiled], ...]


@dataclass(frozen=True)
class _Output:
    """An output: what it reads and how to scale a state's symbol value to the selection."""

    expr: Compiled
    #: "amount": symbol x compartment; "conc": symbol / compartment; "" as is.
    scale: str = ""
    compartment: str = ""


def _expanded(model: libsbml.Model) -> libsbml.SBMLDocument:
    """A copy of the model's document with function definitions expanded (keep it: it owns the model)."""
    doc = model.getSBMLDocument().clone()
    if doc.getModel().getNumFunctionDefinitions():
        props = libsbml.ConversionProperties()
        props.addOption("expandFunctionDefinitions", True)
        if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise NotDetected("its function definitions could not be expanded")
    return doc


def _refuse_constructs(m: libsbml.Model) -> None:
    """Constructs the exact path does not follow: events, algebraic rules, compartment rules, fast reactions."""
    if m.getNumEvents():
        raise NotDetected(f"the model has SBML events ({m.getEvent(0).getId() or 'event 1'}) other than doses")
    for rule in m.getListOfRules():
        if rule.isAlgebraic():
            raise NotDetected("the model has an algebraic rule")
        if m.getCompartment(rule.getVariable()) is not None:
            raise NotDetected(f"compartment {rule.getVariable()!r} is set by a rule")
    for r in m.getListOfReactions():
        if r.isSetFast() and r.getFast():
            raise NotDetected(f"reaction {r.getId()!r} is fast")
        for ref in [*r.getListOfReactants(), *r.getListOfProducts()]:
            if ref.isSetId() and (m.getRule(ref.getId()) is not None
                                  or m.getInitialAssignmentBySymbol(ref.getId()) is not None):
                raise NotDetected(f"reaction {r.getId()!r} has a variable stoichiometry {ref.getId()!r}")


def _state_ids(m: libsbml.Model) -> tuple[dict[str, str | None], dict[str, Any]]:
    """State id -> compartment dividing its amount (None: the symbol is the amount or a value); rate rules."""
    rate = {r.getVariable(): r.getMath() for r in m.getListOfRules() if r.isRate()}
    assigned = {r.getVariable() for r in m.getListOfRules() if r.isAssignment()}
    states: dict[str, str | None] = {}
    for s in m.getListOfSpecies():
        sid = s.getId()
        if sid in assigned or (sid not in rate and (s.getBoundaryCondition() or s.getConstant())):
            continue
        states[sid] = None if (s.getHasOnlySubstanceUnits() or sid in rate) else s.getCompartment()
    for p in m.getListOfParameters():
        if p.getId() in rate:
            states[p.getId()] = None
    return states, rate


def _build_states(m: libsbml.Model, comp: MathCompiler, ids: dict[str, str | None],
                  rate: Mapping[str, Any]) -> dict[str, _State]:
    terms: dict[str, list[tuple[float, Compiled]]] = {s: [] for s in ids}
    for sid, math_ in rate.items():
        if sid in terms:
            terms[sid].append((1.0, comp.math(math_)))
    for r in m.getListOfReactions():
        law = r.getKineticLaw()
        if law is None or not law.isSetMath():
            raise NotDetected(f"reaction {r.getId()!r} has no kinetic law")
        local = {p.getId(): p.getValue() for p in [*law.getListOfParameters(), *law.getListOfLocalParameters()]}
        v = comp.math(law.getMath(), local)
        for refs, sign in ((r.getListOfReactants(), -1.0), (r.getListOfProducts(), 1.0)):
            for ref in refs:
                sid = ref.getSpecies()
                if sid in terms and sid not in rate:
                    terms[sid].append((sign * (ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0), v))
    return {sid: _State(sid, ids[sid], tuple(terms[sid])) for sid in ids}


def _linear_set(states: Mapping[str, _State]) -> set[str]:
    """The largest set of states with affine right-hand sides that read only states of the set."""
    linear = {s for s, st in states.items() if all(c.degree <= 1 for _, c in st.terms)}
    while True:
        drop = {s for s in linear if any(not c.states <= linear for _, c in states[s].terms)}
        if not drop:
            return linear
        linear -= drop


def _closure(start: set[str], edges: Mapping[str, frozenset[str]]) -> set[str]:
    seen, stack = set(start), list(start)
    while stack:
        for nxt in edges.get(stack.pop(), frozenset()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


@dataclass(frozen=True)
class _Dose:
    """Doses at one time, as changes of the PK state (bolus) and of the input rate (infusion), per state index."""

    time: float
    bolus: tuple[tuple[int, float], ...]
    rate: tuple[tuple[int, float], ...]


class LinearPkStructure:
    """A model split into an exactly solved linear PK part and an integrated rest (see the module docstring).

    Create it with :meth:`detect`; it raises :class:`NotDetected` naming the reason when the model does not
    have the structure.
    """

    def __init__(self, model: libsbml.Model, states: dict[str, _State], pk: list[str], pd: list[str],
                 zero: list[str], outputs: list[_Output], doses: list[_Dose], comp: MathCompiler) -> None:
        self.model = model
        self.document: libsbml.SBMLDocument | None = None  # owns ``model``
        self.states = states
        self.pk, self.pd, self.zero = pk, pd, zero
        self.outputs = outputs
        self.doses = doses
        self.compiler = comp
        #: PK states the PD right-hand sides read (their rows of ``V`` only are evaluated at each stage).
        read = set().union(*(c.states for s in pd for _, c in states[s].terms)) if pd else set()
        self.pk_read = [s for s in pk if s in read]

    def __repr__(self) -> str:
        return f"LinearPkStructure(pk={len(self.pk)} states exact, pd={len(self.pd)} integrated)"

    @classmethod
    def detect(cls, sbml_model: libsbml.Model, actions: Sequence[Action], outputs: Sequence[str],
               given: Sequence[str] = (), zeros: Sequence[str] = ()) -> LinearPkStructure:
        """Find the split of ``sbml_model`` (the model without dosing events) for these doses and outputs.

        ``given`` are the ids whose values the cohort sets (a state given a value may start non-zero);
        ``zeros`` constant parameters that are exactly 0 for every subject (terms they multiply vanish).
        Raises :class:`NotDetected` with the reason otherwise.
        """
        doc = _expanded(sbml_model)
        m = doc.getModel()
        _refuse_constructs(m)
        ids, rate = _state_ids(m)
        rules = {r.getVariable(): r.getMath() for r in m.getListOfRules() if r.isAssignment()}
        comp = MathCompiler(frozenset(ids), rules, frozenset(zeros))
        try:
            states = _build_states(m, comp, ids, rate)
            outs = [_output(m, comp, ids, o) for o in outputs]
        except UnsupportedMath as err:
            raise NotDetected(str(err)) from None
        linear = _linear_set(states)
        for a in actions:
            if a.target not in linear:
                why = "is not a state" if a.target not in states else "is not in the linear part of the model"
                raise NotDetected(f"dose target {a.target!r} {why}")
        reads = {s: frozenset().union(*(c.states for _, c in st.terms)) for s, st in states.items()}
        needed = _closure(set().union(*(o.expr.states for o in outs)), reads)
        sources = {a.target for a in actions} | {s for s in linear if _may_start_nonzero(m, s, given)}
        sources |= {s for s in linear if any(c.degree == 0 for _, c in states[s].terms)}
        fed_by = {s: frozenset(t for t in states if s in reads[t]) for s in states}
        reached = _closure(sources, fed_by)
        pk = [s for s in states if s in linear and s in needed and s in reached]
        zero = [s for s in states if s in linear and s in needed and s not in reached]
        pd = [s for s in states if s in needed and s not in linear]
        index = {s: i for i, s in enumerate(pk)}
        doses = [_dose(t, group, index, states) for t, group in group_by_time(actions)]
        structure = cls(m, states, pk, pd, zero, outs, [d for d in doses if d.bolus or d.rate], comp)
        structure.document = doc
        return structure

    def solve(self, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], grid: np.ndarray, *,
              rtol: float, atol: float, max_steps: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
        """Outputs of ``n`` subjects at ``grid`` (sorted, from 0): ``(values (n, len(grid), n_outputs), done)``.

        ``before`` and ``after`` map cohort columns (parameters and compartments; states) to arrays of ``n``
        values.  ``rtol``/``atol`` are the PD integration's tolerances; a subject with ``done`` false (see
        the module docstring) has NaN values and is for the general path.
        """
        n = len(next(iter([*before.values(), *after.values()]), np.zeros(1)))
        solver = _Solver(self, rtol, atol, max_steps)
        b = solver.start(solver.environment(before, after, n), n)
        doses = {d.time: d for d in self.doses}
        points = np.unique(np.concatenate([grid, np.fromiter(doses, float, len(doses))]))
        points = points[points <= grid[-1]]
        rows = {float(t): i for i, t in enumerate(grid)}
        out = np.full((n, len(grid), len(self.outputs)), np.nan)
        started = False
        for j, t in enumerate(points.tolist()):
            if t in doses:
                solver.dose(b, doses[t])
                started = False  # the input's derivative jumps: restart the PD integration with a small step
            if t in rows:
                out[:, rows[t]] = solver.outputs(b, t)
            if j + 1 == len(points):
                break
            length = points[j + 1] - t
            if self.pd:
                if not started:
                    b.h, started = solver.first_step(b, t, length), True
                solver.integrate(b, t, length)
            solver.propagate(b, length)
        ok = b.ok & np.isfinite(out).all(axis=(1, 2))
        out[~ok] = np.nan
        return out, ok


def _may_start_nonzero(m: libsbml.Model, sid: str, given: Sequence[str]) -> bool:
    if sid in given or f"[{sid}]" in given or m.getInitialAssignmentBySymbol(sid) is not None:
        return True
    s = m.getSpecies(sid)
    if s is None:
        p = m.getParameter(sid)
        return p is None or not p.isSetValue() or p.getValue() != 0.0
    value = s.getInitialAmount() if s.isSetInitialAmount() else s.getInitialConcentration()
    return not (s.isSetInitialAmount() or s.isSetInitialConcentration()) or value != 0.0


def _dose(t: float, group: Sequence[Action], index: Mapping[str, int], states: Mapping[str, _State]) -> _Dose:
    bolus, rate = [], []
    for a in group:
        if a.target not in index:
            continue  # a dose into a state no output needs
        if a.bolus:
            bolus.append((index[a.target], a.bolus))
        if a.rate:
            rate.append((index[a.target], a.rate))
    return _Dose(t, tuple(bolus), tuple(rate))


def _output(m: libsbml.Model, comp: MathCompiler, ids: Mapping[str, str | None], sel: str) -> _Output:
    """How to compute the selection ``sel`` (RoadRunner's meaning: ``S`` an amount, ``[S]`` a concentration)."""
    name = sel[1:-1] if sel.startswith("[") and sel.endswith("]") else sel
    species = m.getSpecies(name)
    if species is not None:
        expr = comp.name(name)
        conc_symbol = ids.get(name) is not None or (name not in ids and not species.getHasOnlySubstanceUnits())
        if sel.startswith("["):
            return _Output(expr, "" if conc_symbol else "conc", species.getCompartment())
        return _Output(expr, "amount" if conc_symbol else "", species.getCompartment())
    if sel == name and (m.getParameter(name) is not None or m.getCompartment(name) is not None):
        return _Output(comp.name(name))
    raise NotDetected(f"output {sel!r} is not a species, parameter or compartment (reaction rates and other "
                      "selections need the general path)")


# -- the batch solver ------------------------------------------------------------------------------------------

#: Dormand-Prince 5(4): nodes, stage coefficients, 5th-order weights (the 7th stage is the new point: FSAL)
#: and the error weights (5th minus 4th order), Hairer, Norsett & Wanner, Table II.5.2.
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = ((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
      (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
      (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
      (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


@dataclass
class _Batch:
    """One batch of subjects during the march: constants, modal PK state, PD state."""

    env: dict[str, Any]       # constants per subject, shape (n,)
    lam: np.ndarray           # (n, k) eigenvalues
    vec: np.ndarray           # (n, k, k) eigenvectors
    inv: np.ndarray           # (n, k, k) their inverse
    z: np.ndarray             # (n, k) modal coordinates of the PK state
    w: np.ndarray             # (n, k) modal coordinates of the constant input
    y: np.ndarray             # (n, p) integrated states
    ok: np.ndarray            # (n,) bool
    h: np.ndarray             # (n,) step size proposed for the PD integration
    k1: np.ndarray | None = None
    #: Rows of ``V`` read by the PD part times ``z`` and ``w`` in the current interval (None: to compute).
    rows: tuple[np.ndarray, np.ndarray | None, np.ndarray] | None = None


def _modal_sum(terms: np.ndarray) -> np.ndarray:
    """Real part of the sum over modes (last axis); 0 where it is below the rounding error of the sum.

    A state no dose has reached yet is a sum of modal terms that cancel: its computed value is rounding noise
    (about 1e-17 of the terms, of either sign), reported as 0 as the general path does (a negative
    concentration would stop an NCA, and a fractional power of it is NaN).
    """
    total = terms.sum(axis=-1).real
    bound = (8 * terms.shape[-1] * np.finfo(float).eps) * np.abs(terms).sum(axis=-1)
    return np.where(np.abs(total) <= bound, 0.0, total)


def _rms(x: np.ndarray) -> Any:
    return np.sqrt(np.mean(np.square(x), axis=1)) if x.shape[1] else np.zeros(x.shape[0])


def _phi(lam: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """``(exp(lam tau) - 1) / lam`` (``tau`` where ``lam == 0``); ``tau`` broadcasts against ``lam``."""
    zero = lam == 0
    safe = np.where(zero, 1.0, lam)
    return np.where(zero, tau, np.expm1(lam * tau) / safe)


class _Solver:
    """The march of one batch through doses and output times (see :meth:`LinearPkStructure.solve`)."""

    def __init__(self, st: LinearPkStructure, rtol: float, atol: float, max_steps: int) -> None:
        self.st, self.rtol, self.atol, self.max_steps = st, rtol, atol, max_steps
        self.read_rows = [st.pk.index(s) for s in st.pk_read]
        self.bound = 8 * len(st.pk) * np.finfo(float).eps

    def pk_at(self, b: _Batch, tau: np.ndarray) -> np.ndarray:
        """PK states read by the PD part, ``tau`` (n,) after the current interval's start: (n, q)."""
        if b.rows is None:  # once per interval: the rows of V read, times the modal state (and input)
            rows = b.vec[:, self.read_rows, :]
            coef = rows * b.z[:, None, :]
            b.rows = (coef, rows * b.w[:, None, :] if b.w.any() else None, np.abs(coef))
        e = np.exp(b.lam * tau[:, None])
        if b.rows[1] is not None:
            return _modal_sum(b.rows[0] * e[:, None, :] + b.rows[1] * _phi(b.lam, tau[:, None])[:, None, :])
        # without an input: the sum and its rounding bound (|terms| = |rows z| exp(Re(lambda) tau)) by einsum
        total = np.einsum("nqk,nk->nq", b.rows[0], e).real
        bound = self.bound * np.einsum("nqk,nk->nq", b.rows[2], np.exp(b.lam.real * tau[:, None]))
        return np.where(np.abs(total) <= bound, 0.0, total)

    def rhs(self, b: _Batch, t0: float, tau: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Right-hand sides of the integrated states at ``t0 + tau``: (n, p)."""
        st = self.st
        env = b.env  # the batch's own dict: the time and the states are overwritten at every call
        env[TIME] = t0 + tau
        pk = self.pk_at(b, tau) if self.read_rows else None
        for j, s in enumerate(st.pk_read):
            env[s] = pk[:, j] if pk is not None else 0.0
        for s in st.zero:
            env[s] = 0.0
        for j, s in enumerate(st.pd):
            env[s] = y[:, j]
        out = np.empty_like(y)
        for j, s in enumerate(st.pd):
            state = st.states[s]
            total: Any = 0.0
            for stoich, c in state.terms:
                total = total + stoich * c.fn(env)
            out[:, j] = total / env[state.compartment] if state.compartment else total
        return out

    def first_step(self, b: _Batch, t0: float, length: float) -> np.ndarray:
        """Starting step size after ``t0`` (Hairer, Norsett & Wanner, Solving ODEs I, II.4, p. 169)."""
        zero = np.zeros(len(b.y))
        b.k1 = f0 = self.rhs(b, t0, zero, b.y)
        sc = self.atol + self.rtol * np.abs(b.y)
        d0, d1 = _rms(b.y / sc), _rms(f0 / sc)
        h0 = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / np.where(d1 > 0, d1, 1.0))
        h0 = np.minimum(h0, length)
        f1 = self.rhs(b, t0, h0, b.y + h0[:, None] * f0)
        d2 = _rms((f1 - f0) / sc) / h0
        big = np.maximum(d1, d2)
        with np.errstate(divide="ignore"):
            h1 = np.where(big <= 1e-15, np.maximum(1e-6, h0 * 1e-3), np.power(0.01 / big, 0.2))
        return np.minimum(np.minimum(100 * h0, h1), length)

    def integrate(self, b: _Batch, t0: float, length: float) -> None:
        """Integrate the PD states over ``[t0, t0 + length]`` with per-subject Dormand-Prince steps."""
        n = len(b.y)
        s = np.zeros(n)
        done = ~b.ok
        if b.k1 is None:
            b.k1 = self.rhs(b, t0, s, b.y)
        for _ in range(self.max_steps):
            if done.all():
                return
            remaining = length - s
            to_end = b.h >= remaining
            hh = np.where(done, 0.0, np.where(to_end, remaining, b.h))
            ks = [b.k1]
            for i in range(1, 7):
                yi = b.y + hh[:, None] * sum(a * k for a, k in zip(_A[i], ks, strict=False) if a)
                ks.append(self.rhs(b, t0, s + _C[i] * hh, yi))
            y5 = yi
            err_vec = hh[:, None] * sum(e * k for e, k in zip(_E, ks, strict=True) if e)
            sc = self.atol + self.rtol * np.maximum(np.abs(b.y), np.abs(y5))
            with np.errstate(invalid="ignore", divide="ignore"):
                err = _rms(err_vec / sc)
                factor = np.clip(0.9 * np.power(np.where(err > 0, err, 1e-10), -0.2), 0.2, 10.0)
            bad = ~np.isfinite(err) | ~np.isfinite(y5).all(axis=1)
            accept = ~done & ~bad & (err <= 1.0)
            b.y = np.where(accept[:, None], y5, b.y)
            b.k1 = np.where(accept[:, None], ks[6], b.k1)
            s = np.where(accept, np.where(to_end, length, s + hh), s)
            proposal = np.where(accept, np.minimum(factor, 10.0), np.minimum(factor, 1.0)) * hh
            b.h = np.where(done, b.h, np.where(accept & to_end, np.maximum(b.h, proposal), proposal))
            b.ok &= ~(bad & ~done) & (b.h > 1e-14 * max(length, 1.0))
            done = ~b.ok | (s >= length)
        b.ok &= done

    # -- set-up of a batch -------------------------------------------------------------------------------------
    def environment(self, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], n: int) -> dict[str, Any]:
        """Constants and initial state values per subject (the reset sequence of ``Simulator.reset``)."""
        from qsp_sbml.simulate.initial import InitialAssignments

        m, st = self.st.model, self.st
        env: dict[str, Any] = {}
        for p in m.getListOfParameters():
            env[p.getId()] = p.getValue() if p.isSetValue() else math.nan
        for c in m.getListOfCompartments():
            env[c.getId()] = c.getSize() if c.isSetSize() else math.nan
        env.update({k: np.asarray(v, dtype=float) for k, v in before.items()})
        for s in m.getListOfSpecies():
            env[s.getId()] = _species_initial(s, env)
        env[TIME] = 0.0
        _set_after(m, env, after)
        given = {k[1:-1] if k.startswith("[") else k for k in [*before, *after]}
        for sym, math_, _ in InitialAssignments.from_model(m).order:
            if sym not in given:
                env[sym] = st.compiler.math(math_).fn(env)
        _set_after(m, env, after)
        return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in env.items()}

    def start(self, env: dict[str, Any], n: int) -> _Batch:
        """The batch at t=0: the PK matrix by probing the affine right-hand sides, its eigen-decomposition."""
        st = self.st
        k = len(st.pk)
        probe = {key: v[:, None] for key, v in env.items()}
        eye = np.concatenate([np.zeros((1, k)), np.eye(k)])  # column 0: all states 0; column j+1: state j at 1
        for j, s in enumerate(st.pk):
            probe[s] = np.broadcast_to(eye[:, j], (n, k + 1))
        for s in st.zero:
            probe[s] = 0.0
        a = np.zeros((n, k, k))
        u = np.zeros((n, k))
        for i, s in enumerate(st.pk):
            state = st.states[s]
            total: Any = 0.0
            for stoich, c in state.terms:
                total = total + stoich * c.fn(probe)
            rhs = np.broadcast_to(total / probe[state.compartment] if state.compartment else total, (n, k + 1))
            a[:, i, :] = rhs[:, 1:] - rhs[:, :1]
            u[:, i] = rhs[:, 0]
        finite = np.isfinite(a).all(axis=(1, 2)) & np.isfinite(u).all(axis=1)
        a[~finite] = -np.eye(k)
        lam, vec = np.linalg.eig(a) if k else (np.zeros((n, 0)), np.zeros((n, 0, 0)))
        cond = np.linalg.cond(vec) if k else np.ones(n)
        ok = finite & (cond < MAX_CONDITION)
        vec[~ok] = np.eye(k)
        inv = np.linalg.inv(vec) if k else vec
        y0 = np.array([env[s] for s in st.pk]).T.reshape(n, k)
        z = np.einsum("nij,nj->ni", inv, y0)
        w = np.einsum("nij,nj->ni", inv, np.where(ok[:, None], u, 0.0))
        y = np.array([env[s] for s in st.pd]).T.reshape(n, len(st.pd))
        ok &= np.isfinite(z).all(axis=1) & np.isfinite(y).all(axis=1)
        return _Batch(dict(env), lam, vec, inv, z, w, y, ok, np.zeros(n))

    def dose(self, b: _Batch, dose: _Dose) -> None:
        """Apply the doses at one time: bolus amounts to the PK state, infusion rate changes to the input."""
        for i, amount in dose.bolus:
            b.z = b.z + b.inv[:, :, i] * (amount / self._size(b, i))[:, None]
        for i, rate in dose.rate:
            b.w = b.w + b.inv[:, :, i] * (rate / self._size(b, i))[:, None]
        b.k1 = b.rows = None

    def _size(self, b: _Batch, i: int) -> np.ndarray:
        comp = self.st.states[self.st.pk[i]].compartment
        return b.env[comp] if comp else np.ones(len(b.z))

    def propagate(self, b: _Batch, tau: float) -> None:
        """Move the modal PK state ``tau`` ahead exactly."""
        b.z = np.exp(b.lam * tau) * b.z + b.w * _phi(b.lam, np.asarray(tau))
        b.rows = None

    def outputs(self, b: _Batch, t: float) -> np.ndarray:
        """The outputs now: (n, n_outputs)."""
        st = self.st
        env = dict(b.env)
        env[TIME] = t
        pk = _modal_sum(b.vec * b.z[:, None, :])
        for j, s in enumerate(st.pk):
            env[s] = pk[:, j]
        for s in st.zero:
            env[s] = 0.0
        for j, s in enumerate(st.pd):
            env[s] = b.y[:, j]
        n = len(b.z)
        out = np.empty((n, len(st.outputs)))
        for j, o in enumerate(st.outputs):
            v = np.broadcast_to(o.expr.fn(env), (n,))
            if o.scale == "amount":
                v = v * env[o.compartment]
            elif o.scale == "conc":
                v = v / env[o.compartment]
            out[:, j] = v
        return out


def _species_initial(s: libsbml.Species, env: Mapping[str, Any]) -> Any:
    """The value of a species' symbol at t=0 (its concentration unless it has only substance units)."""
    size = env[s.getCompartment()]
    if s.getHasOnlySubstanceUnits():
        return s.getInitialAmount() if s.isSetInitialAmount() else s.getInitialConcentration() * size
    return s.getInitialConcentration() if s.isSetInitialConcentration() else s.getInitialAmount() / size


def _set_after(m: libsbml.Model, env: dict[str, Any], after: Mapping[str, np.ndarray]) -> None:
    """State values given by the cohort: ``S`` an amount, ``[S]`` a concentration, converted to the symbol's."""
    for key, value in after.items():
        conc = key.startswith("[")
        name = key[1:-1] if conc else key
        s = m.getSpecies(name)
        v = np.asarray(value, dtype=float)
        if s is None or conc != s.getHasOnlySubstanceUnits():
            env[name] = v  # the symbol's own meaning
        else:
            size = env[s.getCompartment()]
            env[name] = v * size if conc else v / size
