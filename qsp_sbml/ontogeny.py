"""Hepatic enzyme ontogeny: the activity of a child's enzyme relative to the adult's, by age.

Every function is one sigmoid::

    F(x) = F_0 + (F_max - F_0) x^n / (x50^n + x^n)

in one of two age variables (its ``basis``):

- ``postnatal`` (CYP enzymes): ``x`` = postnatal age in years, ``F_0`` = the value at birth; the "hybrid"
  functions of Upreti & Wahlstrom (2016, J Clin Pharmacol 56:266);
- ``postmenstrual`` (UGT enzymes): ``x`` = postmenstrual age (PMA) in weeks, gestational age at birth plus
  postnatal age, with ``F_0 = 0`` and ``F_max = 1``, i.e. ``F = PMA^n / (PMA50^n + PMA^n)``: the fitted
  functions of the PK-Sim Ontogeny Database (version 7.3, section 4.4), which makes a preterm newborn's
  glucuronidation lower than a term newborn's of the same postnatal age.  UGT1A4 is constant
  (``F_0 = F_max = 1``: no age dependence could be fitted there).

The parameters are in ``resources/physiology/ontogeny.yaml``, each with its source.  The whole-body PBPK
module applies ``F`` to the hepatic intrinsic clearance of each enzyme of a drug record's ``fm`` split
(:func:`qsp_sbml.pbpk.paediatric.paediatric_parameters`); the ``other`` pathway has no ontogeny (factor 1).
Renal maturation is :func:`qsp_sbml.physiology.gfr_maturation` (Rhodin et al. 2009).

:func:`protein_ontogeny` gives the plasma binding proteins (albumin, alpha1-acid glycoprotein) as fractions of
the adult concentration, from the same PK-Sim database (section 4.6); the paediatric ``fu`` follows from it
(:func:`qsp_sbml.pbpk.paediatric.with_ontogeny`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import yaml

from qsp_sbml.errors import QspError
from qsp_sbml.physiology import DATA_DIR

__all__ = ["ONTOGENY_BASES", "ONTOGENY_ENZYMES", "OntogenyError", "OntogenyFunction", "PLASMA_PROTEINS",
           "enzyme_ontogeny", "ontogeny_factors", "ontogeny_function", "protein_ontogeny"]

#: Age variables of the ontogeny functions: postnatal age (years) or postmenstrual age (weeks).
ONTOGENY_BASES: tuple[str, ...] = ("postnatal", "postmenstrual")
#: Weeks per year (365.25 / 7), as :func:`qsp_sbml.paediatric.postmenstrual_age_weeks`.
_WEEKS_PER_YEAR = 365.25 / 7
#: Gestational ages at birth (weeks) a postmenstrual function accepts (as the paediatric physiology).
_GESTATION_RANGE = (22.0, 44.0)


class OntogenyError(QspError, ValueError):
    """An age or an enzyme the ontogeny functions cannot take."""


@dataclass(frozen=True)
class OntogenyFunction:
    """One enzyme's maturation function (fraction of the adult activity)."""

    enzyme: str
    #: Fraction of adult activity at age 0 of the basis (birth for ``postnatal``, 0 for ``postmenstrual``).
    f0: float
    #: Asymptotic fraction (may exceed 1).
    f_max: float
    #: Age at half the rise from ``f0`` to ``f_max``: years (``postnatal``) or PMA weeks (``postmenstrual``).
    age50: float
    #: Hill exponent.
    n: float
    #: Age variable, one of :data:`ONTOGENY_BASES`.
    basis: str = "postnatal"

    def __post_init__(self) -> None:
        if self.basis not in ONTOGENY_BASES:
            raise OntogenyError(f"{self.enzyme}: ontogeny basis {self.basis!r} is not one of {list(ONTOGENY_BASES)}")
        values = (self.f0, self.f_max, self.age50, self.n)
        if not all(math.isfinite(v) for v in values) or min(self.f0, self.f_max) < 0 or self.age50 <= 0 or self.n <= 0:
            raise OntogenyError(f"{self.enzyme}: ontogeny parameters must be finite, F >= 0, age50 > 0, n > 0; "
                                f"got f0={self.f0}, f_max={self.f_max}, age50={self.age50}, n={self.n}")

    def __call__(self, age_years: float, gestational_age_weeks: float = 40.0) -> float:
        """Fraction of adult activity at postnatal age ``age_years`` (>= 0) after birth at ``gestational_age_weeks``.

        The gestational age enters ``postmenstrual`` functions only.
        """
        _check_age(age_years)
        _check_gestation(gestational_age_weeks)  # checked for every basis, as ontogeny_factors does
        if self.basis == "postnatal":
            x = age_years
        else:
            x = gestational_age_weeks + age_years * _WEEKS_PER_YEAR
        if x == 0:
            return self.f0
        rise = x**self.n / (self.age50**self.n + x**self.n)
        return float(self.f0 + (self.f_max - self.f0) * rise)


def _check_age(age_years: float) -> None:
    if not (isinstance(age_years, (int, float)) and math.isfinite(age_years) and age_years >= 0):
        raise OntogenyError(f"postnatal age must be a finite number of years >= 0, got {age_years!r}")


def _check_gestation(weeks: float) -> None:
    low, high = _GESTATION_RANGE
    if not (isinstance(weeks, (int, float)) and math.isfinite(weeks) and low <= weeks <= high):
        raise OntogenyError(f"gestational age at birth {weeks!r} weeks is outside {low:g}-{high:g} weeks")


def _function(name: str, p: dict[str, Any]) -> OntogenyFunction:
    """One YAML entry: Upreti & Wahlstrom columns (postnatal), PK-Sim's Hill in PMA, or a constant."""
    if "constant" in p:
        c = float(p["constant"])  # F_0 = F_max: age50 and n have no effect
        return OntogenyFunction(enzyme=name, f0=c, f_max=c, age50=1.0, n=1.0)
    basis = p.get("basis", "postnatal")
    if basis not in ONTOGENY_BASES:
        raise OntogenyError(f"ontogeny.yaml, enzyme {name}: basis {basis!r} is not one of {list(ONTOGENY_BASES)}")
    if basis == "postmenstrual":
        return OntogenyFunction(enzyme=name, f0=0.0, f_max=1.0, age50=float(p["pma50_weeks"]), n=float(p["n"]),
                                basis="postmenstrual")
    return OntogenyFunction(enzyme=name, f0=float(p["f_birth"]), f_max=float(p["f_max"]),
                            age50=float(p["age50_y"]), n=float(p["n"]))


@cache
def _functions() -> dict[str, OntogenyFunction]:
    data = yaml.safe_load((DATA_DIR / "ontogeny.yaml").read_text(encoding="utf-8"))
    return {name: _function(name, p) for name, p in data["enzymes"].items()}


#: Enzymes with an ontogeny function.
ONTOGENY_ENZYMES: tuple[str, ...] = tuple(sorted(_functions()))


def ontogeny_function(enzyme: str) -> OntogenyFunction:
    """The maturation function of ``enzyme`` (one of :data:`ONTOGENY_ENZYMES`)."""
    try:
        return _functions()[enzyme]
    except KeyError:
        raise OntogenyError(f"no ontogeny function for enzyme {enzyme!r}; known: {list(ONTOGENY_ENZYMES)}") from None


def enzyme_ontogeny(enzyme: str, age_years: float, gestational_age_weeks: float = 40.0) -> float:
    """Activity of ``enzyme`` at postnatal age ``age_years`` as a fraction of the adult's.

    ``gestational_age_weeks`` (at birth) matters for the UGT functions only, whose age is postmenstrual.

    >>> round(enzyme_ontogeny("CYP3A4", 0.66), 4)  # at age50: half-way from F_birth 0 to F_max 1.061
    0.5305
    >>> enzyme_ontogeny("CYP2D6", 0.0)  # F_birth
    0.036
    >>> round(enzyme_ontogeny("UGT2B7", (72.533 - 40) / (365.25 / 7)), 4)  # term birth, PMA 72.533 weeks
    0.5
    """
    return ontogeny_function(enzyme)(age_years, gestational_age_weeks)


#: Plasma binding proteins with an ontogeny (the values of a drug record's ``binding_protein``).
PLASMA_PROTEINS: tuple[str, ...] = ("albumin", "alpha1_acid_glycoprotein")


@cache
def _proteins() -> dict[str, Any]:
    data = yaml.safe_load((DATA_DIR / "ontogeny.yaml").read_text(encoding="utf-8"))["plasma_proteins"]
    albumin = _function("albumin", data["albumin"])
    table = sorted((float(a), float(f)) for a, f in data["alpha1_acid_glycoprotein"]["table_pma_years"])
    return {"albumin": albumin, "alpha1_acid_glycoprotein": table}


def protein_ontogeny(protein: str, age_years: float, gestational_age_weeks: float = 40.0) -> float:
    """Plasma concentration of binding ``protein`` at postnatal age ``age_years``, as a fraction of the adult's.

    Albumin: PK-Sim's Hill function of postmenstrual age; alpha1-acid glycoprotein: PK-Sim's table by
    postmenstrual age, interpolated linearly and held at its end values (ontogeny.yaml, ``plasma_proteins``).

    >>> round(protein_ontogeny("albumin", 0.0), 3)  # term birth, PMA 40 weeks
    0.881
    >>> round(protein_ontogeny("alpha1_acid_glycoprotein", 0.0), 3)  # the table's first row, term birth
    0.255
    """
    _check_age(age_years)
    _check_gestation(gestational_age_weeks)
    if protein not in PLASMA_PROTEINS:
        raise OntogenyError(f"no ontogeny for plasma protein {protein!r}; known: {list(PLASMA_PROTEINS)}")
    entry = _proteins()[protein]
    if protein == "albumin":
        return float(entry(age_years, gestational_age_weeks))
    pma_years = (gestational_age_weeks + age_years * _WEEKS_PER_YEAR) / _WEEKS_PER_YEAR
    ages, values = zip(*entry, strict=True)
    return float(np.interp(pma_years, ages, values))


def ontogeny_factors(age_years: float, enzymes: Sequence[str], gestational_age_weeks: float = 40.0
                     ) -> dict[str, float]:
    """Ontogeny factor per enzyme id of the PBPK module: the function's value, 1 for ``other``.

    An enzyme that is neither ``other`` nor in :data:`ONTOGENY_ENZYMES` is an error (no silent factor 1).

    >>> ontogeny_factors(2.0, ["CYP2D6", "other"])["other"]
    1.0
    """
    _check_age(age_years)
    _check_gestation(gestational_age_weeks)
    return {e: 1.0 if e == "other" else enzyme_ontogeny(e, age_years, gestational_age_weeks) for e in enzymes}
