"""Cohort tables (Parquet round trip) and cohort simulation with the serial and process engines."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import qsp_sbml as qs
from qsp_sbml.engine import ProcessEngine, SerialEngine, as_engine
from qsp_sbml.errors import PopulationError, SimulationError, SimulationWarning
from qsp_sbml.population import Cohort, CohortResult, lognormal_iiv, sample_population, simulate_cohort
from qsp_sbml.resources import project_models_dir

REPO = Path(__file__).resolve().parents[1]
THEO = REPO / "petab_problems" / "theophylline" / "model.xml"
REGIMEN = "320 mg po q12h x 3 to A_gut"
TIMES = np.arange(0.0, 37.0, 1.0)


@pytest.fixture(scope="module")
def model() -> qs.Model:
    return qs.load_model(THEO, guard=False)


def _cohort(n: int = 40, seed: int = 1) -> Cohort:
    params = lognormal_iiv({"CL": 2.8, "Vc": 32.0, "ka": 1.5}, n, seed=seed, cv={"CL": 0.3, "Vc": 0.2, "ka": 0.4})
    cov = sample_population("healthy_adults", n, seed=seed)[["subject_id", "age", "sex", "weight_kg"]]
    return Cohort.from_parts(covariates=cov, parameters=params, seed=seed,
                             provenance={"spec": "test", "population": "healthy_adults"})


def test_parquet_round_trip_keeps_seed_provenance_and_kinds(tmp_path: Path) -> None:
    cohort = _cohort(10, seed=42)
    path = cohort.to_parquet(tmp_path / "c.parquet")
    back = Cohort.read_parquet(path)
    assert back.seed == 42
    assert back.provenance == {"spec": "test", "population": "healthy_adults"}
    assert back.parameter_columns == ["CL", "Vc", "ka"]
    assert back.columns["covariates"] == ("age", "sex", "weight_kg")
    pd.testing.assert_frame_equal(back.table, cohort.table)
    assert not list(tmp_path.glob(".*tmp"))  # the atomic write left no temporary file


def test_cohort_bad_tables() -> None:
    with pytest.raises(PopulationError, match="subject_id"):
        Cohort(pd.DataFrame({"CL": [1.0]}), {"parameters": ("CL",)})
    with pytest.raises(PopulationError, match="duplicate subject_id 1"):
        Cohort(pd.DataFrame({"subject_id": [1, 1], "CL": [1.0, 2.0]}), {"parameters": ("CL",)})
    with pytest.raises(PopulationError, match="not in the table"):
        Cohort(pd.DataFrame({"subject_id": [1]}), {"parameters": ("CL",)})


def test_serial_and_process_engines_identical_in_order(model: qs.Model) -> None:
    cohort = _cohort(40)
    serial = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, engine=SerialEngine())
    par = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, engine=ProcessEngine(2),
                          batch_size=7)
    assert par.subject_ids == serial.subject_ids == cohort.subject_ids
    assert np.array_equal(par.values, serial.values)
    assert serial.values.shape == (40, TIMES.size, 2)
    # each subject equals Model.simulate's dosing timeline (a different code path: no SBML events)
    params = cohort.parameters()
    for k in (0, 17, 39):
        ref = model.simulate(TIMES, selections=["C"], parameters=params.iloc[k].to_dict(), regimen=REGIMEN)
        assert np.allclose(serial.values[k, :, 0], ref["C"], rtol=1e-6, atol=1e-9)


def test_failed_subject_recorded_others_complete(model: qs.Model) -> None:
    cohort = _cohort(12)
    table = cohort.table.copy()
    table.loc[4, "CL"] = -1e6  # exponential growth: CVODE fails
    bad = Cohort(table, cohort.columns, cohort.seed)
    with pytest.warns(SimulationWarning, match="1 of 12 subjects failed"):
        res = simulate_cohort(model, bad, TIMES, outputs=["C"], regimen=REGIMEN, batch_size=5)
    sid = table.loc[4, "subject_id"]
    assert res.failed == [sid]
    subjects = res.subjects()
    row = subjects[subjects.subject_id == sid].iloc[0]
    assert row.status == "failed" and "CVODE" in row.message and 0 <= row.fail_time < TIMES[-1]
    assert np.isnan(res.values[4]).all()
    ok = np.arange(12) != 4
    assert np.isfinite(res.values[ok]).all()
    good = simulate_cohort(model, cohort, TIMES, outputs=["C"], regimen=REGIMEN)
    assert np.array_equal(res.values[ok], good.values[ok])  # the failure did not disturb the next subjects
    with warnings.catch_warnings(), pytest.raises(SimulationError, match=f"subject {sid}"):
        warnings.simplefilter("ignore")
        simulate_cohort(model, bad, TIMES, outputs=["C"], regimen=REGIMEN, strict=True)


def test_bad_cohort_input_names_row_and_column(model: qs.Model) -> None:
    cohort = _cohort(5)
    t = cohort.table.copy()
    unknown = Cohort(t.rename(columns={"ka": "kaa"}), {"parameters": ("CL", "Vc", "kaa")})
    with pytest.raises(PopulationError, match=r"column 'kaa': unknown column 'kaa'.*did you mean 'ka'"):
        simulate_cohort(model, unknown, TIMES, outputs=["C"])
    t.loc[2, "Vc"] = np.nan
    with pytest.raises(PopulationError, match=r"row 3, column 'Vc'"):
        simulate_cohort(model, Cohort(t, cohort.columns), TIMES, outputs=["C"])
    with pytest.raises(PopulationError, match=r"missing column 'F'"):
        simulate_cohort(model, cohort, TIMES, outputs=["C"], required=["F"])
    assigned = Cohort(pd.DataFrame({"subject_id": [1], "C": [1.0]}), {"parameters": ("C",)})
    with pytest.raises(PopulationError, match="assignment rule"):
        simulate_cohort(model, assigned, TIMES, outputs=["C"])


def test_result_tables_and_nca(model: qs.Model) -> None:
    res = simulate_cohort(model, _cohort(3), TIMES, outputs=["C"], regimen=REGIMEN)
    tidy = res.to_dataframe()
    assert list(tidy.columns) == ["subject_id", "time", "output", "value"]
    assert len(tidy) == 3 * TIMES.size
    first = tidy[tidy.subject_id == res.subject_ids[1]]["value"].to_numpy()
    assert np.array_equal(first, res.values[1, :, 0])
    nca = res.metrics(interval=(24.0, 36.0))
    assert len(nca) == 3 and (nca["cmax"] >= nca["ctrough"]).all()
    assert res.attrs["cohort_seed"] == 1 and res.coords["output"] == ["C"]


def test_results_folder_round_trip(model: qs.Model, tmp_path) -> None:
    res = simulate_cohort(model, _cohort(3), TIMES, outputs=["C"], regimen=REGIMEN)
    folder = res.to_folder(tmp_path / "run", provenance={"model": "m.xml"})
    assert sorted(p.name for p in folder.iterdir()) == sorted(CohortResult.FILES)
    back = CohortResult.from_folder(folder)
    np.testing.assert_array_equal(back.values, res.values)
    np.testing.assert_array_equal(back.times, res.times)
    assert back.subject_ids == res.subject_ids and back.outputs == res.outputs
    assert list(back.status) == list(res.status) and back.attrs["model"] == "m.xml"
    assert back.attrs["cohort_seed"] == res.attrs["cohort_seed"]
    pd.testing.assert_frame_equal(back.metrics(), res.metrics())
    (folder / "trajectories.npz").unlink()
    with pytest.raises(PopulationError, match="trajectories.npz is missing"):
        CohortResult.from_folder(folder)


def test_as_engine() -> None:
    assert isinstance(as_engine(None), SerialEngine)
    assert as_engine("process", 3).n_workers == 3
    with pytest.raises(ValueError, match="unknown engine"):
        as_engine("mpi")  # "dask" is known: tests/test_distributed.py
    with pytest.raises(ValueError, match="n_workers"):
        ProcessEngine(0)


def test_infusion_starting_at_t0_is_given_once_with_cohort_parameters() -> None:
    # an infusion event at t=0 adds its rate on reset; resetAll + setValues + reset used to add it twice
    mab = qs.load_model(project_models_dir() / "pbpk" / "mab_two_compartment_tmdd.xml")
    t = np.linspace(0.0, 48.0, 49)
    regimen = "100 nmol iv over 20 h to mab_central"
    cohort = Cohort.from_parts(parameters=pd.DataFrame({"CL": [0.01, 0.02]}), seed=1)
    res = simulate_cohort(mab, cohort, t, outputs=["mab_central"], regimen=regimen)
    for i, cl in enumerate([0.01, 0.02]):
        ref = mab.simulate(t, selections=["mab_central"], regimen=regimen, parameters={"CL": cl})
        assert np.allclose(res.values[i, :, 0], ref["mab_central"].to_numpy(), rtol=1e-6, atol=1e-9)
    # mass balance during the infusion: 5 nmol/h in, nothing can exceed the dose given so far
    assert res.values[0, 10, 0] <= 50.0 + 1e-9
