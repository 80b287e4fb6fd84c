"""Reference physiology (ICRP Publication 89) and tissue composition for PBPK models.

:func:`reference` gives the adult male or female of ICRP Publication 89 as
volumes (L) and blood flows (L/h) of the whole-body PBPK module's
compartments; :func:`scale_to` scales a reference adult to another body
weight (volumes in proportion to weight, cardiac output, flows and GFR to
weight^0.75).  The cited tables live in ``qsp_sbml/resources/physiology/``;
every number there carries its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from qsp_sbml.errors import QspError

__all__ = [
    "ADULT_RANGES",
    "ALLOMETRIC_EXPONENT",
    "DATA_DIR",
    "Physiology",
    "PhysiologyError",
    "TissueComposition",
    "bsa_dubois",
    "bsa_mosteller",
    "creatinine_from_egfr",
    "data_table",
    "gfr_maturation",
    "gfr_rhodin_2009",
    "egfr_ckd_epi_2021",
    "individual_physiology",
    "kdigo_category",
    "liver_volume_vauthey",
    "reference",
    "scale_to",
    "tissue_composition",
]

#: Folder of the cited physiology tables.
DATA_DIR = Path(__file__).parent / "resources" / "physiology"
#: Exponent of body weight for flows and GFR (Kleiber 1932, Hilgardia 6:315; West, Brown & Enquist 1997,
#: Science 276:122).
ALLOMETRIC_EXPONENT = 0.75


class PhysiologyError(QspError, ValueError):
    """Physiology inputs that are out of range or inconsistent."""


@dataclass(frozen=True)
class TissueComposition:
    """Composition of one tissue as fractions of tissue volume (Rodgers & Rowland 2006 Table 1 style)."""

    #: Extracellular water.
    f_ew: float
    #: Intracellular water.
    f_iw: float
    #: Neutral lipids.
    f_nl: float
    #: Neutral phospholipids.
    f_np: float
    #: Acidic phospholipids (mg/g tissue).
    acidic_pl: float
    #: Tissue:plasma albumin ratio.
    albumin_ratio: float
    #: Tissue:plasma lipoprotein ratio.
    lipoprotein_ratio: float

    @property
    def f_water(self) -> float:
        """Total water fraction."""
        return self.f_ew + self.f_iw


@dataclass(frozen=True)
class Physiology:
    """One adult's PBPK physiology.  Volumes in L, flows in L/h (blood)."""

    sex: str
    body_weight: float
    height: float
    cardiac_output: float
    hematocrit: float
    gfr: float
    #: Volume per compartment id (tissues, ``rest``, ``venous_blood``, ``arterial_blood``).
    volumes: dict[str, float]
    #: Blood flow per tissue id; ``liver`` is the hepatic artery only.
    flows: dict[str, float]
    #: The reference adult this one was scaled from (itself for a reference adult).
    _reference: Physiology | None = field(default=None, repr=False, compare=False)

    @property
    def reference(self) -> Physiology:
        """The reference adult: the ICRP adult of the same sex (a child's: see :mod:`qsp_sbml.paediatric`)."""
        return self._reference or self

    def check(self) -> None:
        """Raise :class:`PhysiologyError` unless flows close on the cardiac output and all values are positive."""
        bad = {k: v for k, v in {**self.volumes, **self.flows}.items() if not (math.isfinite(v) and v > 0)}
        if bad:
            raise PhysiologyError(f"non-positive volumes or flows: {bad}")
        total = sum(self.flows.values())
        if not math.isclose(total, self.cardiac_output, rel_tol=1e-9):
            raise PhysiologyError(f"organ flows sum to {total:.6g} L/h, cardiac output is {self.cardiac_output:.6g}")


@cache
def data_table(name: str) -> dict[str, Any]:
    """A shipped table of ``qsp_sbml/resources/physiology`` (YAML mapping), read once per process."""
    data = yaml.safe_load((DATA_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)  # noqa: S101 -- shipped file
    return data


def _value(entry: Any) -> float:
    return float(entry["value"] if isinstance(entry, dict) else entry)


@cache
def reference(sex: str = "male") -> Physiology:
    """The ICRP Publication 89 reference adult (``male`` or ``female``).

    Tissue volumes are organ masses over tissue densities; the rest of the
    body closes the mass balance (body weight minus listed tissues and blood,
    at 1.04 kg/L) and takes the blood flow not assigned to a listed tissue.

    >>> male = reference("male")
    >>> round(male.cardiac_output / 60, 2)  # L/min
    6.5
    """
    table = data_table("icrp89.yaml")
    if sex not in ("male", "female"):
        raise PhysiologyError(f"sex must be 'male' or 'female', got {sex!r}")
    d = table[sex]
    bw = _value(d["body_weight_kg"])
    co = _value(d["cardiac_output_l_per_min"]) * 60
    blood = _value(d["blood_volume_l"])
    arterial = _value(table["arterial_blood_fraction"])
    volumes: dict[str, float] = {}
    flows: dict[str, float] = {}
    mass = 0.0
    for tissue, t in d["tissues"].items():
        m = _value(t["mass_kg"])
        density = _value(t.get("density_kg_per_l", table["default_density_kg_per_l"]))
        volumes[tissue] = m / density
        mass += m
        if "flow_percent_co" in t:
            flows[tissue] = co * _value(t["flow_percent_co"]) / 100
    blood_density = _value(table["blood_density_kg_per_l"])
    rest_mass = bw - mass - blood * blood_density
    if rest_mass <= 0:
        raise PhysiologyError(f"ICRP table for {sex}: listed tissues exceed body weight")
    volumes["rest"] = rest_mass / _value(table["default_density_kg_per_l"])
    volumes["arterial_blood"] = blood * arterial
    volumes["venous_blood"] = blood * (1 - arterial)
    flows["rest"] = co - sum(flows.values())
    phys = Physiology(
        sex=sex, body_weight=bw, height=_value(d["height_m"]), cardiac_output=co,
        hematocrit=_value(d["hematocrit"]), gfr=_value(d["gfr_ml_per_min"]) * 60 / 1000,
        volumes=volumes, flows=flows,
    )
    phys.check()
    return phys


def scale_to(ref: Physiology, body_weight: float, *, height: float | None = None) -> Physiology:
    """``ref`` scaled to ``body_weight`` (kg): volumes x BW ratio, flows, cardiac output and GFR x ratio^0.75.

    A first-order scaling that keeps the reference body composition; the
    population layer replaces it with covariate models.
    """
    if not (math.isfinite(body_weight) and 20 <= body_weight <= 300):
        raise PhysiologyError(f"body weight {body_weight!r} kg is outside 20-300 kg")
    base = ref.reference
    r = body_weight / base.body_weight
    f = r**ALLOMETRIC_EXPONENT
    return replace(
        base, body_weight=body_weight, height=height if height is not None else base.height,
        cardiac_output=base.cardiac_output * f, gfr=base.gfr * f,
        volumes={k: v * r for k, v in base.volumes.items()},
        flows={k: v * f for k, v in base.flows.items()}, _reference=base,
    )


@cache
def tissue_composition() -> dict[str, TissueComposition]:
    """Human tissue composition for Kp prediction, by tissue id (plus ``plasma`` and ``erythrocytes``)."""
    rows = data_table("tissue_composition.yaml")["tissues"]
    return {
        name: TissueComposition(
            f_ew=float(r["f_ew"]), f_iw=float(r["f_iw"]), f_nl=float(r["f_nl"]), f_np=float(r["f_np"]),
            acidic_pl=float(r["acidic_pl"]), albumin_ratio=float(r["albumin_ratio"]),
            lipoprotein_ratio=float(r["lipoprotein_ratio"]),
        )
        for name, r in rows.items()
    }


# --- Covariate formulas -------------------------------------------------------------------------------------------


def bsa_dubois(weight_kg: float, height_cm: float) -> float:
    """Body surface area (m2), Du Bois D & Du Bois EF (1916) Arch Intern Med 17:863: 0.007184 W^0.425 H^0.725.

    >>> round(bsa_dubois(73, 176), 2)  # ICRP 89 Table 2.9 reference man: 1.90 m2
    1.89
    """
    return 0.007184 * weight_kg**0.425 * height_cm**0.725


def bsa_mosteller(weight_kg: float, height_cm: float) -> float:
    """Body surface area (m2), Mosteller RD (1987) N Engl J Med 317:1098: sqrt(H W / 3600).

    >>> round(bsa_mosteller(73, 176), 2)
    1.89
    """
    return math.sqrt(height_cm * weight_kg / 3600)


def liver_volume_vauthey(bsa_m2: float) -> float:
    """Total liver volume (L) from body surface area, Vauthey JN et al. (2002) Liver Transpl 8:233.

    TLV (mL) = -794.41 + 1267.28 BSA (m2), fitted on CT volumetry of 292 Western adults.

    >>> round(liver_volume_vauthey(1.73), 3)
    1.398
    """
    return (-794.41 + 1267.28 * bsa_m2) / 1000


#: CKD-EPI 2021 creatinine equation constants by sex: kappa (mg/dL), alpha, sex factor (Inker LA et al. 2021,
#: N Engl J Med 385:1737).
_CKD_EPI_2021 = {"female": (0.7, -0.241, 1.012), "male": (0.9, -0.302, 1.0)}


def _check_sex(sex: str) -> None:
    if sex not in ("male", "female"):
        raise PhysiologyError(f"sex must be 'male' or 'female', got {sex!r}")


def egfr_ckd_epi_2021(serum_creatinine_mg_dl: float, age: float, sex: str) -> float:
    """Estimated GFR (mL/min/1.73 m2), race-free CKD-EPI 2021 creatinine equation (Inker et al. 2021, NEJM 385:1737).

    eGFR = 142 min(Scr/k, 1)^a max(Scr/k, 1)^-1.200 0.9938^age [x 1.012 if female], k 0.7 (F) / 0.9 (M),
    a -0.241 (F) / -0.302 (M); standardised (IDMS-traceable) creatinine in mg/dL, adults (>= 18 y).

    >>> round(egfr_ckd_epi_2021(1.2, 55, "male"))  # NKF eGFR calculator (kidney.org): 71
    71
    """
    _check_sex(sex)
    if not (math.isfinite(serum_creatinine_mg_dl) and serum_creatinine_mg_dl > 0):
        raise PhysiologyError(f"serum creatinine must be > 0 mg/dL, got {serum_creatinine_mg_dl!r}")
    kappa, alpha, factor = _CKD_EPI_2021[sex]
    x = serum_creatinine_mg_dl / kappa
    return float(142 * min(x, 1.0) ** alpha * max(x, 1.0) ** -1.200 * 0.9938**age * factor)


def creatinine_from_egfr(egfr: float, age: float, sex: str) -> float:
    """Serum creatinine (mg/dL) that gives ``egfr`` by :func:`egfr_ckd_epi_2021` (its exact inverse).

    >>> round(creatinine_from_egfr(egfr_ckd_epi_2021(2.5, 60, "female"), 60, "female"), 12)
    2.5
    """
    _check_sex(sex)
    if not (math.isfinite(egfr) and egfr > 0):
        raise PhysiologyError(f"eGFR must be > 0 mL/min/1.73 m2, got {egfr!r}")
    kappa, alpha, factor = _CKD_EPI_2021[sex]
    a = egfr / (142 * 0.9938**age * factor)
    x = a ** (1 / alpha) if a >= 1 else a ** (-1 / 1.200)
    return float(kappa * x)


#: Rhodin et al. 2009 (Pediatr Nephrol 24:67-76, abstract; 923 measured GFRs, 22 weeks PMA to 31 years): adult GFR
#: 121.2 mL/min per 70 kg with allometric exponent 3/4, half of it at 47.7 weeks postmenstrual age, Hill 3.40.
_RHODIN = {"gfr_adult_ml_min": 121.2, "tm50_weeks": 47.7, "hill": 3.40, "exponent": 0.75}


def gfr_maturation(pma_weeks: float) -> float:
    """Fraction of the size-standardised adult GFR reached at postmenstrual age ``pma_weeks`` (Rhodin et al. 2009).

    ``PMA^3.40 / (47.7^3.40 + PMA^3.40)``: a documented paediatric extension (not used by the adult presets).
    The paper's abstract reports 90 % of the adult value at 1 year postnatal age (PMA = 40 + 52.2 weeks):

    >>> round(gfr_maturation(40 + 365.25 / 7), 3)
    0.904
    """
    if not (math.isfinite(pma_weeks) and pma_weeks > 0):
        raise PhysiologyError(f"postmenstrual age must be > 0 weeks, got {pma_weeks!r}")
    h, tm50 = _RHODIN["hill"], _RHODIN["tm50_weeks"]
    return float(pma_weeks**h / (tm50**h + pma_weeks**h))


def gfr_rhodin_2009(weight_kg: float, pma_weeks: float) -> float:
    """GFR (mL/min) from body weight and postmenstrual age: ``121.2 (W/70)^0.75 x gfr_maturation(PMA)``.

    >>> round(gfr_rhodin_2009(70.0, 52 * 30), 1)  # a 30-year-old adult of 70 kg
    121.2
    """
    if not (math.isfinite(weight_kg) and weight_kg > 0):
        raise PhysiologyError(f"body weight must be > 0 kg, got {weight_kg!r}")
    return float(_RHODIN["gfr_adult_ml_min"] * (weight_kg / 70.0) ** _RHODIN["exponent"] * gfr_maturation(pma_weeks))


#: KDIGO 2012 GFR categories (Kidney Int Suppl 3:1, Table 5), lower bounds in mL/min/1.73 m2.
_KDIGO = (("G1", 90.0), ("G2", 60.0), ("G3a", 45.0), ("G3b", 30.0), ("G4", 15.0), ("G5", 0.0))


def kdigo_category(egfr: float) -> str:
    """KDIGO 2012 GFR category (``G1`` ... ``G5``) of an eGFR in mL/min/1.73 m2.

    >>> kdigo_category(44.9), kdigo_category(45)
    ('G3b', 'G3a')
    """
    return next(cat for cat, low in _KDIGO if egfr >= low)


#: Adult covariate ranges accepted by :func:`individual_physiology` (inclusive).
ADULT_RANGES: dict[str, tuple[float, float]] = {"age": (18.0, 120.0), "weight_kg": (30.0, 300.0),
                                                "height_cm": (120.0, 230.0)}


def individual_physiology(*, age: float, sex: str, weight_kg: float, height_cm: float,
                          egfr: float | None = None, serum_creatinine_mg_dl: float | None = None,
                          hematocrit: float | None = None) -> Physiology:
    """The ICRP 89 reference adult of ``sex`` scaled to one adult's covariates.

    - Liver volume from body surface area (Du Bois) by :func:`liver_volume_vauthey`.
    - Other tissue volumes and blood volume in proportion to body weight; the rest of the body closes the
      mass balance (it absorbs the liver's departure from proportional scaling).
    - Cardiac output and every organ flow x (W / W_ref)^0.75 (Kleiber; the scaling of :func:`scale_to`), so
      flows still close on the cardiac output.  No separate age effect on cardiac output is applied.
    - GFR = eGFR x BSA / 1.73 (de-normalised), eGFR given, or from serum creatinine by CKD-EPI 2021, or else
      the reference adult's GFR per 1.73 m2 (ICRP yaml: 130 / 120 mL/min/1.73 m2) at this subject's BSA.
    - Hematocrit given, or the reference adult's.

    >>> p = individual_physiology(age=40, sex="male", weight_kg=73, height_cm=176, serum_creatinine_mg_dl=0.9)
    >>> round(p.volumes["liver"], 2), round(p.gfr * 1000 / 60, 1)  # L, mL/min
    (1.6, 120.9)
    """
    _check_sex(sex)
    checks = {"age": age, "weight_kg": weight_kg, "height_cm": height_cm}
    for name, value in checks.items():
        low, high = ADULT_RANGES[name]
        if not (math.isfinite(value) and low <= value <= high):
            raise PhysiologyError(f"{name}={value!r} is outside the adult range {low}-{high} of individual_physiology")
    ref = reference(sex)
    bsa = bsa_dubois(weight_kg, height_cm)
    if egfr is None and serum_creatinine_mg_dl is not None:
        egfr = egfr_ckd_epi_2021(serum_creatinine_mg_dl, age, sex)
    if egfr is None:
        ref_bsa = _value(data_table("icrp89.yaml")[sex]["body_surface_area_m2"])
        egfr = ref.gfr * 1000 / 60 * 1.73 / ref_bsa
    if not (math.isfinite(egfr) and egfr > 0):
        raise PhysiologyError(f"eGFR must be > 0 mL/min/1.73 m2, got {egfr!r}")
    r = weight_kg / ref.body_weight
    f = r**ALLOMETRIC_EXPONENT
    volumes = {k: v * r for k, v in ref.volumes.items()}
    volumes["liver"] = liver_volume_vauthey(bsa)
    # liver and rest share the default density (1 kg/L), so moving volume between them keeps the body mass
    volumes["rest"] += ref.volumes["liver"] * r - volumes["liver"]
    if volumes["rest"] <= 0 or volumes["liver"] <= 0:
        raise PhysiologyError(f"weight {weight_kg} kg and height {height_cm} cm give no room for the rest of the body")
    phys = replace(
        ref, body_weight=weight_kg, height=height_cm / 100, cardiac_output=ref.cardiac_output * f,
        hematocrit=ref.hematocrit if hematocrit is None else hematocrit,
        gfr=egfr * bsa / 1.73 * 60 / 1000, volumes=volumes,
        flows={k: v * f for k, v in ref.flows.items()}, _reference=ref,
    )
    phys.check()
    return phys
