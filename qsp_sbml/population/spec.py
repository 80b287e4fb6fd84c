"""Build a :class:`~qsp_sbml.population.cohort.Cohort` from a YAML specification (``qsp-sbml vpop``).

Keys (all optional, but a cohort needs parameters or covariates); relative paths are resolved against the
spec's folder::

    population: healthy_adults          # a preset of qsp_sbml.population.POPULATIONS, or
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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qsp_sbml.errors import PopulationError
from qsp_sbml.population.cohort import Cohort

__all__ = ["SPEC_KEYS", "build_vpop", "read_spec"]

#: The keys a vpop spec may have.
SPEC_KEYS = ("population", "covariates", "drug", "model", "parameters", "posterior", "covariate_effects", "iiv",
             "genotypes", "selection")
_SUBKEYS = {
    "posterior": {"file", "parameters", "rename"},
    "iiv": {"cv", "correlation", "omega", "parameters"},
    "genotypes": {"genes", "group", "drug"},
    "selection": {"regimen", "biomarker", "time", "plausible", "target", "method", "beta"},
    "covariates": {"file", "age_range", "female_fraction", "egfr_range"},
}


class _Spec:
    """A parsed spec that remembers the line of each top-level key for error messages."""

    def __init__(self, data: dict[str, Any], lines: dict[str, int], path: Path) -> None:
        self.data, self.lines, self.path = data, lines, path

    def error(self, key: str, message: str) -> PopulationError:
        line = self.lines.get(key.split(".")[0])
        where = f"{self.path}" + (f", line {line}" if line else "") + f", key {key!r}"
        return PopulationError(f"{where}: {message}")

    def section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise self.error(key, f"must be a mapping, got {type(value).__name__}")
        unknown = set(value) - _SUBKEYS.get(key, set(value))
        if unknown:
            raise self.error(key, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_SUBKEYS[key])}")
        return value

    def file(self, key: str, name: str) -> Path:
        p = Path(name)
        p = p if p.is_absolute() else self.path.parent / p
        if not p.is_file():
            raise self.error(key, f"no such file: {p}")
        return p


def read_spec(path: str | Path) -> _Spec:
    """Read and check the top-level keys of a vpop spec; errors name the file, line and key."""
    path = Path(path)
    if not path.is_file():
        raise PopulationError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PopulationError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or node is None:
        raise PopulationError(f"{path}: a vpop spec is a YAML mapping of {list(SPEC_KEYS)}")
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    spec = _Spec(data, lines, path)
    for key in data:
        if key not in SPEC_KEYS:
            raise spec.error(str(key), f"unknown key; allowed: {list(SPEC_KEYS)}")
    if not any(k in data for k in ("population", "covariates", "drug", "parameters", "posterior")):
        raise PopulationError(f"{path}: the spec gives no parameters or covariates (use population, covariates, "
                              "drug, parameters or posterior)")
    return spec


def _covariates(spec: _Spec, n: int, rng: np.random.Generator) -> pd.DataFrame | None:
    from qsp_sbml.population.covariates import read_covariates, sample_covariates
    from qsp_sbml.population.presets import sample_population

    d = spec.data
    if "population" in d and "covariates" in d:
        raise spec.error("covariates", "give either population or covariates, not both")
    if "population" in d:
        return sample_population(str(d["population"]), n, seed=rng)
    if "covariates" not in d:
        return None
    sec = spec.section("covariates")
    if "file" in sec:
        table = read_covariates(spec.file("covariates.file", str(sec["file"])))
        if len(table) < n:
            raise spec.error("covariates.file", f"has {len(table)} subjects, fewer than n={n}")
        return table.iloc[:n].reset_index(drop=True)
    kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in sec.items()}
    return sample_covariates(n, seed=rng, **kwargs)


def _model(spec: _Spec) -> Any:
    from qsp_sbml.loading import load_model

    if "model" not in spec.data:
        return None
    return load_model(spec.file("model", str(spec.data["model"])))


def build_vpop(spec_path: str | Path, n: int, *, seed: int) -> tuple[Cohort, dict[str, Any]]:
    """The cohort a spec describes, and a summary (candidates, selected, beta...).

    Errors name the spec file, the line and key of the offending entry.
    """
    from qsp_sbml.population.variability import PowerCovariate, apply_covariates, lognormal_iiv, sample_draws

    if not (isinstance(n, int) and n > 0):
        raise PopulationError(f"n must be a positive integer, got {n!r}")
    spec = read_spec(spec_path)
    d = spec.data
    rngs = np.random.default_rng(seed).spawn(6)
    cov = _covariates(spec, n, rngs[0])
    model = _model(spec)
    params = pd.DataFrame(index=range(n))
    if "drug" in d:
        params = _drug_parameters(spec, cov)
    if "parameters" in d:
        fixed = d["parameters"]
        if not isinstance(fixed, dict) or not all(isinstance(v, int | float) for v in fixed.values()):
            raise spec.error("parameters", "must map parameter ids to numbers")
        for k, v in fixed.items():
            params[str(k)] = float(v)
    if "posterior" in d:
        sec = spec.section("posterior")
        if "file" not in sec:
            raise spec.error("posterior", "needs file: the table of draws")
        draws = sample_draws(spec.file("posterior.file", str(sec["file"])), n, seed=rngs[1])
        keep = list(sec.get("parameters") or [c for c in draws.columns if c != "draw"])
        missing = [c for c in keep if c not in draws.columns]
        if missing:
            raise spec.error("posterior.parameters", f"column(s) {missing} are not in the draws file")
        draws = draws[keep].rename(columns=dict(sec.get("rename") or {}))
        for c in draws.columns:
            params[c] = draws[c].to_numpy()
    if "covariate_effects" in d:
        effects_raw = d["covariate_effects"]
        if cov is None or not isinstance(effects_raw, list):
            raise spec.error("covariate_effects", "needs covariates and a list of {parameter, covariate, "
                             "reference, exponent}")
        try:
            effects = [PowerCovariate(**e) for e in effects_raw]
        except TypeError as err:
            raise spec.error("covariate_effects", str(err)) from None
        params = apply_covariates(params, cov, effects)
    if "iiv" in d:
        sec = spec.section("iiv")
        if "omega" in sec:
            names = sec.get("parameters")
            if not isinstance(names, list) or not names:
                raise spec.error("iiv", "with omega, give parameters: [ids in the order of omega's rows]")
        elif isinstance(sec.get("cv"), dict) and sec["cv"]:
            names = list(sec["cv"])
        else:
            raise spec.error("iiv", "needs cv: {parameter: CV} (with an optional correlation), or omega and "
                             "parameters")
        try:
            params = lognormal_iiv(params, seed=rngs[2], names=names,
                                   cv=None if "omega" in sec else sec["cv"],
                                   correlation=sec.get("correlation"), omega=sec.get("omega"))
        except PopulationError as err:
            raise spec.error("iiv", str(err)) from None
    genotypes = None
    if "genotypes" in d:
        genotypes, params = _genotypes(spec, model, params, rngs[3])
    parameters: pd.DataFrame | None = params if params.shape[1] else None
    cohort = Cohort.from_parts(covariates=cov, genotypes=genotypes, parameters=parameters, seed=seed,
                               provenance={"spec": Path(spec_path).read_text(encoding="utf-8"),
                                           "spec_file": str(spec_path), "n_candidates": n})
    summary: dict[str, Any] = {"n_candidates": n, "n": cohort.n}
    if "selection" in d:
        cohort, summary = _select(spec, model, cohort, rngs[4])
    return cohort, summary


def _drug_parameters(spec: _Spec, cov: pd.DataFrame | None) -> pd.DataFrame:
    from qsp_sbml.pbpk.drugs import load_drug
    from qsp_sbml.population.presets import subject_parameters
    from qsp_sbml.resources import project_models_dir

    if cov is None:
        raise spec.error("drug", "PBPK parameters per subject need covariates (population or covariates)")
    name = str(spec.data["drug"])
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = project_models_dir() / "pbpk" / "drugs" / f"{name}.yaml"
    elif not path.is_absolute():
        path = spec.path.parent / path
    if not path.is_file():
        raise spec.error("drug", f"no drug record {path}")
    drug = load_drug(path)
    return pd.DataFrame([subject_parameters(drug, row).values for _, row in cov.iterrows()])


def _genotypes(spec: _Spec, model: Any, params: pd.DataFrame,
               rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    from qsp_sbml.pharmacogenomics import genotype_parameters, sample_genotypes

    sec = spec.section("genotypes")
    genes, group = sec.get("genes"), sec.get("group")
    if not isinstance(genes, list) or not genes or not isinstance(group, str):
        raise spec.error("genotypes", "needs genes: [GENE, ...] and group: NAME")
    if model is None:
        raise spec.error("genotypes", "needs model: the SBML whose m_<GENE> parameters the genotypes scale")
    n = len(params)
    table = pd.DataFrame({g: sample_genotypes(str(g), group, n, seed=rng) for g in genes})
    out = params.copy()
    m = model.sbml_model  # values from the SBML: no compilation needed
    values = {m.getParameter(i).getId(): float(m.getParameter(i).getValue()) for i in range(m.getNumParameters())}
    cache: dict[tuple[str, ...], dict[str, float]] = {}
    factors: dict[str, np.ndarray] = {}
    for i, combo in enumerate(table.itertuples(index=False, name=None)):
        if combo not in cache:
            # the file, not the flat model: flattening drops the comp ports that tag m_<GENE> parameters
            cache[combo] = genotype_parameters(spec.file("model", str(spec.data["model"])),
                                               dict(zip(genes, combo, strict=True)), sec.get("drug"))
        for pid, mult in cache[combo].items():
            factors.setdefault(pid, np.ones(n))[i] = mult
    for pid, f in factors.items():
        base = out[pid].to_numpy(dtype=float) if pid in out.columns else np.full(n, values[pid])
        out[pid] = base * f
    return table, out


def _select(spec: _Spec, model: Any, cohort: Cohort, rng: np.random.Generator) -> tuple[Cohort, dict[str, Any]]:
    from qsp_sbml.population.simulation import simulate_cohort
    from qsp_sbml.population.vpop import _as_target, plausible_mask, select_vpop

    sec = spec.section("selection")
    if model is None:
        raise spec.error("selection", "needs model: plausible patients are simulated")
    for key in ("biomarker", "time", "target"):
        if key not in sec:
            raise spec.error(f"selection.{key}", "is required")
    biomarker, t = str(sec["biomarker"]), float(sec["time"])
    method = str(sec.get("method", "select"))
    try:
        target = _as_target(_mapping(spec, "selection.target", sec["target"]), [biomarker])
    except PopulationError as err:
        raise spec.error("selection.target", str(err)) from None
    # RoadRunner needs two output times: a biomarker at time 0 (a baseline) is the first of [0, 1]
    res = simulate_cohort(model, cohort, [0.0, t] if t > 0 else [0.0, 1.0], outputs=[biomarker],
                          regimen=sec.get("regimen"), progress=None)  # a bar on a terminal
    values = pd.DataFrame({biomarker: res.values[:, -1 if t > 0 else 0, 0]})
    bounds = sec.get("plausible")
    if bounds is not None and (not isinstance(bounds, list) or len(bounds) != 2):
        raise spec.error("selection.plausible", "must be [low, high]")
    keep = plausible_mask(values, {biomarker: (float(bounds[0]), float(bounds[1]))} if bounds else {biomarker: (
        -np.inf, np.inf)})
    if keep.sum() < 2:
        raise spec.error("selection.plausible", f"only {int(keep.sum())} plausible patients of {cohort.n}")
    table = cohort.table.copy()
    column = f"biomarker_{biomarker.strip('[]')}"
    table[column] = values[biomarker].to_numpy()
    columns = dict(cohort.columns)
    columns["covariates"] = (*columns.get("covariates", ()), column)
    plausible = Cohort(table, columns, cohort.seed, cohort.provenance).select(keep)
    sel = select_vpop(plausible.table[[column]].rename(columns={column: biomarker}), target, seed=rng,
                      beta=sec.get("beta"), method=method)
    if method == "weights":
        table = plausible.table.copy()
        table["weight"] = sel.weights
        out = Cohort(table, plausible.columns, plausible.seed, plausible.provenance)
    else:
        if not sel.selected.any():
            raise spec.error("selection", "no plausible patient was selected; raise n or beta")
        out = plausible.select(sel.selected)
    summary = {"n_candidates": cohort.n, "n_plausible": int(keep.sum()), "n": out.n, "method": method,
               "beta": sel.beta, "target": json.loads(json.dumps(sec["target"], default=str))}
    provenance = {**out.provenance, "selection": summary}
    return Cohort(out.table, out.columns, out.seed, provenance), summary


def _mapping(spec: _Spec, key: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise spec.error(key, "must be a mapping")
    return value
