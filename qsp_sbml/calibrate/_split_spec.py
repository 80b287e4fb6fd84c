"""The typed fields of a calibration/prediction split file (``models/disease/validation/<module>_split.yaml``).

A split names a disease module, the drugs (population-PK values of the antibody module's ids), the
endpoints (responder thresholds or means of a model output), the individual parameters whose typical
value and between-patient SD are estimated, and two disjoint sets of published trial arms: ``calibration``
(fitted) and ``prediction`` (predicted, never fitted), the latter with at least one drug or dose level that
no calibration arm has.  Read with :func:`read_split`; every problem is
reported as ``file, line N, field PATH: message`` and raised as :class:`~qsp_sbml.errors.CalibrationError`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import pydantic

from qsp_sbml.errors import CalibrationError
from qsp_sbml.typed_yaml import Finite, NonNegative, Positive, SpecModel, existing_file, parse, read_yaml, spec_error

__all__ = ["ArmSpec", "DrugSpec", "EndpointSpec", "IndividualSpec", "ObservationSpec", "SplitSpec", "read_split"]


class DrugSpec(SpecModel):
    """Linear antibody PK (per day and litres, as published) mapped onto the model's antibody ids."""

    #: ``one_compartment`` (Q = 0) or ``two_compartment``.
    model: Literal["one_compartment", "two_compartment"]
    CL_L_per_day: Positive
    Vc_L: Positive
    ka_per_day: Positive
    #: Absolute SC bioavailability (1 for apparent CL/F, V/F).
    F: float = pydantic.Field(gt=0, le=1)
    Q_L_per_day: NonNegative = 0.0
    Vp_L: Positive = 1.0
    #: g/mol, to turn mg into nmol.
    molecular_weight: Positive
    #: Where the values come from (a population-PK publication, never the efficacy data); checked by
    #: :func:`read_split`, which names the drug when it cites nothing.
    source: str = ""


class EndpointSpec(SpecModel):
    """A responder endpoint (output >= threshold) or a mean of an output."""

    output: str = pydantic.Field(min_length=1)
    kind: Literal["responder", "mean"]
    #: Responder threshold in the output's units (responder endpoints).
    threshold: Finite | None = None


class ObservationSpec(SpecModel):
    """One arm-level summary at one visit."""

    endpoint: str
    week: NonNegative
    #: Patients in the arm (intention to treat).
    n: int = pydantic.Field(gt=0)
    #: Responders (responder endpoints).
    responders: int | None = pydantic.Field(default=None, ge=0)
    #: Arm mean and between-patient SD (mean endpoints).
    mean: Finite | None = None
    sd: Positive | None = None

    @pydantic.model_validator(mode="after")
    def _summary(self) -> ObservationSpec:
        if self.responders is None and self.mean is None:
            raise ValueError("give responders (responder endpoint) or mean and sd (mean endpoint)")
        if self.responders is not None and self.responders > self.n:
            raise ValueError(f"responders ({self.responders}) exceed n ({self.n})")
        if self.mean is not None and self.sd is None:
            raise ValueError("a mean needs its between-patient sd")
        return self


class ArmSpec(SpecModel):
    """A published trial arm: drug, dose, dosing weeks, observations and their source."""

    id: str = pydantic.Field(min_length=1)
    trial: str = pydantic.Field(min_length=1)
    #: A key of ``drugs`` or ``placebo``.
    drug: str
    dose_mg: NonNegative
    dose_weeks: list[NonNegative] = pydantic.Field(min_length=1)
    observations: list[ObservationSpec] = pydantic.Field(min_length=1)
    #: Paper (and DOI/PMID), table or figure or page the numbers come from; checked by :func:`read_split`,
    #: which names the arm when it cites nothing.
    source: str = ""


class IndividualSpec(SpecModel):
    """An individual parameter: ``typical`` and ``omega`` as ``[start, lower, upper]``."""

    distribution: Literal["lognormal", "logitnormal"]
    typical: list[Positive] = pydantic.Field(min_length=3, max_length=3)
    omega: list[Positive] = pydantic.Field(min_length=3, max_length=3)

    @pydantic.model_validator(mode="after")
    def _ranges(self) -> IndividualSpec:
        for name, (start, lo, hi) in (("typical", self.typical), ("omega", self.omega)):
            if not lo <= start <= hi or lo >= hi:
                raise ValueError(f"{name} must read [start, lower, upper] with lower <= start <= upper, "
                                 f"lower < upper (got {[start, lo, hi]})")
        if self.distribution == "logitnormal" and self.typical[2] >= 1:
            raise ValueError("a logit-normal typical value must stay below 1")
        return self


class SplitSpec(SpecModel):
    """The whole split file."""

    module: str
    #: The SBML model (relative to the split file) with the antibody ids and the dose target.
    model: str
    decided: str = ""
    #: Model time units per week (168 for a model in hours).
    model_time_per_week: Positive = 168.0
    #: Species receiving SC doses (bioavailable amount, nmol).
    dose_target: str = "mab_sc_depot"
    #: Model parameters fixed for every patient and arm (e.g. the model's own dose events switched off).
    fixed: dict[str, Finite] = pydantic.Field(default_factory=dict)
    #: Width (output units) of the logistic smoothing of the responder indicator.
    smoothing: Positive = 1.0
    drugs: dict[str, DrugSpec]
    endpoints: dict[str, EndpointSpec]
    individual: dict[str, IndividualSpec] = pydantic.Field(min_length=1)
    calibration: list[ArmSpec] = pydantic.Field(min_length=1)
    prediction: list[ArmSpec] = pydantic.Field(min_length=1)

    _model_file = pydantic.field_validator("model")(existing_file)

    @property
    def arms(self) -> list[tuple[str, ArmSpec]]:
        """``("calibration" | "prediction", arm)`` in file order."""
        return [("calibration", a) for a in self.calibration] + [("prediction", a) for a in self.prediction]


#: Texts that hold a place for a citation without being one (compared without case, spaces or punctuation).
_PLACEHOLDER_SOURCES = frozenset({"todo", "tbd", "tba", "none", "na", "unknown", "citationneeded", "sourceneeded",
                                  "source", "reference", "ref", "xxx", "fixme", "tobeadded", "missing"})
#: Shortest text that can name a publication and where in it the numbers are.
_MIN_SOURCE = 10


def _no_source(text: str) -> bool:
    """Whether ``text`` cites nothing: empty, too short to name a publication, or a placeholder."""
    plain = "".join(ch for ch in text.lower() if ch.isalnum())
    return len(text.strip()) < _MIN_SOURCE or plain in _PLACEHOLDER_SOURCES


def _norm(text: str) -> str:
    """``"UltIMMa-1"`` and ``"ultimma 1"`` alike: lower case, letters and digits only."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _overlap_problems(spec: SplitSpec) -> list[tuple[str, str]]:
    """Prediction observations that repeat a calibration one under another arm id.

    Same trial (compared without case or punctuation), drug, dose, endpoint and visit: the prediction set
    would overlap the calibration set.
    """
    fitted: dict[tuple[str, str, float, str, float], str] = {}
    for arm in spec.calibration:
        for obs in arm.observations:
            fitted.setdefault((_norm(arm.trial), arm.drug, arm.dose_mg, obs.endpoint, obs.week), arm.id)
    out = []
    for i, arm in enumerate(spec.prediction):
        for j, obs in enumerate(arm.observations):
            other = fitted.get((_norm(arm.trial), arm.drug, arm.dose_mg, obs.endpoint, obs.week))
            if other is not None and other != arm.id:
                out.append((f"prediction[{i}].observations[{j}]",
                            f"arm {arm.id!r}: {obs.endpoint} at week {obs.week:g} of {arm.trial} {arm.drug} "
                            f"{arm.dose_mg:g} mg is also in calibration arm {other!r}; the prediction set must not "
                            "overlap the calibration set (move or drop one of them)"))
    return out


def _dose_label(arm: ArmSpec) -> str:
    return "placebo" if arm.drug == "placebo" else f"{arm.drug} {arm.dose_mg:g} mg"


def _no_new_arm_problems(spec: SplitSpec) -> list[tuple[str, str]]:
    """The prediction set must hold a drug or dose level that no calibration arm has (issue 19).

    An arm is covered when a calibration arm has the same drug and dose per administration (the dosing
    weeks, trial, endpoint and visit do not count); a split whose every prediction arm is covered predicts
    nothing the fit did not already see.
    """
    fitted: dict[tuple[str, float], str] = {}
    for arm in spec.calibration:
        fitted.setdefault((arm.drug, float(arm.dose_mg)), arm.id)
    covered = [(arm, fitted.get((arm.drug, float(arm.dose_mg)))) for arm in spec.prediction]
    if any(other is None for _, other in covered):
        return []
    listed = "; ".join(f"{arm.id!r} ({_dose_label(arm)}, as calibration arm {other!r})" for arm, other in covered)
    return [("prediction", f"every prediction arm has a drug and dose that a calibration arm has: {listed}; the "
                           "prediction set must hold at least one drug or dose level that no calibration arm has "
                           "(issue 19): add such an arm to prediction, or move every arm of one drug or dose level "
                           "from calibration to prediction, before any fit")]


def _cross_problems(spec: SplitSpec) -> list[tuple[str, str]]:
    """(field path, message) of every cross-field problem.

    Overlap of the two sets, an arm or drug that cites no source, an unknown drug or endpoint, a summary
    that does not fit its endpoint, a prediction set with no drug or dose level of its own.
    """
    out: list[tuple[str, str]] = []
    for name, drug in spec.drugs.items():
        if _no_source(drug.source):
            out.append((f"drugs.{name}.source", f"drug {name!r} cites no source: give the population-PK "
                                                "publication (and DOI/PMID) and the table its values come from"))
    seen: dict[str, str] = {}
    for group in ("calibration", "prediction"):
        for i, arm in enumerate(getattr(spec, group)):
            path = f"{group}[{i}]"
            if arm.id in seen:
                where = "both the calibration and the prediction set" if seen[arm.id] != group else f"{group} twice"
                out.append((f"{path}.id", f"arm {arm.id!r} is in {where}"))
            seen[arm.id] = group
            if _no_source(arm.source):
                out.append((f"{path}.source", f"arm {arm.id!r} cites no source: give the paper (and DOI/PMID) and "
                                              "the table, figure or page its numbers come from"))
            if arm.drug != "placebo" and arm.drug not in spec.drugs:
                out.append((f"{path}.drug", f"arm {arm.id!r}: drug {arm.drug!r} is not in drugs "
                                            f"({', '.join(spec.drugs) or 'none'}) nor 'placebo'"))
            if (arm.drug == "placebo") != (arm.dose_mg == 0):
                out.append((f"{path}.dose_mg", f"arm {arm.id!r}: placebo arms have dose_mg 0, drug arms > 0"))
            for j, obs in enumerate(arm.observations):
                ep = spec.endpoints.get(obs.endpoint)
                if ep is None:
                    out.append((f"{path}.observations[{j}].endpoint",
                                f"arm {arm.id!r}: endpoint {obs.endpoint!r} is not in endpoints"))
                elif (ep.kind == "responder") != (obs.responders is not None):
                    out.append((f"{path}.observations[{j}]", f"arm {arm.id!r}: a {ep.kind} endpoint needs "
                                + ("responders" if ep.kind == "responder" else "mean and sd")))
    for name, ep in spec.endpoints.items():
        if ep.kind == "responder" and (ep.threshold is None or not math.isfinite(ep.threshold)):
            out.append((f"endpoints.{name}.threshold", "a responder endpoint needs a threshold"))
    return out + _overlap_problems(spec) + _no_new_arm_problems(spec)


def read_split(path: str | Path) -> tuple[SplitSpec, Path]:
    """Read and check a split file; returns the spec and the absolute path of its model.

    Raises :class:`~qsp_sbml.errors.CalibrationError` naming file, line, field and arm (an arm in both sets,
    a prediction observation repeating a calibration one under another id, an arm or drug that cites no
    source, an unknown drug or endpoint, a prediction set whose every arm's drug and dose a calibration arm
    has...).
    """
    doc = read_yaml(path, error=CalibrationError, what="split")
    spec = parse(SplitSpec, doc, error=CalibrationError)
    problems = _cross_problems(spec)
    if problems:
        first = spec_error(doc, problems[0][0], problems[0][1], error=CalibrationError)
        if len(problems) > 1:
            rest = "\n".join(spec_error(doc, p, m).args[0] for p, m in problems[1:])
            raise CalibrationError(f"{first.args[0]}\n{rest}")
        raise first
    model = Path(spec.model)
    if not model.is_absolute():
        model = Path(path).resolve().parent / model
    return spec, model
