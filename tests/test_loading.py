"""Loading: valid models load, every bad input is refused naming the id or line."""

from __future__ import annotations

import os
import warnings

import pytest

import qsp_sbml as qs
from qsp_sbml import resources
from qsp_sbml._guard import run_guarded

# fixture file -> (text the error message must contain, libSBML rule or our check)
BAD = {
    "malformed_xml": ("malformed_xml.xml:3", "sbml-1009"),
    "not_sbml": ("<html>", "sbml-not-sbml"),
    "undefined_symbol": ("k_missing", "sbml-10215"),
    "duplicate_id": ("'p'", "sbml-10301"),
    "two_rules": ("'p'", "sbml-10304"),
    "circular_rules": ("'a'", "sbml-20906"),
    "missing_attribute": ("'compartment'", "sbml-20614"),
    "invalid_mathml": ("frobnicate", "sbml-10202"),
    "event_assigns_constant": ("'p'", "sbml-21212"),
    "comp_missing_port": ("no_such_port", "sbml-1020701"),
    "comp_bad_submodel_ref": ("no_such_model", "sbml-1020615"),
    "comp_missing_external": ("does_not_exist.xml", "sbml-1090101"),
    "comp_class_mismatch": ("'cc'", "comp-replacement-class"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_refused_with_a_named_location(fixtures, name):
    needle, check = BAD[name]
    path = fixtures / "bad_sbml" / f"{name}.xml"
    with pytest.raises(qs.QspError) as info:
        qs.load_model(path)
    err = info.value
    assert isinstance(err, qs.ValidationError)
    assert isinstance(err, ValueError)
    assert needle in str(err), str(err)
    assert str(path) in str(err)
    assert any(issue.check == check for issue in err.report), [i.check for i in err.report]


@pytest.mark.parametrize("name", sorted(set(BAD) - {"comp_missing_external"}))
def test_bad_input_from_a_string_is_refused_too(fixtures, name):
    text = (fixtures / "bad_sbml" / f"{name}.xml").read_text()
    with pytest.raises(qs.ValidationError):
        qs.load_model(text, guard=False)


@pytest.mark.parametrize(
    ("name", "feature", "needle"),
    [
        ("algebraic_rule", "algebraic-rule", "x - y"),
        ("delay", "delay", "'x'"),
        ("fast_reaction", "fast-reaction", "R_fast"),
    ],
)
def test_unsupported_features_are_named(fixtures, name, feature, needle):
    with pytest.raises(qs.UnsupportedFeatureError) as info:
        qs.load_model(fixtures / "unsupported" / f"{name}.xml")
    assert info.value.feature == feature
    assert needle in str(info.value)


def test_external_models_resolve_against_base_dir(fixtures, tmp_path):
    text = (fixtures / "bad_sbml" / "comp_missing_external.xml").read_text()
    with pytest.raises(qs.ValidationError, match="does_not_exist.xml"):
        qs.load_model(text, guard=False, base_dir=tmp_path)


def test_missing_file_and_wrong_type():
    with pytest.raises(qs.SbmlError, match="no such file"):
        qs.load_model("does/not/exist.xml")
    with pytest.raises(TypeError):
        qs.load_model(42)  # type: ignore[arg-type]


def test_shipped_models_load_without_any_issue():
    for path in (resources.ONE_COMPARTMENT_IV, resources.ONE_COMPARTMENT_ORAL):
        model = qs.load_model(path, strict_units=True)
        assert len(model.report) == 0, [i.format() for i in model.report]


def test_unit_issues_warn_by_default_and_fail_in_strict_mode(fixtures):
    text = resources.ONE_COMPARTMENT_IV.read_text().replace(' units="litre_per_hour"', "")
    with pytest.warns(qs.UnitWarning, match="unit warning"):
        model = qs.load_model(text, guard=False)
    assert any(i.check.startswith("sbml-units-") for i in model.report)
    with pytest.raises(qs.ValidationError, match="CL"):
        qs.load_model(text, guard=False, strict_units=True)


def test_guarded_and_unguarded_loading_agree():
    a = qs.load_model(resources.ONE_COMPARTMENT_ORAL)
    b = qs.load_model(resources.ONE_COMPARTMENT_ORAL, guard=False)
    assert a.sbml == b.sbml
    ta = a.simulate([0, 5], regimen="100 mg po to A_gut", selections=["C"])
    tb = b.simulate([0, 5], regimen="100 mg po to A_gut", selections=["C"])
    assert ta.equals(tb)


def test_a_native_crash_in_the_guard_becomes_an_error_and_the_guard_recovers():
    with pytest.raises(qs.NativeCrashError, match="crash-test"):
        run_guarded(os.abort, what="crash-test")
    # the next call gets a fresh worker
    model = qs.load_model(resources.ONE_COMPARTMENT_IV)
    assert model.id == "pk_one_compartment_iv"


def test_the_guard_worker_imports_only_what_loading_needs(tmp_path, monkeypatch):
    """The worker starts without the package's __init__ (pandas and the model modules are most of its start-up),
    from any working directory, and still loads and compiles."""
    from qsp_sbml._guard import shutdown_guard

    shutdown_guard()
    monkeypatch.chdir(tmp_path)  # the package is found from its folder, not from the working directory
    model = qs.load_model(resources.ONE_COMPARTMENT_ORAL)
    assert model.id == "pk_one_compartment_oral"
    loaded = run_guarded(eval, "sorted(m for m in __import__('sys').modules if m.split('.')[0] in "
                               "('pandas', 'qsp_sbml', 'libsbml', 'roadrunner'))")
    assert "pandas" not in loaded and "qsp_sbml.model" not in loaded and "qsp_sbml.dosing" not in loaded
    assert {"libsbml", "roadrunner", "qsp_sbml.loading"} <= set(loaded)


def test_an_interrupt_reaches_neither_the_guard_worker_nor_the_next_call(monkeypatch, capfd):
    """Ctrl-C / a Jupyter interrupt goes to the whole process group: the worker ignores it (no traceback from
    it), and a parent interrupted mid-call drops the worker, so the next call cannot read a stale reply."""
    import signal

    from qsp_sbml import _guard

    qs.load_model(resources.ONE_COMPARTMENT_IV)
    worker = _guard._worker
    assert worker is not None
    os.kill(worker.pid, signal.SIGINT)
    assert qs.load_model(resources.ONE_COMPARTMENT_ORAL).id == "pk_one_compartment_oral"
    assert _guard._worker is worker and worker.poll() is None
    assert "KeyboardInterrupt" not in capfd.readouterr().err

    def interrupted(stream):
        raise KeyboardInterrupt

    monkeypatch.setattr(_guard, "_recv", interrupted)
    with pytest.raises(KeyboardInterrupt):
        qs.load_model(resources.ONE_COMPARTMENT_IV)
    monkeypatch.undo()
    assert _guard._worker is None and worker.poll() is not None
    assert qs.load_model(resources.ONE_COMPARTMENT_IV).id == "pk_one_compartment_iv"


def test_flat_comp_model_is_never_empty(tmp_path):
    sub = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core"
      xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" level="3" version="2" comp:required="true">
  <comp:listOfModelDefinitions>
    <comp:modelDefinition id="sub"><listOfParameters><parameter id="x" value="3" constant="true"/></listOfParameters>
    </comp:modelDefinition>
  </comp:listOfModelDefinitions>
  <model id="top"><comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="sub"/></comp:listOfSubmodels></model>
</sbml>"""
    path = tmp_path / "top.xml"
    path.write_text(sub)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qs.UnitWarning)
        model = qs.load_model(path)
    assert model.parameter_ids == ["A__x"]
    assert model.simulate([0, 1], selections=["A__x"])["A__x"].tolist() == [3.0, 3.0]


def test_sbml_level2_model_loads_without_package_error():
    # libSBML lists a 'layout' plugin on every L2 document and reports it as required
    l2 = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4">'
        '<model id="m"><listOfCompartments><compartment id="c" size="1"/></listOfCompartments>'
        '<listOfSpecies><species id="A" compartment="c" initialConcentration="1"/></listOfSpecies>'
        "</model></sbml>"
    )
    from qsp_sbml import load_model

    model = load_model(l2, guard=False)
    assert model.species_ids == ["A"]


_SUB = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="sub"><listOfParameters><parameter id="k" value="2" constant="true"/></listOfParameters></model>
</sbml>
"""
_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core"
      xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" level="3" version="2" comp:required="true">
  <comp:listOfExternalModelDefinitions>
    <comp:externalModelDefinition comp:id="ext" comp:source="x_sub.xml" comp:modelRef="sub"/>
  </comp:listOfExternalModelDefinitions>
  <model id="body">
    <listOfParameters><parameter id="y" value="1" constant="true"/></listOfParameters>
    <comp:listOfSubmodels><comp:submodel comp:id="A" comp:modelRef="ext"/></comp:listOfSubmodels>
  </model>
</sbml>
"""


@pytest.mark.parametrize("guard", [True, False])
def test_relative_paths_are_resolved_once_at_the_entry(tmp_path, monkeypatch, guard):
    """A comp document with an external definition loads by a relative path with folders in it, and by a bare
    name after chdir (the guard process was started in another working directory)."""
    folder = tmp_path / "lab" / "x" / "models"
    folder.mkdir(parents=True)
    (folder / "x_sub.xml").write_text(_SUB)
    (folder / "x_body.xml").write_text(_BODY)
    qs.load_model(resources.ONE_COMPARTMENT_IV, guard=guard)  # the guard starts here, in the old directory
    monkeypatch.chdir(tmp_path)
    by_relative = qs.load_model("lab/x/models/x_body.xml", guard=guard)
    assert by_relative.source == "lab/x/models/x_body.xml"
    monkeypatch.chdir(folder)
    by_name = qs.load_model("x_body.xml", guard=guard)
    by_absolute = qs.load_model(folder / "x_body.xml", guard=guard)
    assert by_relative.sbml == by_name.sbml == by_absolute.sbml
    assert "A__k" in by_name.parameter_ids
    with pytest.raises(qs.SbmlError, match=rf"nope\.xml: no such file \(looked in {folder}\)"):
        qs.load_model("nope.xml", guard=guard)


_L2_UNITS = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="{ns}" level="2" version="{v}">
<model id="m">
<listOfCompartments><compartment id="c" size="1"/></listOfCompartments>
<listOfSpecies><species id="S" compartment="c" initialAmount="1"/></listOfSpecies>
<listOfParameters><parameter id="k" value="0.1" units="second"/></listOfParameters>
<listOfReactions><reaction id="r" reversible="false"><listOfReactants><speciesReference species="S"/></listOfReactants>
<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>S</ci></apply></math>
</kineticLaw></reaction></listOfReactions>
</model></sbml>
"""


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_unit_findings_follow_our_rule_whatever_libsbml_severity(version):
    """libSBML reports this kinetic law's unit inconsistency as an error in L2V1-3 and a warning in L2V4: both
    load with one UnitWarning, and both are refused with strict_units=True."""
    ns = "http://www.sbml.org/sbml/level2" + (f"/version{version}" if version > 1 else "")
    text = _L2_UNITS.format(ns=ns, v=version)
    with pytest.warns(qs.UnitWarning, match="kinetic law"):
        model = qs.load_model(text, guard=False)
    assert [i.severity for i in model.report if i.check.startswith("sbml-units-")] == [qs.Severity.WARNING]
    with pytest.raises(qs.ValidationError, match="kinetic law"):
        qs.load_model(text, guard=False, strict_units=True)


_FBC = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" xmlns:fbc="http://www.sbml.org/sbml/level3/version1/fbc/version2"
      level="3" version="1" fbc:required="false">
  <model id="fba" fbc:strict="true">
    <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies><species id="A" compartment="c" initialAmount="0" hasOnlySubstanceUnits="true"
      boundaryCondition="false" constant="false"/></listOfSpecies>
    <listOfParameters><parameter id="lb" value="0" constant="true"/><parameter id="ub" value="10" constant="true"/>
    </listOfParameters>
    <listOfReactions><reaction id="R1" reversible="false" fast="false" fbc:lowerFluxBound="lb" fbc:upperFluxBound="ub">
      <listOfProducts><speciesReference species="A" stoichiometry="1" constant="true"/></listOfProducts></reaction>
    </listOfReactions>
    <fbc:listOfObjectives fbc:activeObjective="obj">
      <fbc:objective fbc:id="obj" fbc:type="maximize"><fbc:listOfFluxObjectives>
        <fbc:fluxObjective fbc:reaction="R1" fbc:coefficient="1"/></fbc:listOfFluxObjectives></fbc:objective>
    </fbc:listOfObjectives>
  </model>
</sbml>
"""


def test_a_flux_balance_model_is_refused_naming_fbc():
    with pytest.raises(qs.UnsupportedFeatureError, match=r"flux balance model \(SBML 'fbc'"):
        qs.load_model(_FBC, guard=False)


_L3 = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="m"{attrs}><listOfParameters><parameter id="p" value="1" constant="false"/></listOfParameters>
<listOfRules>{rules}<rateRule variable="p"><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math>
</rateRule></listOfRules></model></sbml>
"""


def test_a_unit_reference_to_nothing_is_a_unit_finding():
    """areaUnits naming no unit (semantic case 00959): one UnitWarning, refused only with strict_units."""
    text = _L3.format(attrs=' areaUnits="area"', rules="")
    with pytest.warns(qs.UnitWarning, match="areaUnits 'area'"):
        model = qs.load_model(text, guard=False)
    assert model.simulate([0, 1], selections=["p"])["p"].tolist() == pytest.approx([1, 2])
    with pytest.raises(qs.ValidationError, match="areaUnits 'area'"):
        qs.load_model(text, guard=False, strict_units=True)


def test_an_algebraic_rule_without_math_constrains_nothing():
    """Legal in L3V2 (semantic case 01244): loaded and simulated, not refused as an algebraic rule."""
    model = qs.load_model(_L3.format(attrs="", rules="<algebraicRule/>"), guard=False)
    assert model.simulate([0, 1], selections=["p"])["p"].tolist() == pytest.approx([1, 2])


def test_delay_in_l2_stoichiometry_math_is_refused_naming_it():
    """getListOfAllElements does not list L2 stoichiometryMath: its delay() was left to RoadRunner's refusal
    (a ValidationError) instead of UnsupportedFeatureError (semantic case 01481)."""
    text = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4">
<model id="m"><listOfCompartments><compartment id="c" size="1"/></listOfCompartments>
<listOfSpecies><species id="S1" compartment="c" initialAmount="1"/></listOfSpecies>
<listOfReactions><reaction id="r" reversible="false"><listOfProducts><speciesReference species="S1">
<stoichiometryMath><math xmlns="http://www.w3.org/1998/Math/MathML"><apply>
<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/delay">delay</csymbol>
<ci>S1</ci><cn>1</cn></apply></math></stoichiometryMath></speciesReference></listOfProducts>
<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math></kineticLaw></reaction>
</listOfReactions></model></sbml>
"""
    with pytest.raises(qs.UnsupportedFeatureError, match="delay\\(\\) in the stoichiometryMath"):
        qs.load_model(text, guard=False)
