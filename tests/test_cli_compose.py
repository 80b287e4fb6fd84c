"""`qsp-sbml compose` and `qsp-sbml ports`: outputs, JSON, exit 1 and no partial output on errors."""

from __future__ import annotations

import json

import libsbml
import pytest

from tests.test_compose import MAB, SPEC, emax_module, pk_module


@pytest.fixture
def spec(tmp_path):
    pk_module(tmp_path / "pk.xml")
    emax_module(tmp_path / "pd.xml")
    path = tmp_path / "pkpd.yaml"
    path.write_text(SPEC)
    return path


def test_compose_writes_comp_flat_and_provenance(run, spec, tmp_path):
    out, flat = tmp_path / "out" / "m.xml", tmp_path / "out" / "m_flat.xml"
    result = run("compose", spec, "-o", out, "--flat", flat, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["model"] == "pkpd"
    assert payload["links"] == [{"source": "pk.C", "target": "pd.C_drug", "unit_factor": 1.0}]
    assert libsbml.readSBMLFromFile(str(out)).isPackageEnabled("comp")
    assert libsbml.readSBMLFromFile(str(flat)).getModel().getParameter("pk_C") is not None
    prov = (tmp_path / "out" / "m_flat_provenance.tsv").read_text().splitlines()
    assert "pk_C\tpk\tC\tparameter\tlink\tlink pk.C -> pd.C_drug" in prov


@pytest.mark.parametrize(("edit", "needle"), [
    (("pk.C -> pd.C_drug", "pk.C -> pd.E"), "output port"),
    (("pk.C -> pd.C_drug", "pd.C_drug -> pk.A"), "input port"),
    (("pd.EC50: 2.5", "pd.E: 2.5"), "computed by a rule"),
    (("links:", "linkz:"), "field linkz: unknown field"),
])
def test_compose_errors_exit_1_and_write_nothing(run, spec, tmp_path, edit, needle):
    spec.write_text(SPEC.replace(*edit))
    out, flat = tmp_path / "o.xml", tmp_path / "o_flat.xml"
    result = run("compose", spec, "-o", out, "--flat", flat)
    assert result.exit_code == 1, result.output
    assert needle in result.output and "Traceback" not in result.output
    assert not out.exists() and not flat.exists() and not (tmp_path / "o_flat_provenance.tsv").exists()
    payload = json.loads(run("compose", spec, "-o", out, "--json").stdout)
    assert payload["ok"] is False and payload["error"]["type"] == "CompositionError"


def test_ports_list_and_add(run, tmp_path):
    result = run("ports", "list", MAB, "--json")
    assert result.exit_code == 0, result.output
    found = {p["element"]: p for p in json.loads(result.stdout)["ports"]}
    assert found["C_free"] == {"id": "C_free_port", "element": "C_free", "kind": "parameter",
                               "direction": "output", "units": "nmol/L"}
    out = tmp_path / "pd_more.xml"
    result = run("ports", "add", emax_module(tmp_path / "pd.xml"), "--input", "EC50", "--output", "Emax",
                 "-o", out)
    assert result.exit_code == 0, result.output
    listed = run("ports", "list", out).output
    assert "EC50" in listed and "Emax" in listed


def test_ports_add_unknown_id_exit_1(run, tmp_path):
    src = emax_module(tmp_path / "pd.xml")
    out = tmp_path / "x.xml"
    result = run("ports", "add", src, "--input", "nope", "-o", out)
    assert result.exit_code == 1
    assert "'nope'" in result.output and "pd.xml" in result.output
    assert not out.exists()
