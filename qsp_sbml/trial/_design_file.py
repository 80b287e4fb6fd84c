"""The typed fields of a parallel-group trial design file (read by :mod:`qsp_sbml.typed_yaml`).

Field types, ranges, closed vocabularies, required keys and the existence of files are checked here;
checks across fields and against the model (arms named by endpoints, ids the SBML model has) are made by
:func:`qsp_sbml.trial.design.validate_parallel`, with messages naming the same file, line and field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from qsp_sbml.population.description import PopulationDescription
from qsp_sbml.typed_yaml import At, Finite, NonNegative, Positive, SpecModel, existing_file

__all__ = ["ParallelDesignFile", "TrialFile"]

_Fraction = Annotated[float, Field(gt=0, lt=1)]
_Name = Annotated[str, Field(min_length=1)]

EndpointType = Literal["value", "change", "percent_change", "auc", "cmax", "responder", "time_to_event"]
TimeUnit = Literal["hour", "h", "day", "d", "week", "wk"]


class TrialFile(SpecModel):
    """The fields every trial design file has (each type adds its own, with ``type``)."""

    #: ``trial``: the file's declared kind.
    kind: Literal["trial"] | None = None
    #: Name of the trial (default: the file name).
    name: str | None = None
    description: str | None = None
    #: The SBML model, relative to the design file.
    model: str

    _model = field_validator("model")(lambda v, info: existing_file(v, info))


class ArmFile(SpecModel):
    """``{id, regimen, parameters, dose, label}``."""

    id: _Name
    #: Regimen text, or ``placebo``.
    regimen: str | None = None
    parameters: dict[str, Finite] = Field(default_factory=dict)
    dose: NonNegative | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _has_regimen(self) -> ArmFile:
        if self.regimen is None or not self.regimen.strip():
            raise At(
                "regimen",
                f"arm {self.id!r} has no regimen: give regimen text "
                '(e.g. "150 mg sc at 0,4 wk to depot") or regimen: placebo',
            )
        return self


class CriterionFile(SpecModel):
    """``min <= covariate (or baseline output) <= max``."""

    covariate: _Name | None = None
    baseline: _Name | None = None
    min: Finite | None = None
    max: Finite | None = None

    @model_validator(mode="after")
    def _one_column(self) -> CriterionFile:
        if (self.covariate is None) == (self.baseline is None):
            raise At("", "give exactly one of covariate: NAME or baseline: OUTPUT")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise At("min", f"min {self.min:g} is above max {self.max:g}")
        return self


class StratumFile(CriterionFile):
    """A stratification criterion and its cut points."""

    cuts: list[Finite] = Field(default_factory=list)


class AnalysisFile(SpecModel):
    """The test of an endpoint."""

    test: str
    control: str | None = None
    treatments: list[str] | None = None
    alpha: _Fraction = 0.05
    covariates: list[str] = Field(default_factory=list)
    missing: Literal["exclude", "nonresponder"] = "exclude"

    @field_validator("treatments", mode="before")
    @classmethod
    def _one_treatment(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class EndpointFile(SpecModel):
    """An endpoint: output, type, time and analysis."""

    id: _Name
    output: str
    type: EndpointType
    time: NonNegative | None = None
    of: Literal["value", "change", "percent_change"] | None = None
    threshold: Finite | None = None
    direction: Literal["below", "above"] = "below"
    log: bool | None = None
    analysis: AnalysisFile
    label: str | None = None

    @model_validator(mode="after")
    def _threshold(self) -> EndpointFile:
        if self.type in ("responder", "time_to_event") and self.threshold is None:
            raise At("threshold", f"a {self.type} endpoint needs threshold: NUMBER (e.g. -75 for PASI75)")
        return self


class ErrorModelFile(SpecModel):
    """Additive and proportional SD, and the range observations are clipped to."""

    additive: NonNegative = 0.0
    proportional: NonNegative = 0.0
    min: Finite | None = None
    max: Finite | None = None

    @model_validator(mode="after")
    def _range(self) -> ErrorModelFile:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise At("min", f"min {self.min:g} must be below max {self.max:g}")
        return self


class ResponseVariabilityFile(SpecModel):
    """A subject's multiplicative deviation after baseline."""

    distribution: Literal["normal", "logistic"] = "normal"
    scale: Positive


class DropoutFile(SpecModel):
    """Exponential dropout."""

    #: Per design time unit.
    hazard: NonNegative = 0.0


class SampleSizeFile(SpecModel):
    """A power curve over total n."""

    n: list[Annotated[int, Field(ge=4)]] = Field(default_factory=list)
    target: _Fraction = 0.8


class AdaptiveFile(SpecModel):
    """A group-sequential design."""

    looks: Annotated[list[Positive], Field(min_length=1)]
    spending: str = "obrien_fleming"
    futility: str | None = None
    beta: Positive = 0.2
    alpha: Positive | None = None
    better: Literal["higher", "lower"] | None = None

    @field_validator("spending", "futility")
    @classmethod
    def _known_spending(cls, v: str | None) -> str | None:
        from qsp_sbml.trial.adaptive import SPENDING_NAMES

        if v is not None and v not in SPENDING_NAMES:
            raise ValueError(f"unknown spending {v!r}; use {', '.join(SPENDING_NAMES)}")
        return v

    @field_validator("looks")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if v != sorted(set(v)) or v[-1] != 1.0:
            raise ValueError(f"information fractions must increase and end at 1, got {v}")
        return v


class DoseSelectionFile(SpecModel):
    """Minimum-effective-dose selection across the arms' ``dose``."""

    endpoint: str | None = None
    target: Finite
    rule: Literal["estimate", "lower_bound"] = "estimate"
    alpha: Positive = 0.05


class ParallelDesignFile(TrialFile):
    """The fields of a ``type: parallel`` trial design file."""

    type: Literal["parallel"] = "parallel"
    time_unit: TimeUnit = "hour"
    duration: Positive
    visits: Annotated[list[NonNegative], Field(min_length=1)] | None = None
    n: Annotated[int, Field(ge=4)]
    allocation: Annotated[list[Positive], Field(min_length=1)] | None = None
    arms: Annotated[list[ArmFile], Field(min_length=2)]
    population: PopulationDescription = Field(default_factory=PopulationDescription)
    inclusion: list[CriterionFile] = Field(default_factory=list)
    stratification: list[StratumFile] = Field(default_factory=list)
    enrichment: CriterionFile | list[CriterionFile] | None = None
    measurement_error: dict[str, ErrorModelFile] = Field(default_factory=dict)
    response_variability: dict[str, ResponseVariabilityFile] = Field(default_factory=dict)
    dropout: DropoutFile = Field(default_factory=DropoutFile)
    endpoints: Annotated[list[EndpointFile], Field(min_length=1)]
    primary: str | None = None
    replicates: Annotated[int, Field(ge=1)] = 100
    sample_size: SampleSizeFile = Field(default_factory=SampleSizeFile)
    adaptive: AdaptiveFile | None = None
    dose_selection: DoseSelectionFile | None = None
    references: list[str] | str = Field(default_factory=list)
