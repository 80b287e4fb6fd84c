"""`qsp-sbml crosscheck`: RoadRunner and COPASI agree on every shipped model under its exchange plan."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.resources import project_models_dir

pytest.importorskip("basico", reason="cross-check tests need the copasi extra")

from qsp_sbml.interop.crosscheck import ExchangePlan, crosscheck, default_plan

MODELS = project_models_dir()
# Every SBML file under models/ (a composed model's flat file is checked through its comp document).
FILES = sorted(p for p in MODELS.rglob("*.xml") if not p.name.endswith("_flat.xml"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(MODELS)))
def test_every_model_passes_the_crosscheck(path):
    result = crosscheck(path, tolerance=1e-4, rtol=1e-8, atol=1e-12)
    assert result.differences and set(result.differences) == set(result.plan.selections)
    assert result.passed, result.differences


def test_default_plans_exercise_the_inputs():
    depot = default_plan(MODELS / "pbpk" / "wholebody_pbpk.xml")
    assert depot.regimen == "100 mg po at 0, 24 h to drug_gi_lumen"
    assert "C_plasma" in depot.selections
    sc = default_plan(MODELS / "pbpk" / "mab_two_compartment_tmdd.xml")
    assert sc.regimen == "100 nmol sc at 0, 24 h to mab_sc_depot"
    disease = default_plan(MODELS / "disease" / "psoriasis.xml")
    assert disease.regimen is None and disease.parameters == {"E_drug": 0.5} and "PASI" in disease.selections
    pd = default_plan(MODELS / "pd" / "idr1.xml")
    assert pd.parameters == {"C_drug": 10.0} and pd.selections == ["R"]
    assert all(t not in (0.0, 24.0) for t in depot.times()[1:]), "no output at a dose time"


def test_a_wrong_model_fails_the_check(monkeypatch):
    """COPASI runs a model whose clearance differs: the check must fail, and say which output."""
    import libsbml

    source = MODELS / "pd" / "idr1.xml"
    plan = default_plan(source)
    doc = libsbml.readSBMLFromFile(str(source))
    good = crosscheck(source, plan)
    assert good.passed
    original = ExchangePlan.apply

    def skewed(self, model, *, events=True):
        text = original(self, model, events=events)
        if not events:
            return text
        d = libsbml.readSBMLFromString(text)
        kout = d.getModel().getParameter("kout")
        kout.setValue(kout.getValue() * 1.01)
        return libsbml.writeSBMLToString(d)

    monkeypatch.setattr(ExchangePlan, "apply", skewed)
    bad = crosscheck(source, plan)
    assert doc.getModel().getParameter("kout") is not None
    assert not bad.passed and bad.differences["R"] > 1e-4


def test_cli_crosscheck_json_and_exit_codes(tmp_path):
    runner = CliRunner()
    model = MODELS / "pbpk" / "mab_two_compartment_tmdd.xml"
    ok = runner.invoke(main, ["crosscheck", str(model), "--regimen", "200 nmol sc q168h x 2 to mab_sc_depot",
                              "--end", "336", "-s", "C_free,mab_sc_depot", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["ok"] and set(data["differences"]) == {"C_free", "mab_sc_depot"}
    assert data["plan"]["regimen"] == "200 nmol sc q168h x 2 to mab_sc_depot" and data["plan"]["end"] == 336.0
    strict = runner.invoke(main, ["crosscheck", str(model), "--tolerance", "1e-15", "--rtol", "1e-6"])
    assert strict.exit_code == 1 and "FAILED" in strict.output
    bad = runner.invoke(main, ["crosscheck", str(model), "--regimen", "100 zorkmid sc to mab_sc_depot"])
    assert bad.exit_code == 1 and "zorkmid" in bad.output and "Traceback" not in bad.output
    unknown = runner.invoke(main, ["crosscheck", str(model), "-s", "nope", "--json"])
    assert unknown.exit_code == 1 and json.loads(unknown.output)["ok"] is False


def test_plan_checks_its_values():
    with pytest.raises(ValueError, match="end"):
        ExchangePlan(0.0, ["C"])
    with pytest.raises(ValueError, match="selection"):
        ExchangePlan(1.0, [])


def test_cli_missing_file_is_bad_input(tmp_path):
    runner = CliRunner()
    for args in (["crosscheck", str(tmp_path / "nope.xml")], ["omex", "import", str(tmp_path / "n.omex"), "-o",
                 str(tmp_path / "o")], ["antimony", "to-sbml", str(tmp_path / "n.ant"), "-o", str(tmp_path / "x")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1 and "no such file" in result.output, args
