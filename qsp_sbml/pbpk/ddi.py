"""Static mechanistic drug-drug interaction (DDI) prediction: the "net effect" equation.

The AUC ratio of an orally given victim drug with and without a perpetrator
(Fahmi OA et al. 2009, Drug Metab Dispos 37:1658, Eq. 1; FDA 2020, *In Vitro
Drug Interaction Studies - Cytochrome P450 Enzyme- and Transporter-Mediated
Drug Interactions, Guidance for Industry*, section "Mechanistic static
models", Table 2):

.. math::

    \\frac{AUC'}{AUC} = \\frac{1}{A_g B_g C_g (1 - F_g) + F_g}
                       \\cdot \\frac{1}{A_h B_h C_h f_m + (1 - f_m)}

with, for the gut wall (g) and the liver (h), the unbound perpetrator
concentration ``[I]`` at the enzyme:

* reversible (competitive) inhibition ``C = 1 / (1 + [I] / Ki)``;
* mechanism-based inactivation
  ``A = kdeg / (kdeg + kinact [I] / ([I] + KI))``;
* induction ``B = 1 + d Emax [I] / ([I] + EC50)``, ``Emax`` the maximal
  *increase* of activity (fold induction minus 1), ``d`` an empirical
  scaling factor (1 unless calibrated).

``fm`` is the fraction of the victim's hepatic clearance by the affected
enzyme and ``Fg`` its fraction escaping gut-wall metabolism (all gut-wall
metabolism is taken to be by the affected enzyme, as the guidance does).
For an intravenous victim the gut term is 1.

Perpetrator concentrations (FDA 2020, Table 2 footnotes; Obach RS et al. 2006,
J Pharmacol Exp Ther 316:336 for the hepatic inlet):

* liver: the unbound maximal concentration at the liver inlet,
  ``[I]h = fu,p (Cmax + Fa Fg ka Dose / (Qh RB))``, ``Qh`` 97 L/h;
* gut wall: ``[I]g = Fa ka Dose / Qen``, ``Qen`` 18 L/h, the enterocytic
  blood flow (Yang J et al. 2007, Drug Metab Dispos 35:1697; taken unbound).

Concentrations are in umol/L (uM), rate constants in 1/h, flows in L/h and
doses in umol throughout.

Acceptance of a prediction against an observed ratio uses the limits of Guest
EJ et al. 2011 (Drug Metab Dispos 39:170), which narrow towards a ratio of 1:
``limit = (delta + 2 (R - 1)) / R`` with ``R`` the observed ratio (or its
reciprocal below 1) and ``delta = 1.25`` (the bioequivalence bound); a
prediction is inside when ``obs / limit <= pred <= obs * limit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from qsp_sbml.errors import QspError

__all__ = [
    "ENZYME_HALF_LIFE_H",
    "Q_ENTEROCYTE_L_PER_H",
    "Q_HEPATIC_L_PER_H",
    "DdiError",
    "EnzymeEffect",
    "gmfe",
    "gut_concentration",
    "guest_limits",
    "hepatic_inlet_concentration",
    "induction_term",
    "inside_guest_limits",
    "mbi_term",
    "net_effect_auc_ratio",
    "organ_factor",
    "reversible_term",
]

#: Hepatic blood flow of the static model, L/h (FDA 2020 guidance, Table 2: 97 L/h for a 70 kg adult).
Q_HEPATIC_L_PER_H = 97.0
#: Enterocytic blood flow, L/h (FDA 2020 guidance, Table 2: 18 L/h; Yang et al. 2007 DMD 35:1697).
Q_ENTEROCYTE_L_PER_H = 18.0
#: Degradation half-life (h) of an enzyme by organ, for mechanism-based inactivation and induction.
#: CYP3A4: liver 36 h (Obach RS, Walsky RL, Venkatakrishnan K 2007, Drug Metab Dispos 35:246),
#: intestine 23 h (enterocyte turnover; Greenblatt DJ et al. 2003, Clin Pharmacol Ther 74:121).
#: CYP1A2: liver 39 h, intestine 23 h, as implemented in the PK-Sim ontogeny database 7.3 and listed in
#: the OSP rifampicin model evaluation report (Open-Systems-Pharmacology/Rifampicin-Model, section 2.3,
#: induction table). kdeg = ln 2 / half-life.
ENZYME_HALF_LIFE_H: dict[tuple[str, str], float] = {
    ("CYP3A4", "liver"): 36.0,
    ("CYP3A4", "gut"): 23.0,
    ("CYP1A2", "liver"): 39.0,
    ("CYP1A2", "gut"): 23.0,
}


class DdiError(QspError, ValueError):
    """Inputs of a DDI prediction outside their physical range."""


def _check(name: str, value: float, *, low: float = 0.0, strict: bool = False, high: float = math.inf) -> None:
    if not math.isfinite(value) or value < low or (strict and value == low) or value > high:
        rel = ">" if strict else ">="
        raise DdiError(f"{name} must be finite, {rel} {low}" + (f" and <= {high}" if high < math.inf else "")
                       + f", got {value!r}")


@dataclass(frozen=True, kw_only=True)
class EnzymeEffect:
    """A perpetrator's effect on one enzyme (any of the three mechanisms may be absent).

    Concentrations are unbound, in uM.

    Examples
    --------
    >>> EnzymeEffect(ki=0.015).describe()
    'Ki 0.015 uM'
    """

    #: Reversible (competitive) inhibition constant, unbound (uM).
    ki: float | None = None
    #: Maximal inactivation rate constant (1/h).
    kinact: float | None = None
    #: Concentration of half-maximal inactivation, unbound (uM).
    ki_inact: float | None = None
    #: Maximal increase of enzyme activity by induction (fold induction minus 1).
    emax: float | None = None
    #: Concentration of half-maximal induction, unbound (uM).
    ec50: float | None = None

    def __post_init__(self) -> None:
        for name in ("ki", "ki_inact", "ec50", "kinact"):
            value = getattr(self, name)
            if value is not None:
                _check(name, value, strict=True)
        if self.emax is not None:
            _check("emax", self.emax)
        if (self.kinact is None) != (self.ki_inact is None):
            raise DdiError("mechanism-based inactivation needs both kinact and ki_inact")
        if (self.emax is None) != (self.ec50 is None):
            raise DdiError("induction needs both emax and ec50")

    def describe(self) -> str:
        """Short text of the parameters that are set."""
        parts = []
        if self.ki is not None:
            parts.append(f"Ki {self.ki:g} uM")
        if self.kinact is not None:
            parts.append(f"kinact {self.kinact:g} 1/h, KI {self.ki_inact:g} uM")
        if self.emax is not None:
            parts.append(f"Emax {self.emax:g}, EC50 {self.ec50:g} uM")
        return ", ".join(parts) or "no effect"


def reversible_term(conc: float, ki: float) -> float:
    """``C = 1 / (1 + [I]/Ki)``, the remaining activity under competitive inhibition.

    >>> reversible_term(1.0, 1.0)
    0.5
    """
    _check("[I]", conc)
    _check("Ki", ki, strict=True)
    return 1.0 / (1.0 + conc / ki)


def mbi_term(conc: float, kinact: float, ki_inact: float, kdeg: float) -> float:
    """``A = kdeg / (kdeg + kinact [I]/([I] + KI))``, the steady-state active-enzyme fraction.

    With ``[I] = KI`` and ``kinact = kdeg`` half the maximal inactivation rate equals
    the degradation rate, so two thirds of the enzyme remain:

    >>> round(mbi_term(2.0, 0.02, 2.0, 0.02), 6)
    0.666667
    """
    _check("[I]", conc)
    _check("kinact", kinact)
    _check("KI", ki_inact, strict=True)
    _check("kdeg", kdeg, strict=True)
    return kdeg / (kdeg + kinact * conc / (conc + ki_inact))


def induction_term(conc: float, emax: float, ec50: float, d: float = 1.0) -> float:
    """``B = 1 + d Emax [I]/([I] + EC50)``, the fold change of enzyme amount.

    >>> induction_term(0.34, 9.0, 0.34)
    5.5
    """
    _check("[I]", conc)
    _check("Emax", emax)
    _check("EC50", ec50, strict=True)
    _check("d", d)
    return 1.0 + d * emax * conc / (conc + ec50)


def organ_factor(effect: EnzymeEffect, conc: float, *, enzyme: str = "CYP3A4", organ: str = "liver",
                 d: float = 1.0) -> float:
    """``A B C``: the active-enzyme fraction of one organ at unbound perpetrator ``conc`` (uM).

    The enzyme degradation rate constant comes from :data:`ENZYME_HALF_LIFE_H`
    (an enzyme without a cited half-life cannot take a mechanism-based
    inactivation or induction effect).

    >>> round(organ_factor(EnzymeEffect(ki=1.0, kinact=0.0192540, ki_inact=1.0), 1.0), 4)
    0.3333
    """
    a = b = c = 1.0
    if effect.ki is not None:
        c = reversible_term(conc, effect.ki)
    if effect.kinact is not None or effect.emax is not None:
        half_life = ENZYME_HALF_LIFE_H.get((enzyme, organ))
        if half_life is None:
            raise DdiError(f"no cited degradation half-life of {enzyme} in the {organ}; known: "
                           f"{sorted(ENZYME_HALF_LIFE_H)}")
        kdeg = math.log(2) / half_life
        if effect.kinact is not None and effect.ki_inact is not None:
            a = mbi_term(conc, effect.kinact, effect.ki_inact, kdeg)
        if effect.emax is not None and effect.ec50 is not None:
            b = induction_term(conc, effect.emax, effect.ec50, d)
    return a * b * c


def net_effect_auc_ratio(*, fm: float, fg: float = 1.0, liver: float = 1.0, gut: float = 1.0) -> float:
    """The AUC ratio of the net-effect equation from the organ factors ``A B C``.

    ``liver`` and ``gut`` are the products ``A B C`` of :func:`organ_factor`;
    ``fg`` is the victim's Fg (1 for an intravenous victim, which removes the
    gut term). With the gut term absent this is the equation of Rowland &
    Matin 1973 (J Pharmacokinet Biopharm 1:553): ``fm = 1`` and ``[I] = Ki``
    double the AUC.

    >>> net_effect_auc_ratio(fm=1.0, liver=0.5)
    2.0
    >>> round(net_effect_auc_ratio(fm=0.98, fg=0.39, liver=0.1, gut=0.1), 3)
    18.791
    """
    _check("fm", fm, high=1.0)
    _check("Fg", fg, strict=True, high=1.0)
    _check("liver factor", liver, strict=True)
    _check("gut factor", gut, strict=True)
    return 1.0 / (gut * (1.0 - fg) + fg) / (liver * fm + (1.0 - fm))


def hepatic_inlet_concentration(*, cmax: float, fu: float, dose: float = 0.0, ka: float = 0.0, fa: float = 1.0,
                                fg: float = 1.0, bp: float = 1.0, qh: float = Q_HEPATIC_L_PER_H) -> float:
    """Unbound perpetrator concentration at the liver inlet, uM (FDA 2020, Table 2).

    ``fu (Cmax + Fa Fg ka Dose / (Qh RB))`` with ``Cmax`` the total plasma
    Cmax (uM), ``dose`` in umol, ``ka`` in 1/h (``dose = 0`` for an IV
    perpetrator gives the systemic unbound Cmax).

    >>> hepatic_inlet_concentration(cmax=1.0, fu=0.1, dose=97.0, ka=1.0)
    0.2
    """
    _check("Cmax", cmax)
    _check("fu", fu, strict=True, high=1.0)
    _check("dose", dose)
    _check("ka", ka)
    _check("Fa", fa, high=1.0)
    _check("Fg", fg, high=1.0)
    _check("BP", bp, strict=True)
    _check("Qh", qh, strict=True)
    return fu * (cmax + fa * fg * ka * dose / (qh * bp))


def gut_concentration(*, dose: float, ka: float, fa: float = 1.0, qen: float = Q_ENTEROCYTE_L_PER_H) -> float:
    """Perpetrator concentration in the enterocytes, uM: ``Fa ka Dose / Qen`` (FDA 2020, Table 2).

    >>> gut_concentration(dose=18.0, ka=1.0)
    1.0
    """
    _check("dose", dose)
    _check("ka", ka)
    _check("Fa", fa, high=1.0)
    _check("Qen", qen, strict=True)
    return fa * ka * dose / qen


def guest_limits(observed: float, delta: float = 1.25) -> tuple[float, float]:
    """Lower and upper acceptance limits of a predicted ratio (Guest et al. 2011, DMD 39:170).

    ``limit = (delta + 2 (R - 1)) / R`` with ``R = observed`` (``1/observed``
    below 1); the limits are ``observed / limit`` and ``observed * limit``.
    At ``R = 1`` they are the bioequivalence bounds; they tend to 2-fold for
    large ratios.

    >>> guest_limits(1.0)
    (0.8, 1.25)
    >>> lo, hi = guest_limits(5.0)
    >>> round(lo, 4), round(hi, 4)
    (2.7027, 9.25)
    """
    _check("observed ratio", observed, strict=True)
    _check("delta", delta, low=1.0)
    r = observed if observed >= 1 else 1.0 / observed
    limit = (delta + 2.0 * (r - 1.0)) / r
    return observed / limit, observed * limit


def inside_guest_limits(predicted: float, observed: float, delta: float = 1.25) -> bool:
    """Whether ``predicted`` lies inside :func:`guest_limits` of ``observed``.

    >>> inside_guest_limits(8.0, 5.0), inside_guest_limits(10.0, 5.0)
    (True, False)
    """
    lo, hi = guest_limits(observed, delta)
    return lo <= predicted <= hi


def gmfe(predicted: Sequence[float], observed: Sequence[float]) -> float:
    """Geometric mean fold error, ``10 ** mean(|log10(pred / obs)|)``.

    >>> round(gmfe([2.0, 0.5], [1.0, 1.0]), 6)
    2.0
    """
    if len(predicted) != len(observed) or not predicted:
        raise DdiError(f"gmfe needs paired, non-empty sequences (got {len(predicted)} and {len(observed)})")
    for p, o in zip(predicted, observed, strict=True):
        _check("predicted ratio", p, strict=True)
        _check("observed ratio", o, strict=True)
    return float(10 ** (sum(abs(math.log10(p / o)) for p, o in zip(predicted, observed, strict=True))
                        / len(predicted)))
