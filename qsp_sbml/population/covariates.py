"""Covariates of virtual adults: correlated sampling of age, sex, weight and height, creatinine and eGFR.

Anthropometry model (per sex and NHANES age group, Fryar et al. 2025, Vital Health Stat 3(50), Tables 3, 7
and 10; ``resources/physiology/nhanes_anthropometry.yaml``):

- height ~ Normal(mean of Table 7, SD), SD = (P95 - P5) / (2 x 1.645) (P90 - P10 over 2 x 1.282 where the
  report omits P95);
- ln weight ~ Normal(mu, s): s = (ln P95 - ln P5) / (2 x 1.645) of Table 3, mu = ln(mean) - s^2 / 2 so that the
  lognormal's mean is the published mean;
- corr(height, ln weight) = rho, the value the three tables imply together: with BMI = W / H^2,
  var(ln BMI) = var(ln W) + 4 var(ln H) - 4 cov(ln W, ln H), s_lnBMI from Table 10's P5 and P95 as above and
  s_lnH = SD_H / mean_H, so rho = (s_lnW^2 + 4 s_lnH^2 - s_lnBMI^2) / (4 s_lnW s_lnH).

Age is uniform within the requested range (NHANES gives no within-group age distribution; an assumption);
each subject takes the parameters of its age group.  Sex is Bernoulli(``female_fraction``).  Serum creatinine
(IDMS-traceable) ~ Normal by sex (Pottel et al. 2008, ``impairment.yaml``), and eGFR follows by CKD-EPI 2021;
or, when an eGFR range is given, eGFR ~ Uniform(range) and creatinine is the CKD-EPI inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qsp_sbml.errors import PopulationError
from qsp_sbml.physiology import (
    ADULT_RANGES,
    DATA_DIR,
    bsa_dubois,
    creatinine_from_egfr,
    data_table,
    egfr_ckd_epi_2021,
    kdigo_category,
)

__all__ = [
    "CHILD_PUGH_CLASSES",
    "COVARIATE_RANGES",
    "GroupModel",
    "anthropometry_model",
    "check_covariates",
    "derive_covariates",
    "read_covariates",
    "sample_covariates",
]

_Z95 = 1.6448536269514722
_Z90 = 1.2815515655446004

#: Physiological range (inclusive) of each numeric covariate column; values outside raise PopulationError.
COVARIATE_RANGES: dict[str, tuple[float, float]] = {
    "age": (0.0, 120.0),
    "weight_kg": (0.3, 350.0),
    "height_cm": (40.0, 250.0),
    "serum_creatinine_mg_dl": (0.05, 25.0),
    "egfr": (1.0, 250.0),
}
_REQUIRED = ("age", "sex", "weight_kg", "height_cm")
#: Child-Pugh classes an optional ``child_pugh`` column may hold (empty: no hepatic impairment).
CHILD_PUGH_CLASSES: tuple[str, ...] = ("A", "B", "C")



@dataclass(frozen=True)
class GroupModel:
    """Anthropometry of one sex and age group: height normal, ln weight normal, correlated."""

    #: Age range [low, high) in years.
    ages: tuple[float, float]
    height_mean: float
    height_sd: float
    #: Mean and SD of ln(weight in kg).
    lnw_mu: float
    lnw_sd: float
    #: Correlation of height and ln weight implied by the weight, height and BMI tables.
    rho: float
    #: The published rows the model was built from (weight_kg, height_cm, bmi_kg_m2).
    table: dict[str, dict[str, float]]

    @property
    def weight_mean(self) -> float:
        """Mean weight (kg) of the lognormal (the published mean)."""
        return math.exp(self.lnw_mu + self.lnw_sd**2 / 2)

    @property
    def weight_sd(self) -> float:
        """SD of weight (kg) of the lognormal: the SD the published percentiles imply."""
        return self.weight_mean * math.sqrt(math.exp(self.lnw_sd**2) - 1)


def _log_sd(row: dict[str, float]) -> float:
    if "p95" in row and "p5" in row:
        return (math.log(row["p95"]) - math.log(row["p5"])) / (2 * _Z95)
    return (math.log(row["p90"]) - math.log(row["p10"])) / (2 * _Z90)


def _sd(row: dict[str, float]) -> float:
    if "p95" in row and "p5" in row:
        return (row["p95"] - row["p5"]) / (2 * _Z95)
    return (row["p90"] - row["p10"]) / (2 * _Z90)


@cache
def anthropometry_model() -> dict[tuple[str, str], GroupModel]:
    """The anthropometry model per (sex, age group), built from the shipped NHANES tables."""
    data = yaml.safe_load((DATA_DIR / "nhanes_anthropometry.yaml").read_text(encoding="utf-8"))
    models: dict[tuple[str, str], GroupModel] = {}
    for sex in ("male", "female"):
        for group, (low, high) in data["age_groups"].items():
            t = data[sex][group]
            h, w, b = t["height_cm"], t["weight_kg"], t["bmi_kg_m2"]
            sd_h = _sd(h)
            s_lnh, s_lnw, s_lnb = sd_h / h["mean"], _log_sd(w), _log_sd(b)
            rho = (s_lnw**2 + 4 * s_lnh**2 - s_lnb**2) / (4 * s_lnw * s_lnh)
            models[sex, group] = GroupModel(
                ages=(float(low), float(high)), height_mean=float(h["mean"]), height_sd=sd_h,
                lnw_mu=math.log(w["mean"]) - s_lnw**2 / 2, lnw_sd=s_lnw, rho=rho, table=t,
            )
    return models


def _impairment() -> dict[str, Any]:
    return data_table("impairment.yaml")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def sample_covariates(n: int, *, seed: int | np.random.Generator | None = None,
                      age_range: tuple[float, float] = (20.0, 80.0), female_fraction: float = 0.5,
                      egfr_range: tuple[float, float] | None = None) -> pd.DataFrame:
    """``n`` virtual adults: age, sex, correlated weight and height, creatinine and eGFR.

    Returns a DataFrame with columns ``subject_id, age, sex, weight_kg, height_cm, bmi, bsa_m2,
    serum_creatinine_mg_dl, egfr, gfr_ml_min, kdigo`` (eGFR in mL/min/1.73 m2, CKD-EPI 2021; GFR
    de-normalised by Du Bois BSA / 1.73).  Reproducible for a given ``seed``.

    >>> df = sample_covariates(3, seed=1)
    >>> list(df.columns[:5])
    ['subject_id', 'age', 'sex', 'weight_kg', 'height_cm']
    """
    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    low, high = age_range
    if not (20 <= low < high <= 85):
        raise PopulationError(f"age_range {age_range!r} must lie within 20-85 years (the NHANES adult tables)")
    if not 0 <= female_fraction <= 1:
        raise PopulationError(f"female_fraction must be in [0, 1], got {female_fraction!r}")
    rng = _rng(seed)
    age = rng.uniform(low, high, n)
    female = rng.random(n) < female_fraction
    z = rng.standard_normal((n, 2))
    height = np.full(n, np.nan)
    weight = np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    while todo.any():
        for (sex_name, _), m in anthropometry_model().items():
            sel = (female == (sex_name == "female")) & (age >= m.ages[0]) & (age < m.ages[1])
            if m.ages[1] == 85.0:
                sel |= (female == (sex_name == "female")) & (age == 85.0)
            sel &= todo
            z2 = m.rho * z[sel, 0] + math.sqrt(1 - m.rho**2) * z[sel, 1]
            height[sel] = m.height_mean + m.height_sd * z[sel, 0]
            weight[sel] = np.exp(m.lnw_mu + m.lnw_sd * z2)
        # the bivariate model's far tails leave the adult range of individual_physiology (about 1 in 10,000
        # draws): redraw those subjects (rejection sampling = the model truncated to that range)
        (w_low, w_high), (h_low, h_high) = ADULT_RANGES["weight_kg"], ADULT_RANGES["height_cm"]
        todo = (weight < w_low) | (weight > w_high) | (height < h_low) | (height > h_high)
        z[todo] = rng.standard_normal((int(todo.sum()), 2))
    sex = np.where(female, "female", "male")
    if egfr_range is None:
        scr_table = _impairment()["serum_creatinine_mg_dl"]
        mean = np.where(female, scr_table["female"]["mean"], scr_table["male"]["mean"])
        sd = np.where(female, (scr_table["female"]["upper"] - scr_table["female"]["lower"]) / (2 * 1.959964),
                      (scr_table["male"]["upper"] - scr_table["male"]["lower"]) / (2 * 1.959964))
        # a normal truncated at 0.2 mg/dL (over 5 SD below the mean: redraws are rare)
        scr = mean + sd * rng.standard_normal(n)
        while (bad := scr < 0.2).any():
            scr[bad] = mean[bad] + sd[bad] * rng.standard_normal(int(bad.sum()))
        egfr = np.array([egfr_ckd_epi_2021(c, a, s) for c, a, s in zip(scr, age, sex, strict=True)])
    else:
        e_low, e_high = egfr_range
        if not (0 < e_low < e_high):
            raise PopulationError(f"egfr_range {egfr_range!r} must be 0 < low < high (mL/min/1.73 m2)")
        egfr = rng.uniform(e_low, e_high, n)
        scr = np.array([creatinine_from_egfr(e, a, s) for e, a, s in zip(egfr, age, sex, strict=True)])
    frame = pd.DataFrame({
        "subject_id": np.arange(1, n + 1), "age": age, "sex": sex, "weight_kg": weight, "height_cm": height,
        "serum_creatinine_mg_dl": scr, "egfr": egfr,
    })
    frame = derive_covariates(frame)
    check_covariates(frame, source="sampled covariates")
    return frame


def derive_covariates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``bmi``, ``bsa_m2`` (Du Bois), ``egfr`` (if creatinine is given), ``gfr_ml_min`` and ``kdigo``."""
    out = frame.copy()
    out["bmi"] = out["weight_kg"] / (out["height_cm"] / 100) ** 2
    out["bsa_m2"] = [bsa_dubois(w, h) for w, h in zip(out["weight_kg"], out["height_cm"], strict=True)]
    if "egfr" not in out and "serum_creatinine_mg_dl" in out:
        out["egfr"] = [egfr_ckd_epi_2021(c, a, s) for c, a, s in
                       zip(out["serum_creatinine_mg_dl"], out["age"], out["sex"], strict=True)]
    if "egfr" in out:
        out["gfr_ml_min"] = out["egfr"] * out["bsa_m2"] / 1.73
        out["kdigo"] = [kdigo_category(e) for e in out["egfr"]]
    return out


def check_covariates(frame: pd.DataFrame, *, source: str = "covariates") -> None:
    """Raise :class:`PopulationError` naming the row, column and value of the first out-of-range covariate.

    Rows are 1-based data rows (the header is not counted).

    >>> check_covariates(pd.DataFrame({"age": [30, 130], "sex": ["male", "male"],
    ...                                "weight_kg": [70, 70], "height_cm": [175, 175]}))
    Traceback (most recent call last):
    ...
    qsp_sbml.errors.PopulationError: covariates, row 2, column 'age': 130 is outside the physiological range 0-120
    """
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise PopulationError(f"missing column(s) {missing}; a covariate table needs {list(_REQUIRED)}",
                              source=source)
    for i, sex in enumerate(frame["sex"], start=1):
        if sex not in ("male", "female"):
            raise PopulationError(f"sex must be 'male' or 'female', got {sex!r}", source=source, row=i,
                                  column="sex", value=sex)
    for i, cp in enumerate(frame["child_pugh"] if "child_pugh" in frame.columns else (), start=1):
        if not (cp is None or (isinstance(cp, float) and math.isnan(cp)) or cp in CHILD_PUGH_CLASSES):
            raise PopulationError(f"unknown Child-Pugh class {cp!r}; valid classes: {', '.join(CHILD_PUGH_CLASSES)} "
                                  "(or empty)", source=source, row=i, column="child_pugh", value=cp)
    if "serum_creatinine_mg_dl" in frame.columns and "egfr" not in frame.columns and "age" in frame.columns:
        ages = pd.to_numeric(frame["age"], errors="coerce").to_numpy(dtype=float)
        for i, (age, scr) in enumerate(zip(ages, frame["serum_creatinine_mg_dl"], strict=True), start=1):
            if age < 18 and pd.notna(scr):
                raise PopulationError(
                    "a subject under 18 with serum creatinine but no egfr: CKD-EPI 2021 is an adult equation; give "
                    "an egfr column (e.g. bedside Schwartz, 0.413 x height_cm / creatinine; Schwartz GJ et al. 2009 "
                    "J Am Soc Nephrol 20:629) or leave creatinine empty (GFR then follows body size and maturation)",
                    source=source, row=i, column="serum_creatinine_mg_dl", value=scr)
    for column, (low, high) in COVARIATE_RANGES.items():
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        for i, (raw, v) in enumerate(zip(frame[column], values, strict=True), start=1):
            if not math.isfinite(v):
                raise PopulationError(f"{raw!r} is not a number", source=source, row=i, column=column, value=raw)
            if not low <= v <= high:
                raise PopulationError(f"{raw:g} is outside the physiological range {low:g}-{high:g}",
                                      source=source, row=i, column=column, value=raw)
    _check_children(frame, source)


def _check_children(frame: pd.DataFrame, source: str) -> None:
    """Rows under 18: no adult impairment preset, and a weight the paediatric physiology accepts (named row)."""
    from qsp_sbml.paediatric import paediatric_physiology
    from qsp_sbml.physiology import PhysiologyError

    if not {"age", "sex", "weight_kg"} <= set(frame.columns):
        return
    for i, row in enumerate(frame.to_dict("records"), start=1):
        if not float(row["age"]) < 18:
            continue
        for column in ("child_pugh", "kdigo_target"):
            if pd.notna(row.get(column)):
                raise PopulationError("renal or hepatic impairment presets are for adults only (age "
                                      f"{float(row['age']):g})", source=source, row=i, column=column,
                                      value=row[column])
        try:
            paediatric_physiology(age_years=float(row["age"]), sex=str(row["sex"]), weight_kg=float(row["weight_kg"]))
        except PhysiologyError as err:
            raise PopulationError(str(err), source=source, row=i, column="weight_kg", value=row["weight_kg"]) from err


def read_covariates(path: str | Path) -> pd.DataFrame:
    """Read a covariate table (CSV, TSV or Parquet), check every value and add derived columns.

    Required columns: ``age, sex, weight_kg, height_cm``; optional ``serum_creatinine_mg_dl`` or ``egfr``,
    ``child_pugh`` (A, B, C or empty: the hepatic-impairment disease factors of the PBPK mapping)
    and ``subject_id`` (1..n if absent).  Errors name the file, the 1-based data row, the column and value.
    """
    path = Path(path)
    if not path.is_file():
        raise PopulationError(f"no such file: {path}", source=str(path))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        from qsp_sbml._optional import require

        require("pyarrow", extra="parquet")
        frame = pd.read_parquet(path)
    elif suffix in (".csv", ".tsv", ".txt"):
        frame = pd.read_csv(path, sep="\t" if suffix != ".csv" else ",")
    else:
        raise PopulationError(f"unknown covariate table format {suffix!r}: use .csv, .tsv or .parquet",
                              source=str(path))
    check_covariates(frame, source=str(path))
    if "subject_id" not in frame:
        frame.insert(0, "subject_id", np.arange(1, len(frame) + 1))
    return derive_covariates(frame)
