"""Small reference models shipped with the package (used by docs, tests and the demo).

Each model file has a model card (``<name>.md``) beside it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MODELS_DIR", "ONE_COMPARTMENT_IV", "ONE_COMPARTMENT_ORAL", "PETAB_PK_IV", "project_models_dir"]

#: Folder of the shipped reference models.
MODELS_DIR = Path(__file__).parent / "models"
#: One-compartment PK model, linear elimination (dose target ``A``).
ONE_COMPARTMENT_IV = MODELS_DIR / "pk_one_compartment_iv.xml"
#: One-compartment PK with first-order absorption (dose target ``A_gut``).
ONE_COMPARTMENT_ORAL = MODELS_DIR / "pk_one_compartment_oral.xml"
#: A tiny PEtab v1 problem (IV bolus on ``ONE_COMPARTMENT_IV``, noise-free data).
PETAB_PK_IV = Path(__file__).parent / "petab" / "pk_iv" / "problem.yaml"


def project_models_dir() -> Path:
    """The repository's ``models/`` folder (module library: PBPK, PD, disease, composed).

    Found beside the installed package (editable install or a checkout); the
    environment variable ``QSP_SBML_MODELS`` overrides it.
    """
    import os

    env = os.environ.get("QSP_SBML_MODELS")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "models"
    if not path.is_dir():
        raise FileNotFoundError(
            f"model library not found at {path}; run from a qsp-sbml checkout or set QSP_SBML_MODELS"
        )
    return path
