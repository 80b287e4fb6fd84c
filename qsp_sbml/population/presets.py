"""Ready-made virtual populations and their mapping onto the whole-body PBPK module.

Each preset is a :class:`PopulationSpec`; :func:`sample_population` draws covariates for it and
:func:`subject_parameters` turns one subject (a row) into the PBPK module's parameter values via
:func:`qsp_sbml.pbpk.parameterise`.

What each preset scales (sources in ``resources/physiology/impairment.yaml``):

- ``healthy_adults`` (20-50 y) and ``elderly`` (65-85 y): covariates only (NHANES anthropometry, creatinine
  -> CKD-EPI 2021 eGFR); physiology by :func:`qsp_sbml.physiology.individual_physiology`.
- ``renal_G1`` ... ``renal_G5`` (KDIGO 2012 GFR categories; ages 40-80): eGFR ~ Uniform within the category,
  creatinine its CKD-EPI inverse; GFR = eGFR x BSA / 1.73.  Renal clearance of a drug record scales with GFR
  (filtration and secretion together, the intact-nephron hypothesis as in :func:`parameterise`; FDA 2020
  guidance "Pharmacokinetics in Patients with Impaired Renal Function" motivates studying exposure by
  eGFR category); hematocrit by eGFR band and fraction unbound x stage factor (OSP CKD qualification,
  Malik et al. 2020).  Not scaled: kidney volume and perfusion, gastrointestinal transit, hepatic enzymes.
- ``hepatic_A``/``_B``/``_C`` (Child-Pugh classes; ages 40-80): enzyme multipliers ``m_CYP*`` (``m_UGT*`` and ``other``
  stay 1), hepatic-artery flow, renal flow, cardiac output (cardiac-index factor, BSA unchanged), GFR,
  hematocrit, and albumin or alpha1-acid glycoprotein (the drug record's ``binding_protein``; fu by the OSP
  binding model) by the OSP hepatic-impairment disease factors (Edginton & Willmann 2008; Johnson et al.
  2010).  The portal-vein factor is the fraction of portal venous blood that still reaches the liver: the
  rest bypasses it through the module's porto-systemic shunt (``f_portal_shunt = 1 - factor``), while gut,
  spleen and pancreas keep their perfusion.  Liver volume is not reduced (the factor is not tabulated).
  The flows of the remaining tissues take up the change of cardiac output so that flows still close.

- ``paediatric_infants`` (28 days - 23 months), ``paediatric_children`` (2-11 y), ``paediatric_adolescents``
  (12-17 y): the age categories of ICH E11 (2000, "Clinical investigation of medicinal products in the paediatric
  population", section 2.5).  Age ~ Uniform within the category; weight and height are those of the ICRP 89
  reference child of that age (:func:`qsp_sbml.paediatric.paediatric_reference`; no between-child variability
  of size is sampled: no cited paediatric anthropometry table is shipped); eGFR from the child's GFR (size and
  Rhodin 2009 maturation) per 1.73 m2.  Physiology by :func:`qsp_sbml.paediatric.paediatric_physiology` and
  hepatic enzyme ontogeny on each enzyme's intrinsic clearance (:func:`qsp_sbml.pbpk.paediatric.with_ontogeny`).
  Any subject younger than 18 years (a covariate table's too) takes this paediatric physiology.

The age range 40-80 y of the impairment presets is a choice (no cited age distribution of patients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from qsp_sbml.errors import PopulationError
from qsp_sbml.paediatric import PAEDIATRIC_AGE_RANGE, paediatric_physiology, paediatric_reference
from qsp_sbml.pbpk.drugs import DrugRecord
from qsp_sbml.pbpk.paediatric import with_ontogeny
from qsp_sbml.pbpk.parameters import Parameterisation, fu_with_binding_protein, parameterise, total_clearance
from qsp_sbml.pbpk.structure import ENZYMES, PORTAL_TISSUES
from qsp_sbml.physiology import Physiology, bsa_dubois, individual_physiology
from qsp_sbml.population.covariates import (
    CHILD_PUGH_CLASSES,
    _impairment,
    _rng,
    check_covariates,
    derive_covariates,
    sample_covariates,
)

__all__ = [
    "CHILD_PUGH_CLASSES",
    "POPULATIONS",
    "PopulationSpec",
    "child_pugh_factors",
    "fu_with_albumin",
    "hepatic_fu",
    "sample_population",
    "subject_parameters",
    "subject_physiology",
]


def child_pugh_factors(child_pugh: object, *, where: str = "") -> dict:
    """The disease factors of Child-Pugh class ``child_pugh`` (``resources/physiology/impairment.yaml``).

    >>> child_pugh_factors("B")["enzymes"]["CYP3A4"]
    0.4
    >>> child_pugh_factors("D")
    Traceback (most recent call last):
    ...
    qsp_sbml.errors.PopulationError: unknown Child-Pugh class 'D'; valid classes: A, B, C
    """
    if child_pugh not in CHILD_PUGH_CLASSES:
        raise PopulationError(f"{where}unknown Child-Pugh class {child_pugh!r}; valid classes: "
                              f"{', '.join(CHILD_PUGH_CLASSES)}")
    factors: dict = _impairment()["child_pugh"][child_pugh]
    return factors


@dataclass(frozen=True, kw_only=True)
class PopulationSpec:
    """A virtual population: demographics plus an optional renal or hepatic condition."""

    name: str
    description: str
    age_range: tuple[float, float] = (20.0, 50.0)
    female_fraction: float = 0.5
    #: KDIGO GFR category (eGFR sampled within it), or None for creatinine-based eGFR.
    kdigo: str | None = None
    #: Child-Pugh class ``A``, ``B`` or ``C``, or None.
    child_pugh: str | None = None
    #: Children (ages below 18 years): ICRP 89 reference children with enzyme ontogeny.
    paediatric: bool = False

    def __post_init__(self) -> None:
        if self.kdigo is not None and self.kdigo not in _impairment()["kdigo_gfr_categories"]:
            raise PopulationError(f"{self.name}: unknown KDIGO category {self.kdigo!r}")
        if self.child_pugh is not None:
            child_pugh_factors(self.child_pugh, where=f"{self.name}: ")
        if self.kdigo and self.child_pugh:
            raise PopulationError(f"{self.name}: combining renal and hepatic impairment is not supported")
        low, high = self.age_range
        if self.paediatric and not (0 <= low < high <= PAEDIATRIC_AGE_RANGE[1]):
            raise PopulationError(f"{self.name}: a paediatric age range must lie within 0-18 years, got "
                                  f"{self.age_range!r}")
        if self.paediatric and (self.kdigo or self.child_pugh):
            raise PopulationError(f"{self.name}: paediatric populations with impairment are not supported")


def _presets() -> dict[str, PopulationSpec]:
    out = {
        "healthy_adults": PopulationSpec(name="healthy_adults", description="healthy adults 20-50 y"),
        "elderly": PopulationSpec(name="elderly", description="adults 65-85 y", age_range=(65.0, 85.0)),
    }
    for g in ("G1", "G2", "G3a", "G3b", "G4", "G5"):
        out[f"renal_{g}"] = PopulationSpec(name=f"renal_{g}", description=f"KDIGO GFR category {g}",
                                           age_range=(40.0, 80.0), kdigo=g)
    for c in CHILD_PUGH_CLASSES:
        out[f"hepatic_{c}"] = PopulationSpec(name=f"hepatic_{c}", description=f"Child-Pugh class {c}",
                                             age_range=(40.0, 80.0), child_pugh=c)
    for name, (low, high) in _ICH_E11.items():
        out[f"paediatric_{name}"] = PopulationSpec(name=f"paediatric_{name}", description=f"ICH E11 {name}",
                                                   age_range=(low, high), paediatric=True)
    return out


#: ICH E11 (2000) paediatric age categories, years (28 days = 28 / 365.25 y; "23 months" = up to 2 y).
_ICH_E11 = {"infants": (28 / 365.25, 2.0), "children": (2.0, 12.0), "adolescents": (12.0, 18.0)}


#: The ready-made populations by name.
POPULATIONS: dict[str, PopulationSpec] = _presets()


def sample_population(population: str | PopulationSpec, n: int, *,
                      seed: int | np.random.Generator | None = None) -> pd.DataFrame:
    """Covariates of ``n`` subjects of a preset (by name) or a :class:`PopulationSpec`.

    Adds ``population``, ``kdigo_target`` and ``child_pugh`` columns to :func:`sample_covariates`'s.

    >>> df = sample_population("renal_G4", 20, seed=3)
    >>> bool(df["egfr"].between(15, 30).all()), set(df["kdigo"])
    (True, {'G4'})
    """
    if isinstance(population, str):
        if population not in POPULATIONS:
            raise PopulationError(f"unknown population {population!r}; choose from {sorted(POPULATIONS)}")
        population = POPULATIONS[population]
    rng = _rng(seed)
    if population.paediatric:
        return _sample_children(population, n, rng)
    egfr_range = None
    if population.kdigo is not None:
        low, high = _impairment()["kdigo_gfr_categories"][population.kdigo]
        egfr_range = (float(low), float(high))
    frame = sample_covariates(n, seed=rng, age_range=population.age_range,
                              female_fraction=population.female_fraction, egfr_range=egfr_range)
    frame["population"] = population.name
    frame["kdigo_target"] = population.kdigo
    frame["child_pugh"] = population.child_pugh
    if population.child_pugh is not None:
        factor = child_pugh_factors(population.child_pugh)["gfr"]
        frame = _scale_egfr(frame, factor)
    return frame


def _sample_children(population: PopulationSpec, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    age = rng.uniform(*population.age_range, n)
    sex = np.where(rng.random(n) < population.female_fraction, "female", "male")
    kids = [paediatric_reference(float(a), str(s)) for a, s in zip(age, sex, strict=True)]
    weight = np.array([k.body_weight for k in kids])
    height = np.array([100 * k.height for k in kids])
    bsa = np.array([bsa_dubois(w, h) for w, h in zip(weight, height, strict=True)])
    egfr = np.array([k.gfr * 1000 / 60 for k in kids]) * 1.73 / bsa
    frame = derive_covariates(pd.DataFrame({"subject_id": np.arange(1, n + 1), "age": age, "sex": sex,
                                            "weight_kg": weight, "height_cm": height, "egfr": egfr}))
    check_covariates(frame, source=f"sampled {population.name}")
    frame["population"] = population.name
    frame["kdigo_target"] = None
    frame["child_pugh"] = None
    return frame


def _scale_egfr(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    from qsp_sbml.physiology import creatinine_from_egfr, kdigo_category

    out = frame.copy()
    out["egfr"] = out["egfr"] * factor
    out["serum_creatinine_mg_dl"] = [creatinine_from_egfr(e, a, s) for e, a, s in
                                     zip(out["egfr"], out["age"], out["sex"], strict=True)]
    out["gfr_ml_min"] = out["egfr"] * out["bsa_m2"] / 1.73
    out["kdigo"] = [kdigo_category(e) for e in out["egfr"]]
    return out


def _ckd_hematocrit(egfr: float, sex: str) -> float:
    for bound, men, women in _impairment()["ckd"]["hematocrit_percent"]["bands"]:
        if egfr > bound:
            return (men if sex == "male" else women) / 100
    bands = _impairment()["ckd"]["hematocrit_percent"]["bands"]
    return (bands[-1][1] if sex == "male" else bands[-1][2]) / 100


def _row(subject: pd.Series | dict) -> dict:
    return dict(subject)


def _optional(row: dict, key: str) -> str | None:
    v = row.get(key)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _egfr(row: dict) -> float | None:
    """The row's eGFR, or None (a table without creatinine or eGFR: the reference adult's GFR per 1.73 m2)."""
    v = row.get("egfr")
    return None if v is None or not math.isfinite(float(v)) else float(v)


def subject_physiology(subject: pd.Series | dict) -> Physiology:
    """PBPK physiology of one subject (a row of :func:`sample_population` or :func:`read_covariates`)."""
    row = _row(subject)
    if float(row["age"]) < PAEDIATRIC_AGE_RANGE[1]:
        return _child_physiology(row)
    phys = individual_physiology(age=float(row["age"]), sex=str(row["sex"]), weight_kg=float(row["weight_kg"]),
                                 height_cm=float(row["height_cm"]), egfr=_egfr(row))
    kdigo, cp = _optional(row, "kdigo_target"), _optional(row, "child_pugh")
    if kdigo is not None:
        phys = replace(phys, hematocrit=_ckd_hematocrit(float(row["egfr"]), phys.sex))
    if cp is not None:
        f = child_pugh_factors(cp, where="covariate child_pugh: ")
        flows = dict(phys.flows)
        flows["liver"] *= f["hepatic_artery_flow"]
        flows["kidney"] *= f["renal_flow"]
        co = phys.cardiac_output * f["cardiac_index"]
        fixed = {"liver", "kidney", *PORTAL_TISSUES}
        others = sum(v for k, v in flows.items() if k not in fixed)
        scale = (co - sum(flows[k] for k in fixed)) / others
        if scale <= 0:
            raise PopulationError(f"Child-Pugh {cp}: flows exceed the cardiac output")
        flows = {k: v if k in fixed else v * scale for k, v in flows.items()}
        phys = replace(phys, flows=flows, cardiac_output=co, hematocrit=phys.hematocrit * f["hematocrit"])
        phys.check()
    return phys


def _child_physiology(row: dict) -> Physiology:
    if _optional(row, "kdigo_target") is not None or _optional(row, "child_pugh") is not None:
        raise PopulationError(f"age {row['age']}: renal or hepatic impairment presets are for adults only")
    phys = paediatric_physiology(age_years=float(row["age"]), sex=str(row["sex"]), weight_kg=float(row["weight_kg"]))
    egfr = row.get("egfr")
    if egfr is not None and math.isfinite(float(egfr)):
        bsa = bsa_dubois(float(row["weight_kg"]), float(row["height_cm"]))
        phys = replace(phys, gfr=float(egfr) * bsa / 1.73 * 60 / 1000)
    return phys


def fu_with_albumin(fu: float, albumin_factor: float, *, albumin_volume_fraction: float | None = None) -> float:
    """Fraction unbound when plasma albumin is ``albumin_factor`` x normal (OSP hepatic-impairment model).

    fu = 1 / ((1 - f) + f K): K is fitted to the healthy ``fu`` at f = 0.022, then f is scaled.

    >>> round(fu_with_albumin(0.03, 0.5), 4)
    0.0583
    """
    f = albumin_volume_fraction or float(_impairment()["child_pugh"]["albumin_volume_fraction"])
    return fu_with_binding_protein(fu, albumin_factor, f)


def hepatic_fu(fu: float, child_pugh: str, *, binding_protein: str = "albumin") -> float:
    """Fraction unbound in Child-Pugh class ``child_pugh``: the binding protein's factor in the OSP model.

    ``binding_protein`` is a drug record's (``albumin`` or ``alpha1_acid_glycoprotein``).

    >>> round(hepatic_fu(0.10, "B", binding_protein="alpha1_acid_glycoprotein"), 4)
    0.1656
    """
    f = child_pugh_factors(child_pugh)
    table = _impairment()["child_pugh"]
    if binding_protein not in ("albumin", "alpha1_acid_glycoprotein"):
        raise PopulationError(f"binding protein {binding_protein!r}: use 'albumin' or 'alpha1_acid_glycoprotein'")
    return fu_with_albumin(fu, float(f[binding_protein]),
                           albumin_volume_fraction=float(table[f"{binding_protein}_volume_fraction"]))


def subject_parameters(drug: DrugRecord, subject: pd.Series | dict) -> Parameterisation:
    """PBPK parameter values for ``drug`` in one subject, its condition's multipliers applied.

    Clearances are parameterised in the subject's own physiology first (healthy protein binding), then the
    disease's fraction unbound replaces ``fu`` so that filtration and hepatic extraction respond to it.
    """
    row = _row(subject)
    phys = subject_physiology(row)
    if float(row["age"]) < PAEDIATRIC_AGE_RANGE[1]:
        return with_ontogeny(parameterise(drug, phys), drug, phys, float(row["age"]))
    kdigo, cp = _optional(row, "kdigo_target"), _optional(row, "child_pugh")
    multipliers: dict[str, float] = {}
    fu = drug.fu
    shunt = 0.0
    if cp is not None:
        f = child_pugh_factors(cp, where="covariate child_pugh: ")
        multipliers = {e: float(v) for e, v in f["enzymes"].items() if e in ENZYMES}
        fu = hepatic_fu(drug.fu, cp, binding_protein=drug.binding_protein)
        shunt = 1.0 - float(f["portal_flow"])
    elif kdigo is not None:
        fu = min(1.0, drug.fu * float(_impairment()["ckd"]["fu_factor"][kdigo]))
    p = parameterise(drug, phys, multipliers=multipliers)
    if fu != drug.fu or shunt:
        values = {**p.values, "fu": fu, "f_portal_shunt": shunt}
        cl_h, cl_r = total_clearance(values)
        p = Parameterisation(values, cl_h, cl_r)
    return p
