"""Hepatic enzyme ontogeny: the activity of a child's enzyme relative to the adult's, by postnatal age.

Each enzyme follows the sigmoid function of Upreti & Wahlstrom (2016, J Clin Pharmacol 56:266, the "hybrid"
functions of their meta-analysis)::

    F(age) = F_birth + (F_max - F_birth) age^n / (age50^n + age^n)        (age: postnatal, years)

with the parameters of ``resources/physiology/ontogeny.yaml`` (each with its source).  The whole-body PBPK
module applies ``F`` to the hepatic intrinsic clearance of each enzyme of a drug record's ``fm`` split
(:func:`qsp_sbml.pbpk.paediatric.paediatric_parameters`); the ``other`` pathway has no ontogeny (factor 1).
Renal maturation is :func:`qsp_sbml.physiology.gfr_maturation` (Rhodin et al. 2009).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import yaml

from qsp_sbml.errors import QspError
from qsp_sbml.physiology import DATA_DIR

__all__ = ["ONTOGENY_ENZYMES", "OntogenyError", "OntogenyFunction", "enzyme_ontogeny", "ontogeny_factors",
           "ontogeny_function"]


class OntogenyError(QspError, ValueError):
    """An age or an enzyme the ontogeny functions cannot take."""


@dataclass(frozen=True)
class OntogenyFunction:
    """One enzyme's maturation function (fraction of the adult activity)."""

    enzyme: str
    #: Fraction of adult activity at birth.
    f_birth: float
    #: Asymptotic fraction (may exceed 1).
    f_max: float
    #: Postnatal age (years) at half the rise from ``f_birth`` to ``f_max``.
    age50_y: float
    #: Hill exponent.
    n: float

    def __call__(self, age_years: float) -> float:
        """Fraction of adult activity at postnatal age ``age_years`` (>= 0)."""
        _check_age(age_years)
        if age_years == 0:
            return self.f_birth
        rise = age_years**self.n / (self.age50_y**self.n + age_years**self.n)
        return float(self.f_birth + (self.f_max - self.f_birth) * rise)


def _check_age(age_years: float) -> None:
    if not (isinstance(age_years, (int, float)) and math.isfinite(age_years) and age_years >= 0):
        raise OntogenyError(f"postnatal age must be a finite number of years >= 0, got {age_years!r}")


@cache
def _functions() -> dict[str, OntogenyFunction]:
    data = yaml.safe_load((DATA_DIR / "ontogeny.yaml").read_text(encoding="utf-8"))
    return {name: OntogenyFunction(enzyme=name, f_birth=float(p["f_birth"]), f_max=float(p["f_max"]),
                                   age50_y=float(p["age50_y"]), n=float(p["n"]))
            for name, p in data["enzymes"].items()}


#: Enzymes with an ontogeny function.
ONTOGENY_ENZYMES: tuple[str, ...] = tuple(sorted(_functions()))


def ontogeny_function(enzyme: str) -> OntogenyFunction:
    """The maturation function of ``enzyme`` (one of :data:`ONTOGENY_ENZYMES`)."""
    try:
        return _functions()[enzyme]
    except KeyError:
        raise OntogenyError(f"no ontogeny function for enzyme {enzyme!r}; known: {list(ONTOGENY_ENZYMES)}") from None


def enzyme_ontogeny(enzyme: str, age_years: float) -> float:
    """Activity of ``enzyme`` at postnatal age ``age_years`` as a fraction of the adult's.

    >>> round(enzyme_ontogeny("CYP3A4", 0.66), 4)  # at age50: half-way from F_birth 0 to F_max 1.061
    0.5305
    >>> enzyme_ontogeny("CYP2D6", 0.0)  # F_birth
    0.036
    """
    return ontogeny_function(enzyme)(age_years)


def ontogeny_factors(age_years: float, enzymes: tuple[str, ...] | list[str]) -> dict[str, float]:
    """Ontogeny factor per enzyme id of the PBPK module: the function's value, 1 for ``other``.

    An enzyme that is neither ``other`` nor in :data:`ONTOGENY_ENZYMES` is an error (no silent factor 1).

    >>> ontogeny_factors(2.0, ["CYP2D6", "other"])["other"]
    1.0
    """
    _check_age(age_years)
    out = {}
    for e in enzymes:
        out[e] = 1.0 if e == "other" else enzyme_ontogeny(e, age_years)
    return out
