"""Per-subject parameter values of the whole-body PBPK module: physiology x drug, computed once.

RoadRunner inlines assignment rules at every use, so derived quantities
(volumes, flows, partition coefficients, intrinsic clearances) are computed
here, once per subject, and passed as parameter values (see
``benchmarks/pbpk_formulation.py`` for the measured cost of the alternative).

The in vivo clearance of a drug record is turned into unbound hepatic
intrinsic clearance by inverting the well-stirred liver model (Pang &
Rowland 1977, J Pharmacokinet Biopharm 5:625):

    CL_H,b = Q_h fu_b CLint / (Q_h + fu_b CLint),  fu_b = fu / BP
    CLint  = Q_h CL_H,b / (fu_b (Q_h - CL_H,b)),   CL_H,b = (1 - fe) CL_iv / BP

and renal clearance ``CL_R = fe CL_iv`` into filtration ``fu GFR`` plus
secretion (when ``CL_R > fu GFR``) or a reabsorbed fraction (when smaller).

A record's ``clearance.km`` (unbound Michaelis constants, umol/L) makes an
enzyme saturable: ``Km_<e>`` (mg/L) = km x molecular weight / 1000 and
``saturable_<e>`` = 1.  ``CLint`` stays the low-concentration intrinsic
clearance (``Vmax / Km``), so the clearances above, and those reported here,
are the linear (low-dose) ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qsp_sbml.errors import QspError
from qsp_sbml.pbpk.build import PARAMETER_UNITS, VOLUMES
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.partition import RR_HEMATOCRIT, kp_poulin_theil, kp_rodgers_rowland
from qsp_sbml.pbpk.structure import ENZYMES, PORTAL_TISSUES, TISSUES, flow, kp
from qsp_sbml.physiology import Physiology, tissue_composition

__all__ = [
    "CAT_RADIUS_CM",
    "CAT_SI_TRANSIT_H",
    "GASTRIC_EMPTYING_PER_H",
    "LINEAR_KM_MG_L",
    "ParameterError",
    "Parameterisation",
    "fu_with_binding_protein",
    "hepatic_blood_flow",
    "parameterise",
    "partition_coefficients",
    "total_clearance",
]

#: Mean small-intestinal transit time, h (Yu & Amidon 1999, Int J Pharm 186:119: 199 min).
CAT_SI_TRANSIT_H = 199 / 60
#: Small-intestine radius for ka = 2 Peff / R, cm (Yu & Amidon 1999).
CAT_RADIUS_CM = 1.75
#: Fasted gastric emptying rate constant, 1/h: the reciprocal of a 0.25 h mean gastric residence time, the
#: fasted-state stomach transit time of the ACAT physiology (Agoram, Woltosz & Bolger 2001, Adv Drug Deliv Rev
#: 50 Suppl 1:S41); see the model card for the status of this value.
GASTRIC_EMPTYING_PER_H = 1 / 0.25
#: Nominal ``Km_<e>`` (mg/L) of an enzyme without saturation: not used while ``saturable_<e>`` is 0, and so large
#: (1 kg/L) that switching the flag on alone would change nothing measurable.
LINEAR_KM_MG_L = 1.0e6


class ParameterError(QspError, ValueError):
    """A drug and a subject that do not give a valid parameter set."""


@dataclass(frozen=True)
class Parameterisation:
    """Parameter values for one subject and drug, with the clearances they imply."""

    #: Compartment volumes (L) and parameters, by SBML id.
    values: dict[str, float]
    #: Hepatic plasma clearance implied by the well-stirred model (L/h).
    cl_hepatic: float
    #: Renal plasma clearance (L/h).
    cl_renal: float

    @property
    def cl_total(self) -> float:
        """Total systemic plasma clearance (L/h)."""
        return self.cl_hepatic + self.cl_renal


def hepatic_blood_flow(values: dict[str, float]) -> float:
    """Blood flow through the liver (hepatic artery + the portal flow not shunted past it), L/h."""
    portal = sum(values[flow(t)] for t in PORTAL_TISSUES)
    return values[flow("liver")] + (1 - values.get("f_portal_shunt", 0.0)) * portal


def fu_with_binding_protein(fu: float, protein_factor: float, volume_fraction: float) -> float:
    """Fraction unbound when the binding protein is at ``protein_factor`` x its reference concentration.

    The OSP binding model (as in the hepatic-impairment presets): ``fu = 1 / ((1 - f) + f K)`` with ``f`` the
    protein's volume fraction of plasma; ``K`` is fitted to the reference ``fu`` at ``volume_fraction``, then
    ``f`` is scaled by ``protein_factor``.

    >>> round(fu_with_binding_protein(0.03, 0.5, 0.022), 4)
    0.0583
    >>> fu_with_binding_protein(0.2, 1.0, 0.022) == 0.2
    True
    """
    if not (0 < fu <= 1 and protein_factor >= 0 and 0 < volume_fraction < 1):
        raise ParameterError(f"fu {fu}, protein factor {protein_factor}, volume fraction {volume_fraction}: need "
                             "0 < fu <= 1, factor >= 0, 0 < fraction < 1")
    if protein_factor == 1.0:
        return fu
    k = (1 / fu - (1 - volume_fraction)) / volume_fraction
    fd = volume_fraction * protein_factor
    return 1 / ((1 - fd) + fd * k)


def total_clearance(values: dict[str, float]) -> tuple[float, float]:
    """(hepatic, renal) plasma clearance, L/h, that the module's equations give at steady state.

    For a saturable enzyme this is the low-concentration (linear) clearance.
    """
    qh = hepatic_blood_flow(values)
    fu, bp = values["fu"], values["BP"]
    clint = sum(values[f"CLint_{e}"] * values[f"m_{e}"] for e in ENZYMES)
    fub = fu / bp
    cl_h_blood = qh * fub * clint / (qh + fub * clint)
    cl_r = fu * values["GFR"] * (1 - values["f_reabsorption"]) + values["CL_renal_secretion"]
    return cl_h_blood * bp, cl_r


def partition_coefficients(drug: DrugRecord) -> dict[str, float]:
    """Kp for every module tissue: the drug's method times its ``kp_scale``, then its measured overrides.

    The rest-of-body compartment and the thyroid (no published composition)
    take the muscle value.
    """
    comp = tissue_composition()
    tissues = {t: comp[t] for t in TISSUES if t not in ("rest", "thyroid")}
    if drug.kp_method == "rodgers_rowland":
        kps = kp_rodgers_rowland(
            tissues, log_p=drug.log_p, ionisation=drug.ionisation, fu=drug.fu, bp=drug.bp,
            plasma=comp["plasma"], erythrocytes=comp["erythrocytes"], hematocrit=RR_HEMATOCRIT,
        )
    else:
        kps = kp_poulin_theil(tissues, log_p=drug.log_p, ionisation=drug.ionisation, fu=drug.fu,
                              plasma=comp["plasma"])
    kps["rest"] = kps["thyroid"] = kps["muscle"]
    kps = {t: v * drug.kp_scale for t, v in kps.items()}
    kps.update(drug.kp_overrides)
    return kps


def parameterise(drug: DrugRecord, physiology: Physiology, *,
                 multipliers: dict[str, float] | None = None) -> Parameterisation:
    """Every volume and parameter of the module for ``drug`` in ``physiology``.

    ``multipliers`` scale the enzyme activities (``m_<enzyme>``; default 1).
    In vivo clearance is assumed measured in a reference adult: hepatic
    intrinsic clearance is back-calculated with the reference adult's liver
    blood flow, scaled by the subject's liver volume relative to the reference
    adult's.  Renal clearance (``fe * cl_iv`` or an explicit ``cl_renal``, with
    either record form) is scaled by the subject's GFR relative to the
    reference adult's; without either, a ``clint`` record filters ``fu * GFR``.
    """
    values: dict[str, float] = {c: physiology.volumes[c] for c in VOLUMES}
    values["Q_cardiac"] = physiology.cardiac_output
    for t in physiology.flows:
        values[flow(t)] = physiology.flows[t]
    values.update({kp(t): v for t, v in partition_coefficients(drug).items()})
    values.update(fu=drug.fu, BP=drug.bp, GFR=physiology.gfr, molecular_weight=drug.molecular_weight)
    values.update({f"m_{e}": 1.0 for e in ENZYMES})
    values["m_gut"] = 1.0
    values["f_portal_shunt"] = 0.0
    for e, m in (multipliers or {}).items():
        if e not in ENZYMES or not (math.isfinite(m) and m >= 0):
            raise ParameterError(f"enzyme multiplier {e}={m!r}: enzyme must be one of {list(ENZYMES)}, value >= 0")
        values[f"m_{e}"] = float(m)

    c = drug.clearance
    fu_b = drug.fu / drug.bp
    ref = physiology.reference
    if c.clint is not None:
        clint = {e: c.clint.get(e, 0.0) for e in ENZYMES}
        # a measured renal clearance is the reference adult's: scaled by GFR, as for a cl_iv record below
        cl_r = c.cl_renal * physiology.gfr / ref.gfr if c.cl_renal is not None else drug.fu * physiology.gfr
    else:
        assert c.cl_iv is not None  # noqa: S101 -- Clearance validates this
        qh_ref = hepatic_blood_flow({flow(t): ref.flows[t] for t in ("liver", *PORTAL_TISSUES)})
        cl_h_blood = c.cl_iv * (1 - c.fe) / drug.bp
        if cl_h_blood >= qh_ref:
            raise ParameterError(
                f"{drug.id}: hepatic blood clearance {cl_h_blood:.3g} L/h is not below the liver blood flow "
                f"{qh_ref:.3g} L/h of the reference adult; check clearance.cl_iv, fe and bp"
            )
        total = qh_ref * cl_h_blood / (fu_b * (qh_ref - cl_h_blood))
        scale = physiology.volumes["liver"] / ref.volumes["liver"]
        clint = {e: total * c.fm.get(e, 0.0) * scale for e in ENZYMES}
        cl_r = c.cl_renal if c.cl_renal is not None else c.fe * c.cl_iv
        cl_r *= physiology.gfr / ref.gfr
    values.update({f"CLint_{e}": v for e, v in clint.items()})
    values.update({f"Km_{e}": LINEAR_KM_MG_L for e in ENZYMES})
    values.update({f"saturable_{e}": 0.0 for e in ENZYMES})
    for e, km_um in c.km.items():
        values.update({f"Km_{e}": km_um * drug.molecular_weight / 1000, f"saturable_{e}": 1.0})
    filtration = drug.fu * physiology.gfr
    if cl_r >= filtration:
        values.update(f_reabsorption=0.0, CL_renal_secretion=cl_r - filtration)
    else:
        values.update(f_reabsorption=1 - cl_r / filtration, CL_renal_secretion=0.0)
    if cl_r / drug.bp >= physiology.flows["kidney"]:
        raise ParameterError(f"{drug.id}: renal clearance {cl_r:.3g} L/h exceeds renal blood flow")

    a = drug.absorption
    values.update(ka=a.ka, Fa=a.fa, Fg=a.fg, k_gastric_emptying=GASTRIC_EMPTYING_PER_H,
                  k_si_transit=7 / CAT_SI_TRANSIT_H, F_sc=a.f_sc)
    # ka from permeability (Yu & Amidon 1999): ka = 2 Peff / R, Peff in 1e-4 cm/s.
    values["ka_si"] = 2 * a.peff * 1e-4 * 3600 / CAT_RADIUS_CM if a.peff is not None else a.ka
    values["ka_sc"] = a.ka_sc if a.ka_sc is not None else a.ka
    missing = set(PARAMETER_UNITS) | set(VOLUMES)
    missing -= set(values)
    if missing:
        raise ParameterError(f"parameterise: no value for {sorted(missing)}")
    bad = {k: v for k, v in values.items() if not (math.isfinite(v) and v >= 0)}
    if bad:
        raise ParameterError(f"{drug.id}: non-finite or negative parameter values {bad}")
    cl_h, cl_r_eff = total_clearance(values)
    return Parameterisation(values, cl_h, cl_r_eff)
