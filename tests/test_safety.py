"""Safety: YAML only through safe loaders, no eval/exec of user input, spec paths relative to the spec.

Archive extraction (path traversal, absolute names, zip bombs) is tested in tests/test_omex.py.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main
from tests.test_bad_input_catalogue import THEO
from tests.test_compose import SPEC as COMPOSE_SPEC
from tests.test_compose import emax_module, pk_module
from tests.test_petab_bad_input import write_problem

PACKAGE = Path(__file__).resolve().parents[1] / "qsp_sbml"

#: (module path suffix, call) pairs allowed on purpose.
ALLOWED = {("_guard.py", "pickle.loads")}  # our own child process's replies, never user input


def _calls(tree: ast.AST) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = (f.id if isinstance(f, ast.Name) else
                    f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else
                    f.attr if isinstance(f, ast.Attribute) else "")
            out.append((name, node.lineno))
            for kw in node.keywords:
                if kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    out.append(("shell=True", node.lineno))
                if kw.arg == "Loader":
                    out.append((f"Loader={ast.unparse(kw.value)}", node.lineno))
    return out


FORBIDDEN = {"eval", "exec", "compile", "__import__", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
             "yaml.load_all", "sympify", "sp.sympify", "sympy.sympify", "parse_expr", "pickle.loads", "pickle.load",
             "marshal.loads", "shell=True", "os.system"}


def test_no_unsafe_calls_in_the_package() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, line in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            bad = name in FORBIDDEN or (name.startswith("Loader=") and "Safe" not in name)
            if bad and (path.name, name) not in ALLOWED:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    assert not found, found


PWNED = "!!python/object/apply:os.system ['touch PWNED']"


@pytest.mark.parametrize("kind", ["petab", "compose", "vpop"])
def test_yaml_python_tags_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.chdir(tmp_path)
    if kind == "petab":
        spec = write_problem(tmp_path, 1)
        spec.write_text(spec.read_text().replace("format_version: 1", f"format_version: {PWNED}"))
        args = ["petab", "evaluate", str(spec)]
    elif kind == "compose":
        spec = tmp_path / "s.yaml"
        spec.write_text(COMPOSE_SPEC.replace("name: pkpd", f"name: {PWNED}"))
        args = ["compose", str(spec), "-o", str(tmp_path / "o.xml")]
    else:
        spec = tmp_path / "v.yaml"
        spec.write_text(f"kind: vpop\nparameters: {{CL: {PWNED}}}\n")
        args = ["vpop", str(spec), "-n", "2", "--seed", "1", "-o", str(tmp_path / "c.parquet")]
    for command in (args, ["validate", str(spec)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert "python/object" in result.output or "YAML" in result.output, result.output
        assert "Traceback" not in result.output
    assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


def test_spec_paths_are_relative_to_the_spec_not_the_working_directory(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (specs / "petab").mkdir(parents=True)
    problem = write_problem(specs / "petab", 1)
    pk_module(specs / "pk.xml")
    emax_module(specs / "pd.xml")
    (specs / "pkpd.yaml").write_text(COMPOSE_SPEC)  # modules: pk.xml, pd.xml (relative)
    shutil.copy(THEO, specs / "theo.xml")
    (specs / "cov.tsv").write_text("age\tsex\tweight_kg\theight_cm\n40\tfemale\t70\t170\n45\tmale\t80\t180\n")
    (specs / "vpop.yaml").write_text(
        "kind: vpop\nmodel: theo.xml\ncovariates: {file: cov.tsv}\nparameters: {CL: 2.8}\n"
    )
    monkeypatch.chdir(elsewhere)
    run = CliRunner().invoke
    assert run(main, ["petab", "evaluate", str(problem)]).exit_code == 0
    assert run(main, ["compose", str(specs / "pkpd.yaml"), "-o", "out.xml"]).exit_code == 0
    result = run(main, ["vpop", str(specs / "vpop.yaml"), "-n", "2", "--seed", "1", "-o", "c.parquet"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["c.parquet", "out.xml", "out_provenance.tsv"]
    # and the same names resolved against the working directory would not exist
    assert not (elsewhere / "pk.xml").exists() and not (elsewhere / "cov.tsv").exists()


#: Direct writes that are not partial output, each with its reason: (module path under qsp_sbml/, call) -> why.
WRITES_ALLOWED = {
    ("cli/population.py", "to_parquet"): "vpop: Cohort.to_parquet is atomic (population/cohort.py write_table)",
    ("cli/fhir.py", "to_parquet"): "fhir cohort: Cohort.to_parquet is atomic (population/cohort.py write_table)",
    ("cli/library.py", "copytree"): "examples copy: into atomic_folder's temporary folder, renamed whole",
    ("population/simulation.py", "to_parquet"): "CohortResult.to_folder: into a temporary folder, moved in when "
                                                "all files are written",
    ("population/simulation.py", "savez_compressed"): "CohortResult.to_folder: into a temporary folder",
    ("population/simulation.py", "write_text"): "CohortResult.to_folder: into a temporary folder",
    ("calibrate/plots.py", "savefig"): "into a BytesIO, then atomic_write_bytes",
    ("calibrate/store.py", "save"): "CalibrationRun.to_folder: inside atomic_folder",
    ("calibrate/federated.py", "write_bytes"): "split_problem: each site folder through atomic_folder",
    ("calibrate/federated.py", "to_csv"): "split_problem: each site folder through atomic_folder",
    ("calibrate/federated.py", "write_text"): "split_problem: each site folder through atomic_folder",
    ("sensitivity/plots.py", "savefig"): "into a BytesIO, then atomic_write_bytes",
    ("sensitivity/report.py", "to_csv"): "write_results: inside atomic_folder",
    ("sensitivity/report.py", "write_text"): "write_results: inside atomic_folder",
    ("sensitivity/calibration.py", "copytree"): "fix_insensitive: inside atomic_folder",
    ("sensitivity/calibration.py", "to_csv"): "fix_insensitive: inside atomic_folder",
    ("pbpk/ddi_verification.py", "savefig"): "into a BytesIO, then atomic_write_bytes",
    ("pbpk/qualification_report.py", "savefig"): "into a BytesIO, written inside atomic_folder",
    ("pbpk/qualification_report.py", "write_bytes"): "write_report: inside atomic_folder",
    ("pbpk/qualification_report.py", "write_text"): "write_report: inside atomic_folder",
    ("plot.py", "savefig"): "into a BytesIO, then atomic_write_bytes",
    ("interop/copasi.py", "write_text"): "a model for COPASI in a TemporaryDirectory",
    ("interop/crosscheck.py", "write_text"): "a model for COPASI in a TemporaryDirectory",
    ("interop/omex.py", "write_bytes"): "archive members staged in a temporary folder, zipped, then "
                                        "atomic_write_bytes",
    ("interop/omex.py", "write_text"): "archive members staged in a temporary folder",
    ("interop/omex.py", "open"): "extraction into a staging folder renamed whole over the output folder",
    ("population/cohort.py", "write_table"): "into a BytesIO, then atomic_write_bytes",
    ("population/checkpoint.py", "write_table"): "a chunk into a BytesIO, then atomic_write_bytes",
    ("demo/steps.py", "to_parquet"): "demo step files go into the pipeline's temporary folder, renamed whole",
    ("demo/steps.py", "to_csv"): "demo step files go into the pipeline's temporary folder, renamed whole",
    ("trial/runner.py", "write_text"): "trial summary and report into a temporary folder renamed into place",
}
_WRITERS = {"write_text", "write_bytes", "to_parquet", "to_csv", "to_excel", "to_hdf", "savefig", "save", "savez",
            "savez_compressed", "dump", "writeSBMLToFile", "write_table"}
_SHUTIL = {"copyfile", "copy", "copy2", "copytree", "move"}


def test_every_writer_is_atomic_or_writes_into_a_temporary_place() -> None:
    """Writes go through qsp_sbml._io (temporary file + rename); any other write must be listed above with why."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "_io.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in _SHUTIL:
                writes = isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "shutil"
            elif name == "open":
                modes = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
                writes = any(isinstance(m, ast.Constant) and set(str(m.value)) & set("wax+") for m in modes)
            else:
                writes = name in _WRITERS and not (name == "to_csv" and not node.args
                                                   and not any(k.arg == "path_or_buf" for k in node.keywords))
            if writes and (path.relative_to(PACKAGE).as_posix(), name) not in WRITES_ALLOWED:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
    assert not found, ("write through qsp_sbml._io (atomic_write_text/bytes/many, atomic_folder) or list the call "
                       f"in WRITES_ALLOWED with the reason: {found}")
