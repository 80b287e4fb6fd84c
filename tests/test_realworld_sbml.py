"""Other labs' SBML files (tests/realworld, listed with their sources in tests/realworld/SOURCES.tsv).

Every committed file is tried as a new user would: loaded by absolute path, by a relative path with folders in
it and by its bare name after ``chdir`` into its folder; simulated with ``Model.simulate`` and with a plain
``roadrunner.RoadRunner(path)`` set to the same CVODE settings, and the numbers compared; its unit findings
checked against our rule (warnings unless ``strict_units=True``).  Files we refuse must be refused with
:class:`~qsp_sbml.errors.UnsupportedFeatureError` naming the construct, and invalid ones with a
:class:`~qsp_sbml.errors.ValidationError` naming file and line; plain RoadRunner refuses them as well.

A fast subset runs by default; the whole set (about two minutes) with ``--run-slow``.
"""

from __future__ import annotations

import csv
import shutil
import warnings
from dataclasses import fields
from pathlib import Path

import libsbml
import numpy as np
import pytest

import qsp_sbml as qs

HERE = Path(__file__).resolve().parent
DATA = HERE / "realworld"

with (DATA / "SOURCES.tsv").open(newline="", encoding="utf-8") as _handle:
    ROWS = [row for row in csv.DictReader(_handle, delimiter="\t") if row["file"] != "-"]

#: run without --run-slow: L2V1 and L2V4 files with unit findings, a comp body with two external model files, a
#: refused file and an invalid one
FAST = {
    "biomodels/BIOMD0000000156.xml",
    "biomodels/BIOMD0000000166.xml",
    "comp/hctz/models/hctz_body.xml",
    "biomodels/BIOMD0000000154.xml",
    "comp/hctz/models/hctz_fluid.xml",
}

#: Difference allowed between our numbers and plain RoadRunner's: rtol 1e-6 of the value, plus a floor of 1e-6 of
#: the largest magnitude the column reaches, plus 1e-10.  Both integrate the same equations with the same CVODE
#: settings (rtol 1e-8, atol 1e-12), so the only admissible difference is integration noise from the equations
#: reaching CVODE in another order (libSBML's comp flattening vs RoadRunner's own), an order of magnitude or two
#: above rtol at most; a different model, a missed initial assignment or a dose given twice differs by far more.
#: The floor stops a state that decays to ~0 from turning round-off into a large relative error.  Measured on
#: this set: the largest difference is 0 (bit-identical).
RTOL, FLOOR, ATOL = 1e-6, 1e-6, 1e-10


def _params(status: str) -> list[object]:
    return [
        pytest.param(row, id=row["file"], marks=() if row["file"] in FAST else pytest.mark.slow)
        for row in ROWS
        if row["status"] == status
    ]


def _end(row: dict[str, str]) -> float:
    """Simulated horizon: a day for the PBPK body models (time in minutes), 100 model time units otherwise."""
    return 1440.0 if row["file"].startswith("comp/") else 100.0


def _load(path: str | Path, **kwargs: object) -> qs.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qs.UnitWarning)
        return qs.load_model(path, **kwargs)  # type: ignore[arg-type]


def _plain_roadrunner(path: Path, selections: list[str], times: np.ndarray) -> np.ndarray:
    """``roadrunner.RoadRunner(path)`` with our default CVODE settings, set here field by field."""
    import roadrunner

    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    options = qs.IntegratorOptions()
    names = {
        "rtol": "relative_tolerance",
        "atol": "absolute_tolerance",
        "max_steps": "maximum_num_steps",
        "stiff": "stiff",
        "max_step": "maximum_time_step",
    }
    assert {f.name for f in fields(options)} == set(names), "a new integrator option: set it on plain RoadRunner too"
    rr = roadrunner.RoadRunner(str(path))
    rr.setIntegrator("cvode")
    for field, name in names.items():
        rr.getIntegrator().setValue(name, getattr(options, field))
    rr.timeCourseSelections = ["time", *selections]
    return np.asarray(rr.simulate(times=times))


def _assert_same_numbers(ours: np.ndarray, plain: np.ndarray, columns: list[str], what: str) -> None:
    assert ours.shape == plain.shape
    assert np.all(np.isfinite(plain)), f"{what}: plain RoadRunner gives non-finite values"
    allowed = RTOL * np.abs(plain) + FLOOR * np.max(np.abs(plain), axis=0) + ATOL
    bad = np.abs(ours - plain) > allowed
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise AssertionError(
            f"{what}: {columns[col]} at t={plain[row, 0]:g}: ours {ours[row, col]!r}, "
            f"plain RoadRunner {plain[row, col]!r} ({int(bad.sum())} value(s) differ)"
        )


@pytest.mark.parametrize("row", _params("simulated"))
def test_loads_by_absolute_relative_and_bare_path(row, monkeypatch):
    path = DATA / row["file"]
    by_absolute = _load(path)
    monkeypatch.chdir(HERE)  # a relative path with folders in it: realworld/comp/hctz/models/hctz_body.xml
    relative = Path("realworld", row["file"])
    by_relative = _load(str(relative))
    assert by_relative.source == str(relative)
    if row["file"].startswith("comp/"):  # the text, with a relative folder for its external model files
        by_text = _load(path.read_text(encoding="utf-8"), base_dir=relative.parent)
        assert by_text.sbml == by_absolute.sbml
    monkeypatch.chdir(path.parent)  # the guard process keeps the working directory it started in
    by_name = _load(path.name)
    assert by_absolute.sbml == by_relative.sbml == by_name.sbml
    assert by_name.species_ids or by_name.parameter_ids


@pytest.mark.parametrize("row", _params("simulated"))
def test_same_numbers_as_plain_roadrunner(row):
    path = DATA / row["file"]
    model = _load(path)
    times = np.linspace(0.0, _end(row), 51)
    selections = list(model.roadrunner().model.getFloatingSpeciesIds())
    ours = model.simulate(times, selections=selections).to_numpy()
    plain = _plain_roadrunner(path, selections, times)
    _assert_same_numbers(ours, plain, ["time", *selections], row["file"])


@pytest.mark.parametrize("row", _params("simulated"))
def test_unit_findings_warn_unless_strict(row):
    """A valid model is never refused for unit findings unless strict_units=True, and then only for them."""
    path = DATA / row["file"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = qs.load_model(path)
    unit_issues = [i for i in model.report if i.check.startswith("sbml-units-")]
    assert all(i.severity == qs.Severity.WARNING for i in unit_issues)
    assert len([w for w in caught if issubclass(w.category, qs.UnitWarning)]) == (1 if unit_issues else 0)
    strict = qs.validate_sbml(path, strict_units=True)
    errors = [i for i in strict if i.severity >= qs.Severity.ERROR]
    assert {i.check for i in errors} == {i.check for i in unit_issues}
    assert all(i.check.startswith("sbml-units-") for i in errors)


@pytest.mark.parametrize("row", _params("refused"))
def test_refused_files_name_the_construct(row):
    path = DATA / row["file"]
    with pytest.raises(qs.UnsupportedFeatureError) as info:
        qs.load_model(path)
    construct = row["note"].removeprefix("UnsupportedFeatureError: ")  # e.g. delay() in <kineticLaw> of ... 'R4'
    assert construct in str(info.value)
    assert info.value.feature == "delay"
    _plain_roadrunner_refuses(path)


@pytest.mark.parametrize("row", _params("invalid"))
def test_invalid_files_name_file_and_line(row):
    path = DATA / row["file"]
    with pytest.raises(qs.ValidationError) as info:
        qs.load_model(path)
    errors = [i for i in info.value.report if i.severity >= qs.Severity.ERROR]
    assert errors and all(i.line for i in errors)
    assert f"{path.name}:{errors[0].line}" in str(info.value)
    _plain_roadrunner_refuses(path)


def _plain_roadrunner_refuses(path: Path) -> None:
    import roadrunner

    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    with pytest.raises(RuntimeError):
        roadrunner.RoadRunner(str(path))


BODIES = [row for row in ROWS if row["file"].endswith("_body.xml")]


@pytest.mark.slow
@pytest.mark.parametrize("row", BODIES, ids=[row["file"] for row in BODIES])
def test_comp_body_with_an_oral_dose_matches_plain_roadrunner(row, tmp_path):
    """The PBPK body models ship with all doses 0: give an oral dose (a state of the intestine submodel, replaced
    by the body's parameter) through ``parameters=`` and compare with plain RoadRunner on the file edited to
    that value (a copy of the folder, so that the external model files resolve)."""
    source = DATA / row["file"]
    folder = tmp_path / "models"
    shutil.copytree(source.parent, folder)
    doc = libsbml.readSBMLFromFile(str(source))
    dose_ids = [p.getId() for p in doc.getModel().getListOfParameters() if p.getId().startswith("PODOSE_")]
    assert dose_ids, f"{row['file']}: no PODOSE_ parameter"
    dose = dose_ids[0]
    doc.getModel().getParameter(dose).setValue(10.0)  # mg
    edited = folder / source.name
    assert libsbml.writeSBMLToFile(doc, str(edited)) == 1
    model = _load(source)
    times = np.linspace(0.0, _end(row), 51)
    selections = list(model.roadrunner().model.getFloatingSpeciesIds())
    ours = model.simulate(times, selections=selections, parameters={dose: 10.0}).to_numpy()
    plain = _plain_roadrunner(edited, selections, times)
    _assert_same_numbers(ours, plain, ["time", *selections], f"{row['file']} with {dose}=10")
    undosed = model.simulate(times, selections=selections).to_numpy()
    assert np.abs(ours - undosed)[:, 1:].max() > 1e-3, "the dose changed nothing: the comparison would be empty"


def test_the_set_is_large_enough_and_every_file_is_listed():
    committed = {str(p.relative_to(DATA)) for p in DATA.rglob("*.xml")}
    listed = {row["file"] for row in ROWS}
    assert committed == listed
    assert len([row for row in ROWS if row["status"] == "simulated"]) >= 50
    assert len(BODIES) >= 3


#: x'' = -w^2 x with w = 1000 rad/time (x = cos(1000 t)): CVODE's step budget per output interval (max_steps 100,000)
#: runs out near t = 0.8 at our default rtol 1e-8 (BDF needs about 100 steps per period there) and lasts to about
#: t = 2 at rtol 1e-6 (measured with libroadrunner 2.11).  One output interval [0, 1.3].
_FAST_OSCILLATOR = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="fast_oscillator" timeUnits="second"><listOfParameters>
<parameter id="x" value="1" units="dimensionless" constant="false"/>
<parameter id="v" value="0" units="per_second" constant="false"/>
<parameter id="w2" value="1e6" units="per_second_squared" constant="true"/>
</listOfParameters><listOfUnitDefinitions>
<unitDefinition id="per_second"><listOfUnits><unit kind="second" exponent="-1" scale="0" multiplier="1"/></listOfUnits>
</unitDefinition><unitDefinition id="per_second_squared"><listOfUnits>
<unit kind="second" exponent="-2" scale="0" multiplier="1"/></listOfUnits></unitDefinition></listOfUnitDefinitions>
<listOfRules>
<rateRule variable="x"><math xmlns="http://www.w3.org/1998/Math/MathML"><ci>v</ci></math></rateRule>
<rateRule variable="v"><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><apply><times/><ci>w2</ci>
<ci>x</ci></apply></apply></math></rateRule>
</listOfRules></model></sbml>
"""


def test_a_model_that_needs_a_looser_tolerance_says_so(tmp_path, run):
    """CVODE fails at our default rtol 1e-8 and succeeds at 1e-6: the error names the tolerance in force and
    what to try, from Python and from the command line (exit 1, nothing written)."""
    model = _load(_FAST_OSCILLATOR, guard=False)
    with pytest.raises(qs.SimulationError) as info:
        model.simulate([0.0, 1.3], selections=["x"])
    message = str(info.value)
    assert "CV_TOO_MUCH_WORK" in message and "rtol=1e-08, atol=1e-12" in message
    assert "IntegratorOptions(rtol=1e-6, atol=1e-10)" in message and "--rtol 1e-6" in message
    looser = model.simulate([0.0, 1.3], selections=["x"], options=qs.IntegratorOptions(rtol=1e-6, atol=1e-10))
    assert looser["x"].iloc[-1] == pytest.approx(np.cos(1300.0), abs=5e-3)  # ~200 periods at rtol 1e-6

    path = tmp_path / "fast_oscillator.xml"
    path.write_text(_FAST_OSCILLATOR)
    out = tmp_path / "out.tsv"
    result = run("simulate", str(path), "--end", "1.3", "--step", "1.3", "-s", "x", "-o", str(out))
    assert result.exit_code == 1
    assert "rtol=1e-08" in result.output and "--rtol 1e-6" in result.output
    assert not out.exists()
    result = run(
        "simulate",
        str(path),
        "--end",
        "1.3",
        "--step",
        "1.3",
        "-s",
        "x",
        "-o",
        str(out),
        "--rtol",
        "1e-6",
        "--atol",
        "1e-10",
    )
    assert result.exit_code == 0, result.output
    assert out.exists()
