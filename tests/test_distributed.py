"""DaskEngine on a LocalCluster on loopback: cohort simulation and multistart give the serial engine's results."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("distributed")

import qsp_sbml as qs
from qsp_sbml.distributed import DaskEngine
from qsp_sbml.engine import SerialEngine, as_engine
from qsp_sbml.population import simulate_cohort
from tests.test_cohort import REGIMEN, THEO, TIMES, _cohort

REPO = Path(__file__).resolve().parents[1]
THEO_YAML = REPO / "petab_problems" / "theophylline" / "theophylline.yaml"

#: Per process: how often the initializer ran and with which argument (read back from the workers).
_CALLS: list[str] = []


def _init(tag: str) -> None:
    _CALLS.append(tag)


def _tagged(x: int) -> tuple[int, int, list[str]]:
    return x * x, os.getpid(), list(_CALLS)


@pytest.fixture(scope="module")
def engine() -> Iterator[DaskEngine]:
    with DaskEngine(n_workers=2) as eng:
        yield eng


def test_results_in_input_order_and_initializer_once_per_worker_and_call(engine: DaskEngine) -> None:
    items = list(range(23))
    first = engine.map(_tagged, items, initializer=_init, initargs=("a",), progress=False)
    assert [r[0] for r in first] == [x * x for x in items]
    assert 1 <= len({r[1] for r in first}) <= 2  # ran in the worker processes
    assert os.getpid() not in {r[1] for r in first}
    for _, _, calls in first:  # one initializer call per worker, however many chunks it ran
        assert calls.count("a") == 1
    second = engine.map(_tagged, items, initializer=_init, initargs=("b",), progress=False)
    for _, _, calls in second:  # a new map call runs the new initializer once
        assert calls.count("b") == 1
        assert calls.count("a") <= 1
    assert engine.map(_tagged, [], initializer=_init, initargs=("c",)) == []


def _inverse(x: float) -> float:
    return 1 / x


def test_errors_from_workers_are_raised(engine: DaskEngine) -> None:
    with pytest.raises(ZeroDivisionError):
        engine.map(_inverse, [1.0, 0.0, 2.0])


def _die_on_two(x: int) -> int:
    if x == 2:
        os._exit(3)  # a native crash as far as the worker's nanny can tell
    return x * 10


def test_map_isolated_reports_each_chunk_and_survives_a_dying_worker() -> None:
    from qsp_sbml.engine import Lost, WorkerLostError

    config = {"distributed.scheduler.allowed-failures": 0}  # give up on the first death (default: 3 retries)
    seen: dict[int, object] = {}
    with DaskEngine(n_workers=2, chunk_size=1, cluster_config=config) as eng:
        out = eng.map_isolated(_die_on_two, [0, 1, 2, 3, 4, 5], on_result=seen.__setitem__, progress=False)
        assert isinstance(out[2], Lost) and out[2].reason == "crashed"
        # a chunk that was on the dying worker with the culprit counts as a failure too (Dask's rule)
        for x, r in enumerate(out):
            assert r == 10 * x or isinstance(r, Lost)
        assert sum(not isinstance(r, Lost) for r in out) >= 3
        assert seen == dict(enumerate(out))
        with pytest.raises(WorkerLostError, match="a worker died"):
            eng.map(_die_on_two, [1, 2], progress=False)


def test_cohort_on_dask_is_identical_to_serial(engine: DaskEngine) -> None:
    model = qs.load_model(THEO, guard=False)
    cohort = _cohort(30)
    serial = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, engine=SerialEngine())
    dask = simulate_cohort(model, cohort, TIMES, outputs=["C", "A"], regimen=REGIMEN, engine=engine, batch_size=4)
    assert np.isfinite(serial.values).all()
    np.testing.assert_array_equal(dask.values, serial.values)
    assert dask.subject_ids == serial.subject_ids
    assert list(dask.status) == list(serial.status)
    assert dask.attrs["engine"] == "DaskEngine(n_workers=2)"


def test_multistart_on_dask_is_identical_to_serial(engine: DaskEngine) -> None:
    pytest.importorskip("pypesto")
    import qsp_sbml.calibrate as qc
    import qsp_sbml.petab as qp

    objective = qp.PetabObjective(qp.PetabProblem.from_yaml(THEO_YAML, guard=False))
    serial = qc.multistart(objective, n_starts=2, seed=5, optimizer="fides", max_iter=5)
    dask = qc.multistart(objective, n_starts=2, seed=5, optimizer="fides", max_iter=5, engine=engine)
    assert np.isfinite(serial.starts["fval"]).all()
    cols = ["start", "status", "fval", "n_fval", "n_grad", *serial.x_ids]
    assert dask.starts[cols].equals(serial.starts[cols])


def test_engine_specs() -> None:
    assert repr(as_engine("dask", 3)) == "DaskEngine(n_workers=3)"
    assert as_engine("dask://127.0.0.1:8786").address == "tcp://127.0.0.1:8786"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="dask://HOST:PORT"):
        as_engine("dask://nohost")
    with pytest.raises(ValueError, match="n_workers"):
        DaskEngine(n_workers=0)


def test_cli_engine_option_validates_dask_specs(tmp_path: Path) -> None:
    from qsp_sbml.cli import main

    res = CliRunner().invoke(main, ["simulate-cohort", str(THEO), str(tmp_path / "c.parquet"), "--times", "0:2:1",
                                    "--output", "C", "-o", str(tmp_path / "out"), "--engine", "dask:/x"])
    assert res.exit_code == 2
    assert "dask://HOST:PORT" in res.output
    res = CliRunner().invoke(main, ["calibrate", str(THEO_YAML), "--out", str(tmp_path / "fit"),
                                    "--engine", "mpi"])
    assert res.exit_code == 2
    assert "dask://HOST:PORT" in res.output


def test_cli_simulate_cohort_on_dask_matches_serial(tmp_path: Path) -> None:
    from qsp_sbml.cli import main

    cohort = _cohort(12).to_parquet(tmp_path / "c.parquet")
    arrays = []
    for engine in ("serial", "dask"):
        res = CliRunner().invoke(main, ["simulate-cohort", str(THEO), str(cohort), "-r", REGIMEN, "--times", "0:36:1",
                                        "--output", "C", "-o", str(tmp_path / engine), "--engine", engine,
                                        "--workers", "2", "--batch-size", "3", "--json"])
        assert res.exit_code == 0, res.output
        arrays.append(np.load(tmp_path / engine / "trajectories.npz")["values"])
    np.testing.assert_array_equal(arrays[1], arrays[0])
