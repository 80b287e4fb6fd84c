"""Pharmacodynamic modules: receptor occupancy, QSS-TMDD, Emax/Hill, indirect response, transit delay.

Each builder returns SBML L3V2 text (time in hours, concentrations in nM)
with ``comp`` ports; ``FILES`` maps the shipped paths under ``models/pd`` to
them.  The models are generic: their default values are stated (with where
they come from) in :data:`DEFAULTS` and in each model card, and are meant to
be replaced per drug by the caller (``Model.simulate(parameters=...)``).

- ``receptor_occupancy``: drug + free receptor <-> complex (kon, koff),
  receptor synthesis ksyn and degradation kdeg, complex internalisation kint;
  the drug concentration ``C_drug`` is an input (binding does not deplete it).
- ``tmdd_qss``: one-compartment drug with linear elimination and
  target-mediated disposition, quasi-steady-state approximation (Gibiansky,
  Gibiansky, Kakkar & Ma 2008, J Pharmacokinet Pharmacodyn 35:573).
- ``emax_hill``: sigmoid Emax effect and fractional inhibition (Hill equation).
- ``idr1`` .. ``idr4``: the four basic indirect response models (Dayneka,
  Garg & Jusko 1993, J Pharmacokinet Biopharm 21:457).
- ``transit_delay``: a chain of n transit compartments with mean transit time
  MTT (Sun & Jusko 1998, J Pharm Sci 87:732; Savic et al. 2007,
  J Pharmacokinet Pharmacodyn 34:711).
- ``molar_conversion``: mass concentration (mg/L, e.g. a PBPK module's
  ``C_plasma``) to molar concentration (nM) with the molecular weight, to
  link mass-based PK to the nM-based PD modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from qsp_sbml._sbml_build import ModuleBuilder

__all__ = [
    "DEFAULTS",
    "FILES",
    "build_emax_hill",
    "build_indirect_response",
    "build_molar_conversion",
    "build_receptor_occupancy",
    "build_tmdd_qss",
    "build_transit_delay",
]

#: Example binding and turnover constants (per day as given, nM): the TMDD example parameter set of the tutorial
#: Dua P, Hawkins E, van der Graaf PH 2015, CPT Pharmacometrics Syst Pharmacol 4:324, as transcribed in a public
#: mrgsolve implementation that cites it (kon 30.2 /nM/day, koff 169 /day, kint 0.170 /day, kdeg 17.3 /day,
#: R0 0.00657 nM, CL 0.2 L/day, V 3 L). Not checked against the paper's PDF (see the model cards).
_DUA_2015 = {"kon": 30.2, "koff": 169.0, "kint": 0.170, "kdeg": 17.3, "R0": 0.00657, "CL": 0.2, "V": 3.0}

#: Default parameter values per module (SBML ids and units as in the files; rates per hour).
DEFAULTS: dict[str, dict[str, float]] = {
    "receptor_occupancy": {
        "kon": _DUA_2015["kon"] / 24, "koff": _DUA_2015["koff"] / 24, "kint": _DUA_2015["kint"] / 24,
        "kdeg": _DUA_2015["kdeg"] / 24, "ksyn": _DUA_2015["kdeg"] / 24 * _DUA_2015["R0"], "C_drug": 0.0,
    },
    "tmdd_qss": {
        "central": _DUA_2015["V"], "CL": _DUA_2015["CL"] / 24, "kint": _DUA_2015["kint"] / 24,
        "kdeg": _DUA_2015["kdeg"] / 24, "R0": _DUA_2015["R0"],
        "KSS": (_DUA_2015["koff"] + _DUA_2015["kint"]) / _DUA_2015["kon"],
    },
    # Generic defaults, not fitted to a drug (see models/pd/emax_hill.md): unit effect range, EC50 = IC50 = 10 nM,
    # Hill coefficient 1 (the hyperbolic law of mass action for one binding site).
    "emax_hill": {"C_drug": 0.0, "E0": 0.0, "Emax": 1.0, "EC50": 10.0, "hill": 1.0, "Imax": 1.0, "IC50": 10.0},
    # Generic defaults, not fitted to a drug (see models/pd/idr1.md .. idr4.md): baseline R0 = kin/kout = 1 (response
    # normalised to baseline), kout 0.1 /h (response half-life 6.9 h), Imax = Smax-scale 1, IC50 = SC50 = 10 nM.
    "idr": {"C_drug": 0.0, "kin": 0.1, "kout": 0.1, "Imax": 1.0, "IC50": 10.0, "Smax": 1.0, "SC50": 10.0,
            "hill": 1.0},
    # Generic defaults (see models/pd/transit_delay.md): 3 compartments as in the Simeoni 2004 damage chain and the
    # Friberg 2002 myelosuppression model; MTT 24 h is a round illustrative value.
    "transit_delay": {"signal_in": 0.0, "MTT": 24.0},
    # Placeholder molecular weight (set per drug): midazolam 325.78 g/mol, the default drug of the whole-body PBPK
    # file (DrugBank DB00683, as in models/pbpk/drugs/midazolam.yaml).
    "molar_conversion": {"C_mass": 0.0, "MW": 325.78},
}
TRANSIT_COMPARTMENTS = 3


def _values(module: str, values: Mapping[str, float] | None) -> dict[str, float]:
    v = dict(DEFAULTS[module])
    unknown = set(values or {}) - set(v)
    if unknown:
        raise KeyError(f"unknown parameter(s) {sorted(unknown)} for {module}; known: {sorted(v)}")
    v.update(values or {})
    return v


def build_receptor_occupancy(values: Mapping[str, float] | None = None) -> str:
    """Receptor binding with turnover driven by an input drug concentration ``C_drug`` (nM).

    ``dR/dt = ksyn - kdeg R - kon C R + koff RC``, ``dRC/dt = kon C R - koff RC - kint RC``;
    outputs ``RO = RC / (R + RC)``, ``R_free = R``, ``R_total = R + RC``.  The
    initial free receptor is the drug-free steady state ``ksyn / kdeg``.
    """
    v = _values("receptor_occupancy", values)
    b = ModuleBuilder("receptor_occupancy", name="Receptor occupancy: binding kinetics with receptor turnover",
                      substance="nmol", time="hour")
    b.compartment("tissue", 1.0, name="binding volume (nominal 1 L; states are concentrations in nM)")
    b.species("receptor", "tissue", name="free receptor R", initial=v["ksyn"] / v["kdeg"])
    b.species("drug_receptor", "tissue", name="drug-receptor complex RC")
    b.parameter("C_drug", v["C_drug"], "nM", name="free drug concentration at the receptor (input)")
    b.parameter("kon", v["kon"], "per_nM_per_hour", name="association rate constant")
    b.parameter("koff", v["koff"], "per_hour", name="dissociation rate constant")
    b.parameter("ksyn", v["ksyn"], "nM_per_hour", name="receptor synthesis rate")
    b.parameter("kdeg", v["kdeg"], "per_hour", name="free receptor degradation rate constant")
    b.parameter("kint", v["kint"], "per_hour", name="complex internalisation rate constant")
    for pid, unit, desc in (("RO", "dimensionless", "receptor occupancy RC / (R + RC)"),
                            ("R_free", "nM", "free receptor concentration"),
                            ("R_total", "nM", "total receptor concentration R + RC")):
        b.parameter(pid, None, unit, name=desc, constant=False)
    b.assignment("R_free", "receptor")
    b.assignment("R_total", "receptor + drug_receptor")
    b.assignment("RO", "drug_receptor / (receptor + drug_receptor)")
    b.reaction("synthesis", "ksyn * tissue", products=["receptor"])
    b.reaction("degradation", "kdeg * receptor * tissue", reactants=["receptor"])
    b.reaction("binding", "kon * C_drug * receptor * tissue", reactants=["receptor"], products=["drug_receptor"])
    b.reaction("dissociation", "koff * drug_receptor * tissue", reactants=["drug_receptor"], products=["receptor"])
    b.reaction("internalisation", "kint * drug_receptor * tissue", reactants=["drug_receptor"])
    b.port("C_drug", direction="input")
    b.ports(["RO", "R_free", "R_total"], direction="output")
    b.check()
    return b.to_string()


def build_tmdd_qss(values: Mapping[str, float] | None = None) -> str:
    """One-compartment drug with linear clearance and QSS target-mediated disposition.

    States: total drug ``A_drug`` (nmol in ``central``; dose input port) and
    total target ``target_total``.  Free drug
    ``C_free = ((Ltot - Rtot - KSS) + sqrt((Ltot - Rtot - KSS)^2 + 4 KSS Ltot)) / 2``,
    complex ``Rtot C_free / (KSS + C_free)``; elimination ``CL C_free`` and
    ``kint complex V``; target synthesis ``kdeg R0 V`` and degradation of free
    target ``kdeg (Rtot - complex) V``.
    """
    v = _values("tmdd_qss", values)
    b = ModuleBuilder("tmdd_qss", name="Target-mediated drug disposition, quasi-steady-state approximation",
                      substance="nmol", time="hour")
    b.compartment("central", v["central"], name="central volume V")
    b.species("A_drug", "central", name="total drug (free + bound) in central")
    b.species("target_total", "central", name="total target (free + bound)", initial=v["R0"] * v["central"])
    for pid, unit, desc in (("CL", "litre_per_hour", "linear clearance of free drug"),
                            ("kint", "per_hour", "complex internalisation rate constant"),
                            ("kdeg", "per_hour", "free target degradation rate constant"),
                            ("R0", "nM", "baseline target concentration"),
                            ("KSS", "nM", "quasi-steady-state constant (koff + kint) / kon")):
        b.parameter(pid, v[pid], unit, name=desc)
    b.parameter("C_free", None, "nM", name="free drug concentration", constant=False)
    b.parameter("complex", None, "nM", name="drug-target complex concentration", constant=False)
    b.assignment("C_free", "((A_drug - target_total - KSS) + sqrt((A_drug - target_total - KSS)^2 "
                           "+ 4 dimensionless * KSS * A_drug)) / 2 dimensionless")
    b.assignment("complex", "target_total * C_free / (KSS + C_free)")
    b.reaction("linear_elimination", "CL * C_free", reactants=["A_drug"])
    b.reaction("target_synthesis", "kdeg * R0 * central", products=["target_total"])
    b.reaction("target_degradation", "kdeg * (target_total - complex) * central", reactants=["target_total"])
    b.reaction("complex_internalisation", "kint * complex * central", reactants=["A_drug", "target_total"])
    b.port("A_drug", direction="input")
    b.ports(["C_free", "target_total", "complex"], direction="output")
    b.check()
    return b.to_string()


def build_emax_hill(values: Mapping[str, float] | None = None) -> str:
    """Direct sigmoid effect ``E = E0 + Emax C^h / (EC50^h + C^h)`` and inhibition ``Imax C^h / (IC50^h + C^h)``.

    Written as ``(C/EC50)^h / (1 + (C/EC50)^h)`` so that the power has a
    dimensionless base (unit-checkable SBML).  ``inhibition`` is a fraction in
    [0, Imax] usable as a disease module's ``E_drug``.
    """
    v = _values("emax_hill", values)
    b = ModuleBuilder("emax_hill", name="Sigmoid Emax (Hill) effect and fractional inhibition",
                      substance="nmol", time="hour")
    b.parameter("C_drug", v["C_drug"], "nM", name="drug concentration at the effect site (input)")
    for pid, unit, desc in (("E0", "dimensionless", "baseline effect"),
                            ("Emax", "dimensionless", "maximal drug effect"),
                            ("EC50", "nM", "concentration giving half the maximal effect"),
                            ("hill", "dimensionless", "Hill coefficient (sigmoidicity)"),
                            ("Imax", "dimensionless", "maximal fractional inhibition"),
                            ("IC50", "nM", "concentration giving half the maximal inhibition")):
        b.parameter(pid, v[pid], unit, name=desc)
    b.parameter("E", None, "dimensionless", name="effect", constant=False)
    b.parameter("inhibition", None, "dimensionless", name="fractional inhibition (usable as E_drug)",
                constant=False)
    b.assignment("E", "E0 + Emax * (C_drug / EC50)^hill / (1 dimensionless + (C_drug / EC50)^hill)")
    b.assignment("inhibition", "Imax * (C_drug / IC50)^hill / (1 dimensionless + (C_drug / IC50)^hill)")
    b.port("C_drug", direction="input")
    b.ports(["E", "inhibition"], direction="output")
    b.check()
    return b.to_string()


#: Indirect response types (Dayneka, Garg & Jusko 1993): which rate the drug acts on and how.
IDR_TYPES: dict[int, tuple[str, str, str]] = {
    1: ("inhibition of production (kin)", "kin * (1 dimensionless - I_drug)", "kout * R"),
    2: ("inhibition of loss (kout)", "kin", "kout * (1 dimensionless - I_drug) * R"),
    3: ("stimulation of production (kin)", "kin * (1 dimensionless + S_drug)", "kout * R"),
    4: ("stimulation of loss (kout)", "kin", "kout * (1 dimensionless + S_drug) * R"),
}


def build_indirect_response(kind: int, values: Mapping[str, float] | None = None) -> str:
    """Indirect response model type ``kind`` (1-4): ``dR/dt = kin (.) - kout (.) R`` with ``R(0) = kin / kout``.

    ``I_drug = Imax C^h / (IC50^h + C^h)`` (types I, II) and
    ``S_drug = Smax C^h / (SC50^h + C^h)`` (types III, IV).
    """
    if kind not in IDR_TYPES:
        raise ValueError(f"indirect response type must be 1, 2, 3 or 4, got {kind!r}")
    v = _values("idr", values)
    label, production, loss = IDR_TYPES[kind]
    b = ModuleBuilder(f"idr{kind}", name=f"Indirect response model type {'I' * kind if kind < 4 else 'IV'}: {label}",
                      substance="dimensionless", time="hour")
    b.compartment("response_space", 1.0, name="nominal compartment for the response (amount-only species)")
    b.species("R", "response_space", amount_only=True, units="dimensionless", initial=v["kin"] / v["kout"],
              name="response (starts at the baseline kin / kout)")
    b.parameter("C_drug", v["C_drug"], "nM", name="drug concentration driving the effect (input)")
    b.parameter("kin", v["kin"], "per_hour", name="zero-order production rate of the response")
    b.parameter("kout", v["kout"], "per_hour", name="first-order loss rate constant of the response")
    b.parameter("hill", v["hill"], "dimensionless", name="Hill coefficient")
    if kind in (1, 2):
        b.parameter("Imax", v["Imax"], "dimensionless", name="maximal fractional inhibition (0-1)")
        b.parameter("IC50", v["IC50"], "nM", name="concentration giving half the maximal inhibition")
        b.parameter("I_drug", None, "dimensionless", name="fractional inhibition", constant=False)
        b.assignment("I_drug", "Imax * (C_drug / IC50)^hill / (1 dimensionless + (C_drug / IC50)^hill)")
    else:
        b.parameter("Smax", v["Smax"], "dimensionless", name="maximal fractional stimulation")
        b.parameter("SC50", v["SC50"], "nM", name="concentration giving half the maximal stimulation")
        b.parameter("S_drug", None, "dimensionless", name="fractional stimulation", constant=False)
        b.assignment("S_drug", "Smax * (C_drug / SC50)^hill / (1 dimensionless + (C_drug / SC50)^hill)")
    b.reaction("production", production, products=["R"])
    b.reaction("loss", loss, reactants=["R"])
    b.port("C_drug", direction="input")
    b.port("R", direction="output")
    b.check()
    return b.to_string()


def build_transit_delay(values: Mapping[str, float] | None = None, *, n: int = TRANSIT_COMPARTMENTS) -> str:
    """Chain of ``n`` transit compartments: ``dA1/dt = ktr (signal_in - A1)``, ``dAi/dt = ktr (A(i-1) - Ai)``.

    ``ktr = n / MTT``; ``signal_out = An``.  The impulse response is the
    Erlang density with shape ``n`` and rate ``ktr`` (mean ``MTT``); a constant
    input is passed through unchanged at steady state.
    """
    if n < 1:
        raise ValueError(f"the number of transit compartments must be >= 1, got {n}")
    v = _values("transit_delay", values)
    b = ModuleBuilder("transit_delay", name=f"Transit-compartment signal delay ({n} compartments)",
                      substance="dimensionless", time="hour")
    b.compartment("delay_chain", 1.0, name="nominal compartment for the transit states (amount-only species)")
    b.parameter("signal_in", v["signal_in"], "dimensionless", name="input signal")
    b.parameter("MTT", v["MTT"], "hour", name="mean transit time of the chain")
    b.parameter("n_transit", float(n), "dimensionless", name="number of transit compartments (fixed in the file)")
    b.parameter("ktr", None, "per_hour", name="transit rate constant n / MTT", constant=False)
    b.assignment("ktr", "n_transit / MTT")
    for i in range(1, n + 1):
        b.species(f"transit_{i}", "delay_chain", amount_only=True, units="dimensionless", name=f"transit state {i}")
    b.reaction("input_1", "ktr * signal_in", products=["transit_1"])
    for i in range(1, n):
        b.reaction(f"transit_{i}_to_{i + 1}", f"ktr * transit_{i}", reactants=[f"transit_{i}"],
                   products=[f"transit_{i + 1}"])
    b.reaction(f"output_{n}", f"ktr * transit_{n}", reactants=[f"transit_{n}"])
    b.parameter("signal_out", None, "dimensionless", name="delayed signal", constant=False)
    b.assignment("signal_out", f"transit_{n}")
    b.port("signal_in", direction="input")
    b.port("signal_out", direction="output")
    b.check()
    return b.to_string()


def build_molar_conversion(values: Mapping[str, float] | None = None) -> str:
    """Mass to molar concentration: ``C_molar = C_mass / MW * 1e6`` (mg/L, g/mol -> nM).

    (mg/L) / (g/mol) = 1e-3 mol/L = 1e6 nM.  libSBML's unit check compares
    unit kinds and exponents but not scales, so the factor 1e6 is verified
    numerically in the tests, not by the unit check.  No states, no reactions:
    it adds no extent unit to a composed model.
    """
    v = _values("molar_conversion", values)
    b = ModuleBuilder("molar_conversion", name="Mass concentration (mg/L) to molar concentration (nM)",
                      substance="nmol", time="hour")
    b.parameter("C_mass", v["C_mass"], "mg_per_litre", name="mass concentration (input)")
    b.parameter("MW", v["MW"], "g_per_mol", name="molecular weight of the drug")
    b.parameter("C_molar", None, "nM", name="molar concentration (output)", constant=False)
    b.assignment("C_molar", "C_mass / MW * 1000000 dimensionless")
    b.port("C_mass", direction="input")
    b.port("C_molar", direction="output")
    b.check()
    return b.to_string()


def _idr(kind: int) -> Callable[[], str]:
    return lambda: build_indirect_response(kind)


FILES: dict[str, Callable[[], str]] = {
    "pd/receptor_occupancy.xml": build_receptor_occupancy,
    "pd/tmdd_qss.xml": build_tmdd_qss,
    "pd/emax_hill.xml": build_emax_hill,
    **{f"pd/idr{k}.xml": _idr(k) for k in IDR_TYPES},
    "pd/transit_delay.xml": build_transit_delay,
    "pd/molar_conversion.xml": build_molar_conversion,
}
