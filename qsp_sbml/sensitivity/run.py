"""Run a global sensitivity analysis of a model: sample, simulate through the cohort machinery, analyse.

The design's rows become a :class:`~qsp_sbml.population.cohort.Cohort` (one "subject" per model run, the
sampled parameters as its parameter columns) simulated with
:func:`~qsp_sbml.population.simulation.simulate_cohort`: the model is compiled once, runs travel in batches
through the engine (serial, processes or Dask: the same numbers on each, since every run is deterministic),
and with a ``checkpoint`` folder finished chunks are written as they complete, so a killed run resumes with
``resume=True`` and gives the identical result.

Examples
--------
>>> from qsp_sbml.resources import MODELS_DIR
>>> spec = GsaSpec(kind="gsa", model=str(MODELS_DIR / "pk_one_compartment_iv.xml"),
...                regimen="100 mg iv to A", times="0:24:1",
...                parameters=[{"id": "CL", "factor": 2}, {"id": "Vc", "factor": 2}],
...                outputs=[{"id": "auc", "kind": "nca", "selection": "C", "metric": "auc_inf"}])
>>> r = run_gsa(spec, method="sobol", n=64, seed=1)
>>> st = r.indices.query("index == 'ST'").set_index("factor").value
>>> bool(st["CL"] > 0.9 > 0.1 > st["Vc"])   # AUC_inf = dose / CL does not depend on Vc
True
"""

from __future__ import annotations

import difflib
import logging
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.engine import Engine, SerialEngine
from qsp_sbml.sensitivity.analysis import convergence, indices
from qsp_sbml.sensitivity.design import Design, sample
from qsp_sbml.sensitivity.outputs import evaluate_outputs, output_columns
from qsp_sbml.sensitivity.spec import (
    GsaSpec,
    NcaOutput,
    ResponderRateOutput,
    SensitivityError,
    SummaryOutput,
    ValueOutput,
)
from qsp_sbml.typed_yaml import YamlDoc, parse, read_yaml

__all__ = ["GsaResult", "check_spec", "read_spec", "run_gsa", "validate_spec"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GsaResult:
    """Indices of every output, the design, the outputs of every run and provenance."""

    #: One row per output (and time), factor and index: ``output, time, factor, index, value, ci_low, ci_high``.
    indices: pd.DataFrame
    design: Design
    #: ``outputs[run, column]`` with ``columns`` naming each column (output id, time).
    outputs: np.ndarray
    columns: list[tuple[str, float]]
    #: Sobol only: indices at N/2 and N (the convergence check by doubling N).
    convergence: pd.DataFrame | None
    spec: GsaSpec
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def samples(self) -> pd.DataFrame:
        """The design and every output column, one row per run."""
        cols: dict[str, np.ndarray] = {"run": np.arange(self.design.n_runs)}
        cols.update({p: self.design.values[:, k] for k, p in enumerate(self.design.parameters)})
        cols.update(
            {(out if math.isnan(t) else f"{out}@{t:g}"): self.outputs[:, k] for k, (out, t) in enumerate(self.columns)}
        )
        return pd.DataFrame(cols)


def read_spec(path: str | Path) -> tuple[GsaSpec, YamlDoc]:
    """Read a ``kind: gsa`` spec file; errors name the file, line and field."""
    doc = read_yaml(path, error=SensitivityError, what="sensitivity spec")
    return parse(GsaSpec, doc, error=SensitivityError), doc


def validate_spec(path: str | Path) -> GsaSpec:
    """Read a spec and check it against its model (as :func:`run_gsa` does before any run)."""
    from qsp_sbml.loading import load_model

    spec, doc = read_spec(path)
    if spec.model is None:
        raise SensitivityError(f"{doc.where('model')}: give the model to analyse")
    check_spec(spec, load_model(spec.model), doc)
    return spec


def _where(doc: YamlDoc | None, path: str) -> str:
    return doc.where(path) if doc is not None else f"spec, field {path}"


def _unknown(name: str, known: set[str], what: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3)
    return f"the model has no {what} {name!r}" + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")


def check_spec(spec: GsaSpec, model: Any, doc: YamlDoc | None = None) -> None:
    """Cross-check a spec against its model: parameter ids, output selections, times of outputs."""
    settable = set(model.parameter_ids) | set(model.compartment_ids) | set(model.species_ids)
    for k, p in enumerate(spec.parameters):
        if p.id not in settable:
            raise SensitivityError(f"{_where(doc, f'parameters[{k}].id')}: {_unknown(p.id, settable, 'parameter')}")
    for name in spec.fixed:
        if name not in settable:
            raise SensitivityError(f"{_where(doc, f'fixed.{name}')}: {_unknown(name, settable, 'parameter')}")
    for name in spec.population.cv if spec.population is not None else {}:
        if name not in settable:
            raise SensitivityError(f"{_where(doc, f'population.cv.{name}')}: {_unknown(name, settable, 'parameter')}")
    selectable = settable | {f"[{s}]" for s in model.species_ids}
    grid = spec.time_grid
    for k, o in enumerate(spec.outputs):
        if o.selection not in selectable:
            raise SensitivityError(
                f"{_where(doc, f'outputs[{k}].selection')}: {_unknown(o.selection, selectable, 'output')}"
            )
        if isinstance(o, ValueOutput | ResponderRateOutput) and not np.any(np.isclose(grid, o.time)):
            raise SensitivityError(
                f"{_where(doc, f'outputs[{k}].time')}: time {o.time:g} is not one of the spec's times; add it to times"
            )
        interval = o.interval if isinstance(o, NcaOutput | SummaryOutput) else None
        if interval is not None:
            a, b = interval
            if not (a < b and np.any(np.isclose(grid, a)) and np.any(np.isclose(grid, b))):
                raise SensitivityError(
                    f"{_where(doc, f'outputs[{k}].interval')}: the interval [{a:g}, {b:g}] must "
                    "be increasing with both ends among the spec's times"
                )


def _nominal(model: Any, ids: list[str]) -> dict[str, float]:
    """Values of ``ids`` at time 0 (after initial assignments), through the public ``Model.simulate``."""
    df = model.simulate([0.0, 1e-6], selections=ids)
    return {i: float(df[i].iloc[0]) for i in ids}


def _expand(table: pd.DataFrame, spec: GsaSpec, model: Any, seed: int) -> tuple[pd.DataFrame, int]:
    """Each design row -> ``population.n`` subjects with log-normal variability (the same etas for every row)."""
    pop = spec.population
    assert pop is not None  # noqa: S101  (the caller checks)
    missing = [p for p in pop.cv if p not in table.columns]
    base = _nominal(model, missing) if missing else {}
    rng = np.random.default_rng(np.random.SeedSequence([pop.seed if pop.seed is not None else seed, 0x909]))
    names = list(pop.cv)
    omega = np.sqrt(np.log1p(np.square([pop.cv[p] for p in names])))
    eta = rng.standard_normal((pop.n, len(names))) * omega
    rows = np.repeat(np.arange(len(table)), pop.n)
    big = table.iloc[rows].reset_index(drop=True)
    for k, p in enumerate(names):
        typical = big[p].to_numpy(dtype=float) if p in big.columns else np.full(len(big), base[p])
        big[p] = typical * np.exp(np.tile(eta[:, k], len(table)))
    return big, pop.n


def run_gsa(
    spec: GsaSpec,
    *,
    method: str,
    n: int,
    seed: int,
    engine: Engine | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    chunk_size: int = 256,
    num_resamples: int = 1000,
    conf_level: float = 0.95,
    progress: bool | None = None,
    doc: YamlDoc | None = None,
) -> GsaResult:
    """Morris screening or Sobol indices of every output of ``spec``.

    Parameters
    ----------
    spec
        The analysis (:class:`~qsp_sbml.sensitivity.spec.GsaSpec`, read with :func:`read_spec`).
    method
        ``"morris"`` or ``"sobol"``.
    n
        Morris trajectories, or Sobol base sample size (a power of two, at least 16).
    seed
        Seed of the design and of the bootstrap (same seed, same indices, on any engine).
    engine
        Where the model runs go (default serial).
    checkpoint
        Folder for a resumable run (written in chunks of ``chunk_size`` runs; see
        :mod:`qsp_sbml.population.checkpoint`).
    resume
        Continue the run in ``checkpoint`` (its inputs must match: same model, design and outputs).
    num_resamples, conf_level
        Bootstrap resamples and level of the intervals.
    progress
        Progress bar over batches.
    doc
        The YAML document of the spec, for error messages with lines.
    """
    if spec.model is None:
        raise SensitivityError(f"{_where(doc, 'model')}: give the model to analyse")
    from qsp_sbml.loading import load_model
    from qsp_sbml.population.cohort import Cohort
    from qsp_sbml.population.simulation import simulate_cohort

    started = time.perf_counter()
    model = load_model(spec.model)
    check_spec(spec, model, doc)
    ids = [p.id for p in spec.parameters]
    nominal = _nominal(model, ids) if any(p.factor is not None for p in spec.parameters) else {}
    design = sample(spec.parameters, method=method, n=n, seed=seed, nominal=nominal, correlations=spec.correlations)
    table = pd.DataFrame(design.values, columns=ids)
    for name, value in spec.fixed.items():
        table[name] = float(value)
    n_sub = 1
    if spec.population is not None:
        table, n_sub = _expand(table, spec, model, seed)
    cohort = Cohort.from_parts(
        parameters=table, seed=seed, provenance={"kind": "gsa", "method": method, "n": n, "seed": seed}
    )
    logger.info(
        "%s design: n = %d, %d factors, %d runs x %d subjects", method, n, len(design.factors), design.n_runs, n_sub
    )
    times = spec.time_grid
    selections = list(dict.fromkeys(o.selection for o in spec.outputs))
    with warnings.catch_warnings():
        from qsp_sbml.errors import SimulationWarning

        warnings.simplefilter("ignore", SimulationWarning)  # failed runs are reported by the analysis
        sims = simulate_cohort(
            model,
            cohort,
            times,
            outputs=selections,
            regimen=spec.regimen,
            engine=engine or SerialEngine(),
            progress=progress,
            out=checkpoint,
            chunk_size=chunk_size,
            resume=resume,
        )
    y = evaluate_outputs(sims.values, sims.times, selections, spec.outputs)
    if n_sub > 1:  # population outputs: responder fractions and means over the subjects of each run
        y = y.reshape(design.n_runs, n_sub, y.shape[1]).mean(axis=1)
    cols = [(c.output, c.time) for c in output_columns(spec.outputs, sims.times)]
    parts, conv = [], []
    for k, (out, t) in enumerate(cols):
        parts.append(indices(design, y[:, k], output=out, time=t, num_resamples=num_resamples, conf_level=conf_level))
        if method == "sobol" and math.isnan(t):
            conv.append(convergence(design, y[:, k], output=out, time=t))
    attrs = {
        "method": method,
        "n": n,
        "seed": seed,
        "n_runs": design.n_runs,
        "subjects_per_run": n_sub,
        "model": spec.model,
        "model_sha256": model.sha256,
        "regimen": spec.regimen,
        "engine": repr(engine or SerialEngine()),
        "num_resamples": num_resamples,
        "conf_level": conf_level,
        "failed_runs": len(sims.failed),
        "wall_time_s": time.perf_counter() - started,
    }
    return GsaResult(
        indices=pd.concat(parts, ignore_index=True),
        design=design,
        outputs=y,
        columns=cols,
        convergence=pd.concat(conv, ignore_index=True) if conv else None,
        spec=spec,
        attrs=attrs,
    )
