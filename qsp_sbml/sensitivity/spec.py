"""The global sensitivity analysis spec (``kind: gsa``): parameters, model, regimen, outputs.

A spec is a YAML file (or the same structure built in Python) read with :mod:`qsp_sbml.typed_yaml`, so
every error names the file, the line and the field::

    kind: gsa
    model: ../models/pbpk/wholebody_pbpk.xml   # a path (relative to this file) or a library name
    regimen: "2 mg iv to drug_venous_blood"     # regimen text, the same for every sample
    times: "0:24:0.25"                          # START:END:STEP, or a list of times (model units)
    parameters:                                 # the uncertain parameters (factors)
      - {id: CLint_CYP3A4, factor: 2}           # nominal / 2 .. nominal x 2, log-uniform
      - {id: fu, lower: 0.02, upper: 0.06}      # uniform on [lower, upper]
      - {id: BP, distribution: normal, mean: 0.8, sd: 0.08}
      - {id: Kp_adipose, distribution: lognormal, median: 10, cv: 0.5, group: tissue}
      - {id: Kp_muscle, factor: 1.5, group: tissue}
    correlations:                               # inside a group only (Gaussian copula)
      - {between: [Kp_adipose, Kp_muscle], rho: 0.6}
    outputs:
      - {id: auc, kind: nca, selection: C_plasma, metric: auc}
      - {id: c2h, kind: value, selection: C_plasma, time: 2}
      - {id: t_below, kind: time_to, selection: C_plasma, threshold: 0.01, direction: below}
      - {id: mean_c, kind: summary, selection: C_plasma, statistic: mean, interval: [0, 12]}
      - {id: profile, kind: trajectory, selection: C_plasma}

Parameters in one ``group`` are varied together and share one index (Sobol group indices, SALib's
``groups``); correlations are allowed only inside a group, where they are imposed with a Gaussian copula on
the sampled quantiles, so every sample of the design keeps the dependence.

Examples
--------
>>> from qsp_sbml.typed_yaml import YamlDoc, parse
>>> doc = YamlDoc.from_text("kind: gsa\\nparameters:\\n  - {id: x, lower: 2, upper: 1}\\n", source="s.yaml")
>>> parse(GsaSpec, doc, error=SensitivityError)
Traceback (most recent call last):
...
qsp_sbml.sensitivity.spec.SensitivityError: s.yaml, line 3, field parameters[0]: lower (2.0) must be below upper (1.0)
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from qsp_sbml.errors import QspError
from qsp_sbml.typed_yaml import SpecModel

__all__ = [
    "Correlation",
    "Distribution",
    "GsaSpec",
    "Metric",
    "NcaOutput",
    "OutputSpec",
    "ParameterSpec",
    "PopulationSpec",
    "ResponderRateOutput",
    "SensitivityError",
    "Statistic",
    "SummaryOutput",
    "TimeToOutput",
    "TrajectoryOutput",
    "ValueOutput",
    "parse_times",
]


class SensitivityError(QspError, ValueError):
    """A sensitivity-analysis spec or request is invalid (the message names file, line and field)."""


class Distribution(StrEnum):
    """Marginal distribution of a parameter."""

    UNIFORM = "uniform"
    NORMAL = "normal"
    LOGNORMAL = "lognormal"


class Metric(StrEnum):
    """NCA metrics of :func:`qsp_sbml.metrics.nca` available as outputs."""

    #: AUC from the first time to the last positive value (AUC over ``interval``).
    AUC = "auc"
    #: AUC extrapolated to infinity from the terminal phase.
    AUC_INF = "auc_inf"
    CMAX = "cmax"
    TMAX = "tmax"
    #: The value at the end of the interval.
    CTROUGH = "ctrough"
    T_HALF = "t_half"


class Statistic(StrEnum):
    """Summaries of a biomarker over an interval."""

    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    AUC = "auc"
    CHANGE = "change"
    PERCENT_CHANGE = "percent_change"


class ParameterSpec(SpecModel):
    """One uncertain parameter: a model id and its distribution.

    Give ``lower``/``upper`` (uniform, ``scale: log`` for log-uniform), or ``factor`` (log-uniform on
    nominal / factor .. nominal x factor, the nominal value read from the model), or ``distribution:
    normal`` with ``mean``/``sd`` or ``distribution: lognormal`` with ``median``/``cv``.
    """

    #: SBML id of a parameter, compartment or species (initial value) of the model.
    id: str = Field(min_length=1)
    distribution: Distribution = Distribution.UNIFORM
    #: Bounds of a uniform distribution (model units).
    lower: float | None = None
    upper: float | None = None
    #: ``log``: uniform on the log scale (log-uniform); default linear, or log with ``factor``.
    scale: Literal["linear", "log"] | None = None
    #: Relative range around the model's nominal value: nominal / factor .. nominal x factor.
    factor: float | None = Field(default=None, gt=1)
    #: Normal distribution.
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    #: Log-normal distribution: median and coefficient of variation (sdlog = sqrt(log(1 + cv^2))).
    median: float | None = Field(default=None, gt=0)
    cv: float | None = Field(default=None, gt=0)
    #: Parameters sharing a group are varied together and get one index.
    group: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        given = {k for k in ("lower", "upper", "factor", "mean", "sd", "median", "cv") if getattr(self, k) is not None}
        if self.distribution is Distribution.UNIFORM:
            if self.factor is not None:
                extra = given - {"factor"}
                if extra:
                    raise ValueError(f"give factor or lower/upper, not both (also got {sorted(extra)})")
                if self.scale == "linear":
                    raise ValueError("factor ranges are log-uniform; use lower/upper for a linear range")
            else:
                if self.lower is None or self.upper is None:
                    raise ValueError("a uniform parameter needs lower and upper (or factor)")
                extra = given - {"lower", "upper"}
                if extra:
                    raise ValueError(f"{sorted(extra)} do not apply to a uniform distribution")
                if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
                    raise ValueError("lower and upper must be finite numbers")
                if self.lower >= self.upper:
                    raise ValueError(f"lower ({self.lower}) must be below upper ({self.upper})")
                if self.scale == "log" and self.lower <= 0:
                    raise ValueError(f"a log-scale range needs lower > 0, got {self.lower}")
        elif self.distribution is Distribution.NORMAL:
            if self.mean is None or self.sd is None or given - {"mean", "sd"}:
                raise ValueError("a normal parameter takes mean and sd (and nothing else)")
        elif self.median is None or self.cv is None or given - {"median", "cv"}:
            raise ValueError("a lognormal parameter takes median and cv (and nothing else)")
        if self.scale is not None and self.distribution is not Distribution.UNIFORM:
            raise ValueError("scale applies to uniform distributions only")
        return self

    @property
    def log_scale(self) -> bool:
        """True when the parameter is sampled uniformly on the log scale."""
        return self.distribution is Distribution.UNIFORM and (self.scale == "log" or self.factor is not None)


class Correlation(SpecModel):
    """A rank-free Gaussian-copula correlation between two parameters of one group."""

    between: tuple[str, str]
    rho: float = Field(gt=-1, lt=1)


class _Output(SpecModel):
    #: Name of the output in the results table.
    id: str = Field(min_length=1)
    #: RoadRunner selection (``C_plasma``, ``[S]``) the output is computed from.
    selection: str = Field(min_length=1)


class ValueOutput(_Output):
    """The selection at one time."""

    kind: Literal["value"]
    time: float = Field(ge=0)


class NcaOutput(_Output):
    """An NCA metric of the selection over ``interval`` (default: the whole simulated span)."""

    kind: Literal["nca"]
    metric: Metric
    interval: tuple[float, float] | None = None


class TimeToOutput(_Output):
    """The first time the selection crosses ``threshold`` (linear interpolation); the last time if never."""

    kind: Literal["time_to"]
    threshold: float
    direction: Literal["above", "below"] = "above"


class SummaryOutput(_Output):
    """A biomarker summary over ``interval``; ``change``/``percent_change`` are end versus start."""

    kind: Literal["summary"]
    statistic: Statistic
    interval: tuple[float, float] | None = None


class TrajectoryOutput(_Output):
    """The selection at every output time: indices over time."""

    kind: Literal["trajectory"]


class ResponderRateOutput(_Output):
    """Fraction of the virtual population (``population:``) whose selection meets a criterion at ``time``.

    ``of``: the value itself, its change or its percent change from the first output time (baseline);
    a subject responds when that quantity is ``below`` (or ``above``) ``threshold``.
    """

    kind: Literal["responder_rate"]
    time: float = Field(ge=0)
    of: Literal["value", "change", "percent_change"] = "percent_change"
    threshold: float
    direction: Literal["above", "below"] = "below"


OutputSpec = Annotated[
    ValueOutput | NcaOutput | TimeToOutput | SummaryOutput | TrajectoryOutput | ResponderRateOutput,
    Field(discriminator="kind"),
]


class PopulationSpec(SpecModel):
    """A virtual population simulated at every design row (the same subjects each time).

    Each subject's parameter is the row's value (or the model's) times ``exp(eta)``, ``eta ~ N(0, omega^2)``
    with ``omega^2 = log(1 + cv^2)`` (log-normal between-subject variability); the etas are drawn once from
    ``seed`` and reused at every row (common random numbers), so the population outputs are smooth
    functions of the analysed parameters.  Outputs other than ``responder_rate`` become population means.
    """

    #: Subjects per design row.
    n: int = Field(ge=2)
    #: Coefficient of variation of the log-normal variability, by parameter id.
    cv: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    #: Seed of the subjects' etas (default: the analysis seed).
    seed: int | None = Field(default=None, ge=0)


def parse_times(value: Any) -> np.ndarray:
    """``"0:24:0.5"`` (START:END:STEP, END included) or a list of times -> sorted array.

    >>> parse_times("0:2:0.5").tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    """
    if isinstance(value, str):
        try:
            start, end, step = (float(x) for x in value.split(":"))
        except ValueError:
            raise ValueError(f"times must be START:END:STEP or a list of numbers, got {value!r}") from None
        if not (step > 0 and end > start >= 0):
            raise ValueError(f"times {value!r}: need 0 <= START < END and STEP > 0")
        n = int(math.floor((end - start) / step + 1e-9))
        return np.round(start + step * np.arange(n + 1), 12)
    t = np.asarray(value, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise ValueError("times must be at least two finite, increasing, non-negative numbers")
    return t


class GsaSpec(SpecModel):
    """A global sensitivity analysis: what varies, what is simulated, what is measured."""

    #: Declares the spec kind (every spec of the package has one).
    kind: Literal["gsa"]
    #: Model file (relative to the spec) or library name (``pbpk/wholebody_pbpk``); None for Python functions.
    model: str | None = None
    #: Regimen text (:class:`qsp_sbml.dosing.Regimen`), the same for every sample.
    regimen: str | None = None
    #: Output times: ``START:END:STEP`` or a list.
    times: str | list[float] | None = None
    #: Fixed parameter values set on the model for every sample (model units).
    fixed: dict[str, float] = Field(default_factory=dict)
    parameters: list[ParameterSpec] = Field(min_length=1)
    correlations: list[Correlation] = Field(default_factory=list)
    outputs: list[OutputSpec] = Field(default_factory=list)
    #: A virtual population simulated at every design row (population outputs such as responder rates).
    population: PopulationSpec | None = None
    #: Defaults for the CLI (overridden by its options).
    method: Literal["morris", "sobol"] | None = None
    n: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)

    @field_validator("times")
    @classmethod
    def _times(cls, v: str | list[float] | None) -> str | list[float] | None:
        if v is not None:
            parse_times(v)
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        base = (info.context or {}).get("base")
        p = Path(v) if base is None or Path(v).is_absolute() else Path(base) / v
        if p.is_file():
            return str(p.resolve())
        from qsp_sbml.registry import UnknownModelError, model_path

        try:
            return str(model_path(v))
        except UnknownModelError:
            raise ValueError(
                f"no such model file {p} and no library model named {v!r} (qsp-sbml models list)"
            ) from None

    @model_validator(mode="after")
    def _cross(self) -> Self:
        ids = [p.id for p in self.parameters]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"parameters listed twice: {dup}")
        groups = {p.id: p.group for p in self.parameters}
        for c in self.correlations:
            for pid in c.between:
                if pid not in groups:
                    raise ValueError(f"correlation between {list(c.between)}: {pid!r} is not a listed parameter")
            a, b = c.between
            if a == b or groups[a] is None or groups[a] != groups[b]:
                raise ValueError(
                    f"correlation between {a!r} and {b!r}: correlated parameters must be two different "
                    "parameters of the same group (their variance is shared, give them one group:)"
                )
        out_ids = [o.id for o in self.outputs]
        dup = sorted({i for i in out_ids if out_ids.count(i) > 1})
        if dup:
            raise ValueError(f"output ids listed twice: {dup}")
        if self.model is not None:
            if not self.outputs:
                raise ValueError("a model analysis needs at least one output")
            if self.times is None:
                raise ValueError("a model analysis needs times")
        rates = [o.id for o in self.outputs if isinstance(o, ResponderRateOutput)]
        if rates and self.population is None:
            raise ValueError(f"responder_rate output(s) {rates} need a population: section")
        if self.population is not None and any(isinstance(o, TrajectoryOutput) for o in self.outputs):
            raise ValueError("trajectory outputs are per model run; they cannot be combined with population:")
        overlap = sorted(set(self.fixed) & set(ids))
        if overlap:
            raise ValueError(f"{overlap} are both fixed and varied")
        return self

    @property
    def time_grid(self) -> np.ndarray:
        """The output times as an array."""
        if self.times is None:
            raise SensitivityError("the spec has no times")
        return parse_times(self.times)

    @property
    def group_names(self) -> list[str]:
        """The factors of the analysis: group names and ungrouped parameter ids, in first-seen order."""
        return list(dict.fromkeys(p.group or p.id for p in self.parameters))
