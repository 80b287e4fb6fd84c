"""One population description and one meaning of genotypes (issue 18): the builder shared by the vpop spec and
virtual bioequivalence, and the description's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qsp_sbml import registry
from qsp_sbml.errors import PopulationError, TrialDesignError
from qsp_sbml.pharmacogenomics import clearance_multiplier, sample_genotypes
from qsp_sbml.population.build import apply_genotypes, sample_genotype_table
from qsp_sbml.population.description import GenotypesSpec, PopulationDescription
from qsp_sbml.typed_yaml import YamlDoc, parse

WHOLEBODY = registry.model_path("pbpk/wholebody_pbpk")


def _fail(field: str, message: str) -> Exception:
    return PopulationError(f"{field}: {message}")


def test_one_group_draws_the_same_stream_as_sample_genotypes() -> None:
    """A single group draws nothing for the group: the diplotypes are those of the vectorised sampler."""
    spec = GenotypesSpec(genes=["CYP2D6", "CYP2C19"], group="European")
    table = sample_genotype_table(spec, 50, np.random.default_rng(3), _fail)
    rng = np.random.default_rng(3)
    expected = {g: sample_genotypes(g, "European", 50, seed=rng) for g in ("CYP2D6", "CYP2C19")}
    assert table["CYP2D6"].tolist() == expected["CYP2D6"] and table["CYP2C19"].tolist() == expected["CYP2C19"]
    assert set(table["group"]) == {"European"} and not table["CYP2D6_redrawn"].any()
    assert table["CYP2C19_activity_score"].isna().all()  # CYP2C19 phenotypes come from allele function
    assert table["CYP2D6_multiplier"].tolist() == [clearance_multiplier("CYP2D6", d) for d in expected["CYP2D6"]]


def test_a_mixture_draws_each_subjects_group_by_weight() -> None:
    spec = GenotypesSpec(genes=["CYP2D6"], groups={"European": 3.0, "Sub-Saharan African": 1.0}, drug="metoprolol")
    table = sample_genotype_table(spec, 4000, np.random.default_rng(1), _fail)
    share = (table["group"] == "European").mean()
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 4000)  # binomial, 4 SD
    assert table["CYP2D6_multiplier"].tolist() == [
        clearance_multiplier("CYP2D6", d, "metoprolol") for d in table["CYP2D6"]
    ]


def test_indeterminate_diplotypes_are_redrawn_from_the_same_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import qsp_sbml.pharmacogenomics as pgx

    real = pgx.phenotype
    calls = {"n": 0}

    def first_indeterminate(gene: str, diplotype: str) -> str:
        calls["n"] += 1
        return "Indeterminate" if calls["n"] == 1 else real(gene, diplotype)

    monkeypatch.setattr(pgx, "phenotype", first_indeterminate)
    table = sample_genotype_table(GenotypesSpec(genes=["CYP2D6"], group="European"), 3, np.random.default_rng(2), _fail)
    assert table["CYP2D6_redrawn"].tolist() == [1, 0, 0]
    # the redraw consumed the first subject's draw: the others follow one draw later in the stream
    rng = np.random.default_rng(2)
    stream = sample_genotypes("CYP2D6", "European", 4, seed=rng)
    assert table["CYP2D6"].tolist() == stream[1:]


def test_genotypes_multiply_the_tagged_parameter_on_the_subjects_own_value() -> None:
    table = pd.DataFrame({"CYP2D6": ["*4/*4", "*1/*1"], "CYP2D6_multiplier": [0.0, 1.0]})
    params = pd.DataFrame({"m_CYP2D6": [2.0, 3.0]})
    out = apply_genotypes(params, table, ["CYP2D6"], WHOLEBODY, _fail)
    assert out["m_CYP2D6"].tolist() == [0.0, 3.0]
    with pytest.raises(PopulationError, match=r"genotypes.genes\[0\]: the model has no parameter tagged with SLCO1B1"):
        apply_genotypes(
            params, table.rename(columns=lambda c: c.replace("CYP2D6", "SLCO1B1")), ["SLCO1B1"], WHOLEBODY, _fail
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("genotypes: {genes: [CYP2D6]}\n", "line 1, field genotypes.group: give group: NAME or groups"),
        (
            "genotypes: {genes: [CYP2D6], group: Martian}\n",
            "line 1, field genotypes.group: no CYP2D6 allele frequencies",
        ),
        ("genotypes: {genes: [CYP9Z9], group: European}\n", "line 1, field genotypes.genes[0]:"),
        ("preset: healthy_adults\ncovariates: {age_range: [20, 40]}\n", "line 2, field covariates: give one of preset"),
        ("drug: metoprolol\n", "line 1, field drug: needs covariates"),
        ("drug: unobtainium\npreset: healthy_adults\n", "line 1, field drug: no drug record 'unobtainium'"),
        ("iiv: {omega: [[0.1]]}\n", "line 1, field iiv.parameters: with omega, give parameters"),
        ("iiv: {cv: {CL: 0.3}, correlation: [[1, 0], [0, 1]]}\n", "line 1, field iiv.correlation: must be a 1x1"),
        ("covariates: {age_range: [60, 20]}\n", "line 1, field covariates.age_range: must be [low, high]"),
    ],
)
def test_the_description_names_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse(PopulationDescription, YamlDoc.from_text(text, source="pop.yaml"))
    assert f"pop.yaml, {message}" in str(info.value)


def test_a_parallel_trial_refuses_population_fields_it_does_not_use(tmp_path: Path) -> None:
    from tests.test_trial_runner import BASE, _validate, _write

    spec: dict[str, Any] = {
        **BASE,
        "population": {**BASE.get("population", {}), "genotypes": {"genes": ["CYP2D6"], "group": "European"}},
    }
    path = _write(tmp_path, spec)
    with pytest.raises(TrialDesignError) as info:
        _validate(path)
    assert info.value.field == "population.genotypes" and "vpop" in str(info.value) and ", line " in str(info.value)
