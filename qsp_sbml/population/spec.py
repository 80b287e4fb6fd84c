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
        """The :class:`PopulationError` naming the file, the line of ``field`` and ``field``."""
        return spec_error(self.doc, field, message, error=PopulationError)

    def file(self, name: str) -> Path:
        """``name`` relative to the spec's folder."""
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


def build_vpop(spec_path: str | Path, n: int, *, seed: int) -> tuple[Cohort, dict[str, Any]]:
    """The cohort a spec describes, and a summary (candidates, selected, beta...).

    Errors name the spec file, the line and the field of the offending entry.
    """
    from qsp_sbml.loading import load_model
    from qsp_sbml.population.build import Streams, build_population

    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    r = read_spec(spec_path)
    s = r.spec
    rngs = np.random.default_rng(seed).spawn(6)  # covariates, posterior, iiv, genotypes, selection (one spare)
    model_file = r.file(s.model) if s.model is not None else None
    model = load_model(model_file) if model_file is not None else None  # checked even when only named
    pop = build_population(s, n, base=r.path.parent, model_file=model_file, fail=r.error,
                           streams=Streams(covariates=rngs[0], posterior=rngs[1], iiv=rngs[2], genotypes=rngs[3]))
    params = pop.parameters
    genotypes = pop.genotypes[s.genotypes.genes] if pop.genotypes is not None and s.genotypes is not None else None
    parameters: pd.DataFrame | None = params if params.shape[1] else None
    cohort = Cohort.from_parts(covariates=pop.covariates, genotypes=genotypes, parameters=parameters, seed=seed,
                               provenance={"spec": Path(spec_path).read_text(encoding="utf-8"),
                                           "spec_file": str(spec_path), "n_candidates": n})
    summary: dict[str, Any] = {"n_candidates": n, "n": cohort.n}
    if s.selection is not None:
        cohort, summary = _select(r, model, cohort, rngs[4])
    return cohort, summary


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
