"""Dynamic drug-drug interactions: victim and perpetrator PBPK composed with an enzyme-turnover module.

Two instances of the whole-body PBPK module (``victim`` and ``perp``) and one
enzyme-turnover module per affected enzyme are composed with
:func:`qsp_sbml.compose.assemble` (ports and links, no hand-written merge):

* ``perp.Cu_liver -> <enzyme>.Cu_liver_perp``: unbound perpetrator
  concentration in the liver (well-stirred), the concentration at the enzyme;
* ``perp.J_absorption -> <enzyme>.J_abs_perp``: the perpetrator flux
  absorbed from the gut lumen, ``ka Fa A_lumen``, which gives the enterocyte
  concentration ``[I]g = ka Fa A_lumen / Qen`` (the dynamic form of the static equation's
  ``Fa ka Dose / Qen``; FDA 2020 guidance, Table 2);
* ``<enzyme>.m_liver -> victim.m_<enzyme>`` and (CYP3A4 only)
  ``<enzyme>.m_gut -> victim.m_gut``: the active-enzyme fraction scales the
  victim's hepatic intrinsic clearance by that enzyme and its gut-wall
  extraction (``Fg_eff``, see :mod:`qsp_sbml.pbpk.build`).

The enzyme-turnover module (``models/pbpk/enzyme_turnover.xml``) has, for the
liver (h) and the gut wall (g), the relative enzyme amount ``E`` (1 at
baseline) with zero-order synthesis, first-order degradation ``kdeg``,
induction of synthesis and mechanism-based inactivation (Mager DE, Jusko WJ
2008 / Yang J et al. 2008 Curr Drug Metab 9:384 turnover model):

.. math::

    dE/dt = k_{deg} (1 + E_{max} I / (I + EC_{50})) - (k_{deg} + k_{inact} I / (I + K_I)) E

whose steady state is the static ``A B``; the output activity multiplier is
``m = E / (1 + f_rev I / Ki)`` (competitive inhibition; ``f_rev`` 0 or 1).
All concentrations in the module are in mg/L (the perpetrator's Ki, KI and
EC50 are converted from uM with its molecular weight).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.dosing import Dose, Regimen, Route
from qsp_sbml.metrics import nca
from qsp_sbml.model import Model
from qsp_sbml.pbpk import ddi
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.pbpk.structure import DOSE_TARGETS, ENZYMES
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

__all__ = ["DdiPrediction", "DdiStudy", "build_enzyme_module", "compose_ddi", "predict_ddi", "static_prediction"]

#: Enzymes whose gut-wall activity drives the victim's ``m_gut`` (intestinal first pass is CYP3A-mediated).
GUT_ENZYMES: tuple[str, ...] = ("CYP3A4",)


def build_enzyme_module() -> str:
    """The enzyme-turnover module as SBML text (defaults: no perpetrator effect)."""
    b = ModuleBuilder("enzyme_turnover", name="Enzyme turnover in liver and gut wall (inhibition, MBI, induction)",
                      substance="mg", time="hour")
    b.compartment("site", 1.0, name="nominal compartment (no species)")
    inputs = {
        "Cu_liver_perp": ("mg_per_litre", 0.0, "unbound perpetrator concentration in the liver"),
        "J_abs_perp": ("mg_per_hour", 0.0, "perpetrator flux absorbed from the gut lumen"),
    }
    constants = {
        "Q_ent": ("litre_per_hour", ddi.Q_ENTEROCYTE_L_PER_H, "enterocytic blood flow (FDA 2020: 18 L/h)"),
        "kdeg_liver": ("per_hour", math.log(2) / 36.0, "hepatic enzyme degradation rate constant"),
        "kdeg_gut": ("per_hour", math.log(2) / 23.0, "gut-wall enzyme degradation rate constant"),
        "f_rev": ("dimensionless", 0.0, "1 with competitive inhibition, 0 without"),
        "Ki": ("mg_per_litre", 1.0, "unbound competitive inhibition constant"),
        "kinact": ("per_hour", 0.0, "maximal inactivation rate constant"),
        "KI": ("mg_per_litre", 1.0, "unbound concentration of half-maximal inactivation"),
        "Emax": ("dimensionless", 0.0, "maximal increase of enzyme synthesis (fold induction - 1)"),
        "EC50": ("mg_per_litre", 1.0, "unbound concentration of half-maximal induction"),
    }
    for pid, (unit, value, desc) in {**inputs, **constants}.items():
        b.parameter(pid, value, unit, name=desc)
    b.parameter("I_gut", None, "mg_per_litre", name="perpetrator concentration in the enterocytes", constant=False)
    b.assignment("I_gut", "J_abs_perp / Q_ent")
    for organ, conc in (("liver", "Cu_liver_perp"), ("gut", "I_gut")):
        b.parameter(f"E_{organ}", 1.0, "dimensionless", name=f"relative enzyme amount in the {organ}",
                    constant=False)
        b.rate_rule(f"E_{organ}", f"kdeg_{organ} * (1 dimensionless + Emax * {conc} / ({conc} + EC50)) "
                                  f"- (kdeg_{organ} + kinact * {conc} / ({conc} + KI)) * E_{organ}")
        b.parameter(f"m_{organ}", None, "dimensionless", name=f"active-enzyme fraction in the {organ}",
                    constant=False)
        b.assignment(f"m_{organ}", f"E_{organ} / (1 dimensionless + f_rev * {conc} / Ki)")
    b.ports(list(inputs), direction="input")
    b.ports(["m_liver", "m_gut"], direction="output")
    b.check()
    return b.to_string()


@dataclass(frozen=True, kw_only=True)
class DdiStudy:
    """One clinical DDI study design: the victim's dose and the perpetrator's regimen (times in h)."""

    #: Victim and perpetrator drug ids (records in the drug folder).
    victim: str
    perpetrator: str
    #: Victim dose (mg), route (``po`` or ``iv``) and time (h after the first perpetrator dose).
    victim_dose_mg: float
    victim_route: str = "po"
    victim_time_h: float = 0.0
    #: Perpetrator doses: (time h, amount mg) pairs, oral.
    perpetrator_doses: tuple[tuple[float, float], ...] = ()
    perpetrator_route: str = "po"
    #: Duration of each intravenous perpetrator dose (h); 0 is a bolus.
    perpetrator_infusion_h: float = 0.0
    #: Victim observation window after its dose (h); AUC is extrapolated to infinity from it.
    horizon_h: float = 48.0
    #: Enzymes the perpetrator acts on (default: every enzyme of its ``interactions``).
    enzymes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.victim_dose_mg <= 0 or self.horizon_h <= 0 or self.victim_time_h < 0:
            raise ddi.DdiError(f"{self.victim}+{self.perpetrator}: doses and horizon must be > 0, time >= 0")
        if self.victim_route not in ("po", "iv") or self.perpetrator_route not in ("po", "iv"):
            raise ddi.DdiError("routes are 'po' or 'iv'")
        if self.perpetrator_infusion_h < 0 or (self.perpetrator_infusion_h > 0 and self.perpetrator_route != "iv"):
            raise ddi.DdiError("perpetrator_infusion_h must be >= 0, and > 0 only for route 'iv'")
        if any(t < 0 or a <= 0 for t, a in self.perpetrator_doses):
            raise ddi.DdiError(f"{self.victim}+{self.perpetrator}: perpetrator doses need time >= 0, amount > 0")

    def perpetrator_dose_at_victim(self, window_h: float = 24.0) -> float:
        """The perpetrator dose (mg) whose absorption the static equation sees at the victim's dose.

        The ``Fa ka Dose`` terms of the static perpetrator concentrations (FDA
        2020, Table 2) describe a dose being absorbed while the victim is
        given: the last perpetrator dose at or before the victim's dose within
        ``window_h`` (or, when the victim comes first, the first dose within
        ``window_h`` after it). With no dose in that window (a study of the
        victim days after the perpetrator was stopped) it is 0, so only the
        simulated plasma Cmax enters the hepatic concentration.

        >>> DdiStudy(victim="v", perpetrator="p", victim_dose_mg=1.0, victim_time_h=74.0,
        ...          perpetrator_doses=((0.0, 400.0), (24.0, 200.0), (48.0, 200.0), (72.0, 200.0))
        ...          ).perpetrator_dose_at_victim()
        200.0
        """
        t0 = self.victim_time_h
        before = [(t, a) for t, a in self.perpetrator_doses if t0 - window_h <= t <= t0]
        if before:
            return max(before)[1]
        after = [(t, a) for t, a in self.perpetrator_doses if t0 < t <= t0 + window_h]
        return min(after)[1] if after else 0.0


@dataclass(frozen=True)
class DdiPrediction:
    """Predicted victim AUC and Cmax ratios (dynamic) and the static AUC ratio."""

    auc_ratio: float
    cmax_ratio: float
    static_auc_ratio: float
    #: Perpetrator total plasma Cmax (mg/L) and unbound hepatic-inlet / gut concentrations (uM) of the static model.
    perpetrator_cmax: float
    inlet_conc_um: float
    gut_conc_um: float
    details: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=8)
def compose_ddi(enzymes: tuple[str, ...]) -> Model:
    """The composed victim + perpetrator + enzyme-turnover model for ``enzymes`` (cached)."""
    from qsp_sbml.compose import assemble

    root = project_models_dir() / "pbpk"
    modules = {"victim": root / "wholebody_pbpk.xml", "perp": root / "wholebody_pbpk.xml"}
    links: list[str] = []
    for e in enzymes:
        sub = _sub(e)
        modules[sub] = root / "enzyme_turnover.xml"
        links += [f"perp.Cu_liver -> {sub}.Cu_liver_perp", f"perp.J_absorption -> {sub}.J_abs_perp",
                  f"{sub}.m_liver -> victim.m_{e}"]
        if e in GUT_ENZYMES:
            links.append(f"{sub}.m_gut -> victim.m_gut")
    comp = assemble({k: str(v) for k, v in modules.items()}, links, name="pbpk_ddi",
                    notes="victim and perpetrator whole-body PBPK with enzyme turnover (qsp_sbml.pbpk.interaction)")
    return Model(comp.flat_sbml, source=f"composed DDI model ({', '.join(enzymes)})")


def _sub(enzyme: str) -> str:
    return f"enz_{enzyme.lower()}"


def _enzymes(study: DdiStudy, perpetrator: DrugRecord) -> tuple[str, ...]:
    enzymes = study.enzymes or tuple(sorted(perpetrator.interactions))
    missing = [e for e in enzymes if e not in perpetrator.interactions]
    if not enzymes or missing:
        raise ddi.DdiError(f"{perpetrator.id}: no interaction parameters for {missing or 'any enzyme'}")
    return enzymes


def _values(study: DdiStudy, victim: DrugRecord, perpetrator: DrugRecord, enzymes: Sequence[str],
            model: Model) -> dict[str, float]:
    phys = reference("male")
    driven = {f"m_{e}" for e in enzymes} | ({"m_gut"} if set(enzymes) & set(GUT_ENZYMES) else set())
    values = {f"victim__{k}": v for k, v in parameterise(victim, phys).values.items() if k not in driven}
    values.update({f"perp__{k}": v for k, v in parameterise(perpetrator, phys).values.items()})
    to_mg_l = perpetrator.molecular_weight / 1000.0  # uM -> mg/L
    for e in enzymes:
        sub, inter = _sub(e), perpetrator.interactions[e]
        half = {organ: ddi.ENZYME_HALF_LIFE_H.get((e, organ)) for organ in ("liver", "gut")}
        if (inter.kinact is not None or inter.emax is not None) and None in half.values():
            raise ddi.DdiError(f"no cited degradation half-life of {e}; known: {sorted(ddi.ENZYME_HALF_LIFE_H)}")
        for organ, h in half.items():
            if h is not None:
                values[f"{sub}__kdeg_{organ}"] = math.log(2) / h
        if inter.ki is not None:
            if e in victim.clearance.km:
                # the module scales the victim's Vmax by the enzyme module's active fraction; for a saturable
                # victim, reversible (competitive) inhibition must raise Km instead: not modelled yet
                raise ddi.DdiError(
                    f"{victim.id}+{perpetrator.id}: the victim's {e} is saturable (clearance.km) and the perpetrator "
                    f"inhibits {e} reversibly (interactions.{e}.ki); competitive inhibition of a saturable pathway "
                    "(Km raised by 1 + I/Ki) is not modelled yet: the result would treat it as non-competitive. "
                    f"Remove clearance.km.{e} from the victim's record to predict with linear clearance")
            values.update({f"{sub}__f_rev": 1.0, f"{sub}__Ki": inter.ki * to_mg_l})
        if inter.kinact is not None and inter.ki_inact is not None:
            values.update({f"{sub}__kinact": inter.kinact, f"{sub}__KI": inter.ki_inact * to_mg_l})
        if inter.emax is not None and inter.ec50 is not None:
            values.update({f"{sub}__Emax": inter.emax, f"{sub}__EC50": inter.ec50 * to_mg_l})
    known = set(model.parameter_ids) | set(model.compartment_ids)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ddi.DdiError(f"composed DDI model has no {unknown[:5]}")
    return values


def _regimen(study: DdiStudy, *, with_perpetrator: bool) -> Regimen:
    route_v = Route.ORAL if study.victim_route == "po" else Route.IV_BOLUS
    doses = [Dose(amount=study.victim_dose_mg, unit="mg", route=route_v, time=study.victim_time_h, time_unit="h",
                  target=f"victim__{DOSE_TARGETS[route_v]}")]
    if with_perpetrator:
        route_p = Route.ORAL if study.perpetrator_route == "po" else Route.IV_BOLUS
        duration = None
        if study.perpetrator_infusion_h > 0:
            route_p, duration = Route.IV_INFUSION, study.perpetrator_infusion_h
        doses += [Dose(amount=a, unit="mg", route=route_p, time=t, time_unit="h", duration=duration,
                       target=f"perp__{DOSE_TARGETS[route_p]}") for t, a in study.perpetrator_doses]
    return Regimen.of(*doses)


def predict_ddi(study: DdiStudy, drugs: Mapping[str, DrugRecord]) -> DdiPrediction:
    """Dynamic and static AUC (and dynamic Cmax) ratios of the victim for one study design.

    The victim is simulated in the composed model with and without the
    perpetrator's doses (reference male physiology); the AUC is that of the
    victim's plasma concentration from its dose over ``horizon_h``,
    extrapolated to infinity. The static ratio uses the same records: the
    perpetrator's simulated plasma Cmax in the 24 h before the victim's dose
    (or after it, when the victim comes first), the perpetrator dose being
    absorbed then (:meth:`DdiStudy.perpetrator_dose_at_victim`) and the
    net-effect equation of :mod:`qsp_sbml.pbpk.ddi`.
    """
    try:
        victim, perpetrator = drugs[study.victim], drugs[study.perpetrator]
    except KeyError as err:
        raise ddi.DdiError(f"no drug record {err.args[0]!r}; have {sorted(drugs)}") from None
    enzymes = _enzymes(study, perpetrator)
    model = compose_ddi(enzymes)
    values = _values(study, victim, perpetrator, enzymes, model)
    t0, t1 = study.victim_time_h, study.victim_time_h + study.horizon_h
    times = np.unique(np.concatenate([np.arange(0.0, t1 + 1e-9, 0.5), t0 + np.linspace(0, 2, 41), [t0, t1]]))
    times = times[times <= t1 + 1e-9]
    sels = ["victim__C_plasma", "perp__C_plasma"]
    runs = {flag: model.simulate(times, selections=sels, parameters=values,
                                 regimen=_regimen(study, with_perpetrator=flag)) for flag in (False, True)}
    window = times >= t0 - 1e-9
    res = {flag: nca(times[window] - t0, np.clip(frame["victim__C_plasma"].to_numpy()[window], 0, None))
           for flag, frame in runs.items()}
    perp_c = runs[True]["perp__C_plasma"].to_numpy()
    near = (times >= max(0.0, t0 - 24.0)) & (times <= t0 + 24.0)
    cmax_p = float(perp_c[near].max())
    static, inlet, gut = static_prediction(victim, perpetrator, enzymes, cmax_mg_l=cmax_p,
                                           dose_mg=study.perpetrator_dose_at_victim(),
                                           victim_oral=study.victim_route == "po",
                                           perpetrator_oral=study.perpetrator_route == "po")
    return DdiPrediction(res[True].auc_inf / res[False].auc_inf, res[True].cmax / res[False].cmax, static,
                         cmax_p, inlet, gut,
                         {"auc_control": res[False].auc_inf, "auc_ddi": res[True].auc_inf})


def static_prediction(victim: DrugRecord, perpetrator: DrugRecord, enzymes: Sequence[str], *, cmax_mg_l: float,
                      dose_mg: float, victim_oral: bool = True, perpetrator_oral: bool = True,
                      ) -> tuple[float, float, float]:
    """Net-effect AUC ratio, unbound hepatic-inlet and gut concentrations (uM) from records and Cmax.

    ``fm`` of each enzyme is its fraction of the victim's total systemic
    clearance in the reference adult, from the parameterised module: the
    hepatic share ``CL_h / (CL_h + CL_r)`` times ``CLint_e / sum CLint``. This
    is ``(1 - fe) fm_e`` for a record given by ``cl_iv`` and ``fm``, and holds
    as well for a record given by ``clint`` per enzyme. With several enzymes
    the liver terms add up (``1 / (sum_e fm_e ABC_e + 1 - sum_e fm_e)``); the
    gut term is that of the CYP3A4 effect with the victim's ``Fg``. For an
    intravenous victim (no gut term) the ratio is that of the victim's
    well-stirred total clearance with each enzyme's activity scaled by its
    ``ABC`` (``_iv_auc_ratio``), which equals the liver term above
    only for a victim of low hepatic extraction.
    """
    mw = perpetrator.molecular_weight
    a = perpetrator.absorption
    dose_umol = dose_mg / mw * 1000.0 if perpetrator_oral else 0.0
    inlet = ddi.hepatic_inlet_concentration(cmax=cmax_mg_l / mw * 1000.0, fu=perpetrator.fu, dose=dose_umol,
                                            ka=a.ka, fa=a.fa, fg=a.fg, bp=perpetrator.bp)
    gut = ddi.gut_concentration(dose=dose_umol, ka=a.ka, fa=a.fa)
    liver = {e: ddi.organ_factor(perpetrator.interactions[e].effect(), inlet, enzyme=e, organ="liver")
             for e in enzymes}
    if not victim_oral:
        return _iv_auc_ratio(victim, liver), inlet, gut
    fm_all = _fraction_metabolised(victim)
    liver_sum = sum(fm_all.get(e, 0.0) * f for e, f in liver.items())
    fm_sum = sum(fm_all.get(e, 0.0) for e in enzymes)
    gut_factor = 1.0
    for e in enzymes:
        if e in GUT_ENZYMES:
            gut_factor = ddi.organ_factor(perpetrator.interactions[e].effect(), gut, enzyme=e, organ="gut")
    fg = victim.absorption.fg
    ratio = 1.0 / (gut_factor * (1.0 - fg) + fg) / (liver_sum + (1.0 - fm_sum))
    return ratio, inlet, gut


def _iv_auc_ratio(victim: DrugRecord, liver: Mapping[str, float]) -> float:
    """AUC ratio of an intravenous victim: total clearance without / with the enzyme activities ``liver``.

    The net-effect equation is that of an oral victim, whose AUC under the
    well-stirred liver model is ``Dose / (fu_b CLint)`` whatever the hepatic
    blood flow. After an intravenous dose ``AUC = Dose / CL`` with the
    flow-limited ``CL_h = Qh fu_b CLint / (Qh + fu_b CLint)`` (Wilkinson GR,
    Shand DG 1975, Clin Pharmacol Ther 18:377), so the hepatic term
    ``1 / (fm ABC + 1 - fm)`` holds only for a victim of low hepatic
    extraction; here each enzyme's intrinsic clearance is scaled by its
    ``ABC`` in the module's own clearance equations (reference male).
    """
    phys = reference("male")
    base = parameterise(victim, phys).cl_total
    return base / parameterise(victim, phys, multipliers=dict(liver)).cl_total


def _fraction_metabolised(victim: DrugRecord) -> dict[str, float]:
    """Fraction of the victim's total clearance by each enzyme in the reference adult (module equations)."""
    par = parameterise(victim, reference("male"))
    clint = {e: par.values[f"CLint_{e}"] for e in ENZYMES}
    total = sum(clint.values())
    if total <= 0 or par.cl_total <= 0:
        return dict.fromkeys(ENZYMES, 0.0)
    hepatic = par.cl_hepatic / par.cl_total
    return {e: hepatic * v / total for e, v in clint.items()}
