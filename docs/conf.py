"""Sphinx configuration of the qsp-sbml documentation (``make docs``: warnings are errors, nitpicky on).

Sources: Markdown (MyST) pages, the API reference (``api/*.rst``, written by ``_ext/api_pages.py``), the
model library (``models/``, generated from the model cards at build time, not committed) and the five
notebooks of ``../notebooks`` (``tutorials`` is a link to that folder), executed at build time with small
caps.  Nothing is downloaded: no intersphinx.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version as _version
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "qsp-sbml"
author = "the qsp-sbml authors"
copyright = "2026, the qsp-sbml authors"
release = _version("qsp-sbml")
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx_click",
    "qsp_docs",
]

exclude_patterns = ["_build", "_ext", "tutorials/README.md", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = f"qsp-sbml {release}"
templates_path: list[str] = []

# -- MyST -------------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Notebooks (myst-nb): executed at every build, with reduced sizes --------------------------------
nb_execution_mode = "force"
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
#: Caps for the rendered tutorials (tests/test_notebooks.py uses the same or similar CI sizes); a value
#: already in the environment wins, so ``QSP_SBML_NB_SUBJECTS=500 make docs`` renders a full-size run.
NOTEBOOK_CAPS = {
    "QSP_SBML_NB_STEP_H": "168",
    "QSP_SBML_NB_STARTS": "2",
    "QSP_SBML_NB_SUBJECTS": "24",
    "QSP_SBML_NB_REPLICATES": "3",
    "QSP_SBML_NB_SIMS": "400",
    "QSP_SBML_NB_PROPOSALS": "60",
}
for _key, _value in NOTEBOOK_CAPS.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("QSP_SBML_ROOT", str(ROOT))
# the notebook kernel: this interpreter (the venv), whatever kernels are registered on the machine
nb_kernel_rgx_aliases = {".*": "qsp-sbml-docs"}

# -- API reference -----------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": True, "special-members": "__call__"}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autosummary_generate = False
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_use_ivar = True
add_module_names = False
python_maximum_signature_line_length = 100
nitpicky = True
#: Standard-library and third-party types in signatures: without intersphinx (nothing is downloaded at build
#: time) they have no target here.  Listed one by one, so a new unresolved name of our own still fails the build.
nitpick_ignore = [
    *(("py:class", f"collections.abc.{name}") for name in ("Callable", "Iterable", "Iterator", "Mapping", "Sequence")),
    *(("py:class", name) for name in (
        "abc.ABC", "collections.Counter", "datetime.date", "datetime.datetime", "subprocess.Popen",
        "click.core.Context", "click.core.Parameter", "libsbml.ASTNode", "pydantic_core.core_schema.ValidationInfo",
        "enum.IntEnum", "enum.StrEnum", "logging.Logger",
        "os.PathLike", "pathlib.Path", "types.ModuleType",
        "distributed.Client", "distributed.LocalCluster",
        "libsbml.Model", "libsbml.SBMLDocument", "libsbml.SBase", "libsbml.UnitDefinition",
        "numpy.ndarray", "numpy._typing._array_like.ArrayLike", "numpy.random.SeedSequence",
        "numpy.random._generator.Generator",
        "pandas.DataFrame", "pandas.Series", "pydantic.main.BaseModel",
    )),
    #: pydantic's field metadata as autodoc prints a model's fields (pydantic.fields.FieldInfo,
    #: annotated_types constraints, types.NoneType); they are not types of ours and have no target here.
    *(("py:class", name) for name in ("FieldInfo", "Field", "NoneType", "AllowInfNan", "Gt", "Ge", "Le", "MinLen")),
    ("py:mod", "importlib.resources"),
    ("py:mod", "logging"),
]
