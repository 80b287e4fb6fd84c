"""Files shipped with the package: reference models, the model library, PEtab problems, trials, notebooks.

Two groups:

* small reference models and tables used by docs, tests and the demo (``MODELS_DIR``, ``PETAB_PK_IV``,
  physiology and pharmacogenomics tables), which live in this package folder;
* the project library, whose source of truth is the repository's top-level ``models/``,
  ``petab_problems/``, ``trials/`` and ``notebooks/`` folders.  ``qsp_sbml/resources/project/`` holds
  symbolic links to them, so an editable install reads the repository's files and a built wheel carries
  real copies (setuptools follows the links when it collects package data).  Nothing else is kept in two
  places.

:func:`project_dir` finds a library folder of an installed package through :mod:`importlib.resources`;
no code path needs a checkout.  ``QSP_SBML_MODELS`` still overrides the model folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = [
    "MODELS_DIR",
    "ONE_COMPARTMENT_IV",
    "ONE_COMPARTMENT_ORAL",
    "PETAB_PK_IV",
    "PROJECT_FOLDERS",
    "examples_root",
    "project_dir",
    "project_models_dir",
]

#: Folder of the shipped reference models.
MODELS_DIR = Path(__file__).parent / "models"
#: One-compartment PK model, linear elimination (dose target ``A``).
ONE_COMPARTMENT_IV = MODELS_DIR / "pk_one_compartment_iv.xml"
#: One-compartment PK with first-order absorption (dose target ``A_gut``).
ONE_COMPARTMENT_ORAL = MODELS_DIR / "pk_one_compartment_oral.xml"
#: A tiny PEtab v1 problem (IV bolus on ``ONE_COMPARTMENT_IV``, noise-free data).
PETAB_PK_IV = Path(__file__).parent / "petab" / "pk_iv" / "problem.yaml"

ProjectFolder = Literal["models", "petab_problems", "trials", "notebooks"]
#: The library folders shipped with the package (the repository's top-level folders of the same names).
PROJECT_FOLDERS: tuple[ProjectFolder, ...] = ("models", "petab_problems", "trials", "notebooks")


def project_dir(name: ProjectFolder) -> Path:
    """The shipped library folder ``name`` (one of :data:`PROJECT_FOLDERS`) as a filesystem path.

    ``QSP_SBML_MODELS`` overrides ``models``.  Raises ``FileNotFoundError`` naming the folder when
    the package was installed without its package data.

    Examples
    --------
    >>> (project_dir("models") / "pbpk" / "wholebody_pbpk.xml").is_file()
    True
    """
    if name not in PROJECT_FOLDERS:
        raise ValueError(f"unknown library folder {name!r}; use one of {', '.join(PROJECT_FOLDERS)}")
    env = os.environ.get("QSP_SBML_MODELS") if name == "models" else None
    if env:
        path = Path(env).expanduser().resolve()
        if not path.is_dir():
            raise FileNotFoundError(f"QSP_SBML_MODELS={env!r} is not a folder; unset it or point it at a model library")
        return path
    path = Path(str(resources.files(__name__) / "project" / name))
    if not path.is_dir():
        raise FileNotFoundError(
            f"the package's {name}/ folder is missing at {path}: reinstall qsp-sbml (the wheel carries it), "
            "or set QSP_SBML_MODELS to a model library folder"
        )
    return path.resolve()


def project_models_dir() -> Path:
    """The model library folder (PBPK, PD, disease, composed, drug records, observed data, cards).

    The same as ``project_dir("models")``; ``QSP_SBML_MODELS`` overrides it.
    """
    return project_dir("models")


def examples_root() -> Path:
    """The folder whose ``models/``, ``petab_problems/`` and ``trials/`` the notebooks and examples read.

    ``QSP_SBML_ROOT`` if set; else the working folder or its parent when it has a ``models/`` folder (a
    checkout, or a folder written by ``qsp-sbml examples copy``); else the installed package's own library.
    """
    env = os.environ.get("QSP_SBML_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not (root / "models").is_dir():
            raise FileNotFoundError(f"QSP_SBML_ROOT={env!r} has no models/ folder; unset it or point it at one")
        return root
    cwd = Path.cwd()
    for candidate in (cwd, cwd.parent):
        if (candidate / "models").is_dir() and (candidate / "trials").is_dir():
            return candidate
    return project_dir("trials").parent
