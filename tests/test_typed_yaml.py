"""The shared typed-YAML reader: every error names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, field_validator

from qsp_sbml.typed_yaml import SpecModel, YamlDoc, field_path, parse, read_yaml


class Arm(SpecModel):
    id: str
    dose: float = 0.0


class Spec(SpecModel):
    n: int
    arms: list[Arm]
    model: Path | None = None

    @field_validator("model")
    @classmethod
    def _exists(cls, v: Path | None, info):  # type: ignore[no-untyped-def]
        if v is not None and not (info.context["base"] / v).is_file():
            raise ValueError(f"no such file: {v}")
        return v


class SpecError(ValueError):
    pass


TEXT = """\
n: 3
arms:
  - id: a
  - id: b
    dose: lots
    colour: red
"""


def test_errors_name_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(TEXT)
    with pytest.raises(SpecError) as info:
        parse(Spec, read_yaml(p, error=SpecError), error=SpecError)
    lines = str(info.value).splitlines()
    assert lines == [
        f"{p}, line 5, field arms[1].dose: Input should be a valid number, unable to parse string as a number "
        "(got 'lots')",
        f"{p}, line 6, field arms[1].colour: unknown field; known fields: id, dose",
    ]


def test_missing_field_points_at_enclosing_node() -> None:
    doc = YamlDoc.from_text("arms:\n  - {dose: 1}\n", source="s.yaml")
    with pytest.raises(ValueError) as info:
        parse(Spec, doc)
    msg = str(info.value)
    assert "s.yaml, line 2, field arms[0].id: required field is missing" in msg
    assert "s.yaml, line 1, field n: required field is missing" in msg


def test_validators_see_the_spec_folder(tmp_path: Path) -> None:
    (tmp_path / "m.xml").write_text("<sbml/>")
    doc = YamlDoc.from_text("n: 1\narms: []\nmodel: m.xml\n", source=str(tmp_path / "s.yaml"))
    assert parse(Spec, doc).model == Path("m.xml")
    bad = YamlDoc.from_text("n: 1\narms: []\nmodel: x.xml\n", source=str(tmp_path / "s.yaml"))
    with pytest.raises(ValueError, match=r"line 3, field model: no such file: x.xml"):
        parse(Spec, bad)


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("n: 1\narms: [\n")
    with pytest.raises(SpecError, match=r"bad.yaml, line \d+: not valid YAML"):
        read_yaml(p, error=SpecError)
    with pytest.raises(SpecError, match="no such spec file"):
        read_yaml(tmp_path / "none.yaml", error=SpecError)


def test_field_path() -> None:
    assert field_path(("arms", 1, "regimen")) == "arms[1].regimen"
    assert field_path((0, "x")) == "[0].x"


class Link(SpecModel):
    to: str


class Wider(SpecModel):
    links: list[str | Link] = Field(default_factory=list)

    @field_validator("links")
    @classmethod
    def _no_self_links(cls, v: list[str | Link]) -> list[str | Link]:
        from qsp_sbml.typed_yaml import At

        for i, item in enumerate(v):
            if item == "self":
                raise At(f"[{i}]", "a link to itself")
        return v


class FieldError(ValueError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


def test_validator_sub_paths_union_tags_and_problems() -> None:
    doc = YamlDoc.from_text("links:\n  - a\n  - self\n", source="w.yaml")
    with pytest.raises(FieldError) as info:
        parse(Wider, doc, error=lambda m: FieldError(m))
    assert str(info.value) == "w.yaml, line 3, field links[1]: a link to itself"
    assert info.value.field == "links[1]"  # the error's field is set from the first problem
    [problem] = info.value.problems  # type: ignore[attr-defined]
    assert (problem.path, problem.line, problem.source) == ("links[1]", 3, "w.yaml")
    # a mapping offered to a str | Link union: only the mapping member's problem, at the data's path
    doc = YamlDoc.from_text("links:\n  - {too: x}\n", source="w.yaml")
    with pytest.raises(ValueError) as err:
        parse(Wider, doc)
    assert str(err.value).splitlines() == ["w.yaml, line 2, field links[0].to: required field is missing",
                                           "w.yaml, line 2, field links[0].too: unknown field; did you mean "
                                           "'to'? known fields: to"]


def test_duplicate_keys_are_refused_with_their_line() -> None:
    with pytest.raises(ValueError, match=r"d.yaml, line 3: not valid YAML: key 'n' given twice"):
        YamlDoc.from_text("n: 1\narms: []\nn: 2\n", source="d.yaml")


def test_spec_error_names_file_line_and_field() -> None:
    from qsp_sbml.typed_yaml import spec_error

    doc = YamlDoc.from_text("n: 1\narms:\n  - id: a\n", source="s.yaml")
    err = spec_error(doc, "arms[0].id", "duplicate arm id 'a'", error=lambda m: FieldError(m))
    assert str(err) == "s.yaml, line 3, field arms[0].id: duplicate arm id 'a'" and err.field == "arms[0].id"


def test_an_unknown_field_lists_the_known_ones_of_its_section() -> None:
    from qsp_sbml.trial._design_file import ParallelDesignFile

    text = "model: x\narms: [{id: a, regimen: placebo, dosee: 1}]\nenrichment: {covariate: a, mn: 1}\n"
    with pytest.raises(ValueError) as info:
        parse(ParallelDesignFile, YamlDoc.from_text(text, source="d.yaml"))
    lines = str(info.value).splitlines()
    assert ("d.yaml, line 2, field arms[0].dosee: unknown field; did you mean 'dose'? known fields: id, regimen, "
            "parameters, dose, label") in lines
    # a section behind a union (a criterion or a list of them) and its validator
    assert ("d.yaml, line 3, field enrichment.mn: unknown field; did you mean 'min'? known fields: covariate, "
            "baseline, min, max") in lines
