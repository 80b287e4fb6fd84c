"""PEtab test suite (v1 and v2 SBML cases, v2 math cases) through our objective.

Opt-in (``--run-conformance``); reads ``$QSP_SBML_CONFORMANCE_DIR/petab_test_suite``
(default ``../shared/conformance``).  A case passes only when chi2, llh and the
simulations (mean absolute difference after aligning rows) are all within the
case's tolerances, as the suite's README prescribes.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

import qsp_sbml as qs
from tests.conftest import conformance_dir

pytestmark = pytest.mark.conformance

ROOT = conformance_dir() / "petab_test_suite" / "cases"


def _cases(version: str) -> list[str]:
    folder = ROOT / version / "sbml"
    return sorted(p.name for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


V1 = _cases("v1.0.0")
V2 = _cases("v2.0.0")
#: Cases we cannot support, with the reason; each must raise UnsupportedFeatureError.
#: Empty: every v1 and v2 SBML case of the suite passes.
EXPECTED_UNSUPPORTED: dict[tuple[str, str], str] = {}
#: v2 cases whose tables break a check we make on purpose, with the warning they must give.
EXPECTED_WARNINGS = {("v2.0.0", "0026"): "outside its bounds"}
KEY_COLUMNS = {"v1.0.0": ["observableId", "simulationConditionId", "time", "preequilibrationConditionId"],
               "v2.0.0": ["observableId", "experimentId", "time"]}


def test_suite_folder_is_present():
    if not ROOT.is_dir():
        pytest.skip(f"{ROOT} not found; set QSP_SBML_CONFORMANCE_DIR")
    assert len(V1) == 20
    assert len(V2) == 31


def _aligned(ours: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    keys = [k for k in keys if k in ref.columns and k in ours.columns]

    def norm(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        for k in keys:
            df[k] = df[k].astype(float) if k == "time" else df[k].astype(object).where(df[k].notna(), "").astype(str)
        df["_n"] = df.groupby(keys, sort=False).cumcount()  # replicates pair in table order
        return df

    merged = norm(ref).merge(norm(ours), on=[*keys, "_n"], how="left", suffixes=("_ref", "_ours"))
    assert len(merged) == len(ref)
    return merged["simulation_ours"].to_numpy(float), merged["simulation_ref"].to_numpy(float)


def _run_case(version: str, case: str) -> None:
    import qsp_sbml.petab as qp

    folder = ROOT / version / "sbml" / case
    solution = yaml.safe_load((folder / f"_{case}_solution.yaml").read_text())
    if (version, case) in EXPECTED_UNSUPPORTED:
        with pytest.raises(qs.UnsupportedFeatureError):
            qp.PetabObjective(qp.PetabProblem.from_yaml(folder / f"_{case}.yaml", guard=False)).evaluate()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problem = qp.PetabProblem.from_yaml(folder / f"_{case}.yaml", guard=False)
    petab_warnings = [str(w.message) for w in caught if issubclass(w.category, qs.PetabWarning)]
    expected_warning = EXPECTED_WARNINGS.get((version, case))
    if expected_warning:
        assert any(expected_warning in m for m in petab_warnings), petab_warnings
    else:
        assert not petab_warnings
    result = qp.PetabObjective(problem).evaluate()
    ref = pd.concat([pd.read_csv(folder / f, sep="\t") for f in solution["simulation_files"]], ignore_index=True)
    ours, expected = _aligned(result.simulations, ref, KEY_COLUMNS[version])
    sim_distance = float(np.mean(np.abs(ours - expected)))
    assert abs(result.chi2 - solution["chi2"]) <= solution["tol_chi2"], (result.chi2, solution["chi2"])
    assert abs(result.llh - solution["llh"]) <= solution["tol_llh"], (result.llh, solution["llh"])
    assert sim_distance <= solution["tol_simulations"], (ours, expected)
    if "log_prior" in solution:
        assert result.log_priors is not None
        assert set(result.log_priors) == set(solution["log_prior"])
        for pid, value in solution["log_prior"].items():
            assert abs(result.log_priors[pid] - value) <= solution["tol_log_prior"], pid
        posterior = result.llh + result.log_prior
        assert abs(posterior - solution["unnorm_log_posterior"]) <= solution["tol_unnorm_log_posterior"]


@pytest.mark.parametrize("case", V1)
def test_v1_sbml_case(case):
    _run_case("v1.0.0", case)


@pytest.mark.parametrize("case", V2)
def test_v2_sbml_case(case):
    _run_case("v2.0.0", case)


def _math_cases() -> list[dict]:
    path = ROOT / "v2.0.0" / "math" / "math_tests.yaml"
    return yaml.safe_load(path.read_text())["cases"] if path.is_file() else []


@pytest.mark.parametrize("case", _math_cases(), ids=lambda c: str(c["expression"]))
def test_v2_math_case(case):
    from qsp_sbml.petab.expressions import evaluate_expression, parse_expression

    expected = case["expected"]
    if isinstance(expected, str) and expected not in ("inf", "-inf"):
        assert str(parse_expression(case["expression"]) - parse_expression(expected)) == "0"
        return
    value = evaluate_expression(case["expression"])
    assert value == float(expected) or math.isclose(value, float(expected), rel_tol=1e-12, abs_tol=1e-12)


def test_expected_unsupported_cases_exist():
    for version, case in EXPECTED_UNSUPPORTED:
        assert (ROOT / version / "sbml" / case).is_dir(), (version, case)


