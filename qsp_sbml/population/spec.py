"""Build a :class:`~qsp_sbml.population.cohort.Cohort` from a YAML specification (``qsp-sbml vpop``).

The spec is a :class:`~qsp_sbml.population.description.PopulationDescription` (the one description of a
population, shared with the trial design's ``population:`` block) plus ``kind: vpop`` and ``model``.
Fields (all optional, but a cohort needs parameters or covariates); relative paths are resolved against the
spec's folder::

    kind: vpop                          # declares the file's kind (qsp-sbml validate needs it)
    preset: healthy_adults              # a preset of qsp_sbml.population.POPULATIONS, or
    covariates: {file: cov.tsv}         # a covariate table, or {age_range: [20, 50], female_fraction: 0.5}
    drug: midazolam                     # whole-body PBPK parameters per subject (a record of
                                        # models/pbpk/drugs/, or a path to one)
    model: model.xml                    # needed by genotypes and selection
    parameters: {CL: 2.8, Vc: 32}       # fixed typical values
    posterior:                          # parameter sets resampled from posterior draws (linear scale)
      file: draws.tsv
      parameters: [CL, V, ka]           # optional subset
      rename: {V: Vc}                   # optional PEtab id -> model id
    covariate_effects:
      - {parameter: CL, covariate: weight_kg, reference: 70, exponent: 0.75}
    iiv: {cv: {CL: 0.3, Vc: 0.2}, correlation: [[1, 0.5], [0.5, 1]]}   # or {parameters: [..], omega: [[..]]}
    genotypes: {genes: [CYP2D6, CYP2C9], group: European}   # drug: ID for drug-specific scaling
    selection:                          # Allen-Rieger-Musante plausible-patient selection
      regimen: "320 mg po to A_gut"     # optional
      biomarker: C                      # a model output
      time: 12                          # model time of the biomarker (0: a baseline, before any dose)
      plausible: [0.5, 30]              # bounds of a plausible biomarker value
      target: {distribution: lognormal, median: 5, cv: 0.3}   # or meanlog/sdlog, or a published mean/sd;
                                                               # normal: mean, sd
      method: select                    # or weights (prevalence weighting)

Order: covariates, drug parameters, fixed parameters, posterior draws (each later source overrides a
column of an earlier one), covariate effects, IIV, genotype multipliers, selection.  ``n`` is the number of
candidate (plausible) patients drawn; with ``selection: {method: select}`` the cohort keeps the selected
ones.  Random streams are spawned from the seed per step, so every step is reproducible.

The file is read by :mod:`qsp_sbml.typed_yaml`: an unknown field, a wrong type or a missing required key is
an error naming the file, the line and the field, as are the checks made while building
(``vpop.yaml, line 7, field covariates.file: has 10 subjects, fewer than n=20``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import field_validator, model_validator

from qsp_sbml.errors import PopulationError
from qsp_sbml.population.cohort import Cohort
from qsp_sbml.population.description import PopulationDescription
from qsp_sbml.typed_yaml import At, YamlDoc, existing_file, parse, read_yaml, spec_error

__all__ = ["FewPlausibleError", "VpopSpec", "build_vpop", "read_spec"]


class FewPlausibleError(PopulationError):
    """Fewer than two of the candidates are plausible (a property of the draw and ``n``, not of the spec)."""


class VpopSpec(PopulationDescription):
    """A vpop spec file: a population description, its declared kind and the model."""

    #: ``vpop``: the file's declared kind.
    kind: Literal["vpop"] | None = None
    #: The SBML model; needed by ``genotypes`` and ``selection``.
    model: str | None = None

    _model = field_validator("model")(lambda v, info: v if v is None else existing_file(v, info))

    @model_validator(mode="after")
    def _needs(self) -> VpopSpec:
        for name in ("genotypes", "selection"):
            if getattr(self, name) is not None and self.model is None:
                raise At(name, "needs model: the SBML model " + (
                    "whose m_<GENE> parameters the genotypes scale" if name == "genotypes"
                    else "plausible patients are simulated with"))
        return self


class _Read:
    """A parsed vpop spec with its document (for errors naming file, line and field) and folder."""

    def __init__(self, spec: VpopSpec, doc: YamlDoc, path: Path) -> None:
        self.spec, self.doc, self.path = spec, doc, path

    def error(self, field: str, message: str) -> Exception:
        return spec_error(self.doc, field, message, error=PopulationError)

    def file(self, name: str) -> Path:
        p = Path(name)
        return p if p.is_absolute() else self.path.parent / p


def read_spec(path: str | Path) -> _Read:
    """Read and check a vpop spec; errors name the file, the line and the field."""
    path = Path(path)
    doc = read_yaml(path, error=PopulationError, what="vpop spec")
    spec = parse(VpopSpec, doc, error=PopulationError)
    read = _Read(spec, doc, path)
    spec.refuse(("cohort", "vpop", "derived"), doc, "", error=PopulationError,
                hint="a vpop spec builds the cohort itself (cohort, vpop and derived belong in a trial design)")
    if not {"preset", "covariates", "drug", "parameters", "posterior"} & set(spec.given()):
        raise read.error("", "the spec gives no parameters or covariates (use preset, covariates, drug, "
                         "parameters or posterior)")
    return read


def _covariates(r: _Read, n: int, rng: np.random.Generator) -> pd.DataFrame | None:
    from qsp_sbml.population.covariates import read_covariates, sample_covariates
    from qsp_sbml.population.presets import sample_population

    s = r.spec
    if s.preset is not None:
        return sample_population(s.preset, n, seed=rng)
    if s.covariates is None:
        return None
    if s.covariates.file is not None:
        table = read_covariates(r.file(s.covariates.file))
        if len(table) < n:
            raise r.error("covariates.file", f"has {len(table)} subjects, fewer than n={n}")
        return table.iloc[:n].reset_index(drop=True)
    return sample_covariates(n, seed=rng, **s.covariates.sampler())  # type: ignore[arg-type]


def build_vpop(spec_path: str | Path, n: int, *, seed: int) -> tuple[Cohort, dict[str, Any]]:
    """The cohort a spec describes, and a summary (candidates, selected, beta...).

    Errors name the spec file, the line and the field of the offending entry.
    """
    from qsp_sbml.loading import load_model
    from qsp_sbml.population.variability import PowerCovariate, apply_covariates, lognormal_iiv, sample_draws

    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    r = read_spec(spec_path)
    s = r.spec
    rngs = np.random.default_rng(seed).spawn(6)
    cov = _covariates(r, n, rngs[0])
    model = load_model(r.file(s.model)) if s.model is not None else None
    params = pd.DataFrame(index=range(n))
    if s.drug is not None:
        params = _drug_parameters(r, cov)
    for k, v in s.parameters.items():
        params[k] = float(v)
    if s.posterior is not None:
        draws = sample_draws(r.file(s.posterior.file), n, seed=rngs[1])
        keep = list(s.posterior.parameters or [c for c in draws.columns if c != "draw"])
        missing = [c for c in keep if c not in draws.columns]
        if missing:
            raise r.error("posterior.parameters", f"column(s) {missing} are not in the draws file")
        draws = draws[keep].rename(columns=dict(s.posterior.rename))
        for c in draws.columns:
            params[c] = draws[c].to_numpy()
    if s.covariate_effects:
        try:
            effects = [PowerCovariate(**e.model_dump()) for e in s.covariate_effects]
        except PopulationError as err:
            raise r.error("covariate_effects", str(err)) from None
        params = apply_covariates(params, cov, effects)
    if s.iiv is not None:
        iiv = s.iiv
        try:
            params = lognormal_iiv(params, seed=rngs[2], names=iiv.names, cv=None if iiv.omega is not None else iiv.cv,
                                   correlation=iiv.correlation, omega=iiv.omega)
        except PopulationError as err:
            raise r.error("iiv", str(err)) from None
    genotypes = None
    if s.genotypes is not None:
        genotypes, params = _genotypes(r, model, params, rngs[3])
    parameters: pd.DataFrame | None = params if params.shape[1] else None
    cohort = Cohort.from_parts(covariates=cov, genotypes=genotypes, parameters=parameters, seed=seed,
                               provenance={"spec": Path(spec_path).read_text(encoding="utf-8"),
                                           "spec_file": str(spec_path), "n_candidates": n})
    summary: dict[str, Any] = {"n_candidates": n, "n": cohort.n}
    if s.selection is not None:
        cohort, summary = _select(r, model, cohort, rngs[4])
    return cohort, summary


def _drug_parameters(r: _Read, cov: pd.DataFrame | None) -> pd.DataFrame:
    from qsp_sbml.pbpk.drugs import load_drug
    from qsp_sbml.population.presets import subject_parameters
    from qsp_sbml.resources import project_models_dir

    assert cov is not None  # noqa: S101 - the description requires covariates with a drug
    name = str(r.spec.drug)
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = project_models_dir() / "pbpk" / "drugs" / f"{name}.yaml"
    elif not path.is_absolute():
        path = r.path.parent / path
    if not path.is_file():
        raise r.error("drug", f"no drug record {path}")
    drug = load_drug(path)
    return pd.DataFrame([subject_parameters(drug, row).values for _, row in cov.iterrows()])


def _genotypes(r: _Read, model: Any, params: pd.DataFrame,
               rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    from qsp_sbml.pharmacogenomics import genotype_parameters, sample_genotypes

    g = r.spec.genotypes
    assert g is not None and r.spec.model is not None  # noqa: S101 - checked by VpopSpec
    genes, group = g.genes, g.group
    n = len(params)
    try:
        table = pd.DataFrame({gene: sample_genotypes(gene, group, n, seed=rng) for gene in genes})
    except PopulationError as err:
        raise r.error("genotypes", str(err)) from None
    out = params.copy()
    m = model.sbml_model  # values from the SBML: no compilation needed
    values = {m.getParameter(i).getId(): float(m.getParameter(i).getValue()) for i in range(m.getNumParameters())}
    cache: dict[tuple[str, ...], dict[str, float]] = {}
    factors: dict[str, np.ndarray] = {}
    model_file = r.file(r.spec.model)
    for i, combo in enumerate(table.itertuples(index=False, name=None)):
        if combo not in cache:
            # the file, not the flat model: flattening drops the comp ports that tag m_<GENE> parameters
            cache[combo] = genotype_parameters(model_file, dict(zip(genes, combo, strict=True)), g.drug)
        for pid, mult in cache[combo].items():
            factors.setdefault(pid, np.ones(n))[i] = mult
    for pid, f in factors.items():
        base = out[pid].to_numpy(dtype=float) if pid in out.columns else np.full(n, values[pid])
        out[pid] = base * f
    return table, out


def _select(r: _Read, model: Any, cohort: Cohort, rng: np.random.Generator) -> tuple[Cohort, dict[str, Any]]:
    from qsp_sbml.population.simulation import simulate_cohort
    from qsp_sbml.population.vpop import _as_target, plausible_mask, select_vpop

    sec = r.spec.selection
    assert sec is not None  # noqa: S101 - called with a selection
    biomarker, t, method = sec.biomarker, float(sec.time), sec.method
    raw_target = r.doc.data["selection"]["target"]
    try:
        target = _as_target(sec.target.model_dump(exclude_unset=True), [biomarker])
    except PopulationError as err:
        raise r.error("selection.target", str(err)) from None
    # RoadRunner needs two output times: a biomarker at time 0 (a baseline) is the first of [0, 1]
    res = simulate_cohort(model, cohort, [0.0, t] if t > 0 else [0.0, 1.0], outputs=[biomarker],
                          regimen=sec.regimen, progress=None)  # a bar on a terminal
    values = pd.DataFrame({biomarker: res.values[:, -1 if t > 0 else 0, 0]})
    bounds = sec.plausible
    keep = plausible_mask(values, {biomarker: (float(bounds[0]), float(bounds[1]))} if bounds else {biomarker: (
        -np.inf, np.inf)})
    if keep.sum() < 2:
        raise spec_error(r.doc, "selection.plausible", f"only {int(keep.sum())} plausible patients of {cohort.n}",
                         error=FewPlausibleError)
    table = cohort.table.copy()
    column = f"biomarker_{biomarker.strip('[]')}"
    table[column] = values[biomarker].to_numpy()
    columns = dict(cohort.columns)
    columns["covariates"] = (*columns.get("covariates", ()), column)
    plausible = Cohort(table, columns, cohort.seed, cohort.provenance).select(keep)
    sel = select_vpop(plausible.table[[column]].rename(columns={column: biomarker}), target, seed=rng,
                      beta=sec.beta, method=method)
    if method == "weights":
        table = plausible.table.copy()
        table["weight"] = sel.weights
        out = Cohort(table, plausible.columns, plausible.seed, plausible.provenance)
    else:
        if not sel.selected.any():
            raise r.error("selection", "no plausible patient was selected; raise n or beta")
        out = plausible.select(sel.selected)
    summary = {"n_candidates": cohort.n, "n_plausible": int(keep.sum()), "n": out.n, "method": method,
               "beta": sel.beta, "target": json.loads(json.dumps(raw_target, default=str))}
    provenance = {**out.provenance, "selection": summary}
    return Cohort(out.table, out.columns, out.seed, provenance), summary
