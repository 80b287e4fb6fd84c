"""Antimony in and out: round trip of a shipped module, refusal of empty or incomplete models."""

from __future__ import annotations

import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.resources import project_models_dir
from qsp_sbml.simulate.options import IntegratorOptions

pytest.importorskip("antimony", reason="Antimony tests need the exchange extra")

from qsp_sbml.interop.antimony import from_antimony, to_antimony

MODELS = project_models_dir()
TIGHT = IntegratorOptions(rtol=1e-10, atol=1e-14)
TWO_LEVEL = """
model pk()
  compartment V = 10
  species A in V = 0
  J0: A -> ; CL * A / V
  CL = 2
  C := A / V
end

model top()
  sub: pk()
  k_scale = 1
end
"""


@pytest.mark.parametrize(("module", "regimen", "selections"), [
    ("pbpk/mab_two_compartment_tmdd.xml", "100 nmol sc q168h x 2 to mab_sc_depot",
     ["C_free", "mab_sc_depot", "[mab_central]", "mab_peripheral"]),
    ("pd/idr3.xml", None, ["R"]),
])
def test_round_trip_of_a_module_simulates_the_same(tmp_path, module, regimen, selections):
    text = to_antimony(MODELS / module)
    assert "model " in text
    sbml = from_antimony(text)
    original, back = load_model(MODELS / module), load_model(sbml, guard=False)
    assert sorted(original.species_ids) == sorted(back.species_ids)
    times = np.linspace(0.0, 336.0, 57) + 0.5
    params = {"C_drug": 10.0} if "C_drug" in original.parameter_ids else None
    a = original.simulate(times, selections=selections, regimen=regimen, parameters=params, options=TIGHT)
    b = back.simulate(times, selections=selections, regimen=regimen, parameters=params, options=TIGHT)
    for sel in selections:
        ref = a[sel].to_numpy()
        assert np.max(np.abs(ref)) > 0, sel
        floor = 1e-9 * np.max(np.abs(ref))
        assert np.max(np.abs(b[sel].to_numpy() - ref) / np.maximum(np.abs(ref), floor)) <= 1e-9, sel


@pytest.mark.filterwarnings("ignore::qsp_sbml.errors.UnitWarning")  # the Antimony text declares no units
def test_hierarchical_antimony_is_flattened_with_libsbml_ids():
    sbml = from_antimony(TWO_LEVEL)
    model = load_model(sbml, guard=False)
    assert "sub__A" in model.species_ids and "sub__CL" in model.parameter_ids
    out = model.simulate([0.0, 1.0], selections=["sub__A"], parameters={"sub__A": 5.0})
    # rate CL * [A] / V on the amount: dA/dt = -(CL / V**2) A = -0.02 A
    assert out["sub__A"].iloc[1] == pytest.approx(5.0 * np.exp(-0.02), rel=1e-6)


@pytest.mark.parametrize(("text", "message"), [
    ("model x\nend\n", "empty model"),
    ("model m\n  A -> B; k*A\nend\n", "no value for k"),
    ("this is not antimony !!", "could not read"),
    (TWO_LEVEL, "module 'nope' not found"),
])
def test_bad_antimony_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        from_antimony(text, module="nope" if text is TWO_LEVEL else None)


def test_to_antimony_refuses_a_broken_file(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<sbml>")
    with pytest.raises(ValueError, match="not a readable SBML"):
        to_antimony(bad)


def test_cli_antimony_round_trip(tmp_path):
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    runner = CliRunner()
    ant = tmp_path / "idr1.ant"
    out = runner.invoke(main, ["antimony", "from-sbml", str(MODELS / "pd" / "idr1.xml"), "-o", str(ant)])
    assert out.exit_code == 0, out.output
    xml = tmp_path / "idr1.xml"
    back = runner.invoke(main, ["antimony", "to-sbml", str(ant), "-o", str(xml)])
    assert back.exit_code == 0, back.output
    assert load_model(xml).species_ids == ["R"]
    empty = tmp_path / "empty.ant"
    empty.write_text("model x\nend\n")
    bad = runner.invoke(main, ["antimony", "to-sbml", str(empty), "-o", str(tmp_path / "e.xml")])
    assert bad.exit_code == 1 and "empty model" in bad.output and not (tmp_path / "e.xml").exists()
