"""Drug records: the physicochemical, binding, clearance and absorption data a PBPK model needs.

A record is a YAML file (``models/pbpk/drugs/<id>.yaml``); every number in it
carries a source in the ``sources`` mapping (a record with an unsourced value
is refused).  Clearance is given either as unbound hepatic intrinsic
clearance per enzyme (``clint``, L/h) or, middle-out, as the in vivo total
plasma clearance after IV dosing (``cl_iv``, L/h) with the fraction excreted
unchanged (``fe``) and the fraction of hepatic intrinsic clearance per enzyme
(``fm``); the well-stirred liver model turns the latter into ``clint`` for
each subject (see :mod:`qsp_sbml.pbpk.parameters`).  The enzymes are those of
:data:`~qsp_sbml.pbpk.structure.ENZYMES`: CYPs, the UGTs UGT1A1, UGT1A4, UGT1A6,
UGT1A9 and UGT2B7 (glucuronidation), and ``other`` (no ontogeny); a share given
to an enzyme follows that enzyme's ontogeny in a child
(:mod:`qsp_sbml.pbpk.paediatric`).  An enzyme whose metabolism saturates also
carries an unbound Michaelis constant (``clearance.km: {CYP2D6: 76.3}``,
umol/L); ``cl_iv`` and ``clint`` then stay the low-concentration (linear)
clearance, ``CLint = Vmax / Km``, so a ``cl_iv`` from a low-dose IV study
remains valid.

A perpetrator of drug-drug interactions also carries ``interactions``: per
enzyme, its unbound reversible inhibition constant ``ki``, mechanism-based
inactivation ``kinact`` (1/h) and ``ki_inact``, and induction ``emax`` (fold
induction minus 1) and ``ec50`` (concentrations in umol/L, unbound), each
sourced (``sources: {interactions.CYP3A4.ki: ...}``); see
:mod:`qsp_sbml.pbpk.ddi`.

Distribution is predicted from ``log_p``, ``ionisation``, ``fu`` and ``bp`` by ``kp_method``; an optional
``kp_scale`` (a scalar on every predicted Kp, default 1) is estimated from the drug's model-building profiles by
``qsp-sbml pbpk fit`` (:mod:`qsp_sbml.pbpk.building_fit`), and measured ``kp_overrides`` replace single tissues.

Values outside their physical range are refused (``fu`` above 1, a negative
constant, ``log_p`` outside [-5, 10]); every error names the file, the line
and the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from qsp_sbml.errors import QspError
from qsp_sbml.pbpk.ddi import EnzymeEffect
from qsp_sbml.pbpk.partition import CompoundType, Ionisation
from qsp_sbml.pbpk.structure import ENZYMES, TISSUES
from qsp_sbml.typed_yaml import At, parse, read_yaml

__all__ = ["LOG_P_RANGE", "Absorption", "Clearance", "DrugRecord", "DrugRecordError", "Interaction", "load_drug",
           "load_drugs"]

#: Plausible range of the octanol:water log P of a drug (outside it a value is a unit or sign error):
#: marketed small molecules span about -4 (aminoglycosides) to 9 (Lipinski CA et al. 2001, Adv Drug Deliv
#: Rev 46:3, the distribution behind the "log P <= 5" rule).
LOG_P_RANGE: tuple[float, float] = (-5.0, 10.0)


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
    #: Fraction of hepatic intrinsic clearance per enzyme of :data:`~qsp_sbml.pbpk.structure.ENZYMES`
    #: (each in [0, 1], summing to 1), e.g. ``{CYP3A4: 0.7, UGT2B7: 0.3}``.
    fm: dict[str, float] = Field(default_factory=lambda: {"other": 1.0})
    #: Unbound hepatic intrinsic clearance per enzyme (L/h), instead of ``cl_iv``.
    clint: dict[str, float] | None = None
    #: Renal clearance (L/h, plasma) when known directly; default ``fe * cl_iv``.
    cl_renal: float | None = Field(default=None, ge=0)
    #: Unbound Michaelis constant (umol/L) per saturable enzyme; ``cl_iv`` / ``clint`` are the
    #: low-concentration clearance.  Each enzyme must carry clearance (``fm`` or ``clint`` above 0).
    km: dict[str, float] = Field(default_factory=dict)

    @field_validator("fm", "clint")
    @classmethod
    def _per_enzyme(cls, v: dict[str, float] | None, info: ValidationInfo) -> dict[str, float] | None:
        """Every key a module enzyme; ``fm`` values fractions in [0, 1], ``clint`` values finite and >= 0."""
        for enzyme, value in (v or {}).items():
            if enzyme not in ENZYMES:
                raise At(enzyme, f"unknown enzyme {enzyme!r}; use one of {list(ENZYMES)}")
            if info.field_name == "fm" and not (math.isfinite(value) and 0 <= value <= 1):
                raise At(enzyme, f"{value!r} is not a fraction in [0, 1]")
            if not (math.isfinite(value) and value >= 0):
                raise At(enzyme, f"{value!r} must be finite and >= 0")
        return v

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.cl_iv is None) == (self.clint is None):
            raise ValueError("give exactly one of clearance.cl_iv (in vivo) or clearance.clint (per enzyme)")
        if self.cl_iv is not None and not math.isclose(sum(self.fm.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"clearance.fm must sum to 1, got {sum(self.fm.values()):.6g}")
        share = self.fm if self.cl_iv is not None else (self.clint or {})
        for enzyme, value in self.km.items():
            if enzyme not in ENZYMES:
                raise At(f"km.{enzyme}", f"unknown enzyme {enzyme!r}; use {list(ENZYMES)}")
            if not (math.isfinite(value) and value > 0):
                raise At(f"km.{enzyme}", f"a Michaelis constant must be finite and > 0 (umol/L), got {value!r}")
            if share.get(enzyme, 0.0) <= 0:
                which = "fm" if self.cl_iv is not None else "clint"
                raise At(f"km.{enzyme}", f"{enzyme} carries no clearance (clearance.{which} has no share above 0 "
                                         f"for it); a Michaelis constant needs a saturable pathway")
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


class Interaction(_Strict):
    """A perpetrator's effect on one enzyme (unbound concentrations, umol/L)."""

    #: Reversible (competitive) inhibition constant, unbound.
    ki: float | None = Field(default=None, gt=0)
    #: Maximal inactivation rate constant (1/h), mechanism-based inactivation.
    kinact: float | None = Field(default=None, gt=0)
    #: Concentration of half-maximal inactivation, unbound.
    ki_inact: float | None = Field(default=None, gt=0)
    #: Maximal increase of activity by induction (fold induction minus 1).
    emax: float | None = Field(default=None, ge=0)
    #: Concentration of half-maximal induction, unbound.
    ec50: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if (self.kinact is None) != (self.ki_inact is None):
            raise ValueError("mechanism-based inactivation needs both kinact and ki_inact")
        if (self.emax is None) != (self.ec50 is None):
            raise ValueError("induction needs both emax and ec50")
        if all(getattr(self, n) is None for n in ("ki", "kinact", "emax")):
            raise ValueError("give ki, kinact and ki_inact, or emax and ec50")
        return self

    def effect(self) -> EnzymeEffect:
        """The same parameters as a :class:`~qsp_sbml.pbpk.ddi.EnzymeEffect`."""
        return EnzymeEffect(ki=self.ki, kinact=self.kinact, ki_inact=self.ki_inact, emax=self.emax, ec50=self.ec50)


class DrugRecord(_Strict):
    """One drug (see the module docstring)."""

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    name: str
    molecular_weight: float = Field(gt=0)
    log_p: float = Field(ge=LOG_P_RANGE[0], le=LOG_P_RANGE[1])
    ionisation: Ionisation
    fu: float = Field(gt=0, le=1)
    bp: float = Field(gt=0)
    #: Main binding protein in plasma: ``albumin`` (default) or ``alpha1_acid_glycoprotein``; decides which
    #: protein's change scales ``fu`` in hepatic impairment (a non-default value needs a source).
    binding_protein: str = Field(default="albumin", pattern="^(albumin|alpha1_acid_glycoprotein)$")
    clearance: Clearance
    absorption: Absorption
    #: ``rodgers_rowland`` or ``poulin_theil``.
    kp_method: str = Field(default="rodgers_rowland", pattern="^(rodgers_rowland|poulin_theil)$")
    #: Scalar on every predicted Kp (not on ``kp_overrides``), estimated from model-building profiles
    #: (``qsp-sbml pbpk fit``; Jones et al. 2006's Kp scalar); 1 when nothing was estimated.
    kp_scale: float = Field(default=1.0, gt=0, le=100)
    #: Measured Kp values that replace predicted ones.
    kp_overrides: dict[str, float] = Field(default_factory=dict)
    #: Perpetrator effects by enzyme (see :class:`Interaction`).
    interactions: dict[str, Interaction] = Field(default_factory=dict)
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
        unknown = set(self.interactions) - (set(ENZYMES) - {"other"})
        if unknown:
            raise ValueError(f"interactions: unknown enzyme(s) {sorted(unknown)}; use {list(ENZYMES)[:-1]}")
        missing = [f for f in self.valued_fields() if f not in self.sources]
        if missing:
            raise ValueError(f"no source given for {', '.join(missing)}; add them under 'sources:'")
        return self

    def valued_fields(self) -> list[str]:
        """Dotted names of the fields that carry a number and so need a source."""
        names = ["molecular_weight", "log_p", "fu", "bp"]
        if self.binding_protein != "albumin":
            names.append("binding_protein")
        if self.ionisation.pka:
            names.append("ionisation.pka")
        c, a = self.clearance, self.absorption
        names += ["clearance.cl_iv", "clearance.fe", "clearance.fm"] if c.cl_iv is not None else ["clearance.clint"]
        if c.cl_renal is not None:
            names.append("clearance.cl_renal")
        names += [f"clearance.km.{e}" for e in c.km]
        names += ["absorption.ka", "absorption.fa", "absorption.fg"]
        names += [f"absorption.{n}" for n in ("peff", "ka_sc") if getattr(a, n) is not None]
        if self.kp_scale != 1.0:
            names.append("kp_scale")
        names += [f"kp_overrides.{t}" for t in self.kp_overrides]
        for enzyme, inter in self.interactions.items():
            names += [f"interactions.{enzyme}.{n}" for n in ("ki", "kinact", "ki_inact", "emax", "ec50")
                      if getattr(inter, n) is not None]
        return names


def load_drug(path: str | Path) -> DrugRecord:
    """Read and validate one drug record; errors name the file, the line and the field."""
    path = Path(path)
    doc = read_yaml(path, error=DrugRecordError, what="drug record")
    if not isinstance(doc.data, dict):
        raise DrugRecordError(f"{path}: a drug record is a YAML mapping, got {type(doc.data).__name__}")
    record = parse(DrugRecord, doc, error=_record_error)
    if record.id != path.stem:
        raise DrugRecordError(f"{doc.where('id')}: id {record.id!r} does not match the file name {path.stem!r}")
    return record


def _record_error(text: str) -> DrugRecordError:
    return DrugRecordError("invalid drug record:\n  " + text.replace("\n", "\n  "))


def load_drugs(folder: str | Path) -> dict[str, DrugRecord]:
    """Every ``*.yaml`` drug record in ``folder``, by id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DrugRecordError(f"{folder}: no such folder of drug records")
    records = {p.stem: load_drug(p) for p in sorted(folder.glob("*.yaml"))}
    if not records:
        raise DrugRecordError(f"{folder}: no drug records (*.yaml) found")
    return records
