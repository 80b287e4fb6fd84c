"""COMBINE archives: export executed by tellurium's SED-ML engine, libcombine read-back, safe import."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.compose import compose_spec
from qsp_sbml.compose.spec import outputs_for
from qsp_sbml.interop.crosscheck import ExchangePlan, default_plan
from qsp_sbml.resources import project_models_dir
from qsp_sbml.simulate.options import IntegratorOptions

libcombine = pytest.importorskip("libcombine", reason="OMEX tests need the exchange extra")

from qsp_sbml.interop.omex import (  # noqa: E402
    FORMAT_SBML,
    FORMAT_SEDML,
    ArchiveError,
    export_omex,
    import_omex,
    import_sbml,
    normalise_sbml,
    sedml_model_sources,
)

MODELS = project_models_dir()
COMPOSED = sorted((MODELS / "composed").glob("*.yaml")) if (MODELS / "composed").is_dir() else []
TIGHT = IntegratorOptions(rtol=1e-10, atol=1e-14)
SPEC = """kind: composition
modules:
  pk: {mab}
  pd: {emax}
links:
  - pk.C_free -> pd.C_drug
exchange:
  regimen: 200 nmol sc q168h x 4 to pk__mab_sc_depot
  end: 840
  selections: [pk_C_free, pd__E, pk__mab_sc_depot, "[pk__mab_central]"]
  points: 70
"""


@pytest.fixture(scope="module")
def composed(tmp_path_factory) -> Path:
    """mAb TMDD -> Emax composed from the shipped modules; comp document and flat model beside the spec."""
    folder = tmp_path_factory.mktemp("composed")
    spec = folder / "mab_emax.yaml"
    spec.write_text(SPEC.format(mab=MODELS / "pbpk" / "mab_two_compartment_tmdd.xml",
                                emax=MODELS / "pd" / "emax_hill.xml"))
    composition = compose_spec(spec)
    comp, flat, _ = outputs_for(spec)
    composition.write(comp, flat=flat)
    return comp


# tellurium and libsedml run in a child process: importing libsedml (tellurium does) after libSBML
# breaks libSBML's handling of comp documents in the same process (measured: compose fails).
RUNNER = r"""
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import libsedml
import tellurium as te
import libcombine
out = {}
for archive in sys.argv[2:]:
    ca = libcombine.CombineArchive()
    assert ca.initializeFromArchive(archive)
    doc = libsedml.readSedMLFromString(ca.extractEntryToString("./simulation.sedml"))
    ca.cleanUp()
    algorithm = doc.getSimulation(0).getAlgorithm()
    result = te.executeCombineArchive(archive, createOutputs=False)
    (data,) = result.values()
    out[archive] = {
        "sedml_errors": doc.getNumErrors(libsedml.LIBSEDML_SEV_ERROR) + doc.getNumErrors(libsedml.LIBSEDML_SEV_FATAL),
        "sedml_outputs": [doc.getOutput(i).getElementName() for i in range(doc.getNumOutputs())],
        "kisao": {p.getKisaoID(): float(p.getValue()) for p in algorithm.getListOfAlgorithmParameters()},
        "generators": {k: np.asarray(v, dtype=float).ravel().tolist() for k, v in data["dataGenerators"].items()},
    }
with open(sys.argv[1], "w") as handle:
    json.dump(out, handle)
"""
CASES = ["composed", "pbpk/wholebody_pbpk.xml", "disease/psoriasis.xml",
         *(f"composed/{p.stem}.xml" for p in COMPOSED)]


def _exported(model_path: Path, tmp_path: Path, **kwargs) -> tuple[Path, ExchangePlan]:
    plan = default_plan(model_path)
    archive = export_omex(model_path, tmp_path / "model.omex", plan,
                          created=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), **kwargs)
    return archive, plan


@pytest.fixture(scope="module")
def executed(composed, tmp_path_factory) -> dict[str, tuple[Path, ExchangePlan, dict]]:
    """Every case exported, then executed by tellurium (one child process for all)."""
    for needed in ("tellurium", "libsedml", "six"):  # checked, not imported: see RUNNER
        if importlib.util.find_spec(needed) is None:
            pytest.skip(f"{needed} is not installed (notebooks / exchange extras)")
    folder = tmp_path_factory.mktemp("archives")
    cases = {}
    for k, case in enumerate(CASES):
        model_path = composed if case == "composed" else MODELS / case
        target = folder / str(k)
        target.mkdir()
        archive, plan = _exported(model_path, target)
        cases[case] = (model_path, archive, plan)
    report = folder / "tellurium.json"
    run = subprocess.run([sys.executable, "-c", RUNNER, str(report), *(str(a) for _, a, _ in cases.values())],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(report.read_text())
    return {case: (path, plan, results[str(archive)]) for case, (path, archive, plan) in cases.items()}


@pytest.mark.parametrize("case", CASES)
def test_tellurium_executes_the_archive_and_reproduces_our_trajectories(executed, case):
    model_path, plan, result = executed[case]
    assert result["sedml_errors"] == 0
    assert result["sedml_outputs"] == ["report", "plot2D"]
    assert result["kisao"] == {"KISAO:0000209": 1e-10, "KISAO:0000211": 1e-14, "KISAO:0000415": 1e6}
    generators = result["generators"]
    times = np.linspace(0.0, plan.end, plan.points + 1)
    assert np.max(np.abs(np.asarray(generators["dg_time"]) - times)) <= 1e-9 * plan.end
    model = load_model(model_path)
    if plan.parameters:
        model = load_model(plan.apply(model, events=False), guard=False)
    ours = model.simulate(times, selections=plan.selections, regimen=plan.regimen_object(), options=TIGHT)
    diffs = {}
    for k, selection in enumerate(plan.selections):
        theirs = np.asarray(generators[f"dg_{k}"])
        mine = ours[selection].to_numpy()
        assert np.max(np.abs(mine)) > 0, f"{selection} is identically zero: the check would be empty"
        floor = 1e-9 * float(np.max(np.abs(mine)))
        diffs[selection] = float(np.max(np.abs(theirs - mine) / np.maximum(np.abs(mine), floor)))
    assert max(diffs.values()) <= 1e-6, diffs
    if case == "composed":
        depot = np.asarray(generators[f"dg_{plan.selections.index('pk__mab_sc_depot')}"])
        assert depot.max() > 150.0, "the sc doses (200 nmol) reached the depot in tellurium's run"


def test_archive_validates_with_libcombine(composed, tmp_path):
    petab_yaml = Path(__file__).resolve().parents[1] / "petab_problems" / "theophylline" / "theophylline.yaml"
    archive, _ = _exported(composed, tmp_path, petab=petab_yaml if petab_yaml.is_file() else None)
    ca = libcombine.CombineArchive()
    assert ca.initializeFromArchive(str(archive))
    try:
        locations = {str(loc) for loc in ca.getAllLocations()}
        assert {"./mab_emax.xml", "./mab_emax_flat.xml", "./simulation.sedml"} <= locations
        assert ca.getMasterFile().getLocation() == "./simulation.sedml"
        assert ca.getEntryByLocation("./mab_emax_flat.xml").getFormat() == FORMAT_SBML
        assert ca.getEntryByLocation("./simulation.sedml").getFormat() == FORMAT_SEDML
        assert ca.hasMetadataForLocation(".")
        assert "qsp-sbml" in ca.getMetadataForLocation(".").getDescription()
        if petab_yaml.is_file():
            assert "./petab/theophylline.yaml" in locations and "./petab/model.xml" in locations
            assert any(loc.startswith("./petab/") and loc.endswith(".tsv") for loc in locations)
        sedml = tmp_path / "sim.sedml"
        sedml.write_text(ca.extractEntryToString("./simulation.sedml"))
        assert sedml_model_sources(sedml) == ["mab_emax_flat.xml"]
    finally:
        ca.cleanUp()


def test_import_round_trips_to_the_same_flat_model(composed, tmp_path):
    archive, plan = _exported(composed, tmp_path)
    imported = import_omex(archive, tmp_path / "imported")
    assert imported.master == tmp_path / "imported" / "simulation.sedml"
    (flat,) = imported.sedml_models()
    exported_flat = plan.apply(load_model(composed))
    assert normalise_sbml(flat.read_text(encoding="utf-8")) == normalise_sbml(exported_flat)
    assert load_model(flat).sbml == load_model(exported_flat, guard=False).sbml
    comp = tmp_path / "imported" / "mab_emax.xml"
    assert comp in imported.models and comp.read_bytes() == composed.read_bytes()
    assert set(imported.converted) == {flat}, "only the flat model (no comp package) gets a comp-ready copy"


@pytest.mark.filterwarnings("ignore::qsp_sbml.errors.UnitWarning")  # L2 has no units on literal numbers
def test_import_sbml_converts_a_level2_file_for_composition(tmp_path):
    doc = load_model(MODELS / "pd" / "idr1.xml").document.clone()
    doc.getModel().getListOfUnitDefinitions()  # keep the units; convert to L2V4 as an old BioModels file
    import libsbml

    flat = libsbml.readSBMLFromString(libsbml.writeSBMLToString(doc))
    flat.disablePackage(libsbml.CompExtension.getXmlnsL3V1V1(), "comp")
    props = libsbml.ConversionProperties(libsbml.SBMLNamespaces(2, 4))
    props.addOption("setLevelAndVersion", True)
    props.addOption("strict", False)
    assert flat.convert(props) == libsbml.LIBSBML_OPERATION_SUCCESS
    old = tmp_path / "biomodels_like.xml"
    old.write_text(libsbml.writeSBMLToString(flat))
    out = import_sbml(old, tmp_path / "ready.xml")
    ready = libsbml.readSBMLFromFile(str(out))
    assert (ready.getLevel(), ready.getVersion()) == (3, 2) and ready.isPackageEnabled("comp")
    from qsp_sbml.compose import add_ports

    add_ports(out, inputs=["C_drug"], outputs=["R"])
    t = [0.0, 12.0, 48.0]
    a = load_model(old).simulate(t, selections=["R"], parameters={"C_drug": 10.0})
    b = load_model(out).simulate(t, selections=["R"], parameters={"C_drug": 10.0})
    assert np.allclose(a["R"], b["R"], rtol=1e-9)
    with pytest.raises(ValueError, match="not a readable SBML"):
        import_sbml(tmp_path / "ready.xml.missing", tmp_path / "x.xml")


def _zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


MANIFEST = (b'<?xml version="1.0" encoding="UTF-8"?>\n<omexManifest '
            b'xmlns="http://identifiers.org/combine.specifications/omex-manifest">\n'
            b'<content location="." format="http://identifiers.org/combine.specifications/omex"/>\n'
            b'<content location="./a.xml" format="http://identifiers.org/combine.specifications/sbml"/>\n'
            b'</omexManifest>\n')


@pytest.mark.parametrize(("name", "message"), [
    ("../evil.txt", r"climbs out"),
    ("sub/../../evil.txt", r"climbs out"),
    ("/tmp/evil.txt", r"absolute path"),
    ("C:/evil.txt", r"absolute path"),
    ("..\\evil.txt", r"climbs out"),
])
def test_unsafe_entry_names_are_refused_before_writing(tmp_path, name, message):
    archive = tmp_path / "bad.omex"
    archive.write_bytes(_zip({"manifest.xml": MANIFEST, "a.xml": b"<sbml/>", name: b"pwned"}))
    target = tmp_path / "out" / "inner"
    with pytest.raises(ArchiveError, match=message):
        import_omex(archive, target)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.omex"]


def test_zip_bombs_are_refused(tmp_path):
    ratio_bomb = tmp_path / "ratio.omex"
    ratio_bomb.write_bytes(_zip({"manifest.xml": MANIFEST, "a.xml": b"\0" * (20 * 1024 * 1024)}))
    with pytest.raises(ArchiveError, match=r"expands \d+-fold"):
        import_omex(ratio_bomb, tmp_path / "out1")
    total_bomb = tmp_path / "total.omex"
    total_bomb.write_bytes(_zip({"manifest.xml": MANIFEST, "a.xml": b"x" * 4096, "b.bin": b"y" * 4096},
                                compression=zipfile.ZIP_STORED))
    with pytest.raises(ArchiveError, match="uncompressed size exceeds"):
        import_omex(total_bomb, tmp_path / "out2", max_total_bytes=6000)
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()


def test_import_refuses_non_archives_and_busy_folders(tmp_path, composed):
    text = tmp_path / "x.omex"
    text.write_text("not a zip")
    with pytest.raises(ArchiveError, match="not a zip"):
        import_omex(text, tmp_path / "o")
    archive, _ = _exported(composed, tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ArchiveError, match="not an empty folder"):
        import_omex(archive, busy)
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    no_manifest = tmp_path / "nomanifest.omex"
    no_manifest.write_bytes(_zip({"a.xml": b"<sbml/>"}))
    with pytest.raises(ArchiveError, match="no manifest"):
        import_omex(no_manifest, tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_cli_export_and_import(tmp_path):
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    runner = CliRunner()
    model = MODELS / "pbpk" / "mab_two_compartment_tmdd.xml"
    archive = tmp_path / "mab.omex"
    out = runner.invoke(main, ["omex", "export", str(model), "--regimen", "150 nmol sc at 0, 672 h to mab_sc_depot",
                               "--end", "1344", "-s", "C_free,mab_sc_depot", "-o", str(archive), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["plan"]["regimen"] == "150 nmol sc at 0, 672 h to mab_sc_depot"
    imported = runner.invoke(main, ["omex", "import", str(archive), "-o", str(tmp_path / "in"), "--json"])
    assert imported.exit_code == 0, imported.output
    data = json.loads(imported.output)
    assert data["master"].endswith("simulation.sedml") and len(data["models"]) == 2
    flat = load_model(tmp_path / "in" / "mab_two_compartment_tmdd_flat.xml")
    assert flat.sbml_model.getNumEvents() == 2, "the two doses travel as SBML events"
    sbml = runner.invoke(main, ["omex", "import", str(model), "-o", str(tmp_path / "sbml")])
    assert sbml.exit_code == 0 and (tmp_path / "sbml" / model.name).is_file()
    bad = tmp_path / "bad.omex"
    bad.write_bytes(_zip({"manifest.xml": MANIFEST, "../x.xml": b"<sbml/>"}))
    refused = runner.invoke(main, ["omex", "import", str(bad), "-o", str(tmp_path / "evil")])
    assert refused.exit_code == 1 and "climbs out" in refused.output and "Traceback" not in refused.output
    assert not (tmp_path / "evil").exists() and not (tmp_path / "x.xml").exists()
    nothing = runner.invoke(main, ["omex", "export", str(model), "--regimen", "5 parsec sc to mab_sc_depot",
                                   "-o", str(tmp_path / "no.omex")])
    assert nothing.exit_code == 1 and not (tmp_path / "no.omex").exists()
