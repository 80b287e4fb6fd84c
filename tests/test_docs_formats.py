"""The file-format pages (docs/formats/*.md) list exactly the keys and columns the code accepts or writes.

Each list on a format page is a Markdown table preceded by ``<!-- fields: NAME -->``; its first column holds
the key, column or file name in backticks (a name in angle brackets, such as ``<parameter id>``, stands for
names the data decide).  ``CODE`` below gives, for every NAME, the set the code defines: the fields of the
typed spec models (composition spec, vpop spec and population description, each trial design type and
their sections), its own constants (``C.DOSING_COLUMNS``...), the literals of its checks read from its
source (the keys of the summaries the trial kinds write),
or the files and columns of a small real run (cohort simulation, calibration).  A name the code has and the
page lacks, or the other way round, fails; so does a table without a code counterpart, or a schema of the
code without a table.  The example files on the pages run in tests/test_docs_examples.py.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FORMATS = REPO / "docs" / "formats"
PSORIASIS_SPLIT = REPO / "models" / "disease" / "validation" / "psoriasis_split.yaml"
_MARKER = re.compile(r"^<!-- fields: (?P<name>\S+) -->\s*$")
_NAME = re.compile(r"`([^`]+)`")


# -- the pages -------------------------------------------------------------------------------------------
@cache
def documented() -> dict[str, tuple[str, list[str]]]:
    """``fields`` name -> (page, names in its table's first column, in order)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for page in sorted(FORMATS.glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = _MARKER.match(line)
            if not m:
                continue
            assert m["name"] not in out, f"{page.name}: fields {m['name']} listed twice"
            rows = []
            for row in lines[i + 1:]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            assert len(rows) >= 3 and set(rows[1].replace("|", "").strip()) <= set("-: "), \
                f"{page.name}, line {i + 1}: a table (header, separator, rows) must follow the fields marker"
            names = []
            for row in rows[2:]:
                cell = row.strip("|").split("|")[0]
                found = _NAME.search(cell)
                assert found, f"{page.name}: no `name` in the first cell of {row!r}"
                names.append(found.group(1))
            out[m["name"]] = (page.name, names)
    return out


def _plain(names: list[str]) -> set[str]:
    return {n for n in names if not (n.startswith("<") and n.endswith(">"))}


def _placeholders(names: list[str]) -> set[str]:
    return {n for n in names if n.startswith("<") and n.endswith(">")}


# -- reading the code ------------------------------------------------------------------------------------
@cache
def _tree(module: str) -> ast.Module:
    return ast.parse(inspect.getsource(importlib.import_module(module)))


def _function(module: str, name: str) -> ast.FunctionDef:
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise LookupError(f"{module}.{name} not found")


def _strings(node: ast.AST | None) -> list[str] | None:
    """The strings of a literal tuple, list or set of string constants, else None."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts and all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


def keys_read(module: str, function: str, var: str) -> set[str]:
    """String keys a function reads from mapping ``var``: ``var[k]``, ``var.get(k)``, ``k in var``,
    ``helper(var, k, ...)`` (also with ``k`` looping over a literal tuple)."""
    func = _function(module, function)
    loops: dict[str, list[str]] = {}
    for node in ast.walk(func):
        if isinstance(node, ast.comprehension | ast.For) and isinstance(node.target, ast.Name):
            values = _strings(node.iter)
            if values:
                loops[node.target.id] = values
    keys: set[str] = set()

    def add(key: ast.AST) -> None:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
        elif isinstance(key, ast.Name) and key.id in loops:
            keys.update(loops[key.id])

    for node in ast.walk(func):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == var:
            add(node.slice)
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and isinstance(f.value, ast.Name) \
                    and f.value.id == var and node.args:
                add(node.args[0])
            elif len(node.args) >= 2 and isinstance(node.args[0], ast.Name) and node.args[0].id == var:
                add(node.args[1])
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn) \
                and isinstance(node.comparators[0], ast.Name) and node.comparators[0].id == var:
            add(node.left)
    return keys


def compared_strings(module: str, function: str, left: str | None = None) -> set[str]:
    """String constants a function compares with (``x == "a"``, ``x in ("a", "b")``, ``set(x) != {...}``),
    optionally only where the compared name is ``left`` (or ``left.lower()``)."""
    out: set[str] = set()
    for node in ast.walk(_function(module, function)):
        if not isinstance(node, ast.Compare):
            continue
        subject = node.left
        if isinstance(subject, ast.Call) and isinstance(subject.func, ast.Attribute):
            subject = subject.func.value
        if left is not None and not (isinstance(subject, ast.Name) and subject.id == left):
            continue
        for comp in node.comparators:
            if isinstance(comp, ast.Constant) and isinstance(comp.value, str):
                out.add(comp.value)
            else:
                out.update(_strings(comp) or [])
    return out


def dict_literal_keys(module: str, function: str, var: str, *, nested: str | None = None) -> set[str]:
    """Keys of the dict literal a function assigns to ``var`` (or of its value under key ``nested``), plus
    keys later set with ``var["k"] = ...`` or ``var.setdefault("k", ...)``."""
    func = _function(module, function)
    keys: set[str] = set()
    for node in ast.walk(func):
        value = None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == var for t in node.targets):
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == var:
            value = node.value
        if isinstance(value, ast.Dict):
            if nested is None:
                keys.update(k.value for k in value.keys if isinstance(k, ast.Constant))
            else:
                for k, v in zip(value.keys, value.values, strict=True):
                    if isinstance(k, ast.Constant) and k.value == nested and isinstance(v, ast.Dict):
                        keys.update(kk.value for kk in v.keys if isinstance(kk, ast.Constant))
        if nested is None and isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == var \
                        and isinstance(t.slice, ast.Constant):
                    keys.add(t.slice.value)
    return keys


def dict_literal_with(module: str, function: str, *required: str) -> set[str]:
    """Keys of the dict literal in a function that has all the ``required`` keys."""
    for node in ast.walk(_function(module, function)):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if set(required) <= keys:
                return keys
    raise LookupError(f"{module}.{function}: no dict literal with keys {required}")


def file_names(module: str, *suffixes: str, function: str | None = None) -> set[str]:
    """String constants that are file names with one of ``suffixes`` (in one function, or the module)."""
    root: ast.AST = _function(module, function) if function else _tree(module)
    pattern = re.compile(r"^[\w*./-]+\.(" + "|".join(s.lstrip(".") for s in suffixes) + r")$")
    return {n.value for n in ast.walk(root) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and pattern.match(n.value)}


def fields(module: str, model: str) -> set[str]:
    """The keys a typed spec model (pydantic, read by qsp_sbml.typed_yaml) accepts: its fields' aliases."""
    cls = getattr(importlib.import_module(module), model)
    return {f.alias or name for name, f in cls.model_fields.items()}


def _model(module: str, model: str) -> Callable[[], set[str]]:
    return lambda: fields(module, model)


def parallel_design_sections() -> dict[str, set[str]]:
    """``trial.parallel[.FIELD]`` -> allowed keys, from the typed models of a parallel design file
    (``*`` for an index or a free name, ``criterion`` for inclusion, stratification and enrichment entries)."""
    m = "qsp_sbml.trial._design_file"
    d = "qsp_sbml.population.description"
    return {
        "trial.parallel": fields(m, "ParallelDesignFile"),
        "trial.parallel.arms[*]": fields(m, "ArmFile"),
        "trial.parallel.population": fields(d, "PopulationDescription"),
        "trial.parallel.population.covariates": fields(d, "CovariatesSpec"),
        "trial.parallel.population.iiv": fields(d, "IivSpec"),
        "trial.parallel.population.posterior": fields(d, "PosteriorSpec"),
        "trial.parallel.criterion": fields(m, "StratumFile"),
        "trial.parallel.measurement_error.*": fields(m, "ErrorModelFile"),
        "trial.parallel.response_variability.*": fields(m, "ResponseVariabilityFile"),
        "trial.parallel.dropout": fields(m, "DropoutFile"),
        "trial.parallel.endpoints[*]": fields(m, "EndpointFile"),
        "trial.parallel.endpoints[*].analysis": fields(m, "AnalysisFile"),
        "trial.parallel.sample_size": fields(m, "SampleSizeFile"),
        "trial.parallel.adaptive": fields(m, "AdaptiveFile"),
        "trial.parallel.dose_selection": fields(m, "DoseSelectionFile"),
    }


# -- small real runs -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qsp-sbml simulate-cohort`` on three subjects of the one-compartment model."""
    from click.testing import CliRunner

    from qsp_sbml.cli import main
    from qsp_sbml.population import Cohort
    from qsp_sbml.resources import ONE_COMPARTMENT_ORAL

    folder = tmp_path_factory.mktemp("cohort")
    Cohort.from_parts(parameters=pd.DataFrame({"CL": [2.0, 3.0, 4.0]}), seed=1).to_parquet(folder / "c.parquet")
    result = CliRunner().invoke(main, ["simulate-cohort", str(ONE_COMPARTMENT_ORAL), str(folder / "c.parquet"),
                                       "-r", "100 mg po q12h x 2 to A_gut", "--times", "0:24:1", "--output", "C",
                                       "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return folder / "out"


@pytest.fixture(scope="module")
def gsa_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qsp-sbml gsa`` (Sobol, a scalar and a trajectory output, --petab) on the one-compartment IV model."""
    pytest.importorskip("SALib")
    from click.testing import CliRunner

    from qsp_sbml.cli import main
    from qsp_sbml.resources import ONE_COMPARTMENT_IV

    folder = tmp_path_factory.mktemp("gsa")
    (folder / "gsa.yaml").write_text(
        f"kind: gsa\nmodel: {ONE_COMPARTMENT_IV}\nregimen: 100 mg iv to A\ntimes: '0:12:2'\n"
        "parameters: [{id: CL, factor: 2}, {id: Vc, factor: 2}]\n"
        "outputs: [{id: auc, kind: nca, selection: C, metric: auc}, {id: profile, kind: trajectory, selection: C}]\n")
    result = CliRunner().invoke(main, ["gsa", str(folder / "gsa.yaml"), "--method", "sobol", "--n", "16", "--seed",
                                       "1", "--resamples", "20", "--out", str(folder / "out"), "--petab",
                                       str(REPO / "petab_problems" / "theophylline" / "theophylline.yaml")])
    assert result.exit_code == 0, result.output
    return folder / "out"


@pytest.fixture(scope="module")
def checkpoint_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``simulate_cohort(..., out=DIR)``: the chunks and manifest of a run."""
    import qsp_sbml as qs
    from qsp_sbml.population import Cohort, simulate_cohort
    from qsp_sbml.resources import ONE_COMPARTMENT_ORAL

    folder = tmp_path_factory.mktemp("chunks")
    cohort = Cohort.from_parts(parameters=pd.DataFrame({"CL": [2.0, 3.0, 4.0]}), seed=1)
    simulate_cohort(qs.load_model(ONE_COMPARTMENT_ORAL), cohort, np.arange(0.0, 5.0), outputs=["C"],
                    regimen="100 mg po to A_gut", out=folder, chunk_size=2, progress=False)
    return folder


@pytest.fixture(scope="module")
def calibration_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qsp-sbml calibrate`` with two starts on the package's tiny PEtab problem."""
    pytest.importorskip("pypesto")
    from click.testing import CliRunner

    from qsp_sbml.cli import main
    from qsp_sbml.resources import PETAB_PK_IV

    out = tmp_path_factory.mktemp("calibration") / "fit"
    result = CliRunner().invoke(main, ["calibrate", str(PETAB_PK_IV), "--starts", "2", "--seed", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def library_report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qsp-sbml library validate oncology --report DIR`` (fitted and predicted points)."""
    pytest.importorskip("matplotlib")
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    out = tmp_path_factory.mktemp("qualification") / "report"
    result = CliRunner().invoke(main, ["library", "validate", "oncology", "--report", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def disease_calibration_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``qsp-sbml disease calibrate`` on the shipped psoriasis split, as small as the command allows."""
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    out = tmp_path_factory.mktemp("disease_calibration") / "fit"
    result = CliRunner().invoke(main, ["disease", "calibrate", str(PSORIASIS_SPLIT), "--out", str(out), "--patients",
                                       "10", "--starts", "1", "--maxiter", "1", "--draws", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out


# -- what the code defines, per fields name --------------------------------------------------------------
def _regimen_keywords() -> set[str]:
    return (compared_strings("qsp_sbml._regimen_text", "_parse_phrase", "low")
            | compared_strings("qsp_sbml._regimen_text", "_split_phrases", "tok"))


def _trial_summary(module: str) -> Callable[[], set[str]]:
    # the runner adds the list of files to every kind's summary
    return lambda: dict_literal_keys(module, "analyse", "summary") | {"files"}


CODE: dict[str, Callable[..., set[str]]] = {
    # regimen text and dosing tables
    "regimen.keywords": _regimen_keywords,
    "regimen.routes": lambda: set(importlib.import_module("qsp_sbml.dosing").ROUTE_ALIASES),
    "regimen.frequency_units": lambda: set(importlib.import_module("qsp_sbml._regimen_text")._FREQ_UNIT_HOURS),
    "regimen.frequencies": lambda: set(importlib.import_module("qsp_sbml._regimen_text")._NAMED_FREQ),
    "regimen.amount_units": lambda: set(importlib.import_module("qsp_sbml.units").AMOUNT_UNITS),
    "regimen.time_units": lambda: set(importlib.import_module("qsp_sbml.units").TIME_UNITS),
    "dosing.columns": lambda: set(importlib.import_module("qsp_sbml.C").DOSING_COLUMNS),
    "dosing.route_values": lambda: {r.value for r in importlib.import_module("qsp_sbml.dosing").Route},
    # composition specs
    "compose.keys": _model("qsp_sbml.compose.spec", "CompositionSpecFile"),
    "compose.link": lambda: compared_strings("qsp_sbml.compose.spec", "_links"),
    "compose.exchange": _model("qsp_sbml.compose.spec", "_Exchange"),
    "compose.provenance": lambda: _provenance_columns(),
    # vpop specs and cohorts
    # the vpop spec's fields are the population description's (less those a vpop spec refuses) and its own
    "vpop.keys": lambda: fields("qsp_sbml.population.spec", "VpopSpec") - {"cohort", "vpop", "derived"},
    **{f"vpop.{k}": _model("qsp_sbml.population.description", cls) for k, cls in (
        ("covariates", "CovariatesSpec"), ("posterior", "PosteriorSpec"), ("iiv", "IivSpec"),
        ("genotypes", "GenotypesSpec"), ("selection", "SelectionSpec"), ("target", "TargetSpec"),
        ("covariate_effects", "CovariateEffectSpec"))},
    "cohort.metadata": lambda: set(_small_cohort()._metadata()),
    # trial designs
    **{name: (lambda keys=keys: keys) for name, keys in parallel_design_sections().items()},
    **{f"trial.bioequivalence{k}": _model("qsp_sbml.trial.vbe", cls) for k, cls in (
        ("", "VbeDesignFile"), (".formulations", "_Formulations"),
        (".formulation", "_FormulationFile"), (".release", "_Release"), (".sampling", "_Sampling"),
        (".within_subject_cv", "_WithinCv"))},
    **{f"trial.n_of_1{k}": _model("qsp_sbml.trial.n_of_1", cls) for k, cls in (
        ("", "NOf1DesignFile"), (".parameters.*", "_Parameter"), (".error.*", "_Error"), (".target", "_Target"),
        (".posterior", "_Posterior"), (".synthetic_patient", "_Synthetic"))},
    "trial.n_of_1.patient": lambda: compared_strings("qsp_sbml.trial.n_of_1", "read_patient", "col") | {
        s for node in ast.walk(_function("qsp_sbml.trial.n_of_1", "read_patient"))
        if isinstance(node, ast.For) for s in (_strings(node.iter) or [])},
    # trial results
    "trial_results.files": lambda: file_names("qsp_sbml.trial.runner", ".json", ".md", ".png", function="run_trial"),
    "trial_results.parallel_plots": lambda: file_names("qsp_sbml.trial.report", ".png"),
    "trial_results.bioequivalence_plots": lambda: file_names("qsp_sbml.trial.vbe", ".png"),
    "trial_results.n_of_1_plots": lambda: file_names("qsp_sbml.trial.n_of_1", ".png"),
    "trial_results.parallel": _trial_summary("qsp_sbml.trial.parallel"),
    "trial_results.parallel.design": lambda: dict_literal_keys("qsp_sbml.trial.parallel", "analyse", "summary",
                                                               nested="design"),
    "trial_results.parallel.population": lambda: dict_literal_keys("qsp_sbml.trial.parallel", "_summarise",
                                                                   "entry_pop"),
    "trial_results.parallel.comparison": lambda: dict_literal_with("qsp_sbml.trial.parallel", "_summarise",
                                                                   "treatment", "estimate"),
    "trial_results.bioequivalence": _trial_summary("qsp_sbml.trial.vbe"),
    "trial_results.n_of_1": _trial_summary("qsp_sbml.trial.n_of_1"),
    # sensitivity-analysis specs
    "gsa.keys": lambda: set(importlib.import_module("qsp_sbml.sensitivity.spec").GsaSpec.model_fields),
    "gsa.parameters": lambda: set(importlib.import_module("qsp_sbml.sensitivity.spec").ParameterSpec.model_fields),
    "gsa.correlations": lambda: set(importlib.import_module("qsp_sbml.sensitivity.spec").Correlation.model_fields),
    "gsa.population": lambda: set(importlib.import_module("qsp_sbml.sensitivity.spec").PopulationSpec.model_fields),
    "gsa.outputs": lambda: {f for cls in _gsa_output_classes() for f in cls.model_fields},
    "gsa.output_kinds": lambda: {cls.model_fields["kind"].annotation.__args__[0] for cls in _gsa_output_classes()},
    # demo report
    "demo.files": lambda: _demo_files(),
    "demo.summary": lambda: dict_literal_with("qsp_sbml.demo.pipeline", "_summary", "settings", "steps"),
    "demo.settings": lambda: _demo_settings_keys(),
    "demo.steps": lambda: {name for name, _ in importlib.import_module("qsp_sbml.demo.steps").STEPS},
    # FHIR records and mapping
    "fhir.resource_types": lambda: set(importlib.import_module("qsp_sbml.rwe.records").USED_TYPES),
    "fhir.skipped_columns": lambda: set(importlib.import_module("qsp_sbml.rwe.records").Finding.__dataclass_fields__),
    "fhir_mapping.keys": lambda: set(importlib.import_module("qsp_sbml.rwe.mapping").FhirMapping.model_fields),
    "fhir_mapping.coded": lambda: set(importlib.import_module("qsp_sbml.rwe.mapping").Coded.model_fields),
    "fhir_mapping.genotypes": lambda: set(importlib.import_module("qsp_sbml.rwe.mapping").GenotypeMapping.model_fields),
    "fhir_mapping.medications": lambda: set(
        importlib.import_module("qsp_sbml.rwe.mapping").MedicationMapping.model_fields),
    "trial.n_of_1.patient_fhir": lambda: set(importlib.import_module("qsp_sbml.rwe.twin").DESIGN_SOURCE_KEYS),
    # calibration/prediction split files (issue 19)
    **{f"split.{k}": _model("qsp_sbml.calibrate.population", cls) for k, cls in (
        ("keys", "SplitSpec"), ("drugs", "DrugSpec"), ("endpoints", "EndpointSpec"), ("individual", "IndividualSpec"),
        ("arms", "ArmSpec"), ("observations", "ObservationSpec"))},
}
#: Schemas checked against a real run (fixture name, function of the run folder).
RUNS: dict[str, tuple[str, Callable[[Path], set[str]]]] = {
    "cohort_results.files": ("cohort_run", lambda d: {p.name for p in d.iterdir()}),
    "cohort_results.timecourses": ("cohort_run", lambda d: set(pd.read_parquet(d / "timecourses.parquet").columns)),
    "cohort_results.subjects": ("cohort_run", lambda d: set(pd.read_parquet(d / "subjects.parquet").columns)),
    "cohort_results.nca": ("cohort_run", lambda d: set(pd.read_parquet(d / "nca.parquet").columns)),
    "cohort_results.trajectories": ("cohort_run", lambda d: set(np.load(d / "trajectories.npz").keys())),
    "cohort_results.provenance": ("cohort_run", lambda d: set(json.loads((d / "provenance.json").read_text()))),
    "cohort_results.manifest": ("checkpoint_run", lambda d: set(json.loads((d / "manifest.json").read_text()))),
    "cohort_results.manifest_chunk": ("checkpoint_run",
                                      lambda d: set(json.loads((d / "manifest.json").read_text())["chunks"][0])),
    "cohort_results.chunk": ("checkpoint_run", lambda d: set(pd.read_parquet(d / "chunk-00000.parquet").columns)),
    "calibration.files": ("calibration_run", lambda d: {p.name for p in d.iterdir()}),
    "calibration.summary": ("calibration_run", lambda d: set(json.loads((d / "summary.json").read_text()))),
    "calibration.objective_calls": ("calibration_run",
                                    lambda d: set(json.loads((d / "summary.json").read_text())["objective_calls"])),
    "calibration.starts": ("calibration_run", lambda d: set(pd.read_csv(d / "starts.tsv", sep="\t").columns)),
    "gsa_results.files": ("gsa_run", lambda d: {p.name for p in d.iterdir()}),
    "gsa_results.indices": ("gsa_run", lambda d: set(pd.read_csv(d / "indices.tsv", sep="\t").columns)),
    "gsa_results.summary": ("gsa_run", lambda d: set(json.loads((d / "summary.json").read_text()))),
    "library_report.files": ("library_report_run", lambda d: {p.name for p in d.iterdir()}),
    "library_report.module_files": ("library_report_run", lambda d: {p.name for p in (d / "oncology").iterdir()}),
    "library_report.table": ("library_report_run",
                             lambda d: set(pd.read_csv(d / "oncology" / "qualification.tsv", sep="\t").columns)),
    "library_report.metrics": ("library_report_run",
                               lambda d: set(json.loads((d / "oncology" / "metrics.json").read_text()))),
    "library_report.predicted": ("library_report_run",
                                 lambda d: set(json.loads((d / "oncology" / "metrics.json").read_text())["predicted"])),
    "library_report.acceptance": ("library_report_run", lambda d: set(
        json.loads((d / "oncology" / "metrics.json").read_text())["acceptance"])),
    "disease_calibration.files": ("disease_calibration_run", lambda d: {p.name for p in d.iterdir()}),
    "disease_calibration.parameters": ("disease_calibration_run",
                                       lambda d: set(pd.read_csv(d / "parameters.tsv", sep="\t").columns)),
    "disease_calibration.starts": ("disease_calibration_run",
                                   lambda d: set(pd.read_csv(d / "starts.tsv", sep="\t").columns)),
    "disease_calibration.predictions": ("disease_calibration_run",
                                        lambda d: set(pd.read_csv(d / "predictions.tsv", sep="\t").columns)),
    "disease_calibration.metrics": ("disease_calibration_run",
                                    lambda d: set(json.loads((d / "metrics.json").read_text()))),
    "disease_calibration.metrics_label": ("disease_calibration_run", lambda d: set().union(
        *json.loads((d / "metrics.json").read_text())["metrics"].values())),
}
#: Placeholders a page may use for names the data decide: fields name -> (placeholder, the names it covers).
PLACEHOLDERS: dict[str, dict[str, Callable[[], set[str]]]] = {
    "calibration.starts": {"<parameter id>": lambda: set(_pk_iv_parameters())},
    "cohort.columns": {"<covariate>": set, "<gene>": set, "<parameter id>": set},
    "gsa_results.files": {"<plots>": lambda: {"sobol_auc.png", "sobol_time_profile.png"}},
    "library_report.files": {"<module>": lambda: {"oncology"}},
    "disease_calibration.starts": {"<parameter>": lambda: {
        f"{p}.{k}" for p in yaml.safe_load(PSORIASIS_SPLIT.read_text(encoding="utf-8"))["individual"]
        for k in ("typical", "omega")}},
}


def _gsa_output_classes() -> list[Any]:
    import typing

    union = typing.get_args(importlib.import_module("qsp_sbml.sensitivity.spec").OutputSpec)[0]
    return list(typing.get_args(union))


def _provenance_columns() -> set[str]:
    from qsp_sbml import registry
    from qsp_sbml.compose import assemble

    composition = assemble({"pd": registry.model_path("pd/emax_hill")})
    return set(composition.provenance().columns)


def _small_cohort() -> Any:
    from qsp_sbml.population import Cohort

    return Cohort.from_parts(covariates=pd.DataFrame({"age": [30.0]}), genotypes=pd.DataFrame({"CYP2D6": ["*1/*1"]}),
                             parameters=pd.DataFrame({"CL": [2.0]}), weights=[1.0], seed=1)


def _cohort_columns() -> set[str]:
    """Columns of a cohort table that are not named by its data: ``subject_id`` and ``weight``."""
    cohort = _small_cohort()
    data = {c for cols in cohort.columns.values() for c in cols}
    return set(cohort.table.columns) - data


CODE["cohort.columns"] = _cohort_columns  # the helpers below are called only when the tests run


def _pk_iv_parameters() -> list[str]:
    import qsp_sbml.petab as qp
    from qsp_sbml.resources import PETAB_PK_IV

    return list(qp.PetabProblem.from_yaml(PETAB_PK_IV).x_free_ids)


def _demo_files() -> set[str]:
    """The files each demo step reports (the ``files`` of its ``StepOutcome``) and the pipeline's own two.

    A name built from a folder (``f"trial/{p.name}"``) counts as that folder (``trial/``).
    """
    def names(node: ast.AST, func: ast.FunctionDef) -> set[str]:
        if isinstance(node, ast.Name):  # files = [...] earlier in the step
            values = [n.value for n in ast.walk(func) if isinstance(n, ast.Assign)
                      and any(isinstance(t, ast.Name) and t.id == node.id for t in n.targets)]
            return set().union(*(names(v, func) for v in values))
        out: set[str] = set()
        for elt in getattr(node, "elts", []):
            if isinstance(elt, ast.Constant):
                out.add(elt.value)
            else:  # a generated name: its constant prefix up to the folder
                prefix = next((v.value for v in ast.walk(elt) if isinstance(v, ast.Constant)
                               and isinstance(v.value, str) and v.value.endswith("/")), None)
                assert prefix, f"{func.name}: cannot read the file name {ast.dump(elt)}"
                out.add(prefix)
        return out

    files: set[str] = set()
    for func in (n for n in ast.walk(_tree("qsp_sbml.demo.steps")) if isinstance(n, ast.FunctionDef)):
        for call in ast.walk(func):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "StepOutcome":
                arg = next((k.value for k in call.keywords if k.arg == "files"),
                           call.args[4] if len(call.args) > 4 else None)
                if arg is not None:
                    files |= names(arg, func)
    return files | file_names("qsp_sbml.demo.pipeline", ".json", ".md", function="run_pipeline")


def _demo_settings_keys() -> set[str]:
    for node in ast.walk(_function("qsp_sbml.demo.pipeline", "_summary")):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value == "settings" and isinstance(v, ast.Dict):
                    return {kk.value for kk in v.keys if isinstance(kk, ast.Constant)}
    raise LookupError("qsp_sbml.demo.pipeline._summary: no settings")


# -- the tests -------------------------------------------------------------------------------------------
def _compare(name: str, code: set[str]) -> None:
    page, names = documented()[name]
    assert len(names) == len(set(names)), f"{page}: {name} lists a name twice"
    covered = set()
    for placeholder, covers in PLACEHOLDERS.get(name, {}).items():
        assert placeholder in names, f"{page}: {name} should list {placeholder}"
        covered |= covers()
    assert _placeholders(names) <= set(PLACEHOLDERS.get(name, {})), \
        f"{page}: {name} has placeholders the test does not know: {_placeholders(names)}"
    missing = sorted(code - covered - _plain(names))
    extra = sorted(_plain(names) - code)
    assert not missing and not extra, (f"{page}, fields {name}: the code has {missing} that the page does not "
                                       f"list; the page lists {extra} that the code does not have")


@pytest.mark.parametrize("name", sorted(CODE))
def test_documented_fields_match_the_code(name: str) -> None:
    assert name in documented(), f"no table <!-- fields: {name} --> on a format page for this schema of the code"
    _compare(name, CODE[name]())


#: Runs over ~5 s: the oncology report fits the erlotinib PK and kill (about 20 s).
_SLOW_RUNS = {"library_report_run"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if RUNS[n][0] in _SLOW_RUNS else n
                                  for n in sorted(RUNS)])
def test_documented_outputs_match_a_real_run(name: str, request: pytest.FixtureRequest) -> None:
    fixture, read = RUNS[name]
    folder = request.getfixturevalue(fixture)
    assert name in documented(), f"no table <!-- fields: {name} --> for the output {name}"
    _compare(name, read(folder))


def test_every_table_is_checked() -> None:
    unchecked = sorted(set(documented()) - set(CODE) - set(RUNS))
    assert not unchecked, f"format tables without a code counterpart in this test: {unchecked}"


def test_every_format_page_is_in_the_index() -> None:
    index = (FORMATS / "index.md").read_text(encoding="utf-8")
    for page in FORMATS.glob("*.md"):
        if page.name != "index.md":
            assert f"{page.name}" in index and page.stem in index, f"{page.name} is not linked from formats/index.md"


def test_the_parallel_design_sections_are_found() -> None:
    # a guard on the source reading itself: the known sections of qsp_sbml.trial.design
    sections = parallel_design_sections()
    for expected in ("trial.parallel.arms[*]", "trial.parallel.endpoints[*].analysis", "trial.parallel.criterion",
                     "trial.parallel.measurement_error.*", "trial.parallel.population"):
        assert expected in sections, sorted(sections)
    assert {"id", "regimen"} <= sections["trial.parallel.arms[*]"]


def _iter_pages() -> Iterator[Path]:
    yield from sorted(FORMATS.glob("*.md"))


def test_markers_are_well_formed() -> None:
    for page in _iter_pages():
        for k, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            if "<!-- fields" in line:
                assert _MARKER.match(line), f"{page.name}, line {k}: write <!-- fields: NAME -->"
