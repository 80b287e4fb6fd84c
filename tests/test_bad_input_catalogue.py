"""Acceptance catalogue of bad inputs, through the command line (issue 9).

Every case writes its inputs into a fresh folder, runs one ``qsp-sbml``
command with click's test runner and asserts:

* the exit code (1 bad input, 2 usage error);
* that the message names the offending item (file, line or row, column, id);
* no Python traceback (and no exception escaping the command) without ``--debug``;
* nothing was created, changed or left behind in the folder: the whole tree
  (inputs, a pre-existing output file ``out/result.*`` and a pre-existing output
  folder ``out/dir`` with a file in it) is snapshot before and after, byte for
  byte, hidden temporary files included.

Categories (the issue's acceptance list, in order): SBML core (malformed XML,
not SBML, undefined ids in math, event targets and compartments, duplicate ids,
two rules for one variable, circular rules, algebraic rules, delay, fast
reactions, missing required attributes, invalid MathML, assignment to a
constant), comp (dangling ports, submodel references and idRefs, class
mismatch, missing external files), PEtab (missing required columns, undefined
observables, conditions and parameters, duplicate ids, NaN and non-numeric
measurements, non-positive values under a log transform, log-scaled parameters
with non-positive bounds, lower > upper, nominal outside bounds, zero or
negative noise, placeholder-count mismatches, unknown noise distributions,
negative times), composition specs, population specs, cohort and covariate
tables, trial designs, dosing input, and CLI arguments.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qsp_sbml import resources
from qsp_sbml.cli import main
from qsp_sbml.population import Cohort
from tests.test_compose import SPEC as COMPOSE_SPEC
from tests.test_compose import emax_module, pk_module
from tests.test_petab_bad_input import OB, C, M, P, write_problem
from tests.test_trial_runner import _DELETE as DELETE

pytest.importorskip("petab")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline" / "model.xml"
ORAL = resources.ONE_COMPARTMENT_ORAL

#: The test models of the PEtab cases have no units.
pytestmark = pytest.mark.filterwarnings("ignore::qsp_sbml.errors.UnitWarning")

L3V2 = 'xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"'
COMP_NS = 'xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" comp:required="true"'


def sbml(body: str, *, comp: bool = False) -> str:
    """A small SBML L3V2 document with ``body`` as its content (model and, for comp, definitions)."""
    ns = f"{L3V2} {COMP_NS}" if comp else L3V2
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sbml {ns}>\n{body}\n</sbml>\n'


def math(inner: str) -> str:
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML">{inner}</math>'


TIME = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'

#: Inline SBML documents (name -> text) for the cases that have no fixture file.
SNIPPETS = {
    "undefined_event_target": sbml(
        '<model id="m"><listOfParameters><parameter id="p" value="1" constant="false"/></listOfParameters>'
        '<listOfEvents><event id="e" useValuesFromTriggerTime="true"><trigger initialValue="false" '
        f'persistent="true">{math(f"<apply><geq/>{TIME}<cn>1</cn></apply>")}</trigger><listOfEventAssignments>'
        f'<eventAssignment variable="p_nowhere">{math("<cn>2</cn>")}</eventAssignment></listOfEventAssignments>'
        '</event></listOfEvents></model>'),
    "undefined_compartment": sbml(
        '<model id="m"><listOfCompartments><compartment id="V" size="1" spatialDimensions="3" constant="true"/>'
        '</listOfCompartments><listOfSpecies><species id="S" compartment="V_missing" initialAmount="1" '
        'hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies></model>'),
    "comp_dangling_idref": sbml(
        '<comp:listOfModelDefinitions><comp:modelDefinition id="sub"><listOfParameters>'
        '<parameter id="x" value="1" constant="true"/></listOfParameters></comp:modelDefinition>'
        '</comp:listOfModelDefinitions><model id="top"><listOfParameters><parameter id="y" value="2" '
        'constant="true"><comp:listOfReplacedElements><comp:replacedElement comp:submodelRef="A" '
        'comp:idRef="x_gone"/></comp:listOfReplacedElements></parameter></listOfParameters>'
        '<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels></model>',
        comp=True),
    "comp_dangling_submodel": sbml(
        '<comp:listOfModelDefinitions><comp:modelDefinition id="sub"><listOfParameters>'
        '<parameter id="x" value="1" constant="true"/></listOfParameters></comp:modelDefinition>'
        '</comp:listOfModelDefinitions><model id="top"><listOfParameters><parameter id="y" value="2" '
        'constant="true"><comp:listOfReplacedElements><comp:replacedElement comp:submodelRef="B_absent" '
        'comp:idRef="x"/></comp:listOfReplacedElements></parameter></listOfParameters>'
        '<comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels></model>',
        comp=True),
    "empty_file": "",
    "binary_file": "\x00\x01\x02PK\x03\x04 not xml at all",
}


@dataclass(frozen=True)
class Case:
    """One bad input: how to write it and run it, and what the answer must say."""

    id: str
    #: Writes the inputs into the folder and returns the command line (``{out}``: a pre-existing output
    #: file ``out/result.<ext>``; ``{dir}``: a pre-existing output folder ``out/dir``).
    build: Callable[[Path], list[str]]
    #: Fragments the message must contain ("{tmp}" is replaced by the case folder).
    expect: tuple[str, ...]
    code: int = 1
    #: Extension of the pre-existing output file.
    ext: str = "tsv"


def _copy_fixture(folder: Path, rel: str) -> Path:
    src = FIXTURES / rel
    dst = folder / Path(rel).name
    dst.write_bytes(src.read_bytes())
    return dst


def simulate_fixture(rel: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        path = _copy_fixture(folder, rel)
        return ["simulate", str(path), "--end", "2", "-o", "{out}"]
    return build


def validate_fixture(rel: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        return ["validate", str(_copy_fixture(folder, rel))]
    return build


def simulate_snippet(name: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        path = folder / f"{name}.xml"
        path.write_text(SNIPPETS[name], encoding="utf-8")
        return ["simulate", str(path), "--end", "2", "-o", "{out}"]
    return build


def petab(version: int, *edits: tuple, yaml: str | None = None) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        path = write_problem(folder, version, tuple(edits), yaml)
        return ["petab", "evaluate", str(path), "--simulations", "{out}"]
    return build


def calibrate(version: int, *edits: tuple) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        path = write_problem(folder, version, tuple(edits))
        return ["calibrate", str(path), "--starts", "1", "--out", "{dir}_new"]
    return build


def petab_validate(version: int, *edits: tuple) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        return ["validate", str(write_problem(folder, version, tuple(edits))), "--strict"]
    return build


def compose(old: str, new: str, *, validate: bool = False) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        pk_module(folder / "pk.xml")
        emax_module(folder / "pd.xml")
        spec = folder / "pkpd.yaml"
        assert not old or old in COMPOSE_SPEC, old
        spec.write_text(COMPOSE_SPEC.replace(old, new) if old else new, encoding="utf-8")
        return ["validate", str(spec)] if validate else ["compose", str(spec), "-o", "{out}", "--flat",
                                                         "{out}.flat.xml"]
    return build


VPOP_SPEC = f"""\
kind: vpop
model: {THEO}
parameters: {{CL: 2.8, Vc: 32.0, ka: 1.5}}
iiv:
  cv: {{CL: 0.3, Vc: 0.25, ka: 0.4}}
"""


def vpop(old: str, new: str, files: dict[str, str] | None = None, *,
         validate: bool = False) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        for name, text in (files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        spec = folder / "vpop.yaml"
        assert not old or old in VPOP_SPEC, old
        spec.write_text(VPOP_SPEC.replace(old, new) if old else new, encoding="utf-8")
        return ["validate", str(spec)] if validate else ["vpop", str(spec), "-n", "5", "--seed", "1", "-o", "{out}"]
    return build


def typed_cases() -> list[Case]:
    """Issue 18: an unknown field, a wrong type and a missing required key in each of the three spec kinds
    name the file, the line and the field, through ``validate`` and through the command that runs the spec."""
    cases = []
    for cmd in ("validate", "run"):
        v = cmd == "validate"
        cases += [
            Case(f"typed-compose-unknown-field-{cmd}", compose("notes:", "nots:", validate=v),
                 ("pkpd.yaml, line 3, field nots: unknown field",)),
            Case(f"typed-compose-wrong-type-{cmd}", compose("name: pkpd", "name: [pkpd]", validate=v),
                 ("pkpd.yaml, line 2, field name: Input should be a valid string",)),
            Case(f"typed-compose-missing-key-{cmd}", compose("modules:\n  pk: pk.xml\n  pd: pd.xml\n", "",
                                                              validate=v),
                 ("pkpd.yaml, line 1, field modules: required field is missing",)),
            Case(f"typed-vpop-unknown-field-{cmd}", vpop("iiv:", "iiv_typo:", validate=v),
                 ("vpop.yaml, line 4, field iiv_typo: unknown field",), ext="parquet"),
            Case(f"typed-vpop-wrong-type-{cmd}", vpop("CL: 2.8,", "CL: high,", validate=v),
                 ("vpop.yaml, line 3, field parameters.CL: Input should be a valid number", "'high'"), ext="parquet"),
            Case(f"typed-vpop-missing-key-{cmd}", vpop("iiv:", "selection: {biomarker: C, time: 12}\niiv:",
                                                       validate=v),
                 ("vpop.yaml, line 4, field selection.target: required field is missing",), ext="parquet"),
            Case(f"typed-trial-unknown-field-{cmd}", trial(validate=v, dropuot={"hazard": 0.1}),
                 ("design.yaml, line", "field dropuot: unknown field")),
            Case(f"typed-trial-wrong-type-{cmd}", trial(validate=v, n="many"),
                 ("design.yaml, line", "field n: Input should be a valid integer", "'many'")),
            Case(f"typed-trial-missing-key-{cmd}", trial(validate=v, endpoints__0__output=DELETE),
                 ("design.yaml, line", "field endpoints[0].output: required field is missing")),
        ]
    return cases


def cohort(edit: Callable[[pd.DataFrame], pd.DataFrame], *extra: str,
           columns: dict[str, str] | None = None) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        table = pd.DataFrame({"CL": [2.0, 3.0, 2.5], "Vc": [30.0, 31.0, 33.0], "ka": [1.0, 1.5, 2.0]})
        table = table.rename(columns=columns or {})
        good = Cohort.from_parts(parameters=table, seed=1)
        path = folder / "cohort.parquet"
        _write_cohort_unchecked(edit(good.table.copy()), good, path)
        return ["simulate-cohort", str(THEO), str(path), "--times", "0:4:1", "--output", "C", "-o", "{dir}", *extra]
    return build


def _write_cohort_unchecked(table: pd.DataFrame, template: Cohort, path: Path) -> None:
    """Write ``table`` with ``template``'s metadata, bypassing the checks of :class:`Cohort` (a corrupt file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from qsp_sbml.population.cohort import METADATA_KEY

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(template._metadata(), default=str).encode()
    pq.write_table(arrow.replace_schema_metadata(meta), path)


def trial(validate: bool = False, **changes: object) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        from tests.test_trial_runner import _bad, _write

        spec = _bad(**{k: v for k, v in changes.items() if k != "type"})
        if "type" in changes:
            spec["type"] = changes["type"]
        path = _write(folder, spec)
        return ["validate", str(path)] if validate else ["trial", str(path), "--seed", "1", "--out", "{dir}_new"]
    return build


GSA_SPEC = f"""\
kind: gsa
model: {THEO}
regimen: "320 mg po to A_gut"
times: "0:24:1"
fixed: {{Vc: 32}}
parameters:
  - {{id: CL, factor: 2}}
  - {{id: ka, lower: 0.5, upper: 3}}
outputs:
  - {{id: auc, kind: nca, selection: C, metric: auc}}
"""


def gsa(old: str, new: str, *args: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        assert old in GSA_SPEC
        spec = folder / "gsa.yaml"
        spec.write_text(GSA_SPEC.replace(old, new), encoding="utf-8")
        return ["gsa", str(spec), "--out", "{dir}_new", *(args or ("--method", "sobol", "--n", "16", "--seed", "1"))]
    return build


def simulate_args(*args: str, model: Path = ORAL) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        return ["simulate", str(model), *args]
    return build


def regimen_table(text: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / "doses.tsv").write_text(text, encoding="utf-8")
        return ["simulate", str(ORAL), "--regimen-table", str(folder / "doses.tsv"), "--end", "24", "-o", "{out}"]
    return build


PBPK = REPO / "models" / "pbpk"


def drug_record(name: str, old: str, new: str) -> Callable[[Path], list[str]]:
    """A shipped drug record with one edit, read by ``pbpk kp``."""
    def build(folder: Path) -> list[str]:
        text = (PBPK / "drugs" / f"{name}.yaml").read_text(encoding="utf-8")
        assert old in text, old
        (folder / f"{name}.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
        return ["pbpk", "kp", str(folder / f"{name}.yaml")]
    return build


def edited_table(name: str, old: str, new: str, args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """A shipped table of ``models/pbpk/validation/`` with its first ``old`` replaced by ``new``, written to the
    case folder under its own name; ``args(copy)`` is the command line that reads the copy."""
    def build(folder: Path) -> list[str]:
        text = (PBPK / "validation" / name).read_text(encoding="utf-8")
        assert old in text, old
        (folder / name).write_text(text.replace(old, new, 1), encoding="utf-8")
        return args(folder / name)
    return build


def line_of(name: str, needle: str) -> int:
    """The line number (1-based) of the first line of a shipped validation table that holds ``needle``: the
    catalogue's expected messages follow the tables' header comments instead of hard-coding line numbers."""
    lines = (PBPK / "validation" / name).read_text(encoding="utf-8").splitlines()
    found = [n for n, line in enumerate(lines, start=1) if needle in line]
    if not found:
        raise LookupError(f"models/pbpk/validation/{name} has no line holding {needle!r}: update the catalogue case")
    return found[0]


def at(name: str, needle: str, shift: int = 0) -> str:
    """``name:N`` for the line holding ``needle`` (``shift`` lines further)."""
    return f"{name}:{line_of(name, needle) + shift}"


def observed_profiles(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped observed-profiles table with one edit, qualified into a pre-existing report folder."""
    return edited_table("observed_profiles.tsv", old, new,
                        lambda copy: ["pbpk", "qualify", "--observed", str(copy), "--report", "{dir}"])


SPLIT = REPO / "models" / "disease" / "validation" / "psoriasis_split.yaml"


def split_file(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped psoriasis split file with one edit (its model by absolute path), calibrated into a folder."""
    def build(folder: Path) -> list[str]:
        text = SPLIT.read_text(encoding="utf-8").replace(
            "model: ../psoriasis_risankizumab.xml", f"model: {SPLIT.parent.parent / 'psoriasis_risankizumab.xml'}")
        assert text.count(old) == 1, old
        (folder / "split.yaml").write_text(text.replace(old, new), encoding="utf-8")
        return ["disease", "calibrate", str(folder / "split.yaml"), "--out", "{dir}"]
    return build


def paediatric_studies(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped paediatric studies table with one edit, given to the qualification report."""
    return edited_table("paediatric_studies.tsv", old, new,
                        lambda copy: ["pbpk", "qualify", "--drug", "midazolam", "--no-ddi", "--paediatric",
                                      str(copy), "--report", "{dir}"])


def renal_profiles(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped renal-impairment profiles with one edit (first occurrence), given to the qualification report."""
    return edited_table("renal_impairment_profiles.tsv", old, new,
                        lambda copy: ["pbpk", "qualify", "--drug", "atenolol", "--no-ddi", "--no-paediatric",
                                      "--renal", str(copy), "--report", "{dir}"])


def hepatic_studies(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped hepatic-impairment studies with one edit (first occurrence), given to the qualification report."""
    return edited_table("hepatic_impairment_studies.tsv", old, new,
                        lambda copy: ["pbpk", "qualify", "--drug", "alfentanil", "--no-ddi", "--no-paediatric",
                                      "--no-renal", "--hepatic", str(copy), "--report", "{dir}"])


def antibody_observed(old: str, new: str) -> Callable[[Path], list[str]]:
    """The shipped observed antibody exposure table with one edit, predicted into a pre-existing output file."""
    return edited_table("antibody_observed.tsv", old, new,
                        lambda copy: ["pbpk", "antibody", "--observed", str(copy), "-o", "{out}"])


def _pv(row: int) -> str:
    return f"row {row} (line {row + 1})"


CASES: list[Case] = [
    # --- SBML core ----------------------------------------------------------------------------
    Case("sbml-malformed-xml", simulate_fixture("bad_sbml/malformed_xml.xml"), ("malformed_xml.xml:3",)),
    Case("sbml-not-sbml", simulate_fixture("bad_sbml/not_sbml.xml"), ("not_sbml.xml", "<html>", "not an SBML")),
    Case("sbml-empty-file", simulate_snippet("empty_file"), ("empty_file.xml",)),
    Case("sbml-binary-file", simulate_snippet("binary_file"), ("binary_file.xml",)),
    Case("sbml-undefined-id-in-math", simulate_fixture("bad_sbml/undefined_symbol.xml"),
         ("undefined_symbol.xml", "k_missing")),
    Case("sbml-undefined-event-target", simulate_snippet("undefined_event_target"),
         ("undefined_event_target.xml", "p_nowhere")),
    Case("sbml-undefined-compartment", simulate_snippet("undefined_compartment"),
         ("undefined_compartment.xml", "V_missing")),
    Case("sbml-duplicate-id", simulate_fixture("bad_sbml/duplicate_id.xml"), ("duplicate_id.xml", "'p'")),
    Case("sbml-two-rules-one-variable", simulate_fixture("bad_sbml/two_rules.xml"), ("two_rules.xml", "'p'")),
    Case("sbml-circular-rules", simulate_fixture("bad_sbml/circular_rules.xml"), ("circular_rules.xml", "'a'")),
    Case("sbml-algebraic-rule", simulate_fixture("unsupported/algebraic_rule.xml"),
         ("algebraic_rule.xml", "algebraic rule", "not supported")),
    Case("sbml-delay", simulate_fixture("unsupported/delay.xml"), ("delay.xml", "delay()", "'x'", "not supported")),
    Case("sbml-fast-reaction", simulate_fixture("unsupported/fast_reaction.xml"),
         ("fast_reaction.xml", "R_fast", "not supported")),
    Case("sbml-missing-required-attribute", simulate_fixture("bad_sbml/missing_attribute.xml"),
         ("missing_attribute.xml", "'compartment'")),
    Case("sbml-invalid-mathml", simulate_fixture("bad_sbml/invalid_mathml.xml"), ("invalid_mathml.xml", "frobnicate")),
    Case("sbml-assignment-to-constant", simulate_fixture("bad_sbml/event_assigns_constant.xml"),
         ("event_assigns_constant.xml", "'p'")),
    Case("sbml-validate-two-rules", validate_fixture("bad_sbml/two_rules.xml"), ("two_rules.xml", "'p'", "INVALID")),
    Case("sbml-validate-delay", validate_fixture("unsupported/delay.xml"), ("delay.xml", "not supported")),
    Case("sbml-missing-file", simulate_args("--end", "2", "-o", "{out}", model=Path("no/such/model.xml")),
         ("no/such/model.xml", "no such file")),
    # --- comp ---------------------------------------------------------------------------------
    Case("comp-dangling-port", simulate_fixture("bad_sbml/comp_missing_port.xml"),
         ("comp_missing_port.xml", "no_such_port")),
    Case("comp-dangling-submodel-model-ref", simulate_fixture("bad_sbml/comp_bad_submodel_ref.xml"),
         ("comp_bad_submodel_ref.xml", "no_such_model")),
    Case("comp-dangling-submodel-ref", simulate_snippet("comp_dangling_submodel"),
         ("comp_dangling_submodel.xml", "B_absent")),
    Case("comp-dangling-idref", simulate_snippet("comp_dangling_idref"), ("comp_dangling_idref.xml", "x_gone")),
    Case("comp-class-mismatch", simulate_fixture("bad_sbml/comp_class_mismatch.xml"),
         ("comp_class_mismatch.xml", "'cc'", "same class")),
    Case("comp-missing-external-file", simulate_fixture("bad_sbml/comp_missing_external.xml"),
         ("comp_missing_external.xml", "does_not_exist.xml")),
    # --- PEtab --------------------------------------------------------------------------------
    Case("petab-missing-column", petab(1, (M, 0, "time", None)), ("measurements.tsv", "'time'", "missing")),
    Case("petab-v2-missing-column", petab(2, (OB, 0, "noiseFormula", None)),
         ("observables.tsv", "'noiseFormula'", "missing")),
    Case("petab-undefined-observable", petab(1, (M, 2, "observableId", "nope")),
         ("measurements.tsv", _pv(2), "'observableId'", "'nope'")),
    Case("petab-undefined-condition", petab(1, (M, 2, "simulationConditionId", "c9")),
         ("measurements.tsv", _pv(2), "'c9'")),
    Case("petab-v2-undefined-experiment", petab(2, (M, 2, "experimentId", "e9")),
         ("measurements.tsv", _pv(2), "'e9'")),
    Case("petab-undefined-parameter", petab(1, (M, 2, "observableParameters", "shift")),
         ("measurements.tsv", _pv(2), "'shift'")),
    Case("petab-duplicate-id", petab(1, (P, 3, "parameterId", "sd")), ("parameters.tsv", _pv(3), "'sd'")),
    Case("petab-nan-measurement", petab(1, (M, 2, "measurement", "NaN")),
         ("measurements.tsv", _pv(2), "'measurement'")),
    Case("petab-non-numeric-measurement", petab(2, (M, 2, "measurement", "0.3mg")),
         ("measurements.tsv", _pv(2), "'0.3mg'")),
    Case("petab-log-non-positive-measurement", petab(1, (M, 3, "measurement", "0")),
         ("measurements.tsv", _pv(3), "'obs_tot'")),
    Case("petab-log-scale-negative-bound", petab(1, (P, 1, "lowerBound", "-1")), ("parameters.tsv", _pv(1), "'k'")),
    # a zero bound is legal PEtab with an initialization prior (petab's linter); calibration refuses it
    Case("petab-log-scale-zero-bound", calibrate(1, (P, 1, "lowerBound", "0")),
         ("problem.yaml", "['k']", "lowerBound > 0")),
    Case("petab-lower-above-upper", petab(2, (P, 2, "lowerBound", "2")), ("parameters.tsv", _pv(2), "'sd'")),
    Case("petab-nominal-outside-bounds", petab_validate(1, (P, 2, "nominalValue", "5")),
         ("parameters.tsv", _pv(2), "'nominalValue'", "'sd'")),
    Case("petab-zero-noise", petab(1, (P, 2, "nominalValue", "0"), (P, 2, "lowerBound", "0")),
         ("measurements.tsv", _pv(1), "'sd'")),
    Case("petab-negative-noise", petab(2, (OB, 2, "noiseFormula", "-0.1")),
         ("observables.tsv", _pv(2), "'noiseFormula'", "'obs_tot'")),
    Case("petab-placeholder-count", petab(1, (M, 2, "noiseParameters", "sd;sd")),
         ("measurements.tsv", _pv(2), "'noiseParameters'")),
    Case("petab-unknown-noise-distribution", petab(2, (OB, 1, "noiseDistribution", "cauchy")),
         ("observables.tsv", _pv(1), "'cauchy'")),
    Case("petab-negative-time", petab(1, (M, 2, "time", "-1")), ("measurements.tsv", _pv(2), "'time'")),
    Case("petab-unknown-symbol", petab(1, (OB, 2, "observableFormula", "Atot * scale")),
         ("observables.tsv", _pv(2), "'scale'")),
    Case("petab-condition-unknown-target", petab(1, (C, 0, "A0", "B0")), ("conditions.tsv", "'B0'")),
    Case("petab-yaml-missing-table", petab(1, yaml="format_version: 1\nparameter_file: parameters.tsv\n"
                                               "problems:\n- sbml_files: [model.xml]\n"),
         ("problem.yaml",)),
    Case("petab-yaml-not-yaml", petab(1, yaml="format_version: [1\n"), ("problem.yaml",)),
    # --- composition specs --------------------------------------------------------------------
    Case("compose-unknown-key", compose("links:", "linkz:"), ("pkpd.yaml", "line 7", "field linkz: unknown field")),
    Case("compose-missing-module-file", compose("pd: pd.xml", "pd: missing.xml"),
         ("pkpd.yaml", "line 6", "field modules.pd", "missing.xml")),
    Case("compose-unknown-port", compose("  - pk.C -> pd.C_drug", "  - pk.C -> pd.nothing"),
         ("pkpd.yaml", "line 8", "field links[0]", "'nothing'")),
    Case("compose-output-to-output", compose("pk.C -> pd.C_drug", "pk.C -> pd.E"), ("pk.C -> pd.E", "output port")),
    Case("compose-bad-override", compose("pd.EC50: 2.5", "pd.EC50: high"),
         ("pkpd.yaml", "line 10", "field overrides.pd.EC50", "'high'")),
    Case("compose-not-yaml", compose("modules:", "modules: ["), ("pkpd.yaml", "not valid YAML")),
    # --- population specs, covariate and cohort tables ----------------------------------------
    Case("vpop-unknown-key", vpop("iiv:", "iiv_typo:"), ("vpop.yaml", "line 4", "field iiv_typo: unknown field"),
         ext="parquet"),
    Case("vpop-negative-cv", vpop("cv: {CL: 0.3", "cv: {CL: -0.3"),
         ("vpop.yaml", "line 5", "field iiv.cv.CL", "greater than 0"), ext="parquet"),
    Case("vpop-missing-covariate-file", vpop("", "covariates: {file: nowhere.tsv}\nparameters: {CL: 2.8}\n"),
         ("vpop.yaml", "line 1", "field covariates.file", "nowhere.tsv"), ext="parquet"),
    Case("vpop-covariate-table-bad-value",
         vpop("", "covariates: {file: cov.tsv}\nparameters: {CL: 2.8}\n",
              {"cov.tsv": "age\tsex\tweight_kg\theight_cm\n40\tfemale\t70\t170\n45\tmale\t-3\t180\n"}),
         ("cov.tsv", "row 2", "'weight_kg'"), ext="parquet"),
    Case("vpop-covariate-table-child-weight-impossible",
         vpop("", "covariates: {file: cov.tsv}\ndrug: midazolam\n",
              {"cov.tsv": "age\tsex\tweight_kg\theight_cm\n40\tmale\t73\t176\n5\tmale\t60\t110\n"}),
         ("cov.tsv", "row 2", "'weight_kg'", "5.0-year-old")),
    Case("vpop-covariate-table-child-impairment",
         vpop("", "covariates: {file: cov.tsv}\ndrug: midazolam\n",
              {"cov.tsv": "age\tsex\tweight_kg\theight_cm\tchild_pugh\n12\tfemale\t40\t150\tB\n"}),
         ("cov.tsv", "row 1", "'child_pugh'", "adults only")),
    Case("vpop-covariate-table-unknown-child-pugh",
         vpop("", "covariates: {file: cov.tsv}\ndrug: midazolam\n",
              {"cov.tsv": "age\tsex\tweight_kg\theight_cm\tchild_pugh\n50\tmale\t73\t176\tB\n"
                          "55\tfemale\t60\t165\tD\n"}),
         ("cov.tsv", "row 2", "'child_pugh'", "unknown Child-Pugh class 'D'", "valid classes: A, B, C"),
         ext="parquet"),
    Case("cohort-unknown-column", cohort(lambda t: t, columns={"CL": "CL", "Vc": "Vcc", "ka": "ka"}),
         ("'Vcc'", "did you mean 'Vc'")),
    Case("cohort-column-missing", cohort(lambda t: t.rename(columns={"Vc": "Vcc"})),
         ("cohort.parquet", "['Vc']", "not in the table")),
    Case("cohort-nan-value", cohort(lambda t: t.assign(CL=[2.0, np.nan, 2.5])), ("row 2", "'CL'")),
    Case("cohort-duplicate-subject", cohort(lambda t: t.assign(subject_id=[1, 1, 3])),
         ("cohort.parquet", "subject_id")),
    Case("cohort-not-parquet", lambda f: ((f / "cohort.parquet").write_text("id,CL\n1,2\n"), [
        "simulate-cohort", str(THEO), str(f / "cohort.parquet"), "--times", "0:4:1", "--output", "C", "-o",
        "{dir}"])[1], ("cohort.parquet",)),
    # --- trial designs (tests/test_trial_runner.py's design and breakages) ----------------------
    Case("trial-unknown-output", trial(endpoints__0__output="ALTT"), ("design.yaml", "line", "endpoints[0].output",
                                                                      "did you mean 'ALT'")),
    Case("trial-arm-without-regimen", trial(arms__1__regimen=DELETE), ("design.yaml", "arms[1].regimen")),
    Case("trial-allocation-sum", trial(allocation=[0.5, 0.6]), ("design.yaml", "allocation", "sum to 1.1")),
    Case("trial-visit-after-end", trial(visits=[0, 4, 8, 10]), ("design.yaml", "visits[3]")),
    Case("trial-analysis-mismatch", trial(endpoints__1__analysis__test="ancova"),
         ("design.yaml", "endpoints[1].analysis.test")),
    Case("trial-bad-regimen", trial(arms__1__regimen="150 zz sc at 0 wk"), ("design.yaml", "arms[1].regimen")),
    Case("trial-unknown-type", trial(type="crossover_adaptive"), ("design.yaml", "unknown trial type")),
    Case("trial-validate-unknown-key", trial(validate=True, dropuot={"hazard": 0.1}), ("design.yaml", "dropuot")),
    # --- sensitivity-analysis specs -----------------------------------------------------------
    Case("gsa-lower-above-upper", gsa("lower: 0.5, upper: 3", "lower: 3, upper: 0.5"),
         ("gsa.yaml", "line 8", "parameters[1]", "lower (3.0) must be below upper (0.5)")),
    Case("gsa-unknown-parameter", gsa("id: ka,", "id: kaa,"),
         ("gsa.yaml", "line 8", "parameters[1].id", "no parameter 'kaa'", "did you mean 'ka'")),
    Case("gsa-unknown-output", gsa("selection: C,", "selection: Cp,"),
         ("gsa.yaml", "line 10", "outputs[0].selection", "no output 'Cp'")),
    Case("gsa-unknown-key", gsa("fixed:", "fixd:"), ("gsa.yaml", "line 5", "field fixd", "unknown field")),
    Case("gsa-n-too-small", gsa("", "", "--method", "sobol", "--n", "8", "--seed", "1"),
         ("n = 8 is too small for sobol",)),
    Case("gsa-n-not-power-of-two", gsa("", "", "--method", "sobol", "--n", "48", "--seed", "1"),
         ("must be a power of two", "use 32 or 64")),
    Case("gsa-morris-too-few", gsa("", "", "--method", "morris", "--n", "2", "--seed", "1"),
         ("too small for morris",)),
    *typed_cases(),
    # a spec without kind: is not guessed from its keys; the message says which kind: to add
    Case("validate-spec-without-kind", vpop("kind: vpop\n", "", validate=True),
         ("vpop.yaml, line 1", "no kind: declared", "kind: vpop")),
    Case("validate-spec-unknown-kind", vpop("kind: vpop", "kind: cohort", validate=True),
         ("vpop.yaml, line 1, field kind", "unknown kind 'cohort'")),
    Case("compose-spec-of-another-kind", compose("kind: composition", "kind: trial"),
         ("pkpd.yaml, line 1, field kind: Input should be 'composition'",)),
    # --- dosing input -------------------------------------------------------------------------
    Case("regimen-text-garbage", simulate_args("--regimen", "320 mg po q12h banana", "--target", "A_gut", "--end",
                                               "24", "-o", "{out}"), ("'banana'",)),
    Case("regimen-unknown-target", simulate_args("--regimen", "320 mg po", "--target", "A_gutt", "--end", "24",
                                                 "-o", "{out}"), ("'A_gutt'", "did you mean 'A_gut'")),
    Case("regimen-table-negative-amount", regimen_table("time\tamt\ttarget\n0\t100\tA_gut\n12\t-5\tA_gut\n"),
         ("doses.tsv", "row 2", "amt")),
    Case("simulate-unknown-parameter", simulate_args("--regimen", "320 mg po", "--target", "A_gut", "-p", "CLL=1",
                                                     "--end", "24", "-o", "{out}"), ("'CLL'",)),
    # --- CLI arguments (usage errors: exit 2) -------------------------------------------------
    Case("cli-negative-end", simulate_args("--end", "-1", "-o", "{out}"), ("--end", "must be > 0"), code=2),
    Case("cli-missing-end", simulate_args("-o", "{out}"), ("--end",), code=2),
    Case("cli-end-not-a-number", simulate_args("--end", "ten", "-o", "{out}"), ("--end", "'ten'"), code=2),
    Case("cli-param-not-pair", simulate_args("--end", "1", "-p", "CL", "-o", "{out}"), ("--param", "'CL'"), code=2),
    Case("cli-param-not-number", simulate_args("--end", "1", "-p", "CL=fast", "-o", "{out}"), ("CL", "'fast'"), code=2),
    Case("cli-regimen-and-table", simulate_args("--end", "1", "--regimen", "1 mg", "--regimen-table", "x.tsv",
                                                "-o", "{out}"), ("--regimen-table",), code=2),
    Case("cli-unknown-option", simulate_args("--end", "1", "--frobnicate", "-o", "{out}"), ("--frobnicate",), code=2),
    Case("cli-bad-times", lambda f: ["simulate-cohort", str(THEO), str(f / "c.parquet"), "--times", "4:0:1",
                                     "--output", "C", "-o", "{dir}"], ("--times", "'4:0:1'"), code=2),
    Case("cli-vpop-n-zero", lambda f: ["vpop", str(f / "x.yaml"), "-n", "0", "--seed", "1", "-o", "{out}"], ("-n",),
         code=2, ext="parquet"),
    Case("cli-unknown-command", lambda f: ["simulat", str(ORAL)], ("simulat",), code=2),
    # --- PBPK drug records and observed profiles (issue 20) -------------------------------------
    Case("drug-missing-field", drug_record("midazolam", "molecular_weight: 325.78\n", ""),
         ("midazolam.yaml, line 1, field molecular_weight", "required field is missing")),
    Case("drug-fu-above-one", drug_record("midazolam", "fu: 0.031", "fu: 3.1"),
         ("midazolam.yaml, line 6, field fu", "less than or equal to 1")),
    Case("drug-negative-ki", drug_record("fluconazole", "{ki: 13.1}", "{ki: -13.1}"),
         ("fluconazole.yaml, line 17, field interactions.CYP3A4.ki", "greater than 0")),
    Case("drug-log-p-implausible", drug_record("midazolam", "log_p: 3.1", "log_p: 31"),
         ("midazolam.yaml, line 4, field log_p", "less than or equal to 10")),
    Case("drug-km-without-clearance", drug_record("midazolam", "other: 0.02}\n", "other: 0.02}\n  km: {CYP2D6: 2.0}\n"),
         ("midazolam.yaml, line 13, field clearance.km.CYP2D6", "CYP2D6 carries no clearance")),
    Case("fit-plan-reversed-bounds",
         edited_table("building_fit.yaml", "bounds: [0.1, 10.0]", "bounds: [10.0, 0.1]",
                      lambda copy: ["pbpk", "fit", "--plan", str(copy), "--drug", "tizanidine"]),
         (f"building_fit.yaml, line {line_of('building_fit.yaml', '  kp_scale:')}, field "
          "parameters.kp_scale", "bounds [10.0, 0.1] must be 0 < lower < upper")),
    Case("profiles-missing-column", observed_profiles("\tunit\tn\t", "\tunits\tn\t"),
         (at("observed_profiles.tsv", "\tunit\tn\t"), "missing column", "'unit'")),
    Case("profiles-not-a-number", observed_profiles("\t0.25\t0.0171384\t", "\t0.25\tlots\t"),
         (at("observed_profiles.tsv", "\t0.25\t0.0171384\t"), "column value", "'lots'")),
    Case("profiles-unknown-drug", observed_profiles("midazolam\tHohmann 2015\tHohmann 2015 - iv 1 mg",
                                                    "midazolamx\tHohmann 2015\tHohmann 2015 - iv 1 mg"),
         (at("observed_profiles.tsv", "midazolam\tHohmann 2015\tHohmann 2015 - iv 1 mg"), "column drug",
          "no drug record 'midazolamx'")),
    Case("paediatric-adult-age", paediatric_studies("\t6.5\tmidpoint", "\t25\tmidpoint"),
         (at("paediatric_studies.tsv", "\t6.5\tmidpoint"), "column age_y", "25.0 is not a paediatric age")),
    Case("paediatric-unknown-drug", paediatric_studies("midazolam\tMuchohi", "midazolamx\tMuchohi"),
         (at("paediatric_studies.tsv", "midazolam\tMuchohi"), "column drug", "no drug record 'midazolamx'")),
    Case("renal-arm-changes-within-data-set", renal_profiles("\timpaired\tSassard_Healthy\t54\t",
                                                            "\timpaired\tSassard_Healthy\t45\t"),
         (at("renal_impairment_profiles.tsv", "\timpaired\tSassard_Healthy\t54\t", 1), "column egfr",
          f"'54' differs from '45' on line {line_of('renal_impairment_profiles.tsv', 'Sassard_Healthy\t54')}",
          "'Sassard_CKD3'")),
    Case("renal-value-not-a-number", renal_profiles("\t1.0\t0.55014\tmg/L", "\t1.0\t0,55\tmg/L"),
         (at("renal_impairment_profiles.tsv", "\t1.0\t0.55014\tmg/L"), "column value", "'0,55'")),
    Case("hepatic-unknown-child-pugh-class", hepatic_studies("\tCL\tB,C\t1.6\t", "\tCL\tB,X\t1.6\t"),
         (at("hepatic_impairment_studies.tsv", "\tCL\tB,C\t1.6\t"), "column child_pugh", "'B,X'")),
    Case("antibody-cmax-dose-per-kg",
         antibody_observed("\t100\tmg\t0\tcmax\t0\t12\t", "\t1.4\tmg/kg\t0\tcmax\t0\t12\t"),
         (at("antibody_observed.tsv", "\t100\tmg\t0\tcmax\t0\t12\t"), "column dose_unit", "needs a body weight")),
    Case("antibody-unknown-antibody",
         antibody_observed("guselkumab\tsingle 100 mg SC", "guselkumabx\tsingle 100 mg SC"),
         (at("antibody_observed.tsv", "guselkumab\tsingle 100 mg SC"), "column antibody", "'guselkumabx'",
          "guselkumab")),
    # --- model library and examples ----------------------------------------------------------
    Case("models-show-unknown", lambda f: ["models", "show", "disease/psoriasi"],
         ("unknown model 'disease/psoriasi'", "close names: disease/psoriasis")),
    Case("models-path-unknown", lambda f: ["models", "path", "wholebody"],
         ("unknown model 'wholebody'", "close names:", "pbpk/wholebody_pbpk")),
    Case("examples-copy-non-empty", lambda f: ["examples", "copy", "{dir}"], ("out/dir is not empty",)),
    # --- calibration/prediction split files and qualification reports (issue 19) -------------------------------
    Case("disease-calibrate-out-is-a-user-folder", split_file("smoothing: 1.0\n", "smoothing: 1.0\n"),
         ("out/dir", "is not a disease calibration results folder (no metrics.json)", "choose another --out")),
    Case("split-arm-in-both-sets", split_file("  - id: resurface1_placebo\n", "  - id: voyage1_placebo\n"),
         ("split.yaml, line 118, field prediction[0].id", "'voyage1_placebo' is in both the calibration and the "
          "prediction set")),
    Case("split-prediction-repeats-calibration", split_file("    trial: UltIMMa-2\n    drug: risankizumab",
                                                             "    trial: UltIMMa-1\n    drug: risankizumab"),
         ("split.yaml, line 162, field prediction[4].observations[0]", "arm 'ultimma2_risankizumab150'",
          "calibration arm 'ultimma1_risankizumab150'", "must not overlap the calibration set")),
    Case("split-arm-cites-no-source", split_file(
        "    source: >-\n      Gordon KB et al. 2018, Lancet 392:650-661, abstract: 2 % (rounded) of 98 (arm sizes "
        "from the Plastic\n      Surgery Practice summary, URL above)\n", "    source: TODO\n"),
         ("split.yaml, line 153, field prediction[3].source", "arm 'ultimma2_placebo' cites no source")),
    Case("split-prediction-has-no-new-drug-or-dose", split_file(
        "  - id: resurface1_tildrakizumab100\n    trial: reSURFACE 1\n    drug: tildrakizumab\n    dose_mg: 100\n"
        "    dose_weeks: [0, 4]\n    observations:\n      - {endpoint: PASI75, week: 12, n: 309, responders: 197}\n"
        "    source: *resurface\n  - id: resurface1_tildrakizumab200\n    trial: reSURFACE 1\n"
        "    drug: tildrakizumab\n    dose_mg: 200\n    dose_weeks: [0, 4]\n    observations:\n"
        "      - {endpoint: PASI75, week: 12, n: 308, responders: 192}\n    source: *resurface\n", ""),
         ("split.yaml, line 117, field prediction:", "every prediction arm has a drug and dose that a calibration arm",
          "'ultimma2_risankizumab150' (risankizumab 150 mg, as calibration arm 'ultimma1_risankizumab150')",
          "at least one drug or dose level that no calibration arm has", "before any fit")),
    Case("library-validate-unknown-module", lambda f: ["library", "validate", "psoriasys", "--report", "{dir}"],
         ("unknown library module 'psoriasys'", "did you mean 'psoriasis'?", "known: crohns, liver_autoimmune")),
    Case("library-validate-report-is-a-file", lambda f: ["library", "validate", "liver_autoimmune", "--report",
                                                         "{out}"],
         ("out/result.tsv: is a file, not a qualification report folder", "choose another --report")),
    Case("library-validate-report-is-a-user-folder", lambda f: ["library", "validate", "liver_autoimmune",
                                                                "--report", "{dir}"],
         ("out/dir: exists and is not a qualification report folder (no qualification.json)",
          "choose another --report")),
    Case("pbpk-qualify-report-is-a-user-folder",
         lambda f: ["pbpk", "qualify", "--drug", "fluconazole", "--no-ddi", "--no-paediatric", "--report", "{dir}"],
         ("out/dir: exists and is not a PBPK qualification report folder (no studies.tsv)", "choose another --report")),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) -> content hash ("dir" for folders)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _prepare(tmp_path: Path, case: Case) -> tuple[list[str], Path]:
    work = tmp_path / "case"
    work.mkdir()
    args = case.build(work)
    out_dir = work / "out"
    (out_dir / "dir").mkdir(parents=True)
    (out_dir / "dir" / "previous.txt").write_text("an earlier run's result\n")
    out_file = out_dir / f"result.{case.ext}"
    out_file.write_bytes(b"an earlier result: must stay untouched\n")
    args = [a.replace("{out}", str(out_file)).replace("{dir}", str(out_dir / "dir")) for a in args]
    return args, work


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_clearly_and_writes_nothing(tmp_path: Path, case: Case) -> None:
    args, work = _prepare(tmp_path, case)
    before = _snapshot(work)
    result = CliRunner().invoke(main, args)
    message = result.output
    assert result.exit_code == case.code, f"exit {result.exit_code}: {message}"
    # an exception escaping the command would be a traceback for the user
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in message
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert _snapshot(work) == before


@pytest.mark.parametrize("case", [c for c in CASES if c.code == 1], ids=lambda c: c.id)
def test_json_gives_the_same_report_as_data(tmp_path: Path, case: Case) -> None:
    args, work = _prepare(tmp_path, case)
    before = _snapshot(work)
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    issues = payload["issues"]
    assert issues and all({"severity", "message", "file", "line", "row", "column", "sbml_id", "hint"} <= set(i)
                          for i in issues)
    refused = ("error", "critical", "warning") if "--strict" in args else ("error", "critical")
    errors = [i for i in issues if i["severity"] in refused]
    assert errors, issues
    if not case.id.startswith(("regimen-text", "regimen-unknown", "simulate-unknown", "models-",
                               "library-validate-unknown")):  # no file there
        assert any(i["file"] for i in errors), errors
    for fragment in case.expect:  # "row N (line L)" is also given as fields
        if match := re.fullmatch(r"row (\d+) \(line (\d+)\)", fragment):
            assert any(i["row"] == int(match.group(1)) and i["line"] == int(match.group(2)) for i in errors), errors
    text = json.dumps(issues)
    for fragment in case.expect:
        if fragment != "INVALID":  # the human verdict line
            assert json.dumps(fragment)[1:-1] in text, f"{fragment!r} not in {text}"
    assert _snapshot(work) == before


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "petab-undefined-observable")
    args, _ = _prepare(tmp_path, case)
    result = CliRunner().invoke(main, ["--debug", *args])
    assert result.exit_code == 1
    assert "Traceback" in result.output and "'nope'" in result.output
