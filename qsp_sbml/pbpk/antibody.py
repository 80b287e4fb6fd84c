"""Monoclonal-antibody PK module: two compartments, subcutaneous depot, linear and target-mediated clearance.

Target-mediated drug disposition uses the quasi-steady-state approximation
(Gibiansky, Gibiansky, Kakkar & Ma 2008, J Pharmacokinet Pharmacodyn 35:573):
the states are total drug ``L_tot`` and total target ``R_tot`` in the central
compartment (nM), and free drug is

    C = ((L_tot - R_tot - KSS) + sqrt((L_tot - R_tot - KSS)^2 + 4 KSS L_tot)) / 2,

the complex ``RC = R_tot C / (KSS + C)``.  Free drug is cleared linearly
(``CL C``) and distributes (``Q (C - C_p)``); the complex is internalised at
``kint``, free target is made at ``kdeg R0`` and degraded at ``kdeg``.  With
``R0 = 0`` the module is the linear two-compartment model.

Default parameters are the typical monoclonal antibody of the meta-analysis of
Davda et al. 2014 (mAbs 6:1094, 70 kg); :data:`RISANKIZUMAB` is the
anti-IL-23 set of Suleiman et al. 2019 (Clin Pharmacokinet 58:1309, Table 3).
Both were transcribed from the nlmixr2lib model library, which cites those
tables (see the model card).  Time is in hours, amounts in nmol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qsp_sbml._sbml_build import ModuleBuilder

__all__ = ["DAVDA_TYPICAL_MAB", "IGG_MOLECULAR_WEIGHT", "RISANKIZUMAB", "AntibodyParameters", "build_antibody"]

#: Approximate molecular weight of an IgG (g/mol), ~150 kDa (Vidarsson, Dekkers & Rispens 2014,
#: Front Immunol 5:520, "IgG subclasses and allotypes").
IGG_MOLECULAR_WEIGHT = 150_000.0


@dataclass(frozen=True)
class AntibodyParameters:
    """Typical values for a 70 kg adult; rates per day as published, converted to hours in SBML."""

    name: str
    cl_l_per_day: float
    vc_l: float
    vp_l: float
    q_l_per_day: float
    ka_per_day: float
    f_sc: float
    source: str
    molecular_weight: float = IGG_MOLECULAR_WEIGHT
    #: QSS-TMDD: baseline target (nM), target degradation and complex internalisation (1/day), KSS (nM).
    r0_nm: float = 0.0
    kdeg_per_day: float = 1.0
    kint_per_day: float = 1.0
    kss_nm: float = 1.0
    sbml_values: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        values = {
            "central": self.vc_l, "peripheral": self.vp_l,
            "CL": self.cl_l_per_day / 24, "Q": self.q_l_per_day / 24,
            "ka_sc": self.ka_per_day / 24, "F_sc": self.f_sc,
            "R0": self.r0_nm, "kdeg": self.kdeg_per_day / 24, "kint": self.kint_per_day / 24,
            "KSS": self.kss_nm, "molecular_weight": self.molecular_weight,
        }
        object.__setattr__(self, "sbml_values", values)


#: Typical mAb (Davda et al. 2014, mAbs 6:1094; linear, no target).
DAVDA_TYPICAL_MAB = AntibodyParameters(
    name="typical IgG monoclonal antibody", cl_l_per_day=0.200, vc_l=3.61, vp_l=2.75, q_l_per_day=0.747,
    ka_per_day=0.282, f_sc=0.744,
    source="Davda JP et al. 2014, mAbs 6(4):1094-1102 (via nlmixr2lib PK_2cmt_mAb_Davda_2014)",
)

#: Risankizumab, anti-IL-23 p19 (Suleiman et al. 2019; "no apparent target-mediated disposition").
RISANKIZUMAB = AntibodyParameters(
    name="risankizumab", cl_l_per_day=0.243, vc_l=4.86, vp_l=4.25, q_l_per_day=0.656, ka_per_day=0.229,
    f_sc=0.890, molecular_weight=149_000.0,
    source="Suleiman AA et al. 2019, Clin Pharmacokinet 58(10):1309-1321, Table 3 (via nlmixr2lib "
           "Suleiman_2019_risankizumab); MW 149 kDa from the Skyrizi label",
)

_UNITS = {
    "CL": ("litre_per_hour", "linear clearance of free antibody"),
    "Q": ("litre_per_hour", "intercompartmental clearance"),
    "ka_sc": ("per_hour", "subcutaneous absorption rate constant"),
    "F_sc": ("dimensionless", "subcutaneous bioavailability"),
    "R0": ("nM", "baseline total target concentration"),
    "kdeg": ("per_hour", "target degradation rate constant"),
    "kint": ("per_hour", "complex internalisation rate constant"),
    "KSS": ("nM", "quasi-steady-state constant (koff + kint) / kon"),
    "molecular_weight": ("g_per_mol", "molecular weight (for mg dose conversion; not in the equations)"),
}


def build_antibody(values: Mapping[str, float] | None = None, *, model_id: str = "mab_two_compartment_tmdd") -> str:
    """The antibody module as SBML text (default: :data:`DAVDA_TYPICAL_MAB`)."""
    v = dict(DAVDA_TYPICAL_MAB.sbml_values)
    v.update(values or {})
    b = ModuleBuilder(model_id, name="Monoclonal antibody: 2 compartments, SC depot, QSS-TMDD",
                      substance="nmol", time="hour")
    b.compartment("central", v["central"], name="central (plasma) volume Vc")
    b.compartment("peripheral", v["peripheral"], name="peripheral volume Vp")
    b.compartment("sc_site", 1.0, name="subcutaneous site (nominal volume; amounts only)")
    b.compartment("excreta", 1.0, name="eliminated antibody (bookkeeping; nominal volume)")
    b.species("mab_central", "central", name="total antibody in central (free + bound to target)")
    b.species("mab_peripheral", "peripheral", name="antibody in peripheral")
    b.species("target_total", "central", name="total target (free + bound)",
              initial=v["R0"] * v["central"])
    b.species("mab_sc_depot", "sc_site", amount_only=True, name="subcutaneous depot")
    for sid, label in (("mab_eliminated_linear", "cleared linearly"),
                       ("mab_eliminated_target", "internalised with target"),
                       ("mab_sc_lost", "lost at the injection site")):
        b.species(sid, "excreta", amount_only=True, name=f"antibody {label}")
    for pid, (unit, desc) in _UNITS.items():
        b.parameter(pid, v[pid], unit, name=desc)
    for pid, desc in (("C_free", "free antibody concentration (QSS)"), ("complex", "drug-target complex")):
        b.parameter(pid, None, "nM", name=desc, constant=False)
    b.assignment("C_free", "((mab_central - target_total - KSS) + sqrt((mab_central - target_total - KSS)^2 "
                           "+ 4 dimensionless * KSS * mab_central)) / 2 dimensionless")
    b.assignment("complex", "target_total * C_free / (KSS + C_free)")

    b.reaction("sc_absorption", "ka_sc * F_sc * mab_sc_depot", reactants=["mab_sc_depot"], products=["mab_central"])
    b.reaction("sc_presystemic_loss", "ka_sc * (1 dimensionless - F_sc) * mab_sc_depot",
               reactants=["mab_sc_depot"], products=["mab_sc_lost"])
    b.reaction("linear_clearance", "CL * C_free", reactants=["mab_central"], products=["mab_eliminated_linear"])
    b.reaction("distribution", "Q * C_free", reactants=["mab_central"], products=["mab_peripheral"])
    b.reaction("redistribution", "Q * mab_peripheral", reactants=["mab_peripheral"], products=["mab_central"])
    b.reaction("target_synthesis", "kdeg * R0 * central", products=["target_total"])
    b.reaction("target_degradation", "kdeg * (target_total - complex) * central", reactants=["target_total"])
    b.reaction("complex_internalisation", "kint * complex * central",
               reactants=["mab_central", "target_total"], products=["mab_eliminated_target"])
    b.ports(["mab_central", "mab_sc_depot", "CL"], direction="input")
    b.ports(["C_free", "complex", "target_total"], direction="output")
    b.check()
    return b.to_string()
