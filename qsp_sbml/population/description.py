"""One typed description of a virtual population, shared by every spec that describes one.

The vpop spec (``qsp-sbml vpop``, :mod:`qsp_sbml.population.spec`) is a :class:`PopulationDescription`
plus ``kind`` and ``model``; a parallel trial design's ``population:`` block is one too
(:mod:`qsp_sbml.trial.design`).  The fields (all optional; paths relative to the spec file)::

    preset: healthy_adults            # a preset of qsp_sbml.population.POPULATIONS, or
    covariates: {file: cov.tsv}       # a covariate table, or {age_range: [20, 50], female_fraction: 0.5}
    drug: midazolam                   # whole-body PBPK parameters per subject (a drug record)
    parameters: {CL: 2.8}             # fixed typical values
    derived: {ALT: "ALT_0 + q_ALT"}   # columns computed from others (DataFrame.eval)
    posterior: {file: draws.tsv, parameters: [CL], rename: {V: Vc}}
    covariate_effects: [{parameter: CL, covariate: weight_kg, reference: 70, exponent: 0.75}]
    iiv: {cv: {CL: 0.3}, correlation: [[1]]}    # or {parameters: [CL], omega: [[0.09]]}
    genotypes: {genes: [CYP2D6], group: European, drug: metoprolol}
    selection: {biomarker: C, time: 12, plausible: [0.5, 30], target: {distribution: lognormal, ...}}
    cohort: subjects.parquet          # a cohort file, resampled (trial designs)
    vpop: spec.yaml                   # a vpop spec, built per replicate (trial designs)

Each consumer says which fields it supports (:meth:`PopulationDescription.refuse`): an unsupported field
is an error naming the file, line and field, never silently ignored.  Field types, ranges and the
existence of files are checked when the spec is read (:func:`qsp_sbml.typed_yaml.parse`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from qsp_sbml.typed_yaml import At, Finite, Positive, SpecModel, YamlDoc, existing_file, spec_error

__all__ = [
    "CovariateEffectSpec",
    "CovariatesSpec",
    "GenotypesSpec",
    "IivSpec",
    "PopulationDescription",
    "PosteriorSpec",
    "Range",
    "SelectionSpec",
    "TargetSpec",
]

Range = tuple[Finite, Finite]
"""A closed interval ``[low, high]`` of finite numbers."""


class CovariatesSpec(SpecModel):
    """A covariate table (``file``) or the options of the covariate sampler."""

    #: A covariate table (TSV/CSV/Parquet) with at least ``n`` rows.
    file: str | None = None
    #: ``[low, high]`` years of sampled adults.
    age_range: Range | None = None
    #: Share of women.
    female_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    #: ``[low, high]`` mL/min/1.73 m2 to restrict the sampled eGFR.
    egfr_range: Range | None = None

    _file = field_validator("file")(lambda v, info: v if v is None else existing_file(v, info))

    @model_validator(mode="after")
    def _table_or_sampler(self) -> CovariatesSpec:
        if self.file is not None and self.sampler():
            raise At(next(iter(self.sampler())), "give either file or sampling options, not both")
        for name in ("age_range", "egfr_range"):
            r = getattr(self, name)
            if r is not None and not r[0] < r[1]:
                raise At(name, f"must be [low, high] with low < high, got {list(r)}")
        return self

    def sampler(self) -> dict[str, object]:
        """Keyword arguments of :func:`~qsp_sbml.population.covariates.sample_covariates` given here."""
        return {
            k: getattr(self, k) for k in ("age_range", "female_fraction", "egfr_range") if getattr(self, k) is not None
        }


class PosteriorSpec(SpecModel):
    """Parameter sets resampled from posterior draws (linear scale)."""

    #: The table of draws.
    file: str
    #: The columns to use (default: all).
    parameters: list[str] | None = None
    #: ``{PEtab id: model id}``.
    rename: dict[str, str] = Field(default_factory=dict)

    _file = field_validator("file")(lambda v, info: existing_file(v, info))


class CovariateEffectSpec(SpecModel):
    """``parameter *= (covariate / reference) ** exponent``."""

    parameter: str
    covariate: str
    reference: Positive
    exponent: Finite


class IivSpec(SpecModel):
    """Log-normal IIV: ``cv`` per parameter (optional ``correlation``), or ``omega`` with ``parameters``."""

    cv: Annotated[dict[str, Positive], Field(min_length=1)] | None = None
    correlation: list[list[Finite]] | None = None
    omega: list[list[Finite]] | None = None
    parameters: list[str] | None = None

    @model_validator(mode="after")
    def _cv_or_omega(self) -> IivSpec:
        if self.omega is not None:
            if self.cv is not None or self.correlation is not None:
                raise At("omega", "give omega with parameters, or cv with an optional correlation, not both")
            if not self.parameters:
                raise At("parameters", "with omega, give parameters: [ids in the order of omega's rows]")
            if any(len(row) != len(self.parameters) for row in self.omega) or len(self.omega) != len(self.parameters):
                raise At("omega", f"must be a {len(self.parameters)}x{len(self.parameters)} matrix")
        elif self.cv is None:
            raise At("cv", "needs cv: {parameter: CV} (with an optional correlation), or omega and parameters")
        elif self.correlation is not None:
            k = len(self.cv)
            if len(self.correlation) != k or any(len(row) != k for row in self.correlation):
                raise At("correlation", f"must be a {k}x{k} matrix (one row per cv entry)")
        return self

    @property
    def names(self) -> list[str]:
        """The parameters with IIV, in the order of the matrix."""
        return list(self.parameters or []) if self.omega is not None else list(self.cv or {})


class GenotypesSpec(SpecModel):
    """Star-allele genotypes sampled per subject and their clearance multipliers.

    Their one meaning (groups, Indeterminate redraws, the tagged parameter) is in
    :mod:`qsp_sbml.population.build`.
    """

    #: The genes (CPIC tables), e.g. ``[CYP2D6]``.
    genes: Annotated[list[str], Field(min_length=1)]
    #: The biogeographic group whose allele frequencies are sampled, or:
    group: str | None = None
    #: A mixture of groups, ``{name: weight}`` (weights are normalised): each subject's group is drawn.
    groups: Annotated[dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]], Field(min_length=1)] | None = None
    #: Drug id for drug-specific activity (CPIC guideline of that drug).
    drug: str | None = None

    @model_validator(mode="after")
    def _known(self) -> GenotypesSpec:
        from qsp_sbml.errors import QspError
        from qsp_sbml.pharmacogenomics import groups as known_groups

        if (self.group is None) == (self.groups is None):
            raise At("group", "give group: NAME or groups: {NAME: weight, ...} (a mixture)")
        for i, gene in enumerate(self.genes):
            try:
                available = known_groups(gene)
            except QspError as err:
                raise At(f"genes[{i}]", str(err)) from None
            for name in [self.group] if self.group is not None else list(self.groups or {}):
                if name not in available:
                    raise At(
                        "group" if self.group is not None else f"groups.{name}",
                        f"no {gene} allele frequencies for {name!r}; groups: {', '.join(available)}",
                    )
        return self


class TargetSpec(SpecModel):
    """The target distribution of the selection biomarker (see ``qsp_sbml.population.vpop``)."""

    distribution: Literal["normal", "lognormal"] = "normal"
    mean: Finite | None = None
    sd: Positive | None = None
    median: Positive | None = None
    cv: Positive | None = None
    meanlog: Finite | None = None
    sdlog: Positive | None = None


class SelectionSpec(SpecModel):
    """Allen-Rieger-Musante plausible-patient selection."""

    regimen: str | None = None
    biomarker: str
    time: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    plausible: Range | None = None
    target: TargetSpec
    method: Literal["select", "weights"] = "select"
    beta: Positive | None = None


#: Sources of covariates (at most one per description).
COVARIATE_SOURCES = ("preset", "covariates", "cohort", "vpop")


class PopulationDescription(SpecModel):
    """One virtual population: covariates (or a preset), drug, parameter sets, IIV, genotypes, selection."""

    #: A population preset (``healthy_adults``, ``elderly``, ``renal_G3a`` ...).
    preset: str | None = None
    #: A covariate table or sampling options.
    covariates: CovariatesSpec | None = None
    #: Whole-body PBPK parameters per subject from a drug record (name or path).
    drug: str | None = None
    #: Fixed typical values.
    parameters: dict[str, Finite] = Field(default_factory=dict)
    #: Columns computed from others (``DataFrame.eval`` expressions).
    derived: dict[str, str] = Field(default_factory=dict)
    #: Posterior draws.
    posterior: PosteriorSpec | None = None
    #: Power covariate effects.
    covariate_effects: list[CovariateEffectSpec] = Field(default_factory=list)
    #: Log-normal IIV.
    iiv: IivSpec | None = None
    #: Star-allele genotypes.
    genotypes: GenotypesSpec | None = None
    #: Plausible-patient selection.
    selection: SelectionSpec | None = None
    #: A cohort file, resampled.
    cohort: str | None = None
    #: A vpop spec file.
    vpop: str | None = None

    _files = field_validator("cohort", "vpop")(lambda v, info: v if v is None else existing_file(v, info))

    @field_validator("drug")
    @classmethod
    def _drug_record(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None or v.endswith((".yaml", ".yml")):
            return v if v is None else existing_file(v, info)
        from qsp_sbml.resources import project_models_dir

        if not (project_models_dir() / "pbpk" / "drugs" / f"{v}.yaml").is_file():
            raise ValueError(f"no drug record {v!r} in models/pbpk/drugs (give a name there or a .yaml path)")
        return v

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str | None) -> str | None:
        from qsp_sbml.population.presets import POPULATIONS

        if v is not None and v not in POPULATIONS:
            raise ValueError(f"unknown preset {v!r}; choose from {', '.join(sorted(POPULATIONS))}")
        return v

    @model_validator(mode="after")
    def _one_covariate_source(self) -> PopulationDescription:
        given = [k for k in COVARIATE_SOURCES if getattr(self, k) is not None]
        if len(given) > 1:
            raise At(given[1], f"give one of {', '.join(COVARIATE_SOURCES)} (got {', '.join(given)})")
        if (self.drug is not None or self.covariate_effects) and not given:
            raise At(
                "drug" if self.drug is not None else "covariate_effects",
                "needs covariates (preset, covariates, cohort or vpop)",
            )
        return self

    def given(self) -> list[str]:
        """The fields set in the file (in field order)."""
        return [k for k in type(self).model_fields if k in self.model_fields_set]

    def refuse(
        self, fields: Iterable[str], doc: YamlDoc, prefix: str, *, error: Callable[[str], Exception], hint: str
    ) -> None:
        """Raise ``error`` naming the first of ``fields`` given here (at ``prefix.field``) with ``hint``."""
        for name in self.given():
            if name in fields:
                raise spec_error(doc, f"{prefix}{name}", f"not supported here; {hint}", error=error)

    def mapping(self) -> dict[str, object]:
        """The fields given, as plain data (the form trial code reads)."""
        return self.model_dump(exclude_unset=True)
