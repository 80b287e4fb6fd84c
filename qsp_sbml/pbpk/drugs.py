"""Drug records: the physicochemical, binding, clearance and absorption data a PBPK model needs.

A record is a YAML file (``models/pbpk/drugs/<id>.yaml``); every number in it
carries a source in the ``sources`` mapping (a record with an unsourced value
is refused).  Clearance is given either as unbound hepatic intrinsic
clearance per enzyme (``clint``, L/h) or, middle-out, as the in vivo total
plasma clearance after IV dosing (``cl_iv``, L/h) with the fraction excreted
unchanged (``fe``) and the fraction of hepatic intrinsic clearance per enzyme
(``fm``); the well-stirred liver model turns the latter into ``clint`` for
each subject (see :mod:`qsp_sbml.pbpk.parameters`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qsp_sbml.errors import QspError
from qsp_sbml.pbpk.partition import CompoundType, Ionisation
from qsp_sbml.pbpk.structure import ENZYMES, TISSUES

__all__ = ["Absorption", "Clearance", "DrugRecord", "DrugRecordError", "load_drug", "load_drugs"]


class DrugRecordError(QspError, ValueError):
    """A drug record that cannot be used (names the file and the field)."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Clearance(_Strict):
    """Elimination data (give ``cl_iv`` or ``clint``)."""

    #: Total plasma clearance after IV dosing in a typical adult (L/h).
    cl_iv: float | None = Field(default=None, gt=0)
    #: Fraction of an IV dose excreted unchanged in urine.
    fe: float = Field(default=0.0, ge=0, le=1)
    #: Fraction of hepatic intrinsic clearance per enzyme (sums to 1).
    fm: dict[str, float] = Field(default_factory=lambda: {"other": 1.0})
    #: Unbound hepatic intrinsic clearance per enzyme (L/h), instead of ``cl_iv``.
    clint: dict[str, float] | None = None
    #: Renal clearance (L/h, plasma) when known directly; default ``fe * cl_iv``.
    cl_renal: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.cl_iv is None) == (self.clint is None):
            raise ValueError("give exactly one of clearance.cl_iv (in vivo) or clearance.clint (per enzyme)")
        for name, table in (("fm", self.fm), ("clint", self.clint or {})):
            unknown = set(table) - set(ENZYMES)
            if unknown:
                raise ValueError(f"clearance.{name}: unknown enzyme(s) {sorted(unknown)}; use {list(ENZYMES)}")
            if any(not (math.isfinite(v) and v >= 0) for v in table.values()):
                raise ValueError(f"clearance.{name}: values must be finite and >= 0")
        if self.cl_iv is not None and not math.isclose(sum(self.fm.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"clearance.fm must sum to 1, got {sum(self.fm.values()):.6g}")
        return self


class Absorption(_Strict):
    """Oral (and subcutaneous) absorption data."""

    #: First-order absorption rate constant (1/h).
    ka: float = Field(gt=0)
    #: Fraction absorbed.
    fa: float = Field(default=1.0, gt=0, le=1)
    #: Fraction escaping gut-wall metabolism.
    fg: float = Field(default=1.0, gt=0, le=1)
    #: Human jejunal effective permeability (1e-4 cm/s), for the CAT option.
    peff: float | None = Field(default=None, gt=0)
    #: Subcutaneous absorption rate constant (1/h) and bioavailability.
    ka_sc: float | None = Field(default=None, gt=0)
    f_sc: float = Field(default=1.0, gt=0, le=1)


class DrugRecord(_Strict):
    """One drug (see the module docstring)."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    name: str
    molecular_weight: float = Field(gt=0)
    log_p: float
    ionisation: Ionisation
    fu: float = Field(gt=0, le=1)
    bp: float = Field(gt=0)
    clearance: Clearance
    absorption: Absorption
    #: ``rodgers_rowland`` or ``poulin_theil``.
    kp_method: str = Field(default="rodgers_rowland", pattern="^(rodgers_rowland|poulin_theil)$")
    #: Measured Kp values that replace predicted ones.
    kp_overrides: dict[str, float] = Field(default_factory=dict)
    #: Citation for every value, keyed by dotted field name (``clearance.cl_iv``).
    sources: dict[str, str]
    notes: str = ""

    @model_validator(mode="before")
    @classmethod
    def _ionisation(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("ionisation"), dict):
            data = dict(data)
            ion = data["ionisation"]
            try:
                kind = CompoundType(ion.get("kind", ""))
            except ValueError:
                raise ValueError(
                    f"ionisation.kind {ion.get('kind')!r} is not one of {[k.value for k in CompoundType]}"
                ) from None
            data["ionisation"] = Ionisation(kind, tuple(float(p) for p in ion.get("pka", ())))
        return data

    @model_validator(mode="after")
    def _sourced(self) -> Self:
        unknown = set(self.kp_overrides) - set(TISSUES)
        if unknown:
            raise ValueError(f"kp_overrides: unknown tissue(s) {sorted(unknown)}; use {list(TISSUES)}")
        missing = [f for f in self.valued_fields() if f not in self.sources]
        if missing:
            raise ValueError(f"no source given for {', '.join(missing)}; add them under 'sources:'")
        return self

    def valued_fields(self) -> list[str]:
        """Dotted names of the fields that carry a number and so need a source."""
        names = ["molecular_weight", "log_p", "fu", "bp"]
        if self.ionisation.pka:
            names.append("ionisation.pka")
        c, a = self.clearance, self.absorption
        names += ["clearance.cl_iv", "clearance.fe", "clearance.fm"] if c.cl_iv is not None else ["clearance.clint"]
        if c.cl_renal is not None:
            names.append("clearance.cl_renal")
        names += ["absorption.ka", "absorption.fa", "absorption.fg"]
        names += [f"absorption.{n}" for n in ("peff", "ka_sc") if getattr(a, n) is not None]
        names += [f"kp_overrides.{t}" for t in self.kp_overrides]
        return names


def load_drug(path: str | Path) -> DrugRecord:
    """Read and validate one drug record; errors name the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DrugRecordError(f"{path}: cannot read drug record ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise DrugRecordError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise DrugRecordError(f"{path}: a drug record is a YAML mapping, got {type(data).__name__}")
    try:
        record = DrugRecord.model_validate(data)
    except ValidationError as err:
        lines = [f"{'.'.join(str(x) for x in e['loc']) or '(record)'}: {e['msg']}" for e in err.errors()]
        raise DrugRecordError(f"{path}: invalid drug record:\n  " + "\n  ".join(lines)) from None
    if record.id != path.stem:
        raise DrugRecordError(f"{path}: id {record.id!r} does not match the file name {path.stem!r}")
    return record


def load_drugs(folder: str | Path) -> dict[str, DrugRecord]:
    """Every ``*.yaml`` drug record in ``folder``, by id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DrugRecordError(f"{folder}: no such folder of drug records")
    records = {p.stem: load_drug(p) for p in sorted(folder.glob("*.yaml"))}
    if not records:
        raise DrugRecordError(f"{folder}: no drug records (*.yaml) found")
    return records
