"""qsp_sbml.compose: ports, links, unit conversion, provenance, errors, specs, folder rebuild.

The small modules below are test fixtures written with ModuleBuilder; their
numbers are arbitrary test values, not physiological claims.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import libsbml
import numpy as np
import pytest

from qsp_sbml import CompositionError, ValidationError, load_model
from qsp_sbml._sbml_build import ModuleBuilder
from qsp_sbml.compose import add_ports, assemble, build_folder, compose_spec, load_spec, ports
from qsp_sbml.compose.__main__ import main as compose_main
from qsp_sbml.resources import project_models_dir

MAB = project_models_dir() / "pbpk" / "mab_two_compartment_tmdd.xml"
TIMES = np.linspace(0.0, 48.0, 25)
EMAX, EC50_NM = 0.9, 5.0


def _write(path: Path, builder: ModuleBuilder) -> Path:
    builder.check()
    path.write_text(builder.to_string(), encoding="utf-8")
    return path


def pk_module(path: Path, *, units: str = "nM") -> Path:
    """One compartment, first-order elimination, output C := A / V (nM)."""
    b = ModuleBuilder("pk1", substance="nmol", time="hour")
    b.compartment("V", 3.0)
    b.species("A", "V", amount_only=True, initial=100.0)
    b.parameter("k", 0.2, "per_hour")
    b.reaction("elim", "k * A", reactants=["A"])
    b.parameter("C", None, units, constant=False)
    b.assignment("C", "A / V" if units == "nM" else "A / V / 1000 dimensionless")
    b.port("A", direction="input")
    b.port("C", direction="output")
    return _write(path, b)


def emax_module(path: Path, *, units: str = "nM", ec50: float = EC50_NM, model_id: str = "emax") -> Path:
    """E := Emax C_drug / (EC50 + C_drug); C_drug a constant input port."""
    b = ModuleBuilder(model_id, substance="nmol", time="hour")
    b.parameter("C_drug", 0.0, units)
    b.parameter("EC50", ec50, units)
    b.parameter("Emax", EMAX, "dimensionless")
    b.parameter("E", None, "dimensionless", constant=False)
    b.assignment("E", "Emax * C_drug / (EC50 + C_drug)")
    b.port("C_drug", direction="input")
    b.port("E", direction="output")
    return _write(path, b)


def single_file_equivalent(path: Path) -> Path:
    """pk_module + emax_module written by hand as one model."""
    b = ModuleBuilder("by_hand", substance="nmol", time="hour")
    b.compartment("V", 3.0)
    b.species("A", "V", amount_only=True, initial=100.0)
    b.parameter("k", 0.2, "per_hour")
    b.reaction("elim", "k * A", reactants=["A"])
    b.parameter("C", None, "nM", constant=False)
    b.assignment("C", "A / V")
    b.parameter("EC50", EC50_NM, "nM")
    b.parameter("Emax", EMAX, "dimensionless")
    b.parameter("E", None, "dimensionless", constant=False)
    b.assignment("E", "Emax * C / (EC50 + C)")
    return _write(path, b)


def _relmax(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.fixture
def mods(tmp_path):
    return {"pk": pk_module(tmp_path / "pk.xml"), "pd": emax_module(tmp_path / "pd.xml")}


def _load(text: str, tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_model(path, guard=False), path


# -- ports ----------------------------------------------------------------


def test_ports_of_the_shipped_mab_module():
    found = {p.element: p for p in ports(MAB)}
    assert found["C_free"].direction == "output"
    assert found["C_free"].kind == "parameter"
    assert found["C_free"].units == "nmol/L"
    assert found["CL"].direction == "input" and found["CL"].units == "L/h"
    assert found["mab_sc_depot"].kind == "species" and found["mab_sc_depot"].units == "nmol"


def test_add_ports_on_a_level2_model_from_elsewhere(tmp_path):
    doc = libsbml.SBMLDocument(2, 4)
    model = doc.createModel()
    model.setId("other_lab")
    c = model.createCompartment()
    c.setId("cell")
    c.setSize(1.0)
    for pid, value in (("k_in", 1.0), ("X", 0.0)):
        p = model.createParameter()
        p.setId(pid)
        p.setValue(value)
        p.setConstant(pid == "k_in")
    rule = model.createRateRule()
    rule.setVariable("X")
    rule.setMath(libsbml.parseL3Formula("k_in - X"))
    src = tmp_path / "l2.xml"
    libsbml.writeSBMLToFile(doc, str(src))
    out = add_ports(src, inputs=["k_in"], outputs=["X"])
    assert (out.getLevel(), out.getVersion()) == (3, 2)
    assert out.isPackageEnabled("comp")
    assert [(p.element, p.direction) for p in ports(out)] == [("k_in", "input"), ("X", "output")]
    assert libsbml.readSBMLFromFile(str(src)).getLevel() == 2, "the source file is not modified"
    with pytest.raises(CompositionError, match=r"l2\.xml.*'nope'"):
        add_ports(src, inputs=["nope"])


def test_ports_without_sbo_are_unspecified(tmp_path):
    path = emax_module(tmp_path / "pd.xml")
    doc = libsbml.readSBMLFromFile(str(path))
    doc.getModel().getPlugin("comp").getPort("E_port").unsetSBOTerm()
    assert {p.element: p.direction for p in ports(doc)}["E"] == "unspecified"


# -- assemble: same trajectories three ways ----------------------------------


def test_comp_flat_and_hand_written_models_agree(tmp_path, mods):
    comp = assemble(mods, ["pk.C -> pd.C_drug"], name="pkpd")
    hier, _ = _load(comp.comp_sbml, tmp_path, "pkpd.xml")
    flat, _ = _load(comp.flat_sbml, tmp_path, "pkpd_flat.xml")
    hand = load_model(single_file_equivalent(tmp_path / "hand.xml"), guard=False)
    a = hier.simulate(TIMES, selections=["pk_C", "pd__E", "pk__A"])
    b = flat.simulate(TIMES, selections=["pk_C", "pd__E", "pk__A"])
    c = hand.simulate(TIMES, selections=["C", "E", "A"])
    for x, y in (("pk_C", "C"), ("pd__E", "E"), ("pk__A", "A")):
        assert _relmax(a[x].to_numpy(), b[x].to_numpy()) <= 1e-9
        assert _relmax(b[x].to_numpy(), c[y].to_numpy()) <= 1e-9
    # analytic: A = 100 exp(-0.2 t), C = A / 3
    assert _relmax(b["pk_C"].to_numpy(), 100.0 / 3.0 * np.exp(-0.2 * TIMES)) <= 1e-6


def test_constant_input_driven_by_a_rule_is_consistent_in_the_flat_model(mods):
    comp = assemble(mods, ["pk.C -> pd.C_drug"])
    doc = libsbml.readSBMLFromString(comp.flat_sbml)
    doc.checkConsistency()
    assert [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_WARNING] == []
    param = doc.getModel().getParameter("pk_C")
    assert param.getConstant() is False
    assert doc.getModel().getAssignmentRuleByVariable("pk_C") is not None
    assert doc.getModel().getParameter("pd__C_drug") is None
    comp_doc = libsbml.readSBMLFromString(comp.comp_sbml)
    comp_doc.checkConsistency()
    assert [comp_doc.getError(i).getMessage() for i in range(comp_doc.getNumErrors())
            if comp_doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_WARNING] == []


def test_provenance_names_module_and_original_id(tmp_path, mods):
    comp = assemble(mods, ["pk.C -> pd.C_drug"])
    assert (comp.origins["pd__E"].module, comp.origins["pd__E"].original_id) == ("pd", "E")
    assert (comp.origins["pk__A"].module, comp.origins["pk__A"].kind) == ("pk", "species")
    link = comp.origins["pk_C"]
    assert (link.module, link.original_id, link.role) == ("pk", "C", "link")
    assert "pk.C -> pd.C_drug" in link.note
    flat = libsbml.readSBMLFromString(comp.flat_sbml).getModel()
    ids = {flat.getParameter(i).getId() for i in range(flat.getNumParameters())}
    assert ids <= set(comp.origins)
    table = comp.provenance()
    assert list(table.columns) == ["flat_id", "module", "original_id", "kind", "role", "note"]
    written = comp.write(tmp_path / "o.xml", flat=tmp_path / "o_flat.xml")
    assert [p.name for p in written] == ["o.xml", "o_flat.xml", "o_flat_provenance.tsv"]
    assert (tmp_path / "o_flat_provenance.tsv").read_text().startswith("flat_id\tmodule\toriginal_id")


def test_mab_module_drives_an_emax_module(tmp_path):
    pd_path = emax_module(tmp_path / "pd.xml")
    comp = assemble({"pk": MAB, "pd": pd_path}, ["pk.C_free -> pd.C_drug"], name="mab_emax")
    model, _ = _load(comp.flat_sbml, tmp_path, "flat.xml")
    out = model.simulate(np.linspace(0, 336, 15), selections=["pk_C_free", "pd__E"],
                         regimen="100 nmol iv to pk__mab_central")
    c = out["pk_C_free"].to_numpy()
    assert c[1] > 1.0
    assert _relmax(out["pd__E"].to_numpy()[1:], EMAX * c[1:] / (EC50_NM + c[1:])) <= 1e-9


def test_model_units_compare_by_meaning_not_spelling(tmp_path):
    # Antimony writes ``hour`` as 3.6 x 10^3 s (scale 3, multiplier 3.6); ours as 3600 s: the same unit
    pd_path = emax_module(tmp_path / "pd.xml")
    doc = libsbml.readSBMLFromFile(str(pd_path))
    hour = doc.getModel().getUnitDefinition(doc.getModel().getTimeUnits()).getUnit(0)
    hour.setScale(3)
    hour.setMultiplier(3.6)
    libsbml.writeSBMLToFile(doc, str(pd_path))
    comp = assemble({"pk": MAB, "pd": pd_path}, ["pk.C_free -> pd.C_drug"])
    flat = libsbml.readSBMLFromString(comp.flat_sbml).getModel()
    assert flat.getTimeUnits()
    ud = flat.getUnitDefinition(flat.getTimeUnits())
    assert abs(libsbml.UnitDefinition.convertToSI(ud).getUnit(0).getMultiplier() - 3600.0) < 1e-9


def test_unit_converted_link_nM_to_uM(tmp_path):
    pd_um = emax_module(tmp_path / "pd_um.xml", units="uM", ec50=EC50_NM / 1000.0)
    comp = assemble({"pk": MAB, "pd": pd_um}, ["pk.C_free -> pd.C_drug"])
    assert comp.links[0][1] == pytest.approx(1e-3)
    model, _ = _load(comp.flat_sbml, tmp_path, "flat.xml")
    out = model.simulate(np.linspace(0, 336, 15), selections=["pk_C_free", "pd__E", "pd_C_drug_conversion"],
                         regimen="100 nmol iv to pk__mab_central")
    assert out["pd_C_drug_conversion"].iloc[0] == pytest.approx(1000.0)
    c_um = out["pk_C_free"].to_numpy()[1:] / 1000.0  # 1 uM = 1000 nM
    assert _relmax(out["pd__E"].to_numpy()[1:], EMAX * c_um / (EC50_NM / 1000.0 + c_um)) <= 1e-9
    assert comp.origins["pd_C_drug_conversion"].role == "conversion"


def test_mass_concentrations_at_another_scale_convert(tmp_path):
    # mg/L output -> ug/mL input: the same magnitude, no conversion factor
    b = ModuleBuilder("pk_mass", substance="mg", time="hour")
    b.compartment("V", 2.0)
    b.species("A", "V", amount_only=True, initial=10.0)
    b.parameter("k", 0.1, "per_hour")
    b.reaction("elim", "k * A", reactants=["A"])
    b.parameter("C", None, "mg_per_litre", constant=False)
    b.assignment("C", "A / V")
    b.port("C", direction="output")
    pk = _write(tmp_path / "pk_mass.xml", b)
    pd = ModuleBuilder("pd_mass", substance="mg", time="hour")
    pd.parameter("C_drug", 0.0, "mg_per_litre")
    pd.parameter("E", None, "dimensionless", constant=False)
    pd.assignment("E", "C_drug / (1 mg_per_litre + C_drug)")
    pd.port("C_drug", direction="input")
    ud = pd.model.getUnitDefinition("mg_per_litre")
    ud.getUnit(0).setScale(-6)  # ug ...
    ud.getUnit(1).setScale(-3)  # ... per mL: the unit id stays, its definition is now ug/mL
    path = _write(tmp_path / "pd_mass.xml", pd)
    comp = assemble({"pk": pk, "pd": path}, ["pk.C -> pd.C_drug"])
    assert comp.links[0][1] == 1.0
    assert "pd_C_drug_conversion" not in comp.origins


# -- errors -----------------------------------------------------------------


def test_missing_module_port_or_element_is_named(mods):
    with pytest.raises(CompositionError, match=r"pk\.C -> nope\.C_drug.*no module 'nope'"):
        assemble(mods, ["pk.C -> nope.C_drug"])
    with pytest.raises(CompositionError, match=r"pk\.missing -> pd\.C_drug.*'missing'") as err:
        assemble(mods, ["pk.missing -> pd.C_drug"])
    assert err.value.sbml_id == "missing"
    with pytest.raises(CompositionError, match=r"'EC50' of module 'pd'.*is not a port.*ports add"):
        assemble(mods, ["pk.C -> pd.EC50"])


def test_incompatible_units_are_refused_naming_link_and_units(tmp_path, mods):
    pd_mass = ModuleBuilder("pd_mass", substance="mg", time="hour")
    pd_mass.parameter("C_drug", 0.0, "mg_per_litre")
    pd_mass.port("C_drug", direction="input")
    path = _write(tmp_path / "pd_mass.xml", pd_mass)
    with pytest.raises(CompositionError) as err:
        assemble({"pk": mods["pk"], "pd": path}, ["pk.C -> pd.C_drug"])
    text = str(err.value)
    assert "pk.C -> pd.C_drug" in text and "nmol/L" in text and "mg/L" in text
    assert "molecular weight" in text


def _loop_module(path: Path, model_id: str, inp: str, out: str, formula: str) -> Path:
    b = ModuleBuilder(model_id, substance="nmol", time="hour")
    b.parameter(inp, 1.0, "dimensionless")
    b.parameter(out, None, "dimensionless", constant=False)
    b.assignment(out, formula)
    b.port(inp, direction="input")
    b.port(out, direction="output")
    return _write(path, b)


def test_algebraic_loop_through_links_is_refused(tmp_path):
    a = _loop_module(tmp_path / "a.xml", "ma", "x", "y", "2 dimensionless * x")
    b = _loop_module(tmp_path / "b.xml", "mb", "u", "v", "u + 1 dimensionless")
    with pytest.raises(CompositionError, match="algebraic loop") as err:
        assemble({"a": a, "b": b}, ["a.y -> b.u", "b.v -> a.x"])
    assert "a_y" in str(err.value) and "b_v" in str(err.value)


def test_feedback_through_a_state_is_not_a_loop(tmp_path, mods):
    # pd.E drives nothing algebraic back: linking E into pk's dose input A is refused as a species link,
    # but a feedback through a parameter feeding an ODE is fine
    b = ModuleBuilder("fb", substance="nmol", time="hour")
    b.compartment("V", 1.0)
    b.species("S", "V", amount_only=True, initial=1.0)
    b.parameter("inhib", 0.0, "dimensionless")
    b.parameter("kout", 0.1, "per_hour")
    b.reaction("out", "kout * (1 dimensionless - inhib) * S", reactants=["S"])
    b.parameter("level", None, "nM", constant=False)
    b.assignment("level", "S / V")
    b.port("inhib", direction="input")
    b.port("level", direction="output")
    fb = _write(tmp_path / "fb.xml", b)
    comp = assemble({"fb": fb, "pd": mods["pd"]}, ["fb.level -> pd.C_drug", "pd.E -> fb.inhib"])
    assert set(comp.origins) >= {"fb_level", "pd_E"}


def test_two_links_driving_one_input_clash(tmp_path, mods):
    mods = {**mods, "pk2": pk_module(tmp_path / "pk2.xml")}
    with pytest.raises(CompositionError, match=r"id clash.*pd\.C_drug.*pk\.C -> pd\.C_drug.*pk2\.C -> pd\.C_drug"):
        assemble(mods, ["pk.C -> pd.C_drug", "pk2.C -> pd.C_drug"])


def test_top_level_id_clash_is_named(tmp_path, mods):
    mods = {**mods, "pk_C": emax_module(tmp_path / "pd2.xml", model_id="emax2")}
    with pytest.raises(CompositionError, match=r"id clash: 'pk_C'"):
        assemble(mods, ["pk.C -> pd.C_drug"])


def test_input_to_input_and_output_to_output_are_refused(tmp_path, mods):
    mods = {**mods, "pd2": emax_module(tmp_path / "pd2.xml")}
    with pytest.raises(CompositionError, match=r"pd\.C_drug -> pd2\.C_drug.*input port"):
        assemble(mods, ["pd.C_drug -> pd2.C_drug"])
    with pytest.raises(CompositionError, match=r"pk\.C -> pd\.E.*output port"):
        assemble(mods, ["pk.C -> pd.E"])


def test_invalid_module_raises_the_loaders_error_naming_the_file(tmp_path, mods):
    bad = tmp_path / "broken.xml"
    bad.write_text(mods["pd"].read_text().replace('id="EC50"', 'id="Emax"'), encoding="utf-8")
    with pytest.raises(ValidationError, match="broken.xml"):
        assemble({"pk": mods["pk"], "pd": bad}, ["pk.C -> pd.C_drug"])


def test_species_links_are_refused_with_a_hint(mods):
    with pytest.raises(CompositionError, match=r"pd\.E -> pk\.A.*species.*assignment rule"):
        assemble(mods, ["pd.E -> pk.A"])


def test_overrides(tmp_path, mods):
    comp = assemble(mods, ["pk.C -> pd.C_drug"], {"pk.k": 0.5, "pd.EC50": 1.0})
    model, _ = _load(comp.flat_sbml, tmp_path, "f.xml")
    out = model.simulate([0.0, 2.0], selections=["pk_C", "pd__E"])
    c = 100.0 / 3.0 * np.exp(-0.5 * 2.0)
    assert out["pk_C"].iloc[1] == pytest.approx(c, rel=1e-6)
    assert out["pd__E"].iloc[1] == pytest.approx(EMAX * c / (1.0 + c), rel=1e-6)
    with pytest.raises(CompositionError, match=r"pd\.C_drug.*driven by link pk\.C -> pd\.C_drug"):
        assemble(mods, ["pk.C -> pd.C_drug"], {"pd.C_drug": 1.0})
    with pytest.raises(CompositionError, match=r"pd\.E.*computed by a rule"):
        assemble(mods, ["pk.C -> pd.C_drug"], {"pd.E": 1.0})
    with pytest.raises(CompositionError, match=r"pd\.nope"):
        assemble(mods, [], {"pd.nope": 1.0})


def test_deterministic_output(mods):
    a = assemble(mods, ["pk.C -> pd.C_drug"])
    b = assemble(mods, ["pk.C -> pd.C_drug"])
    assert (a.comp_sbml, a.flat_sbml, a.provenance_tsv()) == (b.comp_sbml, b.flat_sbml, b.provenance_tsv())


def test_unitless_link_end_warns(tmp_path, mods):
    src = tmp_path / "nounits.xml"
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId("nounits")
    p = m.createParameter()
    p.setId("out")
    p.setValue(2.0)
    p.setConstant(True)
    libsbml.writeSBMLToFile(add_ports(doc, outputs=["out"]), str(src))
    with pytest.warns(UserWarning, match="declares no units"):
        comp = assemble({"x": src, "pd": mods["pd"]}, ["x.out -> pd.C_drug"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = _load(comp.flat_sbml, tmp_path, "f.xml")
    assert model.simulate([0.0, 1.0], selections=["pd__E"])["pd__E"].iloc[1] == pytest.approx(EMAX * 2 / 7)


# -- spec files and the folder rebuild ------------------------------------


SPEC = """kind: composition
name: pkpd
notes: test composition
modules:
  pk: pk.xml
  pd: pd.xml
links:
  - pk.C -> pd.C_drug
overrides:
  pd.EC50: 2.5
"""


def test_spec_round_trip(tmp_path, mods):
    (tmp_path / "pkpd.yaml").write_text(SPEC)
    spec = load_spec(tmp_path / "pkpd.yaml")
    assert spec.name == "pkpd" and spec.overrides == {"pd.EC50": 2.5}
    assert spec.links[0].where.endswith("pkpd.yaml, line 8, field links[0]")
    comp = compose_spec(spec)
    assert "test composition" in comp.comp_sbml
    assert libsbml.readSBMLFromString(comp.flat_sbml).getModel().getParameter("pd__EC50").getValue() == 2.5


@pytest.mark.parametrize(("text", "needle"), [
    (SPEC.replace("notes:", "nots:"), r"line 3, field nots: unknown field"),
    (SPEC.replace("pd: pd.xml", "pd: missing.xml"), r"line 6, field modules.pd: no such file missing.xml"),
    (SPEC.replace("  - pk.C -> pd.C_drug", "  - pk.C pd.C_drug"), r"line 8, field links\[0\]: .*must read"),
    (SPEC.replace("pd.EC50: 2.5", "pd.EC50: high"),
     r"line 10, field overrides.pd.EC50: Input should be a valid number.*'high'"),
    (SPEC.replace("modules:", "modules: [").replace("links:", "]links:"), r"line \d+: not valid YAML"),
    (SPEC.replace("  - pk.C -> pd.C_drug", "  - pk.C -> pd.nothing"), r"line 8, field links\[0\].*'nothing'"),
    (SPEC + "exchange:\n  end: -1\n  selections: [pd__E]\n",
     r"line 12, field exchange.end: Input should be greater than 0"),
    (SPEC + "exchange:\n  end: 5\n", r"line 11, field exchange.selections: required field is missing"),
])
def test_spec_errors_name_the_line(tmp_path, mods, text, needle):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(CompositionError, match=needle):
        compose_spec(tmp_path / "s.yaml")


def test_repository_composed_models_are_current():
    assert compose_main(["--check"]) == 0


def test_folder_rebuild_detects_stale_outputs(tmp_path, mods):
    (tmp_path / "pkpd.yaml").write_text(SPEC)
    assert [p.name for p in build_folder(tmp_path, check=True)] == [
        "pkpd.xml", "pkpd_flat.xml", "pkpd_flat_provenance.tsv"]
    assert compose_main([str(tmp_path)]) == 0
    assert build_folder(tmp_path, check=True) == []
    assert compose_main(["--check", str(tmp_path)]) == 0
    (tmp_path / "pkpd.yaml").write_text(SPEC.replace("2.5", "3.5"))
    assert compose_main(["--check", str(tmp_path)]) == 1
    assert {p.name for p in build_folder(tmp_path, check=True)} == {"pkpd.xml", "pkpd_flat.xml"}


def test_a_species_output_drives_a_parameter_input(tmp_path):
    pd_path = emax_module(tmp_path / "pd.xml")
    comp = assemble({"pk": MAB, "pd": pd_path}, ["pk.target_total -> pd.C_drug"],
                    {"pk.target_total": 2.0})
    doc = libsbml.readSBMLFromString(comp.comp_sbml)
    doc.checkConsistency()
    assert [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_WARNING] == []
    model, _ = _load(comp.flat_sbml, tmp_path, "flat.xml")
    out = model.simulate([0.0, 24.0], selections=["[pk__target_total]", "pk_target_total", "pd__E"])
    r = out["[pk__target_total]"].to_numpy()
    assert r[0] > 0
    assert _relmax(out["pk_target_total"].to_numpy(), r) <= 1e-12
    assert _relmax(out["pd__E"].to_numpy(), EMAX * r / (EC50_NM + r)) <= 1e-9
    origin = comp.origins["pk_target_total"]
    assert (origin.module, origin.original_id) == ("pk", "target_total")
    assert "species target_total" in origin.note


def test_one_output_drives_two_instances_of_one_module(tmp_path, mods):
    mods = {**mods, "pd2": mods["pd"]}
    comp = assemble(mods, ["pk.C -> pd.C_drug", "pk.C -> pd2.C_drug"], {"pd2.EC50": 50.0})
    model, _ = _load(comp.flat_sbml, tmp_path, "f.xml")
    out = model.simulate([0.0, 3.0], selections=["pk_C", "pd__E", "pd2__E"])
    c = out["pk_C"].to_numpy()
    assert _relmax(out["pd__E"].to_numpy(), EMAX * c / (EC50_NM + c)) <= 1e-9
    assert _relmax(out["pd2__E"].to_numpy(), EMAX * c / (50.0 + c)) <= 1e-9
    assert comp.origins["pk_C"].note == "link pk.C -> pd.C_drug; link pk.C -> pd2.C_drug"


def test_nested_and_time_unit_mismatch_are_refused(tmp_path, mods):
    nested = tmp_path / "nested.xml"
    nested.write_text(assemble(mods, ["pk.C -> pd.C_drug"]).comp_sbml)
    with pytest.raises(CompositionError, match="nested composition is not supported"):
        assemble({"inner": nested, "pd": mods["pd"]})
    b = ModuleBuilder("in_seconds", substance="nmol", time="second")
    b.parameter("C_drug", 0.0, "nM")
    b.port("C_drug", direction="input")
    sec = _write(tmp_path / "sec.xml", b)
    with pytest.raises(CompositionError, match=r"'pk' and 'pd'.*different time units.*'hour'.*'second'"):
        assemble({"pk": mods["pk"], "pd": sec}, ["pk.C -> pd.C_drug"])


def test_pbpk_in_mg_drives_a_pd_module_without_unit_warnings(tmp_path):
    # the PD module declares nmol substance units but has no reactions: only the PBPK module's mg extent counts
    b = ModuleBuilder("pd_mass", substance="nmol", time="hour")
    b.parameter("C_drug", 0.0, "mg_per_litre")
    b.parameter("EC50", 2.0, "mg_per_litre")
    b.parameter("E", None, "dimensionless", constant=False)
    b.assignment("E", "C_drug / (EC50 + C_drug)")
    b.port("C_drug", direction="input")
    pd = _write(tmp_path / "pd_mass.xml", b)
    comp = assemble({"pbpk": project_models_dir() / "pbpk" / "wholebody_pbpk.xml", "pd": pd},
                    ["pbpk.C_plasma -> pd.C_drug"])
    for text in (comp.comp_sbml, comp.flat_sbml):
        doc = libsbml.readSBMLFromString(text)
        doc.checkConsistency()
        assert [doc.getError(i).getErrorId() for i in range(doc.getNumErrors())
                if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_WARNING] == []
    model, _ = _load(comp.flat_sbml, tmp_path, "flat.xml")
    out = model.simulate([0.0, 1.0, 6.0], selections=["pbpk_C_plasma", "pd__E"],
                         regimen="10 mg iv to pbpk__drug_venous_blood")
    c = out["pbpk_C_plasma"].to_numpy()
    assert c[1] > 0
    assert _relmax(out["pd__E"].to_numpy()[1:], c[1:] / (2.0 + c[1:])) <= 1e-9
