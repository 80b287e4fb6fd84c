"""Ids and topology of the whole-body PBPK module (``models/pbpk/wholebody_pbpk.xml``).

One place that names every compartment, flow, partition coefficient and dose
target, so that the SBML builder, the per-subject parameterisation, the
verification tests and the composition layer agree.
"""

from __future__ import annotations

from qsp_sbml.dosing import Route

__all__ = [
    "CAT_SEGMENTS",
    "DOSE_TARGETS",
    "ENZYMES",
    "EXCRETA",
    "PORTAL_TISSUES",
    "SYSTEMIC_TISSUES",
    "TISSUES",
    "flow",
    "kp",
    "species",
]

#: Tissues whose venous blood drains into the vena cava.
SYSTEMIC_TISSUES: tuple[str, ...] = (
    "adipose", "bone", "brain", "heart", "kidney", "muscle", "skin", "thyroid", "rest",
)
#: Tissues whose venous blood drains into the portal vein (and so into the liver).
PORTAL_TISSUES: tuple[str, ...] = ("gut", "spleen", "pancreas")
#: Every tissue with a partition coefficient (blood pools excluded).
TISSUES: tuple[str, ...] = ("lung", *SYSTEMIC_TISSUES[:-1], "liver", *PORTAL_TISSUES, "rest")
#: Enzymes (and an ``other`` pathway, always last) that share hepatic intrinsic clearance: each has its
#: ``CLint_<enzyme>`` and activity multiplier ``m_<enzyme>`` in the module, a share in a drug record's ``fm``
#: and an ontogeny function (:mod:`qsp_sbml.ontogeny`); ``other`` has no ontogeny.
ENZYMES: tuple[str, ...] = (
    "CYP1A2", "CYP2C9", "CYP2C19", "CYP2D6", "CYP3A4", "UGT1A1", "UGT1A4", "UGT1A6", "UGT1A9", "UGT2B7", "other",
)
#: Small-intestine segments of the compartmental absorption and transit (CAT) chain.
CAT_SEGMENTS: int = 7
#: Species that collect eliminated drug (their sum closes the mass balance).
EXCRETA: tuple[str, ...] = (
    "eliminated_hepatic", "eliminated_renal", "eliminated_gut_wall", "eliminated_feces", "eliminated_sc",
)
#: Default dose target per route.
DOSE_TARGETS: dict[Route, str] = {
    Route.IV_BOLUS: "drug_venous_blood",
    Route.IV_INFUSION: "drug_venous_blood",
    Route.ORAL: "drug_gi_lumen",
    Route.SUBCUTANEOUS: "drug_sc_depot",
}


def species(compartment: str) -> str:
    """Id of the drug species in ``compartment``.

    >>> species("liver")
    'drug_liver'
    """
    return f"drug_{compartment}"


def flow(tissue: str) -> str:
    """Id of the blood-flow parameter of ``tissue`` (``Q_hepatic_artery`` for the liver)."""
    return "Q_hepatic_artery" if tissue == "liver" else f"Q_{tissue}"


def kp(tissue: str) -> str:
    """Id of the tissue:plasma partition coefficient of ``tissue``."""
    return f"Kp_{tissue}"
