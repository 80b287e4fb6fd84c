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
    "ALLOMETRIC_EXPONENT",
    "DATA_DIR",
    "Physiology",
    "PhysiologyError",
    "TissueComposition",
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
        """The ICRP reference adult of the same sex."""
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
def _table(name: str) -> dict[str, Any]:
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
    table = _table("icrp89.yaml")
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
    rows = _table("tissue_composition.yaml")["tissues"]
    return {
        name: TissueComposition(
            f_ew=float(r["f_ew"]), f_iw=float(r["f_iw"]), f_nl=float(r["f_nl"]), f_np=float(r["f_np"]),
            acidic_pl=float(r["acidic_pl"]), albumin_ratio=float(r["albumin_ratio"]),
            lipoprotein_ratio=float(r["lipoprotein_ratio"]),
        )
        for name, r in rows.items()
    }
