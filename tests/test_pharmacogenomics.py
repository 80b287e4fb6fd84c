"""qsp_sbml.pharmacogenomics: CPIC tables, diplotypes, phenotypes, HWE sampling, clearance, SBML tags."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import libsbml
import numpy as np
import pytest
from scipy.stats import chisquare

import qsp_sbml as qs
from qsp_sbml.errors import SbmlError
from qsp_sbml.metrics import auc as metric_auc
from qsp_sbml.pbpk import load_drug, parameterise
from qsp_sbml.pharmacogenomics import (
    GenotypeError,
    _tables,
    activity_score,
    allele_frequencies,
    clearance_multiplier,
    clearance_ratio,
    enzyme_parameters,
    fit_k50,
    genotype_parameters,
    genotype_values,
    groups,
    phenotype,
    read_genotypes,
    sample_genotypes,
    saturating_multiplier,
)
from qsp_sbml.pharmacogenomics._tables import clearance_records, frequency_tables, gene_tables, phenotype_multipliers
from qsp_sbml.pharmacogenomics.diplotype import allele_activity
from qsp_sbml.pharmacogenomics.sbml import ANNOTATION_NS
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

DATA = Path(__file__).parent / "data"
PBPK_FILE = project_models_dir() / "pbpk" / "wholebody_pbpk.xml"
GENES = ("CYP2D6", "CYP2C9", "CYP2C19", "CYP3A5", "SLCO1B1")


def _cpic_examples() -> list[dict[str, str]]:
    with (DATA / "pgx_cpic_diplotypes.tsv").open(encoding="utf-8") as fh:
        rows = [line for line in fh if not line.startswith("#")]
    return list(csv.DictReader(rows, delimiter="\t"))


EXAMPLES = _cpic_examples()


def test_example_table_covers_every_gene_and_phenotype_class() -> None:
    assert {r["gene"] for r in EXAMPLES} == set(GENES)
    assert len(EXAMPLES) > 100
    d6 = {r["phenotype"] for r in EXAMPLES if r["gene"] == "CYP2D6"}
    assert d6 == {"Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer",
                  "Ultrarapid Metabolizer", "Indeterminate"}


@pytest.mark.parametrize("row", EXAMPLES, ids=lambda r: f"{r['gene']}:{r['diplotype']}")
def test_cpic_example_diplotypes(row: dict[str, str]) -> None:
    gene, dip, expected = row["gene"], row["diplotype"], row["activity_score"]
    assert phenotype(gene, dip) == row["phenotype"]
    if expected == "-":
        with pytest.raises(GenotypeError, match=f"{gene} phenotypes from allele function"):
            activity_score(gene, dip)
    elif expected == "n/a":
        assert math.isnan(activity_score(gene, dip))
    else:
        # CPIC writes "≥x" when a copy number is "≥3"; we take the lower bound (3 copies)
        assert activity_score(gene, dip) == pytest.approx(float(expected.removeprefix(">=")), abs=1e-12)


# Every copy-number allele CPIC lists, with its activity value (CYP2D6.json @ 4cdfc34d).
CPIC_DUPLICATIONS = {"*1x2": 2.0, "*2x2": 2.0, "*3x2": 0.0, "*4x2": 0.0, "*6x2": 0.0, "*9x2": 0.5,
                     "*10x2": 0.5, "*17x2": 1.0, "*29x2": 1.0, "*35x2": 2.0, "*36x2": 0.0, "*41x2": 0.5,
                     "*41x3": 0.75, "*45x2": 2.0}


@pytest.mark.parametrize(("allele", "value"), CPIC_DUPLICATIONS.items())
def test_duplication_rule_reproduces_cpic_listed_values(allele: str, value: float) -> None:
    assert allele_activity("CYP2D6", allele) == value


def test_deletion_and_copy_numbers() -> None:
    assert activity_score("CYP2D6", "*5/*5") == 0.0
    assert phenotype("CYP2D6", "*5/*5") == "Poor Metabolizer"
    assert activity_score("CYP2D6", "*1x3/*4") == 3.0
    assert phenotype("CYP2D6", "*1x2/*5") == "Normal Metabolizer"  # AS 2
    assert phenotype("CYP2D6", "*2x2/*10") == "Normal Metabolizer"  # AS 2.25: the highest normal score
    assert phenotype("CYP2D6", "*2x2/*9x2") == "Ultrarapid Metabolizer"  # AS 2.5
    assert activity_score("CYP2D6", " *1 / *4 ") == 1.0  # whitespace is tolerated


def test_cyp2d6_threshold_edges() -> None:
    # 1.25 is the lowest normal score, 2.25 the highest (Caudle et al. 2020)
    assert phenotype("CYP2D6", "*10/*10x2") == "Intermediate Metabolizer"  # 0.75
    assert phenotype("CYP2D6", "*1/*10") == "Normal Metabolizer"  # 1.25
    assert phenotype("CYP2D6", "*10x2/*17x2") == "Normal Metabolizer"  # 1.5


@pytest.mark.parametrize(
    ("gene", "diplotype", "needle"),
    [
        ("CYP9Z9", "*1/*1", "unknown gene 'CYP9Z9'"),
        ("CYP2D6", "*1/*999", "unknown allele '*999'"),
        ("CYP2D6", "*1*2", "'*1*2'"),
        ("CYP2D6", "*1/", "'*1/': allele 2 is empty"),
        ("CYP2D6", "1/2", "'1' is not a star allele"),
        ("CYP2D6", "*1/*2/*3", "one '/'"),
        ("CYP2D6", "*5x2/*1", "'*5x2': *5 is the gene deletion"),
        ("CYP2D6", "*1x1/*1", "'*1x1': the copy number must be an integer >= 2"),
        ("CYP2D6", "*1xN/*1", "'*1xN'"),
        ("CYP2C19", "*1x2/*1", "copy-number notation is defined for CYP2D6 only"),
        ("CYP2C19", "*1/*27", "unknown allele '*27'"),
        ("SLCO1B1", "", "empty diplotype"),
        ("SLCO1B1", "/*1", "allele 1 is empty"),
    ],
)
def test_bad_diplotypes_name_the_offending_text(gene: str, diplotype: str, needle: str) -> None:
    with pytest.raises(GenotypeError) as info:
        phenotype(gene, diplotype)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_string_diplotype() -> None:
    with pytest.raises(GenotypeError, match="must be a string"):
        phenotype("CYP2D6", 12)  # type: ignore[arg-type]


# ---- allele frequencies and Hardy-Weinberg sampling ----------------------------------------------------------------

def test_every_gene_has_at_least_three_groups_and_frequencies_sum_to_one() -> None:
    for gene in GENES:
        assert len(groups(gene)) >= 3, gene
        for group in groups(gene):
            freqs = allele_frequencies(gene, group)
            assert sum(freqs.values()) == pytest.approx(1.0, abs=1e-12)
            assert all(f > 0 for f in freqs.values())


def test_remainder_rules() -> None:
    table = frequency_tables()[("CYP2C9", "European")]
    assert table.remainder == "*1"
    # listed variants keep their printed frequency, *1 takes the rest
    assert allele_frequencies("CYP2C9", "European")["*3"] == pytest.approx(0.073)
    assert allele_frequencies("CYP2C9", "European")["*1"] == pytest.approx(1 - 0.201)
    d6 = frequency_tables()[("CYP2D6", "European")]
    assert d6.remainder == "renormalise"
    assert allele_frequencies("CYP2D6", "European")["*4"] == pytest.approx(14.4 / 82.6)


def _hwe_expected(freqs: dict[str, float], n: int) -> dict[tuple[str, str], float]:
    alleles = sorted(freqs)
    out = {}
    for i, a in enumerate(alleles):
        for b in alleles[i:]:
            out[(a, b)] = n * (freqs[a] ** 2 if a == b else 2 * freqs[a] * freqs[b])
    return out


def _genotype_chisquare(sample: list[str], freqs: dict[str, float]) -> float:
    """p-value of the sample's unordered-genotype counts against Hardy-Weinberg proportions.

    Cells expected below 5 are pooled into one cell (the usual validity condition of the test).
    """
    n = len(sample)
    counts = Counter(tuple(sorted(s.split("/"))) for s in sample)
    expected = _hwe_expected(freqs, n)
    assert set(counts) <= set(expected), "sampled a genotype outside the table"
    big = [k for k, e in expected.items() if e >= 5]
    small = [k for k in expected if k not in big]
    obs = [counts.get(k, 0) for k in big]
    exp = [expected[k] for k in big]
    if small:
        obs.append(sum(counts.get(k, 0) for k in small))
        exp.append(sum(expected[k] for k in small))
    return float(chisquare(obs, exp).pvalue)


@pytest.mark.parametrize(("gene", "group"), sorted(frequency_tables()))
def test_sampled_genotypes_follow_hardy_weinberg_from_the_table(gene: str, group: str) -> None:
    sample = sample_genotypes(gene, group, 10_000, seed=20261122)
    assert len(sample) == 10_000
    assert _genotype_chisquare(sample, allele_frequencies(gene, group)) > 0.01


def test_chisquare_rejects_a_wrong_frequency_table() -> None:
    sample = sample_genotypes("CYP2C19", "European", 10_000, seed=20261122)
    wrong = allele_frequencies("CYP2C19", "European")
    wrong["*2"], wrong["*17"] = wrong["*2"] - 0.03, wrong["*17"] + 0.03  # 18.3 % -> 15.3 %
    assert _genotype_chisquare(sample, wrong) < 1e-6
    # and a sampler that ignores Hardy-Weinberg pairing (one allele repeated) is rejected too
    homozygous = [f"{s.split('/')[0]}/{s.split('/')[0]}" for s in sample]
    assert _genotype_chisquare(homozygous, allele_frequencies("CYP2C19", "European")) < 1e-6


def test_sampling_is_reproducible_and_phenotypes_are_defined() -> None:
    a = sample_genotypes("CYP2D6", "Sub-Saharan African", 500, seed=3)
    assert a == sample_genotypes("CYP2D6", "Sub-Saharan African", 500, seed=3)
    assert a != sample_genotypes("CYP2D6", "Sub-Saharan African", 500, seed=4)
    assert sample_genotypes("CYP2D6", "European", 0, seed=1) == []
    assert {phenotype("CYP2D6", d) for d in a} <= {
        "Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer", "Ultrarapid Metabolizer", "Indeterminate"}


def test_sampling_bad_input() -> None:
    with pytest.raises(GenotypeError, match="no CYP2D6 allele frequencies for group 'Martian'"):
        sample_genotypes("CYP2D6", "Martian", 10, seed=1)
    with pytest.raises(GenotypeError, match="n must be an integer >= 0"):
        sample_genotypes("CYP2D6", "European", -1, seed=1)
    with pytest.raises(GenotypeError, match="unknown gene"):
        sample_genotypes("ABCB1", "European", 10, seed=1)


# ---- clearance scaling -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gene", GENES)
def test_reference_genotype_has_multiplier_one(gene: str) -> None:
    ref = gene_tables()[gene].reference
    assert clearance_multiplier(gene, ref) == 1.0
    for (g, drug) in clearance_records():
        if g == gene:
            assert clearance_multiplier(gene, ref, drug) == 1.0
            assert clearance_ratio(gene, ref, drug) == 1.0


@pytest.mark.parametrize("key", sorted(clearance_records()))
def test_published_clearance_ratios_are_reproduced(key: tuple[str, str]) -> None:
    gene, drug = key
    record = clearance_records()[key]
    assert record.observed, "every drug record cites at least one observed ratio"
    for obs in record.observed:
        assert phenotype(gene, obs["diplotype"]) == obs["phenotype"]
        assert clearance_ratio(gene, obs["diplotype"], drug) == pytest.approx(obs["clearance_ratio"],
                                                                             abs=obs["tolerance"])


def test_saturating_form() -> None:
    assert saturating_multiplier(2.0, 2.0, 0.7) == pytest.approx(1.0)
    values = [saturating_multiplier(a, 2.0, 0.7) for a in (0, 0.25, 0.5, 1, 2, 3, 10, 1e9)]
    assert values[0] == 0 and all(np.diff(values) > 0)
    assert values[-1] == pytest.approx((2.0 + 0.7) / 2.0, rel=1e-6)  # plateau (AS_ref + K50) / AS_ref
    for ratio, activity in ((0.7, 1.0), (0.3, 0.5), (1.2, 3.0)):
        k50 = fit_k50(ratio, activity, 2.0)
        assert saturating_multiplier(activity, 2.0, k50) == pytest.approx(ratio, rel=1e-12)
    with pytest.raises(GenotypeError, match="no K50 > 0"):
        fit_k50(0.4, 1.0, 2.0)  # below the linear limit 0.5: impossible for a saturating form
    with pytest.raises(GenotypeError, match="no K50 > 0"):
        fit_k50(2.54 / 0.83, 3.0, 2.0)  # the metoprolol UM/EM ratio (clearance.yaml limitation)


def test_clearance_multiplier_rules_and_errors() -> None:
    assert clearance_multiplier("CYP2D6", "*4/*4") == 0.0
    assert clearance_multiplier("CYP2D6", "*1/*10") == pytest.approx(1.25 / 2)
    assert clearance_multiplier("CYP2C9", "*1/*3") == 0.5
    assert clearance_multiplier("CYP2C19", "*1/*2") == 0.5
    assert clearance_multiplier("CYP3A5", "*3/*3") == 0.0
    with pytest.raises(GenotypeError, match="Indeterminate"):
        clearance_multiplier("CYP2D6", "*1/*22")
    with pytest.raises(GenotypeError, match=r"CYP3A5 '\*1/\*8' \(Possible Intermediate Metabolizer; allele "
                                            r"functions normal/unknown\): no clearance multiplier"):
        clearance_multiplier("CYP3A5", "*1/*8")
    with pytest.raises(GenotypeError, match=r"SLCO1B1 '\*14/\*14' \(Increased Function"):
        clearance_multiplier("SLCO1B1", "*14/*14")  # Increased Function: no numeric basis, raises
    with pytest.raises(GenotypeError, match="no clinical PK record for CYP2D6 with drug 'aspirin'"):
        clearance_multiplier("CYP2D6", "*1/*1", drug="aspirin")


def test_cyp2c19_phenotype_multipliers_cover_every_function_combination() -> None:
    """Every CPIC CYP2C19 phenotype reachable without an uncertain allele has a multiplier (the *17 gap)."""
    table = gene_tables()["CYP2C19"]
    by_function = {}
    for allele in table.alleles:
        by_function.setdefault(table.function(allele), allele)
    reached = set()
    for a in by_function.values():
        for b in by_function.values():
            term = phenotype("CYP2C19", f"{a}/{b}")
            if term != "Indeterminate":
                reached.add(term)
                assert math.isfinite(clearance_multiplier("CYP2C19", f"{a}/{b}"))
    assert reached == set(phenotype_multipliers()["CYP2C19"])
    m = {d: clearance_multiplier("CYP2C19", d) for d in ("*2/*2", "*1/*2", "*1/*1", "*1/*17", "*17/*17")}
    assert m["*2/*2"] < m["*1/*2"] < m["*1/*1"] < m["*1/*17"] < m["*17/*17"]
    # escitalopram (Jukic et al. 2018): the IM ratios were not fitted; the phenotype-level model predicts them
    assert clearance_ratio("CYP2C19", "*1/*2", "escitalopram") == pytest.approx(1 / 1.6, abs=0.03)


@pytest.mark.parametrize(("gene", "group"), sorted(frequency_tables()))
def test_every_sampled_genotype_has_a_clearance_multiplier(gene: str, group: str) -> None:
    """10,000 subjects of every shipped gene and group (incl. European, East Asian): no genotype without m."""
    sample = sample_genotypes(gene, group, 10_000, seed=7)
    multipliers = {d: clearance_multiplier(gene, d) for d in set(sample)}
    assert all(math.isfinite(m) and m >= 0 for m in multipliers.values())
    if gene == "CYP2C19" and group in ("European", "East Asian"):
        freq = allele_frequencies(gene, group)
        carriers = sum(d.count("*17") > 0 for d in sample) / len(sample)
        assert carriers == pytest.approx(1 - (1 - freq["*17"]) ** 2, abs=0.015)  # the *17 carriers are covered


def test_phenotype_multiplier_table_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    real = _tables._read

    def fake(extra: dict[str, object]) -> object:
        def read(name: str) -> dict[str, object]:
            data = real(name)
            if name == "clearance.yaml":
                data = dict(data)
                data["CYP3A5"] = {"phenotype_multipliers": extra, "drugs": {}}
            return data
        return read

    for extra, needle in (({"Fast Metabolizer": {"m": 1.0, "basis": "x"}}, "not a CPIC phenotype term"),
                          ({"Normal Metabolizer": {"m": -1, "basis": "x"}}, "m must be a number >= 0"),
                          ({"Normal Metabolizer": {"m": 1.0}}, "needs a basis")):
        monkeypatch.setattr(_tables, "_read", fake(extra))
        phenotype_multipliers.cache_clear()
        with pytest.raises(GenotypeError, match=needle):
            phenotype_multipliers()
    monkeypatch.setattr(_tables, "_read", real)
    phenotype_multipliers.cache_clear()
    assert phenotype_multipliers()["CYP3A5"]["Intermediate Metabolizer"] == 0.5


# ---- SBML tagging ----------------------------------------------------------------------------------------------------

def test_shipped_pbpk_module_ports_are_found() -> None:
    assert enzyme_parameters(PBPK_FILE) == {"CYP2C9": "m_CYP2C9", "CYP2C19": "m_CYP2C19", "CYP2D6": "m_CYP2D6"}
    assert genotype_parameters(PBPK_FILE, {"CYP2D6": "*4/*4", "CYP2C9": "*1/*3"}) == {
        "m_CYP2D6": 0.0, "m_CYP2C9": 0.5}
    with pytest.raises(GenotypeError, match="no parameter tagged with CYP3A5"):
        genotype_parameters(PBPK_FILE, {"CYP3A5": "*3/*3"})


def test_genotype_changes_metoprolol_exposure_in_the_pbpk_module() -> None:
    model = qs.load_model(PBPK_FILE, guard=False)
    values = parameterise(load_drug(project_models_dir() / "pbpk" / "drugs" / "metoprolol.yaml"),
                          reference("male")).values
    t = np.linspace(0, 72, 721)
    auc = {}
    for dip in ("*1/*1", "*1/*4", "*4/*4"):
        v = values | genotype_values(PBPK_FILE, {"CYP2D6": dip})
        frame = model.simulate(t, selections=["C_plasma"], parameters=v, regimen="100 mg po to drug_gi_lumen")
        auc[dip] = metric_auc(t, frame["C_plasma"])
    ratio = auc["*4/*4"] / auc["*1/*1"]
    assert auc["*1/*1"] < auc["*1/*4"] < auc["*4/*4"]
    # Blake et al. 2013: AUC 4.9-fold higher in PMs than EMs; the module (fm 0.75) gives 3.5: within 2-fold
    assert 4.9 / 2 < ratio < 4.9 * 2


def _annotated_model(tags: list[tuple[str, str, str]]) -> str:
    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel("m")
    for pid, gene, role in tags:
        p = model.createParameter()
        p.setId(pid)
        p.setValue(12.0)
        p.setConstant(True)
        p.setUnits("dimensionless")
        assert p.setAnnotation(
            f'<annotation><qsp:pharmacogenomics xmlns:qsp="{ANNOTATION_NS}" qsp:gene="{gene}" '
            f'qsp:role="{role}"/></annotation>') == libsbml.LIBSBML_OPERATION_SUCCESS
    return libsbml.writeSBMLToString(doc)


def test_annotation_convention() -> None:
    sbml = _annotated_model([("CLint_2D6", "CYP2D6", "clearance"), ("k_oatp", "SLCO1B1", "clearance")])
    assert enzyme_parameters(sbml) == {"CYP2D6": "CLint_2D6", "SLCO1B1": "k_oatp"}
    assert genotype_parameters(sbml, {"CYP2D6": "*1/*4"}) == {"CLint_2D6": 0.5}
    assert genotype_values(sbml, {"CYP2D6": "*1/*4", "SLCO1B1": "*1/*5"}) == {"CLint_2D6": 6.0, "k_oatp": 6.0}


def test_annotation_errors() -> None:
    with pytest.raises(SbmlError, match="tagged on two parameters, 'a' and 'b'"):
        enzyme_parameters(_annotated_model([("a", "CYP2D6", "clearance"), ("b", "CYP2D6", "multiplier")]))
    with pytest.raises(SbmlError, match="parameter 'a': annotated gene 'CYP9Z9'"):
        enzyme_parameters(_annotated_model([("a", "CYP9Z9", "clearance")]))
    with pytest.raises(SbmlError, match="qsp:role must be"):
        enzyme_parameters(_annotated_model([("a", "CYP2D6", "rate")]))
    with pytest.raises(SbmlError, match="no such file"):
        enzyme_parameters(Path("/nonexistent/model.xml"))


# ---- genotype tables -------------------------------------------------------------------------------------------------

def test_read_genotypes_checks_every_cell(tmp_path: Path) -> None:
    good = tmp_path / "cohort.tsv"
    good.write_text("subject\tCYP2D6\tCYP2C19\ns1\t*1/*4\t*1/*17\ns2\t*1x2/*2\t\n", encoding="utf-8")
    frame = read_genotypes(good)
    assert frame.loc["s2", "CYP2D6"] == "*1x2/*2" and frame.loc["s2", "CYP2C19"] == ""
    bad = tmp_path / "bad.tsv"
    bad.write_text("subject\tCYP2D6\tCYP2C19\ns1\t*1/*4\t*1/*17\ns2\t*1/*4\t*1*2\n", encoding="utf-8")
    with pytest.raises(GenotypeError, match=r"bad.tsv: row 2, column 'CYP2C19': CYP2C19 diplotype '\*1\*2'"):
        read_genotypes(bad)
    gene = tmp_path / "gene.csv"
    gene.write_text("subject,CYP2D7\ns1,*1/*1\n", encoding="utf-8")
    with pytest.raises(GenotypeError, match="column 'CYP2D7' is not a gene"):
        read_genotypes(gene)


@pytest.mark.parametrize(("group", "low", "high"), [("European", 0.308, 0.392), ("Latino", 0.213, 0.305),
                                                    ("East Asian", 0.045, 0.089)])
def test_cyp2c9_phenotype_frequencies_match_a_published_1000_genomes_analysis(group: str, low: float,
                                                                                  high: float) -> None:
    # Front Pharmacol (2025) doi:10.3389/fphar.2025.1597379, abstract: CYP2C9 intermediate + poor
    # metabolizers (from *2 and *3, 1000 Genomes phase III) 35 % (95 % CI 30.8-39.2) European,
    # 25.9 % (21.3-30.5) American, 6.7 % (4.5-8.9) East Asian.  Exact HWE sum over our table:
    freqs = allele_frequencies("CYP2C9", group)
    alleles = sorted(freqs)
    at_risk = sum(
        freqs[a] * freqs[b]
        for a in alleles for b in alleles
        if phenotype("CYP2C9", f"{a}/{b}") in ("Intermediate Metabolizer", "Poor Metabolizer")
    )
    assert low < at_risk < high
