"""Build the subjects a :class:`~qsp_sbml.population.description.PopulationDescription` describes.

One builder for every spec that describes a population (the vpop spec, a virtual bioequivalence design):
covariates (a preset, a table or the sampler), drug parameters, fixed parameters, posterior draws (each
later source overrides a column of an earlier one), covariate effects, IIV, genotypes.  Each step draws
from its own random stream (:class:`Streams`), so every step is reproducible whatever else the spec has.

Genotypes have one meaning everywhere (:func:`sample_genotype_table`, :func:`apply_genotypes`):

* each subject's biogeographic group is ``group`` or, with ``groups: {name: weight}``, drawn from that
  mixture; each gene's diplotype is drawn under Hardy-Weinberg equilibrium from the group's CPIC allele
  frequencies (:func:`qsp_sbml.pharmacogenomics.sample_genotypes`); a diplotype whose phenotype is
  Indeterminate (an allele without a CPIC activity value, hence no clearance multiplier) is redrawn from the
  same group, and the redraws are counted (``<gene>_redrawn``);
* the genotype multiplies the model parameter tagged with the gene (a comp port ``m_<GENE>`` or a
  ``qsp:pharmacogenomics`` annotation, :func:`qsp_sbml.pharmacogenomics.enzyme_parameters`) by
  :func:`~qsp_sbml.pharmacogenomics.clearance_multiplier` ``(gene, diplotype, drug)``, on top of the
  subject's own value of that parameter (drug parameters, IIV) or, without one, the model's value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.errors import QspError
from qsp_sbml.population.description import GenotypesSpec, PopulationDescription

__all__ = ["Population", "Streams", "apply_genotypes", "build_population", "sample_genotype_table"]

#: ``fail(field, message)``: the caller's exception naming the field (relative to the description).
Fail = Callable[[str, str], Exception]


@dataclass(frozen=True)
class Streams:
    """One random stream per step of :func:`build_population`."""

    covariates: np.random.Generator
    posterior: np.random.Generator
    iiv: np.random.Generator
    genotypes: np.random.Generator


@dataclass(frozen=True)
class Population:
    """Covariates (``None`` without a source), parameters (one column per id) and the genotype table."""

    covariates: pd.DataFrame | None
    parameters: pd.DataFrame
    genotypes: pd.DataFrame | None


def _path(base: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else base / p


def _covariates(
    d: PopulationDescription, n: int, base: Path, rng: np.random.Generator, fail: Fail
) -> pd.DataFrame | None:
    from qsp_sbml.population.covariates import read_covariates, sample_covariates
    from qsp_sbml.population.presets import sample_population

    if d.preset is not None:
        return sample_population(d.preset, n, seed=rng)
    if d.covariates is None:
        return None
    if d.covariates.file is not None:
        table = read_covariates(_path(base, d.covariates.file))
        if len(table) < n:
            raise fail("covariates.file", f"has {len(table)} subjects, fewer than n={n}")
        return table.iloc[:n].reset_index(drop=True)
    return sample_covariates(n, seed=rng, **d.covariates.sampler())  # type: ignore[arg-type]


def _drug_parameters(d: PopulationDescription, cov: pd.DataFrame, base: Path, fail: Fail) -> pd.DataFrame:
    from qsp_sbml.pbpk.drugs import load_drug
    from qsp_sbml.population.presets import subject_parameters
    from qsp_sbml.resources import project_models_dir

    name = str(d.drug)
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = project_models_dir() / "pbpk" / "drugs" / f"{name}.yaml"
    elif not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise fail("drug", f"no drug record {path}")
    drug = load_drug(path)
    return pd.DataFrame([subject_parameters(drug, row).values for _, row in cov.iterrows()])


def build_population(
    d: PopulationDescription, n: int, *, base: Path, model_file: Path | None, streams: Streams, fail: Fail
) -> Population:
    """The covariates, parameters and genotypes of ``n`` subjects (selection is the caller's).

    ``base`` is the spec's folder (relative paths), ``model_file`` the SBML model whose tagged parameters
    the genotypes scale, ``fail(field, message)`` the caller's error naming the field.
    """
    from qsp_sbml.errors import PopulationError
    from qsp_sbml.population.variability import PowerCovariate, apply_covariates, lognormal_iiv, sample_draws

    cov = _covariates(d, n, base, streams.covariates, fail)
    params = pd.DataFrame(index=range(n))
    if d.drug is not None:
        assert cov is not None  # noqa: S101 - the description requires covariates with a drug
        params = _drug_parameters(d, cov, base, fail)
    for k, v in d.parameters.items():
        params[k] = float(v)
    if d.posterior is not None:
        draws = sample_draws(_path(base, d.posterior.file), n, seed=streams.posterior)
        keep = list(d.posterior.parameters or [c for c in draws.columns if c != "draw"])
        missing = [c for c in keep if c not in draws.columns]
        if missing:
            raise fail("posterior.parameters", f"column(s) {missing} are not in the draws file")
        draws = draws[keep].rename(columns=dict(d.posterior.rename))
        for c in draws.columns:
            params[c] = draws[c].to_numpy()
    if d.covariate_effects:
        try:
            effects = [PowerCovariate(**e.model_dump()) for e in d.covariate_effects]
        except PopulationError as err:
            raise fail("covariate_effects", str(err)) from None
        params = apply_covariates(params, cov, effects)
    if d.iiv is not None:
        iiv = d.iiv
        try:
            params = lognormal_iiv(
                params,
                seed=streams.iiv,
                names=iiv.names,
                cv=None if iiv.omega is not None else iiv.cv,
                correlation=iiv.correlation,
                omega=iiv.omega,
            )
        except PopulationError as err:
            raise fail("iiv", str(err)) from None
    genotypes = None
    if d.genotypes is not None:
        if model_file is None:
            raise fail("genotypes", "needs the model whose m_<GENE> parameters the genotypes scale")
        genotypes = sample_genotype_table(d.genotypes, n, streams.genotypes, fail)
        params = apply_genotypes(params, genotypes, d.genotypes.genes, model_file, fail)
    return Population(cov, params, genotypes)


def sample_genotype_table(spec: GenotypesSpec, n: int, rng: np.random.Generator, fail: Fail) -> pd.DataFrame:
    """The genotypes of ``n`` subjects, one row each.

    Columns: ``group``, and per gene its diplotype (column ``<gene>``), ``<gene>_activity_score`` (NaN for
    genes scored by allele function), ``<gene>_phenotype``, ``<gene>_redrawn`` (Indeterminate draws
    replaced) and ``<gene>_multiplier``.

    Examples
    --------
    >>> import numpy as np
    >>> spec = GenotypesSpec(genes=["CYP2C19"], group="European")
    >>> t = sample_genotype_table(spec, 3, np.random.default_rng(1), lambda f, m: ValueError(m))
    >>> list(t.columns)[:3]
    ['group', 'CYP2C19', 'CYP2C19_activity_score']
    """
    from qsp_sbml.pharmacogenomics import activity_score, clearance_multiplier, phenotype, sample_genotypes

    weights = {spec.group: 1.0} if spec.group is not None else dict(spec.groups or {})
    names = list(weights)
    if len(names) > 1:  # one group needs no draw
        total = sum(weights.values())
        idx = rng.choice(len(names), size=n, p=np.array([weights[k] / total for k in names]))
    else:
        idx = np.zeros(n, dtype=int)
    table = pd.DataFrame({"group": [names[i] for i in idx]})
    for gene in spec.genes:
        dips, scores, phens, redrawn, mults = [], [], [], [], []
        for group in table["group"]:
            try:
                redraw = 0
                dip = sample_genotypes(gene, group, 1, seed=rng)[0]
                phen = phenotype(gene, dip)
                while phen == "Indeterminate":
                    redraw += 1
                    if redraw > 100:  # pragma: no cover - needs 100 Indeterminate draws in a row
                        raise fail("genotypes", f"100 Indeterminate {gene} diplotypes in a row for {group}")
                    dip = sample_genotypes(gene, group, 1, seed=rng)[0]
                    phen = phenotype(gene, dip)
                mult = clearance_multiplier(gene, dip, spec.drug)
            except QspError as err:
                raise fail("genotypes", str(err)) from None
            dips.append(dip)
            scores.append(_score(gene, dip, activity_score))
            phens.append(phen)
            redrawn.append(redraw)
            mults.append(mult)
        table[gene] = dips
        table[f"{gene}_activity_score"] = scores
        table[f"{gene}_phenotype"] = phens
        table[f"{gene}_redrawn"] = redrawn
        table[f"{gene}_multiplier"] = mults
    return table


def _score(gene: str, diplotype: str, activity_score: Callable[[str, str], float]) -> float:
    """The CPIC activity score, NaN for a gene whose phenotypes come from allele function (CYP2C19...)."""
    from qsp_sbml.pharmacogenomics import GenotypeError

    try:
        return activity_score(gene, diplotype)
    except GenotypeError:  # the diplotype is valid (its phenotype is known): the gene has no activity score
        return float("nan")


def apply_genotypes(
    params: pd.DataFrame, table: pd.DataFrame, genes: list[str], model_file: Path, fail: Fail
) -> pd.DataFrame:
    """``params`` with each gene's tagged model parameter multiplied by the subjects' multipliers."""
    from qsp_sbml.pharmacogenomics import enzyme_parameters

    # the file, not the flat model: flattening drops the comp ports that tag m_<GENE> parameters
    tags = enzyme_parameters(model_file)
    out = params.copy()
    values: dict[str, float] | None = None
    for i, gene in enumerate(genes):
        if gene not in tags:
            raise fail(
                f"genotypes.genes[{i}]",
                f"the model has no parameter tagged with {gene} (tagged: "
                f"{', '.join(sorted(tags)) or 'none'}); tag one with a port m_{gene} or a "
                "qsp:pharmacogenomics annotation",
            )
        pid = tags[gene]
        if pid in out.columns:
            base = out[pid].to_numpy(dtype=float)
        else:
            values = values if values is not None else _model_values(model_file)
            base = np.full(len(out), values[pid])
        out[pid] = base * table[f"{gene}_multiplier"].to_numpy(dtype=float)
    return out


def _model_values(model_file: Path) -> dict[str, float]:
    from qsp_sbml.loading import load_model

    m: Any = load_model(model_file).sbml_model  # values from the SBML: no compilation needed
    return {m.getParameter(i).getId(): float(m.getParameter(i).getValue()) for i in range(m.getNumParameters())}
