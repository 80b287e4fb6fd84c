"""Generate the whole-body PBPK SBML module from its structure and a parameter set.

``python -m qsp_sbml.pbpk.build`` regenerates ``models/pbpk/*.xml`` from the
cited tables (reference physiology, default drug record); a test checks that
the committed files equal what this code writes.

Equations (amounts in mg, concentrations in mg/L, time in h; ``C_T`` is the
concentration in tissue ``T``, ``BP`` the blood:plasma ratio, ``fu`` the
fraction unbound in plasma):

* perfusion-limited tissue: ``V_T dC_T/dt = Q_T (C_art - C_T BP / Kp_T)``;
  gut, spleen and pancreas drain into the liver, the others into venous blood;
* lung: ``V_lu dC_lu/dt = Q_co (C_ven - C_lu BP / Kp_lu)``, arterial blood
  receives the lung outflow;
* liver: inflow from the hepatic artery and the portal tissues, outflow
  ``(Q_ha + (1 - f_portal_shunt) (Q_gut + Q_spleen + Q_pancreas)) C_li BP / Kp_li`` and metabolism
  ``fu C_li / Kp_li * sum_e CLint_e m_e / (1 + s_e Cu_liver / Km_e)`` (well-stirred: unbound liver
  concentration ``Cu_liver = fu C_li / Kp_li``, an output); ``CLint_e`` is the low-concentration
  intrinsic clearance and the switch ``s_e = saturable_<e>`` (0 or 1) turns on Michaelis-Menten
  saturation with the unbound constant ``Km_e``; at 0 (the default) the term is exactly linear;
* porto-systemic shunt: the fraction ``f_portal_shunt`` (0 in health) of the portal tissues' venous
  outflow bypasses the liver into venous blood (hepatic impairment, :mod:`qsp_sbml.population.presets`);
* kidney: glomerular filtration and secretion of the arterial plasma entering
  it, ``(fu GFR (1 - f_reabsorption) + CL_renal_secretion) C_art / BP``;
* oral, first order: ``ka Fa Fg`` of the lumen amount reaches the gut wall,
  ``ka Fa (1 - Fg)`` is metabolised in the gut wall, ``ka (1 - Fa)`` is lost
  to faeces; the CAT option (Yu & Amidon 1999) empties the stomach into seven
  small-intestine segments absorbed with ``ka_si`` (gut-wall extraction ``Fg``)
  and passed on with ``k_si_transit``;
* gut-wall enzyme activity: the input ``m_gut`` (1 at baseline) scales the
  gut-wall intrinsic clearance of the Qgut model ``Fg = Qg / (Qg + CLint_g)``,
  so every ``Fg`` above is ``Fg_eff = Fg / (Fg + (1 - Fg) m_gut)`` (drug-drug
  interactions, :mod:`qsp_sbml.pbpk.interaction`), and the output
  ``J_absorption = ka Fa A_lumen`` is the flux entering the gut wall;
* subcutaneous depot: ``ka_sc F_sc`` into venous blood, ``ka_sc (1 - F_sc)``
  lost at the site.
"""

from __future__ import annotations

from collections.abc import Mapping

from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.pbpk.structure import (
    CAT_SEGMENTS,
    ENZYMES,
    EXCRETA,
    PORTAL_TISSUES,
    SYSTEMIC_TISSUES,
    TISSUES,
    flow,
    kp,
    species,
)

__all__ = ["PARAMETER_UNITS", "VOLUMES", "build_wholebody"]

#: Unit and description of every parameter of the module.
PARAMETER_UNITS: dict[str, tuple[str, str]] = {
    "Q_cardiac": ("litre_per_hour", "cardiac output (blood)"),
    **{flow(t): ("litre_per_hour", f"blood flow to {t}") for t in (*SYSTEMIC_TISSUES, *PORTAL_TISSUES, "liver")},
    **{kp(t): ("dimensionless", f"{t}:plasma partition coefficient") for t in TISSUES},
    "fu": ("dimensionless", "fraction unbound in plasma"),
    "BP": ("dimensionless", "blood:plasma concentration ratio"),
    **{f"CLint_{e}": ("litre_per_hour", f"hepatic unbound intrinsic clearance by {e}") for e in ENZYMES},
    **{f"m_{e}": ("dimensionless", f"activity multiplier of {e} (genotype, inhibition, induction)") for e in ENZYMES},
    **{f"Km_{e}": ("mg_per_litre", f"unbound Michaelis constant of {e} (if saturable_{e} = 1)") for e in ENZYMES},
    **{f"saturable_{e}": ("dimensionless", f"1: {e} saturates (Michaelis-Menten), 0: linear") for e in ENZYMES},
    "GFR": ("litre_per_hour", "glomerular filtration rate"),
    "f_reabsorption": ("dimensionless", "fraction of filtered drug reabsorbed"),
    "CL_renal_secretion": ("litre_per_hour", "active renal secretion clearance (plasma)"),
    "ka": ("per_hour", "first-order oral absorption rate constant"),
    "Fa": ("dimensionless", "fraction absorbed from the gut lumen"),
    "Fg": ("dimensionless", "fraction escaping gut-wall metabolism"),
    "m_gut": ("dimensionless", "activity multiplier of the gut-wall enzyme (inhibition, induction)"),
    "f_portal_shunt": ("dimensionless", "fraction of portal venous blood bypassing the liver (porto-systemic shunt)"),
    "k_gastric_emptying": ("per_hour", "gastric emptying rate constant (CAT)"),
    "k_si_transit": ("per_hour", "transit rate constant per small-intestine segment (CAT)"),
    "ka_si": ("per_hour", "absorption rate constant from each small-intestine segment (CAT)"),
    "ka_sc": ("per_hour", "subcutaneous absorption rate constant"),
    "F_sc": ("dimensionless", "subcutaneous bioavailability"),
    "molecular_weight": ("g_per_mol", "molecular weight (for dose conversions; not used in the equations)"),
}

#: Compartments whose size is a per-subject volume.
VOLUMES: tuple[str, ...] = (*TISSUES, "venous_blood", "arterial_blood")


def _out(t: str) -> str:
    """Venous outflow concentration (blood) of tissue ``t``."""
    return f"{species(t)} * BP / {kp(t)}"


def build_wholebody(values: Mapping[str, float], *, model_id: str = "wholebody_pbpk",
                    name: str = "Whole-body PBPK module (perfusion-limited)") -> str:
    """The whole-body PBPK module as SBML text, with ``values`` for every volume and parameter.

    ``values`` maps compartment ids (volumes, L) and the ids of
    :data:`PARAMETER_UNITS` to numbers; a missing or extra key is an error.
    """
    expected = set(VOLUMES) | set(PARAMETER_UNITS)
    missing, extra = expected - set(values), set(values) - expected
    if missing or extra:
        raise KeyError(f"build_wholebody: missing {sorted(missing)}, unexpected {sorted(extra)}")
    b = ModuleBuilder(model_id, name=name, substance="mg", time="hour")
    for c in VOLUMES:
        b.compartment(c, values[c], name=c.replace("_", " "))
        b.species(species(c), c, name=f"drug in {c.replace('_', ' ')}")
    for c, label in (("gi_lumen", "gastrointestinal lumen"), ("sc_site", "subcutaneous injection site"),
                     ("excreta", "eliminated drug (bookkeeping)")):
        b.compartment(c, 1.0, name=f"{label} (nominal volume; amounts only)")
    b.species("drug_gi_lumen", "gi_lumen", amount_only=True, name="oral dose in the lumen (first-order route)")
    b.species("drug_stomach", "gi_lumen", amount_only=True, name="oral dose in the stomach (CAT route)")
    for k in range(1, CAT_SEGMENTS + 1):
        b.species(f"drug_si_{k}", "gi_lumen", amount_only=True, name=f"small-intestine segment {k} (CAT)")
    b.species("drug_sc_depot", "sc_site", amount_only=True, name="subcutaneous depot")
    for e in EXCRETA:
        b.species(e, "excreta", amount_only=True, name=e.replace("_", " "))
    for pid, (unit, desc) in PARAMETER_UNITS.items():
        b.parameter(pid, values[pid], unit, name=desc)
    b.parameter("C_plasma", None, "mg_per_litre", name="venous plasma concentration", constant=False)
    b.assignment("C_plasma", f"{species('venous_blood')} / BP")
    b.parameter("Cu_plasma", None, "mg_per_litre", name="unbound venous plasma concentration", constant=False)
    b.assignment("Cu_plasma", f"fu * {species('venous_blood')} / BP")
    b.parameter("Cu_liver", None, "mg_per_litre", name="unbound liver concentration (well-stirred)", constant=False)
    b.assignment("Cu_liver", f"fu * {species('liver')} / Kp_liver")
    b.parameter("J_absorption", None, "mg_per_hour", name="flux absorbed from the lumen into the gut wall",
                constant=False)
    b.assignment("J_absorption", "ka * Fa * drug_gi_lumen")
    b.parameter("Fg_eff", None, "dimensionless", name="fraction escaping gut-wall metabolism at m_gut",
                constant=False)
    b.assignment("Fg_eff", "Fg / (Fg + (1 dimensionless - Fg) * m_gut)")

    art, ven = species("arterial_blood"), species("venous_blood")
    for t in (*SYSTEMIC_TISSUES, *PORTAL_TISSUES):
        b.reaction(f"arterial_to_{t}", f"{flow(t)} * {art}", reactants=[art], products=[species(t)])
        if t in PORTAL_TISSUES:
            b.reaction(f"{t}_to_liver", f"(1 dimensionless - f_portal_shunt) * {flow(t)} * {_out(t)}",
                       reactants=[species(t)], products=[species("liver")])
            b.reaction(f"{t}_to_venous_shunt", f"f_portal_shunt * {flow(t)} * {_out(t)}",
                       reactants=[species(t)], products=[ven])
        else:
            b.reaction(f"{t}_to_venous", f"{flow(t)} * {_out(t)}", reactants=[species(t)], products=[ven])
    b.reaction("arterial_to_liver", f"Q_hepatic_artery * {art}", reactants=[art], products=[species("liver")])
    portal = " + ".join(flow(t) for t in PORTAL_TISSUES)
    b.reaction("liver_to_venous",
               f"(Q_hepatic_artery + (1 dimensionless - f_portal_shunt) * ({portal})) * {_out('liver')}",
               reactants=[species("liver")], products=[ven])
    b.reaction("venous_to_lung", f"Q_cardiac * {ven}", reactants=[ven], products=[species("lung")])
    b.reaction("lung_to_arterial", f"Q_cardiac * {_out('lung')}", reactants=[species("lung")], products=[art])

    clint = " + ".join(f"CLint_{e} * m_{e} / (1 dimensionless + saturable_{e} * Cu_liver / Km_{e})" for e in ENZYMES)
    b.reaction("hepatic_metabolism", f"fu * {species('liver')} / Kp_liver * ({clint})",
               reactants=[species("liver")], products=["eliminated_hepatic"])
    b.reaction("renal_excretion",
               f"(fu * GFR * (1 dimensionless - f_reabsorption) + CL_renal_secretion) * {art} / BP",
               reactants=[species("kidney")], products=["eliminated_renal"])

    gut = species("gut")
    b.reaction("oral_absorption", "ka * Fa * Fg_eff * drug_gi_lumen", reactants=["drug_gi_lumen"], products=[gut])
    b.reaction("oral_gut_wall_metabolism", "ka * Fa * (1 dimensionless - Fg_eff) * drug_gi_lumen",
               reactants=["drug_gi_lumen"], products=["eliminated_gut_wall"])
    b.reaction("oral_unabsorbed", "ka * (1 dimensionless - Fa) * drug_gi_lumen",
               reactants=["drug_gi_lumen"], products=["eliminated_feces"])
    b.reaction("gastric_emptying", "k_gastric_emptying * drug_stomach",
               reactants=["drug_stomach"], products=["drug_si_1"])
    for k in range(1, CAT_SEGMENTS + 1):
        seg = f"drug_si_{k}"
        nxt = f"drug_si_{k + 1}" if k < CAT_SEGMENTS else "eliminated_feces"
        b.reaction(f"si_{k}_transit", f"k_si_transit * {seg}", reactants=[seg], products=[nxt])
        b.reaction(f"si_{k}_absorption", f"ka_si * Fg_eff * {seg}", reactants=[seg], products=[gut])
        b.reaction(f"si_{k}_gut_wall_metabolism", f"ka_si * (1 dimensionless - Fg_eff) * {seg}",
                   reactants=[seg], products=["eliminated_gut_wall"])
    b.reaction("sc_absorption", "ka_sc * F_sc * drug_sc_depot", reactants=["drug_sc_depot"], products=[ven])
    b.reaction("sc_presystemic_loss", "ka_sc * (1 dimensionless - F_sc) * drug_sc_depot",
               reactants=["drug_sc_depot"], products=["eliminated_sc"])

    b.ports([ven, "drug_gi_lumen", "drug_stomach", "drug_sc_depot"], direction="input")
    b.ports([*(f"m_{e}" for e in ENZYMES), "m_gut"], direction="input")
    b.ports(["C_plasma", "Cu_plasma", "Cu_liver", "J_absorption", *(species(t) for t in TISSUES)], direction="output")
    b.check()
    return b.to_string()

