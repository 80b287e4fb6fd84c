"""Virtual bioequivalence (``type: bioequivalence``): two formulations in a simulated crossover on a PBPK model.

The subjects are the design's ``population:``, the package's one population description
(:class:`~qsp_sbml.population.description.PopulationDescription`, built by
:func:`qsp_sbml.population.build.build_population`): covariates (a preset), PBPK parameters from each
subject's physiology (``drug:``, :func:`qsp_sbml.population.subject_parameters`) and a genotype of one gene
(``genotypes:``) sampled from a group or a mixture of biogeographic groups (Hardy-Weinberg within each group,
Indeterminate diplotypes redrawn), whose multiplier scales the model's tagged ``m_<GENE>``. Both formulations are
simulated for every subject (:func:`qsp_sbml.population.simulate_cohort`, any engine); an immediate
release puts the dose in the GI-lumen input at once, a zero-order release puts it there at a constant
rate over the release duration. AUC (0 to the last sample, linear-up/log-down) and Cmax come from the
simulated profiles; the crossover adds the within-subject variability as independent log-normal
occasion factors per period and metric (the mechanistic model gives the between-subject part), then
the 2x2 ANOVA/TOST of :func:`qsp_sbml.trial.bioequivalence.tost` gives the 90% CI of the geometric mean
ratio test/reference against the limits, for the whole population and for each phenotype subgroup.

All randomness (covariates, groups, genotypes, sequence allocation, occasion factors) is drawn in
this process from one ``numpy.random.SeedSequence`` spawned per component, and simulation is
deterministic, so the summary is identical whatever the engine or number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from qsp_sbml.engine import Engine
from qsp_sbml.errors import TrialDesignError
from qsp_sbml.population.description import PopulationDescription
from qsp_sbml.trial._design_file import TrialFile
from qsp_sbml.typed_yaml import At, Positive, SpecModel, YamlDoc, parse

__all__ = ["Formulation", "VbeDesign", "VbeDesignFile", "run", "validate"]



#: Dosing time (h) of both formulations; see :meth:`Formulation.regimen`.


@dataclass(frozen=True)
class Formulation:
    """One formulation: the amount of drug (free base, mg) and how it is released into the GI lumen."""

    label: str
    dose_mg: float
    #: ``"immediate"`` or ``"zero_order"``.
    release: str
    #: Release duration (h) of a zero-order release.
    duration_h: float | None = None

    def regimen(self, target: str) -> str:
        """The regimen text: a bolus, or a constant-rate input over the release duration, into ``target``."""
        if self.release == "immediate":
            return f"{self.dose_mg:.10g} mg po to {target}"
        return f"{self.dose_mg:.10g} mg po over {self.duration_h:.10g} h to {target}"


@dataclass(frozen=True)
class VbeDesign:
    """A validated virtual bioequivalence design."""

    name: str
    source: Path
    model: Path
    #: The drug record (``population.drug``).
    drug: Path
    input: str
    output: str
    #: The population preset's name (``covariates`` for sampled or tabled covariates).
    population: str
    n: int
    design: str
    gene: str
    pgx_drug: str
    groups: dict[str, float]
    reference: Formulation
    test: Formulation
    end_h: float
    step_h: float
    cv_within: dict[str, float]
    alpha: float
    limits: tuple[float, float]
    subgroups: tuple[str, ...]
    #: The population description the subjects are built from (:mod:`qsp_sbml.population.build`).
    population_spec: PopulationDescription | None = None


class _Release(SpecModel):
    kind: Literal["zero_order"]
    duration_h: Positive


class _FormulationFile(SpecModel):
    label: str | None = None
    #: Free base (mg); or the salt amount with its molecular weights:
    dose_mg: Positive | None = None
    salt_mg: Positive | None = None
    salt_molecular_weight: Positive | None = None
    base_per_salt: Positive | None = None
    base_molecular_weight: Positive | None = None
    release: Literal["immediate"] | _Release = "immediate"

    @model_validator(mode="after")
    def _dose(self) -> _FormulationFile:
        salt = (self.salt_mg, self.salt_molecular_weight, self.base_per_salt, self.base_molecular_weight)
        if self.dose_mg is None and any(v is None for v in salt):
            raise At("dose_mg", "needs dose_mg (free base) or salt_mg with salt_molecular_weight, base_per_salt "
                     "and base_molecular_weight")
        return self

    def formulation(self, which: str) -> Formulation:
        label = self.label if self.label is not None else which
        if self.dose_mg is not None:
            dose = float(self.dose_mg)
        else:
            dose = (float(self.salt_mg) * float(self.base_per_salt) * float(self.base_molecular_weight)  # type: ignore[arg-type]
                    / float(self.salt_molecular_weight))  # type: ignore[arg-type]
        if isinstance(self.release, _Release):
            return Formulation(label, dose, "zero_order", float(self.release.duration_h))
        return Formulation(label, dose, "immediate")


class _Formulations(SpecModel):
    reference: _FormulationFile
    test: _FormulationFile


class _Sampling(SpecModel):
    end_h: Positive
    step_h: Positive


class _WithinCv(SpecModel):
    AUC: Positive
    Cmax: Positive


class VbeDesignFile(TrialFile):
    """The fields of a ``type: bioequivalence`` design file."""

    type: Literal["bioequivalence"]
    input: str = "drug_gi_lumen"
    output: str = "C_plasma"
    #: The subjects: a population description with ``drug`` and one gene's ``genotypes``.
    population: PopulationDescription
    n: Annotated[int, Field(ge=4, multiple_of=2)]
    design: Literal["2x2"] = "2x2"
    formulations: _Formulations
    sampling: _Sampling
    within_subject_cv: _WithinCv
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    limits: tuple[Positive, Positive] = (0.80, 1.25)
    subgroups: list[str] = Field(default_factory=list)
    sources: list[str] | str | dict[str, str] | None = None

    @field_validator("limits")
    @classmethod
    def _limits(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not v[0] < 1 < v[1]:
            raise ValueError(f"must be [lower, upper] with 0 < lower < 1 < upper, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> VbeDesignFile:
        pop = self.population
        if pop.drug is None:
            raise At("population.drug", "a bioequivalence design needs the drug record that parameterises each "
                     "subject (drug: NAME or PATH)")
        if pop.genotypes is None or len(pop.genotypes.genes) != 1:
            raise At("population.genotypes", "a bioequivalence design needs genotypes of one gene "
                     "(genes: [GENE], group: NAME or groups: {NAME: weight})")
        if self.sampling.step_h >= self.sampling.end_h:
            raise At("sampling.step_h", f"must be smaller than sampling.end_h ({self.sampling.end_h})")
        for f in (self.formulations.reference, self.formulations.test):
            if isinstance(f.release, _Release) and f.release.duration_h >= self.sampling.end_h:
                raise At("sampling.end_h", f"the release ({f.release.duration_h} h) must end before the last "
                         f"sample ({self.sampling.end_h} h)")
        return self


def validate(spec: Mapping[str, Any] | YamlDoc, *, source: Path) -> VbeDesign:
    """Check a ``type: bioequivalence`` design.

    Errors name the file, the line and the field (e.g. ``formulations.test.release``).
    """
    from qsp_sbml.trial.design import as_doc

    doc = as_doc(spec, source)
    base = Path(source).resolve().parent
    error = lambda m: TrialDesignError(m, field=None)  # noqa: E731 - the field is set from the problem
    d = parse(VbeDesignFile, doc, error=error, base=base)
    pop = d.population
    pop.refuse(("cohort", "vpop", "derived", "selection"), doc, "population.", error=error,
               hint="a bioequivalence design builds its subjects from a preset or covariates, the drug record "
                    "and genotypes")
    assert pop.drug is not None and pop.genotypes is not None  # noqa: S101 - checked by VbeDesignFile
    g = pop.genotypes
    weights = {g.group: 1.0} if g.group is not None else dict(g.groups or {})
    total = sum(weights.values())
    drug = Path(pop.drug)
    return VbeDesign(
        name=d.name if d.name is not None else Path(source).stem, source=Path(source),
        model=(base / d.model).resolve(), drug=(base / drug).resolve() if drug.suffix in (".yaml", ".yml") else drug,
        input=d.input, output=d.output, population=pop.preset if pop.preset is not None else "covariates",
        n=d.n, design=d.design, gene=g.genes[0], pgx_drug=g.drug or "",
        groups={k: float(v) / total for k, v in weights.items()},
        reference=d.formulations.reference.formulation("reference"), test=d.formulations.test.formulation("test"),
        end_h=float(d.sampling.end_h), step_h=float(d.sampling.step_h),
        cv_within={"AUC": float(d.within_subject_cv.AUC), "Cmax": float(d.within_subject_cv.Cmax)},
        alpha=float(d.alpha), limits=(float(d.limits[0]), float(d.limits[1])), subgroups=tuple(d.subgroups),
        population_spec=pop,
    )


def _cohort(design: VbeDesign, seeds: list[np.random.SeedSequence],
            extra: list[np.random.SeedSequence]) -> tuple[Any, pd.DataFrame]:
    """The subjects (:func:`qsp_sbml.population.build.build_population`) and their genotype table.

    Genotypes have the package's one meaning (:mod:`qsp_sbml.population.build`): a group drawn from the
    mixture per subject, Indeterminate diplotypes redrawn (``redrawn``), the model's ``m_<GENE>`` multiplied.
    """
    from qsp_sbml.population import Cohort
    from qsp_sbml.population.build import Streams, build_population

    spec = design.population_spec
    assert spec is not None  # noqa: S101 - set by validate()

    def fail(field: str, message: str) -> TrialDesignError:
        return TrialDesignError(f"{design.source}: {message}", field=f"population.{field}")

    rng = np.random.default_rng
    pop = build_population(spec, design.n, base=Path(design.source).resolve().parent, model_file=design.model,
                           streams=Streams(covariates=rng(seeds[0]), posterior=rng(extra[0]), iiv=rng(extra[1]),
                                           genotypes=rng(seeds[1])), fail=fail)
    g = design.gene
    gen = pop.genotypes
    assert gen is not None and pop.covariates is not None  # noqa: S101 - checked by validate()
    gen = gen.rename(columns={g: "diplotype", **{f"{g}_{c}": c for c in ("activity_score", "phenotype", "redrawn",
                                                                             "multiplier")}})
    gen = gen[["group", "diplotype", "activity_score", "phenotype", "redrawn", "multiplier"]]
    covariates = pop.covariates[["subject_id", "age", "sex", "weight_kg", "height_cm"]]
    cohort = Cohort.from_parts(covariates=covariates, genotypes=gen, parameters=pop.parameters,
                               provenance={"design": str(design.source), "population": design.population})
    return cohort, gen


def _metrics(times: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    from qsp_sbml.metrics import nca

    rows = [nca(times, values[k]) for k in range(values.shape[0])]
    return pd.DataFrame({"AUC": [r.auc_last for r in rows], "Cmax": [r.cmax for r in rows]})


def _crossover(exposure: dict[str, pd.DataFrame], gen: pd.DataFrame, design: VbeDesign,
               seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
    """Subject x period table: sequences TR/RT randomised 1:1, log-normal occasion factors per period."""
    from qsp_sbml.trial.bioequivalence import sd_from_cv

    n = design.n
    seq = np.array(["TR"] * (n // 2) + ["RT"] * (n // 2))[np.random.default_rng(seeds[2]).permutation(n)]
    noise = np.random.default_rng(seeds[3])
    rows = []
    eps = {m: noise.normal(0.0, sd_from_cv(design.cv_within[m]), (n, 2)) for m in ("AUC", "Cmax")}
    for i in range(n):
        for p, trt in enumerate(seq[i]):
            form = "test" if trt == "T" else "reference"
            row = {"subject": f"S{i + 1:04d}", "sequence": seq[i], "period": p + 1, "treatment": trt,
                   "phenotype": gen["phenotype"].iloc[i], "group": gen["group"].iloc[i]}
            for m in ("AUC", "Cmax"):
                row[m] = float(exposure[form][m].iloc[i] * math.exp(eps[m][i, p]))
            rows.append(row)
    return pd.DataFrame(rows)


def _analyse(data: pd.DataFrame, design: VbeDesign) -> list[dict[str, Any]]:
    from qsp_sbml.trial.bioequivalence import cv_from_sd, tost

    out = []
    groups: list[tuple[str, pd.DataFrame]] = [("all", data)]
    groups += [(g, data[data["phenotype"] == g]) for g in design.subgroups]
    for name, sub in groups:
        n_sub = int(sub["subject"].nunique())
        seqs = set(sub["sequence"])
        if n_sub < 3 or len(seqs) < 2:
            out.append({"group": name, "n": n_sub, "estimable": False,
                        "reason": f"{n_sub} subject(s) in {len(seqs)} sequence(s): the 2x2 ANOVA needs both "
                                  "sequences and at least 3 subjects"})
            continue
        res = tost(sub, metrics=("AUC", "Cmax"), alpha=design.alpha, limits=design.limits)
        for _, r in res.iterrows():
            out.append({"group": name, "metric": r["metric"], "n": int(r["n"]), "estimable": True,
                        "gmr": float(r["gmr"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                        "cv_within": _cv_within(sub, float(r["se_log"]), cv_from_sd),
                        "df": int(r["df"]), "p_tost": float(r["p_tost"]), "bioequivalent": bool(r["bioequivalent"])})
    return out


def _cv_within(sub: pd.DataFrame, se_log: float, cv_from_sd: Any) -> float:
    """Within-subject CV back from se(log GMR) = sigma_w sqrt((1/n_TR + 1/n_RT) / 2) of the 2x2 ANOVA."""
    per_seq = sub.groupby("sequence")["subject"].nunique()
    return float(cv_from_sd(se_log / math.sqrt(float(np.sum(1.0 / per_seq.to_numpy())) / 2)))


def _plots(out: Path, times: np.ndarray, values: dict[str, np.ndarray], gen: pd.DataFrame,
           results: list[dict[str, Any]], design: VbeDesign) -> list[str]:
    from qsp_sbml.plot import pyplot, save_figure

    plt = pyplot()
    files = []
    phen = [p for p in ("Normal Metabolizer", *design.subgroups) if (gen["phenotype"] == p).any()]
    fig, axes = plt.subplots(1, len(phen), figsize=(4 * len(phen), 3.4), sharey=True, squeeze=False)
    for ax, p in zip(axes[0], phen, strict=True):
        mask = (gen["phenotype"] == p).to_numpy()
        for form, colour in (("reference", "tab:blue"), ("test", "tab:orange")):
            v = values[form][mask]
            label = design.reference.label if form == "reference" else design.test.label
            ax.plot(times, np.median(v, axis=0), color=colour, label=label)
            ax.fill_between(times, np.quantile(v, 0.05, axis=0), np.quantile(v, 0.95, axis=0), color=colour,
                            alpha=0.2, lw=0)
        ax.set_title(f"{p} (n = {int(mask.sum())})", fontsize=9)
        ax.set_xlabel("time (h)")
    axes[0][0].set_ylabel(f"{design.output} (median, 90% band)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    files.append(save_figure(fig, out / "vbe_profiles.png").name)
    est = [r for r in results if r["estimable"]]
    short = {"all": "all", "Poor Metabolizer": "PM", "Intermediate Metabolizer": "IM", "Normal Metabolizer": "NM",
             "Rapid Metabolizer": "RM", "Ultrarapid Metabolizer": "UM"}
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(est) + 1.2))
    for k, r in enumerate(est):
        y = len(est) - k
        colour = "tab:green" if r["bioequivalent"] else "tab:red"
        ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, lw=3)
        ax.plot(r["gmr"], y, "o", color="black", ms=4)
    ax.set_yticks([len(est) - k for k in range(len(est))],
                  [f"{r['metric']} {short.get(r['group'], r['group'])} (n={r['n']})" for r in est], fontsize=8)
    for x in design.limits:
        ax.axvline(x, color="grey", ls="--", lw=1)
    ax.axvline(1.0, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel(f"GMR test/reference, {100 * (1 - 2 * design.alpha):.0f}% CI")
    fig.tight_layout()
    files.append(save_figure(fig, out / "vbe_forest.png").name)
    return files


#: The figures :func:`report` draws.
PLOTS = ("vbe_profiles.png", "vbe_forest.png")


@dataclass(frozen=True)
class VbeSimulation:
    """Both formulations simulated in the same virtual subjects, and the observed crossover data."""

    times: np.ndarray
    values: dict[str, np.ndarray]
    exposure: dict[str, pd.DataFrame]
    gen: pd.DataFrame
    data: pd.DataFrame


def simulate(design: VbeDesign, *, seed: int, engine: Engine, max_replicates: int | None = None) -> VbeSimulation:
    """Simulate reference and test in the same subjects and draw the crossover's observations.

    One trial: ``max_replicates`` does not apply.
    """
    import qsp_sbml
    from qsp_sbml.population import simulate_cohort

    root = np.random.SeedSequence(int(seed))
    seeds = root.spawn(4)  # covariates, genotypes, sequences, occasion factors
    extra = root.spawn(2)  # posterior draws and IIV of the population description, when it has them
    cohort, gen = _cohort(design, seeds, extra)
    model = qsp_sbml.load_model(design.model)
    times = np.arange(0.0, design.end_h + design.step_h / 2, design.step_h)
    values, exposure = {}, {}
    for form in ("reference", "test"):
        f = design.reference if form == "reference" else design.test
        res = simulate_cohort(model, cohort, times, outputs=[design.output], regimen=f.regimen(design.input),
                              engine=engine, strict=True, progress=False)
        v = res.values[:, :, 0]
        # the integrator can undershoot zero by round-off before the first input; anything larger is an error
        if np.any(v < -1e-9 * max(1.0, float(np.max(np.abs(v))))):
            raise TrialDesignError(f"negative {design.output} beyond round-off in the {form} simulation",
                                   field="output")
        values[form] = np.maximum(v, 0.0)
        exposure[form] = _metrics(times, values[form])
    return VbeSimulation(times, values, exposure, gen, _crossover(exposure, gen, design, seeds))


def analyse(design: VbeDesign, simulation: VbeSimulation, *, seed: int) -> dict[str, Any]:
    """The summary: the average-bioequivalence analysis overall and per phenotype, and the model's GMRs."""
    gen, exposure = simulation.gen, simulation.exposure
    results = _analyse(simulation.data, design)
    ratio = {m: exposure["test"][m].to_numpy() / exposure["reference"][m].to_numpy() for m in ("AUC", "Cmax")}
    model_gmr = {}
    for name in ("all", *design.subgroups):
        mask = np.ones(design.n, bool) if name == "all" else (gen["phenotype"] == name).to_numpy()
        model_gmr[name] = {m: float(np.exp(np.mean(np.log(ratio[m][mask])))) if mask.any() else None
                           for m in ("AUC", "Cmax")}
    counts = gen["phenotype"].value_counts().sort_index()
    summary: dict[str, Any] = {
        "type": "bioequivalence", "name": design.name, "seed": int(seed), "n": design.n, "design": design.design,
        "gene": design.gene, "formulations": {
            "reference": {"label": design.reference.label, "dose_mg": design.reference.dose_mg,
                          "release": design.reference.release},
            "test": {"label": design.test.label, "dose_mg": design.test.dose_mg, "release": design.test.release,
                     "duration_h": design.test.duration_h}},
        "within_subject_cv": design.cv_within, "limits": list(design.limits), "alpha": design.alpha,
        "phenotypes": {str(k): int(v) for k, v in counts.items()},
        "groups": {str(k): int(v) for k, v in gen["group"].value_counts().sort_index().items()},
        "redrawn_indeterminate": int((gen["redrawn"] > 0).sum()),
        "model_gmr": model_gmr, "results": results, "plots": list(PLOTS),
    }
    return summary


def report(design: VbeDesign, simulation: VbeSimulation, summary: Mapping[str, Any], out: Path) -> str:
    """Draw :data:`PLOTS` into ``out``; return the Markdown report."""
    _plots(out, simulation.times, simulation.values, simulation.gen, summary["results"], design)
    return _report(dict(summary), design)


def run(design: VbeDesign, *, seed: int, engine: Engine, out: Path) -> tuple[dict[str, Any], str]:
    """Simulate, analyse and report (:func:`~qsp_sbml.trial.kinds.run_kind`); figures go to ``out``."""
    import sys

    from qsp_sbml.trial.kinds import TrialKind, run_kind

    return run_kind(cast(TrialKind, sys.modules[__name__]), design, seed=seed, engine=engine, out=out)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _report(s: dict[str, Any], design: VbeDesign) -> str:
    lines = [f"# Virtual bioequivalence: {design.test.label} vs {design.reference.label}", "",
             f"{s['n']} virtual subjects ({design.population}), {design.gene} genotypes from "
             + ", ".join(f"{k} {v}" for k, v in s["groups"].items())
             + f"; 2x2 crossover, within-subject CV AUC {design.cv_within['AUC']:.0%}, "
               f"Cmax {design.cv_within['Cmax']:.0%}; seed {s['seed']}.", "",
             "Phenotypes: " + ", ".join(f"{k} {v}" for k, v in s["phenotypes"].items()) + ".", "",
             f"| group | metric | n | GMR | {100 * (1 - 2 * design.alpha):.0f}% CI | model GMR (no noise) | BE |",
             "|---|---|---|---|---|---|---|"]
    for r in s["results"]:
        if not r["estimable"]:
            lines.append(f"| {r['group']} | - | {r['n']} | not estimable: {r['reason']} | | | |")
            continue
        mg = s["model_gmr"][r["group"]][r["metric"]]
        lines.append(f"| {r['group']} | {r['metric']} | {r['n']} | {_fmt(r['gmr'])} | {_fmt(r['ci_low'])}-"
                     f"{_fmt(r['ci_high'])} | {_fmt(mg) if mg is not None else '-'} | "
                     f"{'yes' if r['bioequivalent'] else 'no'} |")
    lines += ["", f"Limits {design.limits[0]:.2f}-{design.limits[1]:.2f}. AUC is AUC(0-{design.end_h:g} h).", "",
              *[f"![{p}]({p})" for p in s["plots"]], ""]
    return "\n".join(lines)


def screen(summary: Mapping[str, Any]) -> list[str]:
    """One-screen summary of a :func:`run` result for the CLI (one line per group and metric)."""
    lines = [f"{summary['name']} (bioequivalence): seed {summary['seed']}, n = {summary['n']}, {summary['design']}; "
             "phenotypes " + ", ".join(f"{k} {v}" for k, v in summary["phenotypes"].items())]
    for r in summary["results"]:
        if not r["estimable"]:
            lines.append(f"  {r['group']}: n {r['n']}, not estimable ({r['reason']})")
            continue
        verdict = "BE" if r["bioequivalent"] else "not BE"
        lines.append(f"  {r['group']} {r['metric']}: n {r['n']}, GMR {_fmt(r['gmr'])} "
                     f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] -> {verdict}")
    return lines
