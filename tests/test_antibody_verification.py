"""Antibody PK predicted against observed exposure (issue 19 item 5): hand computation on the shipped table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.pbpk.antibody import AntibodyParameters
from qsp_sbml.pbpk.antibody_verification import (
    AntibodyObservation,
    AntibodyObservationError,
    load_antibody_observations,
    split_antibodies,
    verify_antibodies,
)
from qsp_sbml.resources import project_models_dir

MODELS = project_models_dir()
OBSERVED = MODELS / "pbpk" / "validation" / "antibody_observed.tsv"
SPLIT = MODELS / "disease" / "validation" / "psoriasis_split.yaml"


def _one_compartment(pk: AntibodyParameters, obs: AntibodyObservation, days: np.ndarray) -> np.ndarray:
    """Superposed one-compartment SC doses, ug/mL (mg / L), Bateman function per dose."""
    k, ka = pk.cl_l_per_day / pk.vc_l, pk.ka_per_day
    conc = np.zeros_like(days)
    for week in obs.dose_weeks:
        tau = days - 7 * week
        after = tau > 0
        conc[after] += (pk.f_sc * obs.dose / pk.vc_l * ka / (ka - k)
                        * (np.exp(-k * tau[after]) - np.exp(-ka * tau[after])))
    return conc


def _by_hand(pk: AntibodyParameters, obs: AntibodyObservation) -> float:
    if obs.metric == "auc_inf_per_dose":  # AUC / dose = F / CL (1 / CL for IV), ug*day/mL per mg
        return (pk.f_sc if obs.route == "sc" else 1.0) / pk.cl_l_per_day
    assert pk.q_l_per_day == 0 and obs.route == "sc"  # every Cmax/trough row is of a one-compartment antibody
    if obs.metric == "trough":
        return float(_one_compartment(pk, obs, np.array([7 * obs.week - 1e-9]))[0])
    days = np.arange(7 * obs.week, 7 * obs.week_end, 1e-3)
    return float(_one_compartment(pk, obs, days).max())


@pytest.fixture(scope="module")
def shipped() -> tuple[dict[str, AntibodyParameters], list[AntibodyObservation]]:
    antibodies = split_antibodies(SPLIT)
    return antibodies, load_antibody_observations(OBSERVED, antibodies)


def test_every_row_and_gmfe_match_a_hand_computation(shipped) -> None:
    antibodies, observations = shipped
    assert {o.antibody for o in observations} == set(antibodies)  # every antibody the split uses is checked
    result = verify_antibodies(observations, antibodies)
    hand = np.array([_by_hand(antibodies[o.antibody], o) for o in observations])
    # Simulated NCA AUC (daily samples, log-down trapezoid) within 0.5 %; Cmax and troughs within 1e-4.
    auc = result.table["metric"].to_numpy() == "auc_inf_per_dose"
    np.testing.assert_allclose(result.table["predicted"][auc], hand[auc], rtol=5e-3)
    np.testing.assert_allclose(result.table["predicted"][~auc], hand[~auc], rtol=1e-4)
    observed = np.array([o.value for o in observations])
    names = np.array([o.antibody for o in observations])
    summary = result.summary()
    for name in antibodies:
        sel = names == name
        expected = 10 ** np.mean(np.abs(np.log10(hand[sel] / observed[sel])))
        assert summary[name]["gmfe"] == pytest.approx(expected, rel=5e-3)
    # The figures the model card and psoriasis.md quote (predicted, nothing fitted).
    assert summary["risankizumab"]["gmfe"] == pytest.approx(1.40, abs=0.01)
    assert summary["guselkumab"]["gmfe"] == pytest.approx(1.17, abs=0.01)
    assert summary["tildrakizumab"]["gmfe"] == pytest.approx(1.69, abs=0.01)
    assert result.failures() == ["tildrakizumab: predicted GMFE 1.69 > 1.5"]


def test_risankizumab_rows_reproduce_one_over_cl_by_hand(shipped) -> None:
    # IV 3 mg/kg of Pang 2020 Table 3: observed AUC/dose 3.67; predicted 1 / 0.243 = 4.115 ug*day/mL/mg.
    antibodies, observations = shipped
    row = next(o for o in observations if o.study == "phase I single dose IV 3 mg/kg")
    predicted = verify_antibodies([row], antibodies).table.iloc[0]
    assert predicted["predicted"] == pytest.approx(1 / 0.243, rel=5e-3)
    assert predicted["fold"] == pytest.approx(4.115 / 3.67, rel=5e-3)


@pytest.mark.parametrize(("old", "new", "expect"), [
    ("\t0.25\tmg/kg\t0\tauc_inf_per_dose\t\t\t1.87", "\t0.25\tmg/kg\t0\tcmax\t0\t12\t1.87",
     ("column unit", "ug/mL")),
    ("\t100\tmg\t0\tcmax\t0\t12\t8.09\tug/mL", "\t100\tmg/kg\t0\tcmax\t0\t12\t8.09\tug/mL",
     ("column dose_unit", "body weight")),
    ("guselkumab\tsingle 100 mg SC", "secukinumab\tsingle 100 mg SC", ("column antibody", "'secukinumab'")),
    ("\t0,4,16\ttrough\t16\t", "\t0,16,4\ttrough\t16\t", ("column dose_weeks", "ascending")),
    ("\t1.15\tug/mL", "\tabc\tug/mL", ("column value", "'abc' is not a number")),
])
def test_bad_rows_are_refused_naming_file_line_and_column(tmp_path: Path, old: str, new: str,
                                                          expect: tuple[str, ...]) -> None:
    text = OBSERVED.read_text(encoding="utf-8")
    assert old in text, old
    line = text[:text.index(old)].count("\n") + 1
    bad = tmp_path / "observed.tsv"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(AntibodyObservationError) as err:
        load_antibody_observations(bad, split_antibodies(SPLIT))
    message = str(err.value)
    assert f"{bad}:{line}" in message
    for fragment in expect:
        assert fragment in message


def test_cli_reports_gmfe_per_antibody_and_strict_fails_on_a_miss(tmp_path: Path) -> None:
    out = tmp_path / "pk.tsv"
    run = CliRunner().invoke(main, ["pbpk", "antibody", "--json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.output)
    assert set(doc["summary"]) == {"risankizumab", "guselkumab", "tildrakizumab"}
    assert doc["ok"] is False and doc["failures"] == ["tildrakizumab: predicted GMFE 1.69 > 1.5"]
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + len(doc["comparisons"])
    assert all(math.isfinite(c["predicted"]) for c in doc["comparisons"])
    strict = CliRunner().invoke(main, ["pbpk", "antibody", "--strict"])
    assert strict.exit_code == 1
    assert "not met: tildrakizumab" in strict.output


def test_an_antibody_without_pk_values_is_named_with_file_and_line(shipped) -> None:
    antibodies, observations = shipped
    first = observations[0]
    others = {k: v for k, v in antibodies.items() if k != first.antibody}
    with pytest.raises(AntibodyObservationError) as err:
        verify_antibodies(observations, others)
    assert f"{OBSERVED}:{first.line}, column antibody" in str(err.value)
    assert repr(first.antibody) in str(err.value)
