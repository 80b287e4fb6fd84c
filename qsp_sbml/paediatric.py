"""Paediatric physiology for the whole-body PBPK module: ICRP Publication 89 reference children.

:func:`paediatric_reference` gives the reference child of ``sex`` at a postnatal age from birth to 18 years:

- body weight, height, organ masses, blood volume and cardiac output interpolated linearly in age between the
  ICRP 89 reference ages (newborn, 1, 5, 10, 15 years; ``resources/physiology/icrp89_children.yaml``) and the
  ICRP reference adult (``icrp89.yaml``), placed at 20 years;
- tissue volumes = mass / density (the adult table's densities), blood split into arterial and venous pools
  as in the adult, the rest of the body closing the mass balance;
- organ blood flows by the approach of Abraham et al. (2005, Arch Toxicol 79:63) as used by Huisinga et al.
  (2012, CPT Pharmacometrics Syst Pharmacol 1:e5): kidney flow per litre of tissue as in the adult (Grunert
  et al. 1990), brain flow per 100 g from Chiron et al. (1992, J Nucl Med 33:696); every other tissue takes
  the adult's flow per litre times its own volume, all of them scaled by one factor so that the flows sum
  to the child's cardiac output;
- GFR = the adult reference's GFR x (W / W_adult)^0.75 x ``gfr_maturation(PMA)`` (size and maturation model
  of Rhodin et al. 2009, Pediatr Nephrol 24:67; PMA = gestational age at birth + postnatal age);
- the reference adult (whose flows per litre of tissue the child takes, and against whose liver and GFR the
  PBPK parameterisation scales a drug record's adult clearance) and the hematocrit: at each ICRP age as
  Huisinga 2012 assign them (the adult male for every ICRP child, the 15-year-old girl too; the adult
  female's hematocrit up to 10 years and for the 15-year-old girl, the adult male's for the 15-year-old boy),
  the adult of the child's own sex at 20 years, and linear in age in between like every other quantity (the
  reference adult as a blend of the ICRP adult male and female), so that no quantity steps with age.

:func:`paediatric_physiology` adds an individual body weight (volumes in proportion, flows, cardiac output and
GFR to the power 0.75, as :func:`qsp_sbml.physiology.scale_to`).  Both keep that reference adult as their
:attr:`~qsp_sbml.physiology.Physiology.reference`, so that the PBPK parameterisation scales a drug's adult
clearance to the child (liver volume for hepatic, GFR for renal clearance).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from qsp_sbml.physiology import (
    ALLOMETRIC_EXPONENT,
    Physiology,
    PhysiologyError,
    data_table,
    gfr_maturation,
    reference,
)

__all__ = ["PAEDIATRIC_AGE_RANGE", "paediatric_physiology", "paediatric_reference", "postmenstrual_age_weeks"]

#: Postnatal ages (years, inclusive) the paediatric physiology covers.
PAEDIATRIC_AGE_RANGE: tuple[float, float] = (0.0, 18.0)
#: Weeks per year (365.25 / 7).
_WEEKS_PER_YEAR = 365.25 / 7
#: Accepted ratio of an individual body weight to the reference child's of the same age.
_WEIGHT_RATIO = (0.5, 2.5)


def _children() -> dict[str, Any]:
    return data_table("icrp89_children.yaml")


def _adult_table() -> dict[str, Any]:
    return data_table("icrp89.yaml")


def _v(entry: Any) -> float:
    return float(entry["value"] if isinstance(entry, dict) else entry)


def _check(age_years: float, sex: str) -> None:
    if sex not in ("male", "female"):
        raise PhysiologyError(f"sex must be 'male' or 'female', got {sex!r}")
    low, high = PAEDIATRIC_AGE_RANGE
    if not (isinstance(age_years, (int, float)) and math.isfinite(age_years) and low <= age_years <= high):
        raise PhysiologyError(f"postnatal age {age_years!r} y is outside the paediatric range {low:g}-{high:g} years")


def postmenstrual_age_weeks(age_years: float, gestational_age_weeks: float = 40.0) -> float:
    """Postmenstrual age (weeks): gestational age at birth plus postnatal age.

    >>> round(postmenstrual_age_weeks(1.0), 2)
    92.18
    """
    if not (math.isfinite(gestational_age_weeks) and 22 <= gestational_age_weeks <= 44):
        raise PhysiologyError(f"gestational age at birth {gestational_age_weeks!r} weeks is outside 22-44 weeks")
    if not (math.isfinite(age_years) and age_years >= 0):
        raise PhysiologyError(f"postnatal age must be >= 0 years, got {age_years!r}")
    return gestational_age_weeks + age_years * _WEEKS_PER_YEAR


def _anchors(sex: str) -> tuple[list[float], dict[str, list[float]]]:
    """Anchor ages and, per quantity, its values there (children then the adult)."""
    kids, adult_table = _children(), _adult_table()
    adult = adult_table[sex]
    ages = [float(a) for a in kids["ages_y"]] + [float(kids["adult_age_y"])]
    ref = reference(sex)  # the adult anchor of the interpolation is the adult of the same sex
    adults = {s: reference(s) for s in ("male", "female")}
    brain_adult = ref.flows["brain"] / 60 * 1000 / (_v(adult["tissues"]["brain"]["mass_kg"]) * 10)  # mL/min/100 g
    series = {
        "body_weight": [*kids["body_weight_kg"][sex], _v(adult["body_weight_kg"])],
        "height_cm": [*kids["height_cm"][sex], 100 * _v(adult["height_m"])],
        "blood_l": [v / 1000 for v in kids["blood_volume_ml"][sex]] + [_v(adult["blood_volume_l"])],
        "cardiac_output_l_min": [*kids["cardiac_output_l_per_min"][sex], _v(adult["cardiac_output_l_per_min"])],
        "brain_flow_100g": [*kids["brain_flow_ml_per_min_per_100g"][sex], brain_adult],
        # share of the adult female in the child's reference adult (the rest is the adult male)
        "reference_female": [float(a == "female") for a in [*kids["reference_adult"][sex], sex]],
        "hematocrit": [adults[a].hematocrit for a in [*kids["hematocrit_of_adult"][sex], sex]],
    }
    for tissue, rows in kids["organ_mass_g"].items():
        if tissue == "source":
            continue
        series[f"mass:{tissue}"] = [v / 1000 for v in rows[sex]] + [_v(adult["tissues"][tissue]["mass_kg"])]
    return ages, series


def _interp(ages: list[float], values: list[float], age: float) -> float:
    return float(np.interp(age, ages, [float(v) for v in values]))


def _reference_adult(female_share: float) -> Physiology:
    """The ICRP adult male, female, or (0 < ``female_share`` < 1) their blend: every value mixed linearly."""
    male, female = reference("male"), reference("female")
    if female_share <= 0:
        return male
    if female_share >= 1:
        return female

    def mix(m: float, f: float) -> float:
        return (1 - female_share) * m + female_share * f

    return Physiology(
        sex="female" if female_share >= 0.5 else "male", body_weight=mix(male.body_weight, female.body_weight),
        height=mix(male.height, female.height), cardiac_output=mix(male.cardiac_output, female.cardiac_output),
        hematocrit=mix(male.hematocrit, female.hematocrit), gfr=mix(male.gfr, female.gfr),
        volumes={k: mix(v, female.volumes[k]) for k, v in male.volumes.items()},
        flows={k: mix(v, female.flows[k]) for k, v in male.flows.items()})


def _flows(ref: Physiology, volumes: dict[str, float], brain_flow: float, brain_mass_kg: float,
           cardiac_output: float) -> dict[str, float]:
    """Abraham et al. 2005 scaling: kidney per litre as adult, brain per Chiron, the rest normalised to CO."""
    fixed = {"kidney": ref.flows["kidney"] / ref.volumes["kidney"] * volumes["kidney"],
             "brain": brain_flow * brain_mass_kg * 10 * 60 / 1000}
    hat = {t: q / ref.volumes[t] * volumes[t] for t, q in ref.flows.items() if t not in fixed}
    left = cardiac_output - sum(fixed.values())
    if left <= 0:
        raise PhysiologyError("kidney and brain flows exceed the cardiac output")
    scale = left / sum(hat.values())
    return {**fixed, **{t: q * scale for t, q in hat.items()}}


@lru_cache(maxsize=512)  # bounded: sampled children have continuous ages
def paediatric_reference(age_years: float, sex: str = "male") -> Physiology:
    """The ICRP 89 reference child of ``sex`` at postnatal age ``age_years`` (0-18), term birth.

    >>> child = paediatric_reference(5.0, "male")
    >>> child.body_weight, round(child.volumes["liver"], 3), round(child.cardiac_output / 60, 2)
    (19.0, 0.57, 3.4)
    """
    _check(age_years, sex)
    ages, series = _anchors(sex)
    at = {k: _interp(ages, v, age_years) for k, v in series.items()}
    adult = _adult_table()
    ref = _reference_adult(at["reference_female"])
    default_density = _v(adult["default_density_kg_per_l"])
    volumes: dict[str, float] = {}
    mass = 0.0
    for tissue, t in adult[sex]["tissues"].items():
        m = at[f"mass:{tissue}"]
        volumes[tissue] = m / _v(t.get("density_kg_per_l", adult["default_density_kg_per_l"]))
        mass += m
    blood = at["blood_l"]
    rest = at["body_weight"] - mass - blood * _v(adult["blood_density_kg_per_l"])
    if rest <= 0:
        raise PhysiologyError(f"ICRP children table at {age_years} y: listed tissues exceed body weight")
    arterial = _v(adult["arterial_blood_fraction"])
    volumes.update(rest=rest / default_density, arterial_blood=blood * arterial,
                   venous_blood=blood * (1 - arterial))
    co = at["cardiac_output_l_min"] * 60
    flows = _flows(ref, volumes, at["brain_flow_100g"], at["mass:brain"], co)
    hct = at["hematocrit"]
    pma = postmenstrual_age_weeks(age_years)
    gfr = ref.gfr * (at["body_weight"] / ref.body_weight) ** ALLOMETRIC_EXPONENT * gfr_maturation(pma)
    phys = Physiology(sex=sex, body_weight=at["body_weight"], height=at["height_cm"] / 100, cardiac_output=co,
                      hematocrit=hct, gfr=gfr, volumes=volumes, flows=flows, _reference=ref)
    phys.check()
    return phys


def paediatric_physiology(*, age_years: float, sex: str, weight_kg: float | None = None,
                          gestational_age_weeks: float = 40.0) -> Physiology:
    """A child's physiology: the reference child of that age, scaled to ``weight_kg`` when given.

    ``gestational_age_weeks`` (at birth) enters the GFR maturation only (organ sizes are those of term
    children).

    >>> p = paediatric_physiology(age_years=1.0, sex="female", weight_kg=9.0)
    >>> round(p.volumes["liver"], 3), round(p.gfr * 1000 / 60, 1)  # L, mL/min
    (0.297, 26.9)
    """
    ref_child = paediatric_reference(float(age_years), sex)
    pma = postmenstrual_age_weeks(age_years, gestational_age_weeks)
    maturation = gfr_maturation(pma) / gfr_maturation(postmenstrual_age_weeks(age_years))
    if weight_kg is None:
        return replace(ref_child, gfr=ref_child.gfr * maturation)
    r = weight_kg / ref_child.body_weight if math.isfinite(weight_kg) and weight_kg > 0 else math.nan
    low, high = _WEIGHT_RATIO
    if not (low <= r <= high):
        raise PhysiologyError(f"body weight {weight_kg!r} kg is not within {low}-{high} x the reference "
                              f"{ref_child.body_weight:.3g} kg of a {age_years}-year-old")
    f = r**ALLOMETRIC_EXPONENT
    phys = replace(ref_child, body_weight=weight_kg, cardiac_output=ref_child.cardiac_output * f,
                   gfr=ref_child.gfr * f * maturation, volumes={k: v * r for k, v in ref_child.volumes.items()},
                   flows={k: v * f for k, v in ref_child.flows.items()})
    phys.check()
    return phys
