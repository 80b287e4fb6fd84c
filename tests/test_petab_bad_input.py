"""Every kind of bad PEtab input is refused with a message naming file, table, row, column and id.

Each case below writes a small valid problem (v1 or v2, the ``decay`` model of
``tests/test_petab.py`` plus an assignment rule) into ``tmp_path``, breaks one
thing, and asserts :class:`qsp_sbml.errors.PetabError` (or, where PEtab allows
the input, a :class:`qsp_sbml.errors.PetabWarning`) whose message contains the
file name, ``row N`` (N the 1-based data row, header not counted) and
``(line L)`` (L the physical line of the file), the column and the id.

Row numbers: "row N" is the data row (the header is not counted); "line L" is
the physical line in the file (the header is line 1).  Table-level problems
(a missing column, a missing file) name the file and column but no row.

Categories (source: petab 0.10 ``petab/v1/lint.py`` and the validation tasks
of ``petab/v2/lint.py``; the last block is what the linter lets through).
"Where": ``tables`` = :mod:`qsp_sbml.petab._tables` (reads the TSV files as
text before petab parses them, so petab's own messages without a row never
reach the user), ``reader`` = ``_read_v1``/``_read_v2``/``_common`` (needs the
model; :meth:`RawTables.locate` adds file and line).  Case ids are
``v1-<case>``/``v2-<case>``.

==  ====================================================  ====  =======  ==================================
#   Category                                              Ver.  Where    Case
==  ====================================================  ====  =======  ==================================
1   problem YAML lacks a required table                   1, 2  tables   missing-file
2   table lacks a required column                         1, 2  tables   missing-column-{measurement,...}
3   invalid id (digit first, '-', space)                  1, 2  tables   invalid-id-{parameter,obs.,cond.}
4   empty id                                              1, 2  tables   empty-id-parameter
5   whitespace around an id                               1, 2  tables   whitespace-id
6   duplicate id (parameter, observable, condition v1)    1, 2  tables   duplicate-id-*
7   parameterScale not lin/log/log10                      1     tables   bad-scale
8   bound or nominal value not a number                   1, 2  tables   non-numeric-{bound,nominal}
9   fixed parameter without (finite) nominal value        1, 2  tables   fixed-no-nominal
10  estimate not 0/1 (v1), true/false (v2)                1, 2  tables   bad-estimate
11  lowerBound > upperBound                               1, 2  tables   bounds-swapped
12  negative bound of a log-scaled parameter              1     tables   log-bound-negative
13  unknown prior type / distribution                     1, 2  tables   bad-prior-type
14  prior parameters: count, not numbers                  1, 2  tables   bad-prior-params
15  observable formula does not parse                     1, 2  tables   bad-formula
16  noise formula does not parse / empty / not finite     1, 2  tables   bad-noise-{parse,empty,inf}
17  unknown observableTransformation                      1     tables   bad-transformation
18  unknown noiseDistribution                             1, 2  tables   bad-distribution
19  measurement: observableId not in observable table     1, 2  tables   unknown-observable
20  measurement: condition / experiment not defined       1, 2  tables   unknown-condition
21  measurement: preequilibration condition not defined   1     tables   unknown-preeq
22  measurement empty / NaN (refused, never dropped)      1, 2  tables   empty-measurement, nan-measurement
23  measurement not a number                              1, 2  tables   non-numeric-measurement
24  time not a number / NaN                               1, 2  tables   bad-time, nan-time
25  measurement modelId not a model of the YAML           2     tables   unknown-model-id
26  experiment uses an undefined condition                2     tables   experiment-unknown-cond
27  simultaneous conditions change the same target        2     tables   experiment-overlap
28  mapping table ids not unique                          2     tables   mapping-duplicate
29  overrides vs placeholders: wrong count                1, 2  reader   override-count
30  override symbol not in the parameter table            1, 2  reader   unknown-override
31  extraneous parameter-table row                        1, 2  reader   extraneous-parameter
32  rule target in the parameter table                    1, 2  reader   parameter-rule-target
33  entity in both condition and parameter table          1, 2  reader   condition-and-parameter
34  condition column / target not a model entity          1, 2  reader   condition-unknown-target
35  condition sets an assignment-rule target              1, 2  reader   condition-rule-target
36  v2 condition value uses a non-parameter symbol        2     reader   condition-unknown-symbol
37  observable id shadows a model id                      1, 2  reader   observable-shadows
--  linter lets through:
38  nominal value outside its bounds (PetabWarning:       1, 2  tables   nominal-outside-bounds
    legal PEtab, PEtab test suite v2 case 0026)
39  noise formula <= 0 / not finite at nominal values     1, 2  tables,  noise-negative-formula (number),
    (state-dependent noise: checked at each evaluation)         reader   noise-non-positive (parameters)
40  negative measurement time                             1, 2  tables   negative-time
41  log-transformed observable, measurement <= 0          1, 2  reader   log-non-positive
42  unknown symbol in a formula (never taken as zero)     1, 2  reader   unknown-symbol
43  infinite condition value (v1 NaN is legal: "keep")    1, 2  tables   condition-non-finite
==  ====================================================  ====  =======  ==================================

Not reproducible from files: the v2 linter's duplicate experiment periods
(petab merges rows with the same experiment and time into one period: that is
category 27) and model-id checks of several models (we refuse more than one
model).  Not covered here: an invalid SBML model (``SbmlError`` from
:func:`qsp_sbml.load_model`, see tests/test_loading.py); the v2 linter's
*warnings* for unused experiments and conditions (unused rows change nothing);
the v2 linter's mapping-alias checks (we refuse aliases, ``petabEntityId`` !=
``modelEntityId``, as an ``UnsupportedFeatureError``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import qsp_sbml as qs

pytest.importorskip("petab")

import qsp_sbml.petab as qp
from qsp_sbml.cli import main

#: The test model has no units; its unit warnings are not what these tests look at.
pytestmark = pytest.mark.filterwarnings("ignore::qsp_sbml.errors.UnitWarning")

#: dA/dt = -k*A + s, A(0) = A0; Atot = 2*A is an assignment-rule target.
MODEL = (Path(__file__).parent / "fixtures" / "petab_decay.xml").read_text(encoding="utf-8")

Table = list[list[str]]

#: file name -> rows (header first) of the valid v1 problem.
V1: dict[str, Table] = {
    "parameters.tsv": [["parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue", "estimate"],
                       ["k", "log10", "0.01", "10", "1", "1"],
                       ["sd", "lin", "0.01", "1", "0.1", "1"],
                       ["offset", "lin", "0", "1", "0", "0"]],
    "conditions.tsv": [["conditionId", "A0"], ["c0", "1"], ["c1", "2"]],
    "observables.tsv": [["observableId", "observableFormula", "noiseFormula", "observableTransformation",
                         "noiseDistribution"],
                        ["obs", "A + observableParameter1_obs", "noiseParameter1_obs", "lin", "normal"],
                        ["obs_tot", "Atot", "0.1", "log", "normal"]],
    "measurements.tsv": [["observableId", "simulationConditionId", "time", "measurement", "observableParameters",
                          "noiseParameters"],
                         ["obs", "c0", "1", "0.4", "offset", "sd"],
                         ["obs", "c1", "2", "0.3", "offset", "sd"],
                         ["obs_tot", "c1", "1", "1.5", "", ""]],
}
V1_YAML = ("format_version: 1\nparameter_file: parameters.tsv\nproblems:\n- condition_files: [conditions.tsv]\n"
           "  measurement_files: [measurements.tsv]\n  observable_files: [observables.tsv]\n"
           "  sbml_files: [model.xml]\n")

V2: dict[str, Table] = {
    "parameters.tsv": [["parameterId", "lowerBound", "upperBound", "nominalValue", "estimate"],
                       ["k", "0.01", "10", "1", "true"],
                       ["sd", "0.01", "1", "0.1", "true"],
                       ["offset", "0", "1", "0", "false"]],
    "conditions.tsv": [["conditionId", "targetId", "targetValue"], ["c0", "A0", "1"], ["c1", "A0", "2"],
                       ["c2", "s", "0.1"]],
    "experiments.tsv": [["experimentId", "time", "conditionId"], ["e0", "0", "c0"], ["e1", "0", "c1"],
                        ["e1", "5", "c2"]],
    "observables.tsv": [["observableId", "observableFormula", "noiseFormula", "noiseDistribution",
                         "observablePlaceholders", "noisePlaceholders"],
                        ["obs", "A + observableParameter1_obs", "noiseParameter1_obs", "normal",
                         "observableParameter1_obs", "noiseParameter1_obs"],
                        ["obs_tot", "Atot", "0.1", "log-normal", "", ""]],
    "measurements.tsv": [["observableId", "experimentId", "time", "measurement", "observableParameters",
                          "noiseParameters"],
                         ["obs", "e0", "1", "0.4", "offset", "sd"],
                         ["obs", "e1", "2", "0.3", "offset", "sd"],
                         ["obs_tot", "e1", "6", "1.5", "", ""]],
    "mapping.tsv": [["petabEntityId", "modelEntityId"], ["k", "k"]],
}
V2_YAML = ("format_version: 2.0.0\nparameter_files: [parameters.tsv]\ncondition_files: [conditions.tsv]\n"
           "experiment_files: [experiments.tsv]\nobservable_files: [observables.tsv]\n"
           "measurement_files: [measurements.tsv]\nmapping_files: [mapping.tsv]\n"
           "model_files:\n  model:\n    language: sbml\n    location: model.xml\n")


@dataclass(frozen=True)
class Case:
    """One way to break a valid problem and what the message must contain."""

    id: str
    version: int
    #: (file, data row (1-based; 0 = header), column, new value); value None deletes the column;
    #: row -1 appends a row (value: the whole row, tab-separated).
    edits: tuple[tuple[str, int, str, Any], ...]
    #: strings the message must contain (file, "row N (line L)", column, id, ...).
    expect: tuple[str, ...]
    #: "error" (PetabError at load), "evaluate" (PetabError at evaluation) or "warning" (PetabWarning).
    kind: str = "error"
    yaml: str | None = None
    tags: tuple[str, ...] = field(default=())


def write_problem(folder: Path, version: int, edits: tuple[tuple[str, int, str, Any], ...] = (),
                  yaml: str | None = None) -> Path:
    """Write the valid v1/v2 problem into ``folder`` with ``edits`` applied; return the YAML path."""
    tables = {name: [list(r) for r in rows] for name, rows in (V1 if version == 1 else V2).items()}
    for name, row, column, value in edits:
        rows = tables[name]
        if row == -1:
            rows.append(str(value).split("\t"))
            continue
        if column not in rows[0]:
            for r in rows:
                r.append("")
            rows[0][-1] = column
        j = rows[0].index(column)
        if value is None:
            for r in rows:
                del r[j]
        else:
            rows[row][j] = value
    (folder / "model.xml").write_text(MODEL)
    for name, rows in tables.items():
        (folder / name).write_text("".join("\t".join(r) + "\n" for r in rows))
    path = folder / "problem.yaml"
    path.write_text(yaml if yaml is not None else (V1_YAML if version == 1 else V2_YAML))
    return path


def loc(row: int) -> str:
    """How a message names data row ``row`` of a single-file table (header on line 1)."""
    return f"row {row} (line {row + 1})"


P, C, OB, M, E, X = ("parameters.tsv", "conditions.tsv", "observables.tsv", "measurements.tsv", "experiments.tsv",
                     "mapping.tsv")


def _both(cid: str, edits1: tuple, expect1: tuple, edits2: tuple | None = None, expect2: tuple | None = None,
          kind: str = "error") -> list[Case]:
    return [Case(f"v1-{cid}", 1, edits1, expect1, kind),
            Case(f"v2-{cid}", 2, edits2 if edits2 is not None else edits1,
                 expect2 if expect2 is not None else expect1, kind)]


CASES: list[Case] = [
    # --- petab linter categories ----------------------------------------------------------------
    *_both("missing-column-measurement", ((M, 0, "time", None),), (M, "'time'", "missing")),
    *_both("missing-column-observable", ((OB, 0, "noiseFormula", None),), (OB, "'noiseFormula'", "missing")),
    *_both("missing-column-parameter", ((P, 0, "upperBound", None),), (P, "'upperBound'", "missing")),
    *_both("missing-column-condition", ((C, 0, "conditionId", None),), (C, "'conditionId'", "missing")),
    Case("v2-missing-column-experiment", 2, ((E, 0, "conditionId", None),), (E, "'conditionId'", "missing")),
    *_both("invalid-id-parameter", ((P, 2, "parameterId", "2sd"), (M, 1, "noiseParameters", "2sd"),
                                    (M, 2, "noiseParameters", "2sd")),
           (P, loc(2), "'parameterId'", "'2sd'")),
    *_both("invalid-id-observable", ((OB, 1, "observableId", "ob-s"),), (OB, loc(1), "'observableId'", "'ob-s'")),
    *_both("invalid-id-condition", ((C, 2, "conditionId", "c 1"),), (C, loc(2), "'conditionId'", "'c 1'")),
    *_both("empty-id-parameter", ((P, 3, "parameterId", ""),), (P, loc(3), "'parameterId'", "empty")),
    *_both("duplicate-id-parameter", ((P, 3, "parameterId", "sd"),), (P, loc(3), "'parameterId'", "'sd'", "row 2")),
    *_both("duplicate-id-observable", ((OB, 2, "observableId", "obs"),), (OB, loc(2), "'observableId'", "'obs'")),
    Case("v1-duplicate-id-condition", 1, ((C, 2, "conditionId", "c0"),), (C, loc(2), "'conditionId'", "'c0'")),
    *_both("whitespace-id", ((M, 2, "observableId", "obs "),), (M, loc(2), "'observableId'", "'obs '")),
    Case("v1-bad-scale", 1, ((P, 1, "parameterScale", "ln"),), (P, loc(1), "'parameterScale'", "'k'", "'ln'")),
    *_both("non-numeric-bound", ((P, 2, "upperBound", "one"),), (P, loc(2), "'upperBound'", "'sd'", "'one'")),
    *_both("non-numeric-nominal", ((P, 3, "nominalValue", "zero"),), (P, loc(3), "'nominalValue'", "'offset'")),
    *_both("fixed-no-nominal", ((P, 3, "nominalValue", ""),), (P, loc(3), "'nominalValue'", "'offset'")),
    Case("v1-bad-estimate", 1, ((P, 1, "estimate", "yes"),), (P, loc(1), "'estimate'", "'k'", "'yes'")),
    Case("v2-bad-estimate", 2, ((P, 1, "estimate", "2"),), (P, loc(1), "'estimate'", "'k'", "'2'")),
    *_both("bounds-swapped", ((P, 2, "lowerBound", "2"),), (P, loc(2), "'lowerBound'", "'sd'")),
    Case("v1-log-bound-negative", 1, ((P, 1, "lowerBound", "-1"),), (P, loc(1), "'lowerBound'", "'k'")),
    Case("v1-bad-prior-type", 1,
         ((P, 1, "objectivePriorType", "gauss"), (P, 1, "objectivePriorParameters", "0;1")),
         (P, "'objectivePriorType'", "'k'", "'gauss'")),
    Case("v2-bad-prior-type", 2, ((P, 1, "priorDistribution", "gauss"), (P, 1, "priorParameters", "0;1")),
         (P, loc(1), "'priorDistribution'", "'k'", "'gauss'")),
    Case("v1-bad-prior-params", 1, ((P, 1, "objectivePriorType", "normal"),
                                     (P, 1, "objectivePriorParameters", "1;2;3")),
         (P, loc(1), "'objectivePriorParameters'", "'k'")),
    Case("v2-bad-prior-params", 2, ((P, 1, "priorDistribution", "normal"), (P, 1, "priorParameters", "1;x")),
         (P, loc(1), "'priorParameters'", "'k'")),
    *_both("bad-formula", ((OB, 1, "observableFormula", "A +* 2"),), (OB, loc(1), "'observableFormula'", "'obs'")),
    *_both("bad-noise-parse", ((OB, 2, "noiseFormula", "0.1)"),), (OB, loc(2), "'noiseFormula'", "'obs_tot'")),
    *_both("bad-noise-empty", ((OB, 2, "noiseFormula", ""),), (OB, loc(2), "'noiseFormula'", "'obs_tot'")),
    *_both("bad-noise-inf", ((OB, 2, "noiseFormula", "inf"),), (OB, loc(2), "'noiseFormula'", "'obs_tot'")),
    Case("v1-bad-transformation", 1, ((OB, 2, "observableTransformation", "ln"),),
         (OB, loc(2), "'observableTransformation'", "'obs_tot'", "'ln'")),
    *_both("bad-distribution", ((OB, 1, "noiseDistribution", "cauchy"),),
           (OB, loc(1), "'noiseDistribution'", "'obs'", "'cauchy'")),
    *_both("observable-shadows", ((OB, 2, "observableId", "Atot"), (M, 3, "observableId", "Atot")),
           (OB, loc(2), "'observableId'", "'Atot'")),
    *_both("unknown-observable", ((M, 2, "observableId", "nope"),), (M, loc(2), "'observableId'", "'nope'")),
    Case("v1-unknown-condition", 1, ((M, 2, "simulationConditionId", "c9"),),
         (M, loc(2), "'simulationConditionId'", "'c9'")),
    Case("v2-unknown-condition", 2, ((M, 2, "experimentId", "e9"),), (M, loc(2), "'experimentId'", "'e9'")),
    Case("v1-unknown-preeq", 1, ((M, 1, "preequilibrationConditionId", "c7"),),
         (M, loc(1), "'preequilibrationConditionId'", "'c7'")),
    *_both("empty-measurement", ((M, 2, "measurement", ""),), (M, loc(2), "'measurement'")),
    *_both("nan-measurement", ((M, 2, "measurement", "NaN"),), (M, loc(2), "'measurement'")),
    *_both("non-numeric-measurement", ((M, 2, "measurement", "0.3mg"),), (M, loc(2), "'measurement'", "'0.3mg'")),
    *_both("bad-time", ((M, 1, "time", "one"),), (M, loc(1), "'time'", "'one'", "'obs'")),
    *_both("nan-time", ((M, 1, "time", "nan"),), (M, loc(1), "'time'", "'obs'")),
    *_both("override-count", ((M, 2, "noiseParameters", "sd;sd"),), (M, loc(2), "'noiseParameters'", "'obs'")),
    *_both("unknown-override", ((M, 2, "observableParameters", "shift"),),
           (M, loc(2), "'observableParameters'", "'shift'")),
    Case("v1-extraneous-parameter", 1, ((P, -1, "", "unused\tlin\t0\t1\t0.5\t1"),),
         (P, loc(4), "'parameterId'", "'unused'")),
    Case("v2-extraneous-parameter", 2, ((P, -1, "", "unused\t0\t1\t0.5\ttrue"),),
         (P, loc(4), "'parameterId'", "'unused'")),
    Case("v1-condition-unknown-target", 1, ((C, 0, "A0", "B0"),), (C, "'B0'", "column")),
    Case("v2-condition-unknown-target", 2, ((C, 3, "targetId", "B0"),), (C, loc(3), "'targetId'", "'B0'")),
    Case("v1-condition-rule-target", 1, ((C, 0, "A0", "Atot"),), (C, "'Atot'", "rule")),
    Case("v2-condition-rule-target", 2, ((C, 3, "targetId", "Atot"),), (C, loc(3), "'targetId'", "'Atot'", "rule")),
    Case("v1-parameter-rule-target", 1, ((P, -1, "", "Atot\tlin\t0\t5\t1\t1"),),
         (P, loc(4), "'parameterId'", "'Atot'")),
    Case("v2-parameter-rule-target", 2, ((P, -1, "", "Atot\t0\t5\t1\ttrue"),), (P, loc(4), "'parameterId'", "'Atot'")),
    Case("v1-condition-and-parameter", 1, ((P, -1, "", "A0\tlin\t0\t5\t1\t1"),),
         (P, loc(4), "'A0'", "condition table")),
    Case("v2-condition-and-parameter", 2, ((P, -1, "", "A0\t0\t5\t1\ttrue"),), (P, loc(4), "'A0'", "condition table")),
    Case("v2-experiment-unknown-cond", 2, ((E, 2, "conditionId", "c9"),), (E, loc(2), "'conditionId'", "'c9'")),
    Case("v2-experiment-overlap", 2, ((C, 3, "targetId", "A0"), (E, 3, "time", "0")), (E, loc(3), "'A0'")),
    Case("v2-condition-unknown-symbol", 2, ((C, 2, "targetValue", "2*dose"),),
         (C, loc(2), "'targetValue'", "'dose'")),
    Case("v2-unknown-model-id", 2, ((M, 1, "modelId", "other"),), (M, loc(1), "'modelId'", "'other'")),
    Case("v2-mapping-duplicate", 2, ((X, -1, "", "k\tk"),), (X, loc(2), "'petabEntityId'", "'k'")),
    Case("v1-missing-file", 1, (), ("problem.yaml", "observable_files"),
         yaml=V1_YAML.replace("  observable_files: [observables.tsv]\n", "")),
    Case("v2-missing-file", 2, (), ("problem.yaml", "measurement_files"),
         yaml=V2_YAML.replace("measurement_files: [measurements.tsv]\n", "")),
    # --- what the linter lets through -----------------------------------------------------------
    *_both("nominal-outside-bounds", ((P, 2, "nominalValue", "5"),), (P, loc(2), "'nominalValue'", "'sd'"),
           kind="warning"),
    *_both("noise-non-positive", ((P, 2, "nominalValue", "0"), (P, 2, "lowerBound", "0")),
           (M, loc(1), "'noiseParameters'", "'obs'", "'sd'")),
    *_both("noise-negative-formula", ((OB, 2, "noiseFormula", "-0.1"),), (OB, loc(2), "'noiseFormula'", "'obs_tot'")),
    *_both("negative-time", ((M, 2, "time", "-1"),), (M, loc(2), "'time'", "-1")),
    *_both("log-non-positive", ((M, 3, "measurement", "0"),), (M, loc(3), "'measurement'", "'obs_tot'")),
    *_both("unknown-symbol", ((OB, 2, "observableFormula", "Atot * scale"),),
           (OB, loc(2), "'observableFormula'", "'scale'")),
    Case("v1-condition-non-finite", 1, ((C, 2, "A0", "inf"),), (C, loc(2), "'A0'", "'c1'")),
    Case("v2-condition-non-finite", 2, ((C, 2, "targetValue", "nan"),), (C, loc(2), "'targetValue'", "'c1'")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_with_its_location(tmp_path, case):
    path = write_problem(tmp_path, case.version, case.edits, case.yaml)
    if case.kind == "warning":
        with pytest.warns(qs.PetabWarning) as caught:
            qp.PetabProblem.from_yaml(path, guard=False)
        message = "\n".join(str(w.message) for w in caught if issubclass(w.category, qs.PetabWarning))
    else:
        with pytest.raises(qs.PetabError) as info:
            qp.PetabProblem.from_yaml(path, guard=False)
        message = str(info.value)
    for fragment in case.expect:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("version", [1, 2])
def test_the_valid_problems_load_and_evaluate(tmp_path, version):
    with warnings.catch_warnings():
        warnings.simplefilter("error", qs.PetabWarning)
        problem = qp.PetabProblem.from_yaml(write_problem(tmp_path, version), guard=False)
    result = qp.PetabObjective(problem).evaluate()
    assert result.n_measurements == 3
    assert result.llh < 0 or result.llh >= 0  # finite: NaN fails both
    assert problem.x_free_ids == ["k", "sd"]


def test_rows_and_lines_count_data_rows_over_several_files_and_blank_lines(tmp_path):
    path = write_problem(tmp_path, 1)
    rows = V1[M]
    (tmp_path / "m1.tsv").write_text("\t".join(rows[0]) + "\n" + "\t".join(rows[1]) + "\n")
    bad = list(rows[2])
    bad[2] = "-3"
    (tmp_path / "m2.tsv").write_text("\t".join(rows[0]) + "\n\n" + "\t".join(rows[3]) + "\n" + "\t".join(bad) + "\n")
    path.write_text(V1_YAML.replace("[measurements.tsv]", "[m1.tsv, m2.tsv]"))
    with pytest.raises(qs.PetabError) as info:
        qp.PetabProblem.from_yaml(path, guard=False)
    assert info.value.file == str(tmp_path / "m2.tsv")
    assert (info.value.row, info.value.line, info.value.column) == (2, 4, "time")


@pytest.mark.parametrize("version", [1, 2])
def test_reader_errors_get_file_and_line_too(tmp_path, version):
    edits = ((OB, 2, "observableFormula", "Atot * scale"),)
    with pytest.raises(qs.PetabError) as info:
        qp.PetabProblem.from_yaml(write_problem(tmp_path, version, edits), guard=False)
    assert (info.value.file, info.value.table, info.value.row, info.value.line) == (
        str(tmp_path / OB), "observable", 2, 3)


CLI_CASES = [c for c in CASES if c.id in ("v1-negative-time", "v2-bad-distribution", "v1-extraneous-parameter",
                                          "v2-noise-non-positive")]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_cli_refuses_bad_input_without_traceback(tmp_path, case, as_json):
    path = write_problem(tmp_path, case.version, case.edits, case.yaml)
    args = ["petab", "evaluate", str(path), *(["--json"] if as_json else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + result.stderr
    if as_json:
        payload = json.loads(result.stdout)
        assert payload["ok"] is False and payload["error"]["type"] == "PetabError"
        message = payload["error"]["message"]
    else:
        assert result.stdout == ""
        message = result.stderr
    for fragment in case.expect:
        assert fragment in message
