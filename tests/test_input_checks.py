"""``qsp-sbml validate`` on every kind of input, and its warnings for valid but risky models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsp_sbml import resources
from qsp_sbml.cli import main
from qsp_sbml.errors import PetabError, PopulationError
from qsp_sbml.input_checks import input_kind, validate_input
from qsp_sbml.validate import issue_from_error
from tests.test_bad_input_catalogue import L3V2, TIME, VPOP_SPEC, math, sbml
from tests.test_compose import SPEC as COMPOSE_SPEC
from tests.test_compose import emax_module, pk_module

REPO = Path(__file__).resolve().parents[1]


def _event(eid: str, threshold: str, target: str, value: str, priority: str | None = None) -> str:
    prio = f"<priority>{math(f'<cn>{priority}</cn>')}</priority>" if priority is not None else ""
    return (f'<event id="{eid}" useValuesFromTriggerTime="true"><trigger initialValue="false" persistent="true">'
            f'{math(f"<apply><geq/>{TIME}{threshold}</apply>")}</trigger>{prio}<listOfEventAssignments>'
            f'<eventAssignment variable="{target}">{math(f"<cn>{value}</cn>")}</eventAssignment>'
            '</listOfEventAssignments></event>')


def _model(events: str = "", *, amount: str = "1", pvalue: str = "1") -> str:
    return sbml(
        '<model id="m"><listOfCompartments><compartment id="V" size="1" spatialDimensions="3" constant="true"/>'
        f'</listOfCompartments><listOfSpecies><species id="S" compartment="V" initialAmount="{amount}" '
        'hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/></listOfSpecies>'
        f'<listOfParameters><parameter id="p" value="{pvalue}" constant="false"/>'
        '<parameter id="t_switch" value="5" constant="true"/></listOfParameters>'
        f'<listOfEvents>{events}</listOfEvents></model>')


def _validate(tmp_path: Path, text: str, *args: str) -> tuple[int, dict]:
    path = tmp_path / "m.xml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path), "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def _risky(payload: dict) -> list[dict]:
    return [i for i in payload["issues"] if i["check"].startswith("risky-")]


def test_simultaneous_events_without_priorities_warn(tmp_path: Path) -> None:
    # e1 and e2 both fire when time crosses 5 (one through a constant parameter): order undefined
    text = _model(_event("e1", "<cn>5</cn>", "p", "2") + _event("e2", "<ci>t_switch</ci>", "p", "3")
                  + _event("e3", "<cn>7</cn>", "p", "4"))
    code, payload = _validate(tmp_path, text)
    assert code == 0 and payload["ok"] is True
    [issue] = _risky(payload)
    assert issue["severity"] == "warning" and issue["check"] == "risky-simultaneous-events"
    assert "'e1', 'e2'" in issue["message"] and "5.0" in issue["message"] and "'e3'" not in issue["message"]
    assert "priority" in issue["hint"]
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "m.xml")])
    assert result.exit_code == 0 and "warning:" in result.output and "'e1', 'e2'" in result.output
    assert CliRunner().invoke(main, ["validate", str(tmp_path / "m.xml"), "--strict"]).exit_code == 1


def test_events_with_priorities_or_different_times_do_not_warn(tmp_path: Path) -> None:
    text = _model(_event("e1", "<cn>5</cn>", "p", "2", priority="1") + _event("e2", "<cn>5</cn>", "p", "3", "2"))
    assert _risky(_validate(tmp_path, text)[1]) == []
    text = _model(_event("e1", "<cn>5</cn>", "p", "2") + _event("e2", "<cn>6</cn>", "p", "3"))
    assert _risky(_validate(tmp_path, text)[1]) == []


@pytest.mark.parametrize(("amount", "pvalue", "needle"), [
    ("-1", "1", "<species> 'S' has initial amount -1.0"),
    ("1", "NaN", "<parameter> 'p' has value nan"),
    ("INF", "1", "<species> 'S' has initial amount inf"),
])
def test_negative_or_non_finite_initial_values_warn(tmp_path: Path, amount: str, pvalue: str, needle: str) -> None:
    code, payload = _validate(tmp_path, _model(amount=amount, pvalue=pvalue))
    assert code == 0
    [issue] = _risky(payload)
    assert issue["check"] == "risky-initial-value" and needle in issue["message"]
    assert issue["file"].endswith("m.xml") and issue["line"] == 3


def test_shipped_inputs_validate_by_kind(tmp_path: Path) -> None:
    assert validate_input(resources.ONE_COMPARTMENT_ORAL)[0] == "sbml"
    for design in ("psoriasis_dose_selection.yaml", "vbe_cyp2d6_ir_er.yaml", "n_of_1_twin.yaml"):
        kind, report = validate_input(REPO / "trials" / design)
        assert kind == "trial" and not report.has_errors(), (design, report)
    kind, report = validate_input(REPO / "petab_problems" / "theophylline" / "theophylline.yaml")
    assert kind == "petab" and not report.has_errors()
    pk_module(tmp_path / "pk.xml")
    emax_module(tmp_path / "pd.xml")
    (tmp_path / "pkpd.yaml").write_text(COMPOSE_SPEC)
    kind, report = validate_input(tmp_path / "pkpd.yaml")
    assert kind == "composition" and not report.has_errors(), report
    (tmp_path / "vpop.yaml").write_text(VPOP_SPEC)
    kind, report = validate_input(tmp_path / "vpop.yaml")
    assert kind == "population" and not report.has_errors(), report
    from tests.test_cli_population import SPEC as SELECTION_SPEC  # with a plausible-patient selection

    (tmp_path / "selection.yaml").write_text(SELECTION_SPEC)
    kind, report = validate_input(tmp_path / "selection.yaml")
    assert kind == "population" and not report.has_errors(), report
    (tmp_path / "selection.yaml").unlink()
    (tmp_path / "other.yaml").write_text("foo: 1\n")
    assert validate_input(tmp_path / "other.yaml")[0] == "unknown"
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "other.yaml")])
    assert result.exit_code == 1 and "other.yaml, line 1: no kind: declared" in result.output
    assert "kind: composition" in result.output and "kind: vpop" in result.output and "kind: trial" in result.output
    # the kind is declared, never guessed: a composition spec without kind: is not recognised by its modules
    (tmp_path / "other.yaml").write_text(COMPOSE_SPEC.replace("kind: composition\n", ""))
    assert validate_input(tmp_path / "other.yaml")[0] == "unknown"
    assert input_kind(tmp_path / "pkpd.yaml") == "composition"
    listed = list(tmp_path.iterdir())
    assert sorted(p.name for p in listed) == ["other.yaml", "pd.xml", "pk.xml", "pkpd.yaml", "vpop.yaml"]


def test_validate_reports_petab_errors_with_their_location(tmp_path: Path) -> None:
    from tests.test_petab_bad_input import M, write_problem

    path = write_problem(tmp_path, 2, ((M, 2, "observableId", "nope"),))
    result = CliRunner().invoke(main, ["validate", str(path), "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["kind"] == "petab"
    [error] = [i for i in payload["issues"] if i["severity"] == "error"]
    assert (error["row"], error["line"], error["column"]) == (2, 3, "observableId")
    assert error["file"].endswith("measurements.tsv") and "'nope'" in error["message"]


def test_issue_from_error_reads_attributes_and_messages() -> None:
    issue = issue_from_error(PetabError("bad", table="measurement", row=2, column="time", file="m.tsv", line=3))
    assert (issue.file, issue.line, issue.row, issue.column, issue.check) == ("m.tsv", 3, 2, "time",
                                                                             "error-petab-error")
    issue = issue_from_error(PopulationError("spec.yaml, line 4, key 'iiv': cv must be positive"))
    assert (issue.line, issue.column) == (4, "iiv")
    assert L3V2 in sbml("")
