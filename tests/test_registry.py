"""The model library by name (``qsp_sbml.registry``), the library folders (``qsp_sbml.resources``) and the
``qsp-sbml models`` / ``qsp-sbml examples`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qsp_sbml import registry, resources

REPO = Path(__file__).resolve().parents[1]


def test_every_shipped_sbml_file_is_listed_with_its_card() -> None:
    library = REPO / "models"
    on_disk = sorted(p.relative_to(library).with_suffix("").as_posix() for p in library.rglob("*.xml"))
    entries = registry.list_models()
    listed = sorted(e.name for e in entries if e.kind != "reference")
    assert listed == on_disk
    assert len(on_disk) >= 28
    for e in entries:
        assert e.path.is_file() and e.card.is_file() and e.card.suffix == ".md"
        assert e.kind == e.name.split("/")[0]
        # the card is the model's own, or that of the model it is a variant of
        assert e.path.stem == e.card.stem or e.path.stem.startswith(e.card.stem + "_"), e.name
        assert e.title and not e.title.startswith("#")
    kinds = [e.kind for e in entries]
    assert kinds == sorted(kinds, key=registry.KINDS.index)


def test_names_from_the_issue_resolve() -> None:
    assert registry.model_path("pbpk/wholebody_pbpk") == (REPO / "models/pbpk/wholebody_pbpk.xml").resolve()
    assert registry.model_path("disease/psoriasis.xml").name == "psoriasis.xml"
    assert registry.get("composed/mab_psoriasis").card.name == "mab_psoriasis.md"
    assert registry.get("wholebody_pbpk").name == "pbpk/wholebody_pbpk"  # a unique stem is enough
    assert "IL-23" in registry.model_card("disease/psoriasis")
    assert registry.model_path("reference/pk_one_compartment_iv") == resources.ONE_COMPARTMENT_IV
    assert {e.kind for e in registry.list_models("pd")} == {"pd"}
    with pytest.raises(ValueError, match="unknown model kind 'organ'"):
        registry.list_models("organ")


def test_unknown_name_lists_close_names() -> None:
    with pytest.raises(registry.UnknownModelError, match=r"unknown model 'disease/psoriasi'.*disease/psoriasis"):
        registry.get("disease/psoriasi")
    with pytest.raises(registry.UnknownModelError, match="qsp-sbml models list") as err:
        registry.get("completely-unrelated")
    assert "close names" not in str(err.value)


def test_models_env_override_and_a_card_less_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib" / "pd"
    lib.mkdir(parents=True)
    (lib / "mine.xml").write_text((REPO / "models/pd/idr1.xml").read_text())
    (lib / "mine.md").write_text("# Model card: my model\n")
    monkeypatch.setenv("QSP_SBML_MODELS", str(tmp_path / "lib"))
    assert [e.name for e in registry.list_models("pd")] == ["pd/mine"]
    assert registry.get("pd/mine").title == "my model"
    (lib / "other.xml").write_text("<sbml/>")
    with pytest.raises(FileNotFoundError, match=r"other\.xml: shipped model without a model card \(other\.md\)"):
        registry.list_models()
    monkeypatch.setenv("QSP_SBML_MODELS", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="QSP_SBML_MODELS='.*nowhere' is not a folder"):
        resources.project_models_dir()


def test_project_dirs_and_examples_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in resources.PROJECT_FOLDERS:
        assert resources.project_dir(name) == (REPO / name).resolve()  # editable install: the repository's folders
    with pytest.raises(ValueError, match="unknown library folder 'model'"):
        resources.project_dir("model")  # type: ignore[arg-type]
    monkeypatch.delenv("QSP_SBML_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resources.examples_root() == REPO.resolve()  # nothing here: the package's library
    (tmp_path / "models").mkdir()
    (tmp_path / "trials").mkdir()
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert resources.examples_root() == tmp_path  # a notebook in an examples folder
    monkeypatch.setenv("QSP_SBML_ROOT", str(tmp_path / "notebooks"))
    with pytest.raises(FileNotFoundError, match="QSP_SBML_ROOT=.* has no models/ folder"):
        resources.examples_root()


def test_cli_models_list_show_path(run) -> None:
    out = run("models", "list")
    assert out.exit_code == 0, out.output
    assert "pbpk/wholebody_pbpk" in out.output and "composed/mab_psoriasis " in out.output
    listed = json.loads(run("models", "list", "--kind", "disease", "--json").output)
    assert {m["kind"] for m in listed} == {"disease"} and any(m["name"] == "disease/crohns" for m in listed)
    shown = run("models", "show", "disease/crohns")
    assert shown.exit_code == 0 and "# Model card: Crohn's disease" in shown.output
    path = run("models", "path", "pd/idr1")
    assert path.exit_code == 0 and path.output == f"{REPO.resolve() / 'models/pd/idr1.xml'}\n"


@pytest.mark.parametrize("command", ["show", "path"])
def test_cli_unknown_model_exits_1_with_close_names(run, command: str) -> None:
    out = run("models", command, "pbpk/wholebody")
    assert out.exit_code == 1
    assert "unknown model 'pbpk/wholebody'; close names: pbpk/wholebody_pbpk" in out.output
    assert "Traceback" not in out.output



def test_cli_unknown_model_json_error(run) -> None:
    out = run("models", "show", "nope", "--json")
    assert out.exit_code == 1
    assert json.loads(out.output)["ok"] is False


def test_cli_examples_copy_writes_a_runnable_folder(run, tmp_path: Path) -> None:
    out = run("examples", "copy", tmp_path / "ex", "--json")
    assert out.exit_code == 0, out.output
    counts = json.loads(out.output)["files"]
    for name in resources.PROJECT_FOLDERS:
        source = sorted(p.relative_to(REPO / name) for p in (REPO / name).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts)
        copied = sorted(p.relative_to(tmp_path / "ex" / name) for p in (tmp_path / "ex" / name).rglob("*")
                        if p.is_file())
        assert copied == source and counts[name] == len(source)
    # the trial scenarios find their model by the same relative path as in the repository
    design = (tmp_path / "ex/trials/psoriasis_dose_selection.yaml").read_text()
    model = next(line.split(":", 1)[1].strip() for line in design.splitlines() if line.startswith("model:"))
    assert (tmp_path / "ex/trials" / model).is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_cli_examples_copy_refuses_a_non_empty_folder_and_writes_nothing(run, tmp_path: Path) -> None:
    target = tmp_path / "ex"
    target.mkdir()
    (target / "mine.txt").write_text("my work")
    out = run("examples", "copy", target)
    assert out.exit_code == 1
    assert f"{target} is not empty; give a new or empty folder (nothing was written)" in out.output
    assert [p.name for p in target.iterdir()] == ["mine.txt"] and (target / "mine.txt").read_text() == "my work"
    (tmp_path / "file").write_text("x")
    out = run("examples", "copy", tmp_path / "file")
    assert out.exit_code != 0 and (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex", "file"]
