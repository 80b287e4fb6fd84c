"""Simulate a :class:`~qsp_sbml.population.cohort.Cohort` under a regimen with an :class:`~qsp_sbml.engine.Engine`.

The regimen is the same for every subject, so it is written into the model once as SBML events
(:meth:`qsp_sbml.model.Model.to_sbml`, whose trajectories equal those of ``Model.simulate``'s dosing
timeline) and the result compiled once in this process; the compiled RoadRunner state (``saveStateS``) is
shipped once to each worker by the engine's initializer, and subjects travel in batches (default 64: one
task per subject costs 1.3-4x the CPU of serial on 2 workers, batches of 50-100 about 1.0x, ARCHITECTURE.md
ground truths).  Per subject: reset, set the subject's parameter values, re-evaluate the parameter initial
assignments that depend on them (RoadRunner's ``reset()`` does not), integrate once over the output grid.
A subject whose integration fails is recorded with its status, time and message; the others continue
(``strict=True`` raises instead).  Simulation is deterministic, so results are identical whatever the
engine and number of workers.

``method="auto"`` or ``"linear-pk"`` uses the structure of PBPK-PD models where the SBML has it
(:mod:`qsp_sbml.simulate.linear_pk`): the linear PK part solved exactly per subject, the rest integrated,
each batch of subjects at once; subjects it cannot do (an ill-conditioned PK matrix, a stiff PD part) and
models without that structure go through the general path, and the result's ``attrs`` say which and why.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qsp_sbml.engine import Engine, Lost, SerialEngine
from qsp_sbml.errors import PopulationError, SimulationError, SimulationWarning
from qsp_sbml.model import Model, RegimenLike
from qsp_sbml.population.checkpoint import ChunkData
from qsp_sbml.population.cohort import Cohort
from qsp_sbml.simulate.linear_pk import LinearPkStructure, NotDetected
from qsp_sbml.simulate.options import IntegratorOptions
from qsp_sbml.simulate.plan import Action
from qsp_sbml.simulate.runner import set_log_level
from qsp_sbml.simulate.simulator import ModelStructure, Simulator, check_times

__all__ = ["METHODS", "CohortResult", "check_cohort_parameters", "simulate_cohort"]

#: Values of ``simulate_cohort(method=...)``.
METHODS = ("general", "auto", "linear-pk")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Setup:
    """What every worker needs, shipped once per worker."""

    #: The flat model with the regimen written as SBML events, and its compiled RoadRunner state.
    sbml: str
    state: bytes
    #: Integration grid (starts at 0) and, per requested output time, its row in the grid.
    grid: np.ndarray
    rows: np.ndarray
    selections: tuple[str, ...]
    #: Cohort columns set before reset (parameters, compartments) and after it (state initial values).
    before: tuple[str, ...]
    after: tuple[str, ...]
    options: IntegratorOptions
    #: For the structure-aware path: the model without dosing events, the dosing actions and the parameters
    #: that are 0 for every subject (else None).
    linear: tuple[str, tuple[Action, ...], tuple[str, ...]] | None = None


@dataclass(frozen=True)
class _Batch:
    rows: np.ndarray          # row indices into the cohort
    values: np.ndarray        # (len(rows), len(before) + len(after))


@dataclass(frozen=True)
class _BatchResult:
    """The results of one batch as compact arrays (one pickle per batch, not per subject)."""

    values: np.ndarray        # (n_subjects, n_times, n_outputs), NaN for failed subjects
    status: list[str]         # "ok" or "failed"
    messages: list[str]
    fail_time: np.ndarray
    #: Subjects of the batch simulated by the general path although the structure-aware one was asked for.
    general: int = 0


_WORKER: dict[str, Any] = {}


def _init_worker(setup: _Setup) -> None:
    """Load the compiled model once in this process (no recompilation)."""
    # failures are recorded per subject; RoadRunner's own console messages would only repeat them
    set_log_level("critical")
    _WORKER.clear()
    _WORKER.update(sim=_simulator(setup) if setup.state else None, setup=setup, linear=None)
    if setup.linear is not None:
        import libsbml

        doc = libsbml.readSBMLFromString(setup.linear[0])
        _WORKER["linear"] = LinearPkStructure.detect(doc.getModel(), setup.linear[1], setup.selections,
                                                     [*setup.before, *setup.after], setup.linear[2])


def _simulator(setup: _Setup) -> Simulator:
    """The worker's compiled model (compiled here on first use when the setup ships none)."""
    if setup.state:
        sim = Simulator.from_state(setup.state, ModelStructure.from_sbml(setup.sbml))
    else:
        sim = Simulator.compile(setup.sbml, cache=False)
    sim.set_options(setup.options)
    sim.select(setup.selections)
    return sim


def _run_linear(batch: _Batch) -> _BatchResult:
    """The structure-aware path for a batch; its subjects it cannot do go through the general path."""
    setup: _Setup = _WORKER["setup"]
    structure: LinearPkStructure = _WORKER["linear"]
    nb = len(setup.before)
    try:
        grid_values, done = structure.solve(
            {c: batch.values[:, j] for j, c in enumerate(setup.before)},
            {c: batch.values[:, nb + j] for j, c in enumerate(setup.after)},
            setup.grid, rtol=setup.options.rtol, atol=setup.options.atol)
    except np.linalg.LinAlgError:  # an eigen-decomposition that did not converge: the batch by the general path
        grid_values, done = np.full((len(batch.values), len(setup.grid), len(setup.selections)), np.nan), \
            np.zeros(len(batch.values), dtype=bool)
    values = grid_values[:, setup.rows, :]
    todo = np.flatnonzero(~done)
    if not len(todo):
        return _BatchResult(values, ["ok"] * len(values), [""] * len(values), np.full(len(values), np.nan))
    rest = _run_batch(_Batch(batch.rows[todo], batch.values[todo]), general=True)
    values[todo] = rest.values
    status, messages, fail_time = ["ok"] * len(values), [""] * len(values), np.full(len(values), np.nan)
    for j, k in enumerate(todo):
        status[k], messages[k], fail_time[k] = rest.status[j], rest.messages[j], rest.fail_time[j]
    return _BatchResult(values, status, messages, fail_time, general=len(todo))


def _run_batch(batch: _Batch, *, general: bool = False) -> _BatchResult:
    """Simulate the subjects of one batch in this worker's compiled model (or by the structure-aware path)."""
    if _WORKER.get("linear") is not None and not general:
        return _run_linear(batch)
    setup: _Setup = _WORKER["setup"]
    if _WORKER["sim"] is None:
        _WORKER["sim"] = _simulator(setup)
    sim: Simulator = _WORKER["sim"]
    nb = len(setup.before)
    k = len(batch.values)
    values = np.full((k, len(setup.rows), len(setup.selections)), np.nan)
    status = ["ok"] * k
    messages = [""] * k
    fail_time = np.full(k, np.nan)
    for j, row in enumerate(batch.values):
        try:
            sim.reset(dict(zip(setup.before, row[:nb].tolist(), strict=True)),
                      dict(zip(setup.after, row[nb:].tolist(), strict=True)))
            values[j] = sim.simulate_grid(setup.grid)[setup.rows, 1:]
        except RuntimeError as err:  # roadrunner raises RuntimeError on CVODE or setValue failure
            try:
                when = sim.time
            except Exception:
                when = math.nan
            status[j] = "failed"
            messages[j] = f"integration failed at t={when:g}: {err}{sim.failure_hint()}"
            fail_time[j] = when
    return _BatchResult(values, status, messages, fail_time)


def check_cohort_parameters(model: Model, cohort: Cohort, *, required: Sequence[str] = ()) -> tuple[list[str],
                                                                                                       list[str]]:
    """Check the cohort's parameter columns against ``model``; return (set-before-reset, set-after) ids.

    Raises :class:`~qsp_sbml.errors.PopulationError` naming the column for a column the model does not
    have (or one set by an assignment rule) and for a parameter the model needs but the cohort lacks (a
    parameter without a value in the SBML, or one of ``required``); naming the row and column for a value
    that is not a finite number.
    """
    m = model.sbml_model
    st = model.structure
    if st.delayed_event is not None:
        from qsp_sbml.errors import UnsupportedFeatureError

        raise UnsupportedFeatureError(
            f"model {model.id!r}: event {st.delayed_event!r} has a delay; a cohort resets one compiled model per "
            "subject, and RoadRunner keeps delayed events pending across resets (a silently wrong result); simulate "
            "such subjects one by one with Model.simulate", feature="cohort-delayed-event", sbml_id=st.delayed_event)
    cols = cohort.parameter_columns
    st.check_keys(cols, lambda msg, col: PopulationError(msg, source="cohort", column=col), what="column")
    unset = [p.getId() for p in m.getListOfParameters()
             if not p.isSetValue() and m.getInitialAssignment(p.getId()) is None
             and p.getId() not in st.assigned and p.getId() not in st.rate_targets]
    needed = list(dict.fromkeys([*unset, *required]))
    missing = [p for p in needed if p not in cols]
    if missing:
        raise PopulationError(f"missing column {missing[0]!r}: model {model.id!r} needs a value for it in every row"
                              + (f" (also missing: {missing[1:]})" if len(missing) > 1 else ""),
                              source="cohort", column=missing[0])
    cohort.parameters()  # names the row and column of a non-finite value
    return st.split(cols)


@dataclass(frozen=True)
class CohortResult:
    """Trajectories of a cohort: ``values[subject, time, output]`` plus status per subject.

    Failed subjects have NaN trajectories, ``status == "failed"``, a ``message`` and the model ``fail_time``
    (start of the integration segment that failed).
    """

    values: np.ndarray
    subject_ids: list[Any]
    times: np.ndarray
    outputs: list[str]
    status: np.ndarray
    messages: list[str]
    fail_time: np.ndarray
    #: Provenance: model id and sha256, regimen, seed of the cohort, engine, integrator options.
    attrs: Mapping[str, Any]

    @property
    def coords(self) -> dict[str, Any]:
        """Labels of the three axes of ``values``."""
        return {"subject": self.subject_ids, "time": self.times, "output": self.outputs}

    @property
    def failed(self) -> list[Any]:
        """Ids of the subjects whose simulation failed."""
        return [s for s, st in zip(self.subject_ids, self.status, strict=True) if st != "ok"]

    def subjects(self) -> pd.DataFrame:
        """One row per subject: ``subject_id, status, fail_time, message``."""
        return pd.DataFrame({"subject_id": self.subject_ids, "status": self.status, "fail_time": self.fail_time,
                             "message": self.messages})

    def to_dataframe(self) -> pd.DataFrame:
        """Tidy (long) table: ``subject_id, time, output, value`` (failed subjects left out)."""
        ok = self.status == "ok"
        n_t, n_o = len(self.times), len(self.outputs)
        ids = np.asarray(self.subject_ids, dtype=object)[ok]
        return pd.DataFrame({
            "subject_id": np.repeat(ids, n_t * n_o),
            "time": np.tile(np.repeat(self.times, n_o), len(ids)),
            "output": np.tile(np.asarray(self.outputs, dtype=object), len(ids) * n_t),
            "value": self.values[ok].reshape(-1),
        })

    def to_xarray(self) -> Any:
        """An ``xarray.DataArray`` (subject, time, output); needs xarray installed."""
        from qsp_sbml._optional import require

        xr = require("xarray", extra="xarray")
        return xr.DataArray(self.values, dims=("subject", "time", "output"), coords=self.coords,
                            attrs={k: str(v) for k, v in self.attrs.items()})

    #: Files of a results folder (:meth:`to_folder`), documented in docs/formats.
    FILES = ("timecourses.parquet", "subjects.parquet", "nca.parquet", "trajectories.npz", "provenance.json")

    def to_folder(self, path: str | Path, *, interval: tuple[float, float] | None = None,
                  provenance: Mapping[str, Any] | None = None) -> Path:
        """Write the results folder: :attr:`FILES` (tidy time courses, subjects, NCA, arrays, provenance).

        The files are written to a temporary folder beside ``path`` and moved in when all are written, so
        ``path`` holds the previous files or all the new ones.  ``provenance`` is added to :attr:`attrs` in
        ``provenance.json``; ``interval`` restricts the NCA to one dosing interval.
        """
        import json
        import os
        import shutil
        import tempfile

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            self.to_dataframe().to_parquet(tmp / "timecourses.parquet", index=False)
            self.subjects().to_parquet(tmp / "subjects.parquet", index=False)
            self.metrics(interval=interval).to_parquet(tmp / "nca.parquet", index=False)
            np.savez_compressed(tmp / "trajectories.npz", values=self.values, time=self.times,
                                subject_id=np.asarray([str(s) for s in self.subject_ids]),
                                output=np.asarray(self.outputs))
            meta = {**dict(self.attrs), **dict(provenance or {}), "n_failed": len(self.failed)}
            (tmp / "provenance.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
            out.mkdir(parents=True, exist_ok=True)
            for f in tmp.iterdir():
                os.replace(f, out / f.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    @classmethod
    def from_folder(cls, path: str | Path) -> CohortResult:
        """Read a results folder written by :meth:`to_folder` (or ``qsp-sbml simulate-cohort``).

        Raises :class:`~qsp_sbml.errors.PopulationError` naming a missing or unreadable file.
        """
        import json

        folder = Path(path)
        for name in ("subjects.parquet", "trajectories.npz", "provenance.json"):
            if not (folder / name).is_file():
                raise PopulationError(f"not a cohort results folder: {name} is missing (write one with "
                                      "CohortResult.to_folder or qsp-sbml simulate-cohort)", source=str(folder))
        try:
            subjects = pd.read_parquet(folder / "subjects.parquet")
            with np.load(folder / "trajectories.npz", allow_pickle=False) as arrays:
                values, times, outputs = arrays["values"], arrays["time"], [str(o) for o in arrays["output"]]
            attrs = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError) as err:
            raise PopulationError(f"cannot read the cohort results: {err}", source=str(folder)) from err
        if values.shape[0] != len(subjects):
            raise PopulationError(f"trajectories.npz has {values.shape[0]} subjects, subjects.parquet "
                                  f"{len(subjects)}", source=str(folder))
        return cls(values, list(subjects["subject_id"]), times, outputs,
                   subjects["status"].to_numpy(dtype=object), [str(m) for m in subjects["message"]],
                   subjects["fail_time"].to_numpy(dtype=float), attrs)

    def metrics(self, *, interval: tuple[float, float] | None = None) -> pd.DataFrame:
        """NCA per subject and output (:func:`qsp_sbml.metrics.nca`); ``interval`` restricts it to one."""
        from qsp_sbml.metrics import nca

        rows = []
        for k, sid in enumerate(self.subject_ids):
            if self.status[k] != "ok":
                continue
            for j, out in enumerate(self.outputs):
                rows.append({"subject_id": sid, "output": out,
                             **nca(self.times, self.values[k, :, j], interval=interval).to_dict()})
        return pd.DataFrame(rows)


def simulate_cohort(model: Model, cohort: Cohort, times: Sequence[float] | np.ndarray, *,
                    outputs: Sequence[str], regimen: RegimenLike = None, engine: Engine | None = None,
                    batch_size: int | None = None, required: Sequence[str] = (),
                    options: IntegratorOptions | None = None,
                    strict: bool = False, progress: bool | None = None, timeout: float | None = None,
                    out: str | Path | None = None, chunk_size: int = 1000, resume: bool = False,
                    task: Callable[[Any], Any] | None = None, method: str = "general") -> CohortResult:
    """Simulate every subject of ``cohort`` under ``regimen`` and report ``outputs`` at ``times``.

    Parameters
    ----------
    model
        The model (compiled once here; workers receive its compiled state).
    cohort
        Subjects; their parameter columns are set on the model (see :func:`check_cohort_parameters`).
    times
        Output times (model time units).
    outputs
        RoadRunner selections (``C_plasma``, ``[S]``...).
    regimen
        Dosing (a :class:`~qsp_sbml.dosing.Regimen` or regimen text), the same for every subject.
    engine
        Default :class:`~qsp_sbml.engine.SerialEngine`.  With an engine that isolates faults
        (:class:`~qsp_sbml.engine.ProcessEngine`) a worker that dies is replaced and the subjects of its batch
        are simulated again one by one, so only the subject that kills its worker is marked ``"crashed"``.
    batch_size
        Subjects per task (default: 64, 256 on the structure-aware path; fewer to leave >= 4 tasks per worker,
        so that workers finish together; 50-100 amortise the inter-process traffic, ARCHITECTURE.md).
    required
        Parameters every subject must give (in addition to those without a value in the model).
    options
        Integrator options (default: the model's).
    strict
        Raise :class:`~qsp_sbml.errors.SimulationError` if any subject fails (default: record and warn).
    progress
        Progress bar (tqdm) over batches; ``None``: on a terminal only.
    timeout
        Wall-clock limit per subject in seconds (fault-isolating engines): a batch gets ``timeout`` x its size,
        then the subjects of a batch cut off are run one by one with ``timeout`` each; a subject still running
        at its limit is killed with its worker and marked ``"timeout"``.
    out
        Folder for a resumable run: results are written in chunks with a manifest
        (:mod:`qsp_sbml.population.checkpoint`) as they finish.
    chunk_size
        Subjects per chunk (with ``out``).
    resume
        Continue the run in ``out``: only the chunks it lacks are simulated (its inputs must match).
    task
        The function run on each batch in the workers (default: integrate with RoadRunner); for
        instrumentation and fault-injection tests.
    method
        ``"general"`` (default): CVODE (RoadRunner), the regimen as SBML events.  ``"auto"``: the
        structure-aware path (:mod:`qsp_sbml.simulate.linear_pk`) where the model has the structure, else the
        general path; ``attrs["method"]``, ``attrs["method_reason"]`` and ``attrs["general_subjects"]`` (handed
        back to the general path) say what ran.  ``"linear-pk"``: raises
        :class:`~qsp_sbml.errors.UnsupportedFeatureError` with the reason when the structure is not there.
    """
    eng = engine or SerialEngine()
    _check_arguments(method, batch_size, cohort.n, eng, timeout, outputs)
    t = check_times(times)
    before, after = check_cohort_parameters(model, cohort, required=required)
    opts = options or model.options
    params = cohort.parameters()
    matrix = params[[*before, *after]].to_numpy(dtype=float) if before or after else np.empty((cohort.n, 0))
    col = _Collector(cohort.subject_ids, len(t), len(outputs))
    if out is not None:
        inputs = _run_inputs(model, regimen, t, outputs, opts, cohort, [*before, *after], matrix)
        col.open_checkpoint(out, inputs if method == "general" else {**inputs, "method": method},
                            chunk_size=chunk_size, resume=resume)
    linear, method_attrs = _structure(model, regimen, t, outputs, [*before, *after], method, matrix)
    batches = col.batches(matrix, batch_size := _batch_size(batch_size, cohort.n, eng, linear is not None))
    if batches:
        setup = _make_setup(model, regimen, t, outputs, (before, after), opts, linear)
        col.run(eng, task or _run_batch, batches, setup, progress=progress, timeout=timeout)
    counts = col.report_failures(strict=strict)
    attrs = {"model_id": model.id, "model_sha256": model.sha256, "regimen": str(regimen),
             "cohort_seed": cohort.seed, "engine": repr(eng), "batch_size": batch_size,
             "rtol": opts.rtol, "atol": opts.atol, "failures": counts, **method_attrs,
             **({"general_subjects": col.general} if linear is not None else {})}
    return CohortResult(col.values, col.ids, t, list(outputs), col.status, col.messages, col.fail_time, attrs)


def _check_arguments(method: str, batch_size: int | None, n: int, eng: Engine, timeout: float | None,
                     outputs: Sequence[str]) -> None:
    """Raise ``ValueError`` for a bad argument of :func:`simulate_cohort`."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    _batch_size(batch_size, n, eng)
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    if not outputs:
        raise ValueError("give at least one output")


def _make_setup(model: Model, regimen: RegimenLike, t: np.ndarray, outputs: Sequence[str],
                columns: tuple[list[str], list[str]], opts: IntegratorOptions,
                linear: tuple[str, tuple[Action, ...], tuple[str, ...]] | None) -> _Setup:
    """What the workers receive: the model compiled once with the regimen as events (the same for all)."""
    event_sbml = model.to_sbml(regimen, end=float(t[-1]))
    # the structure-aware path compiles only if a subject needs the general path (in the worker)
    state = b"" if linear is not None else _compiled(event_sbml, outputs, model.source)
    grid = np.unique(np.concatenate(([0.0], t)))
    return _Setup(sbml=event_sbml, state=state, grid=grid, rows=np.searchsorted(grid, t), selections=tuple(outputs),
                  before=tuple(columns[0]), after=tuple(columns[1]), options=opts, linear=linear)


def _compiled(event_sbml: str, outputs: Sequence[str], source: str) -> bytes:
    """Compile the model with the regimen once; check the selections; the state to ship to the workers."""
    sim = Simulator.compile(event_sbml, cache=False, source=source)
    sim.select(list(outputs))
    return sim.save_state()


def _known_zeros(m: Any, given: list[str], matrix: np.ndarray) -> tuple[str, ...]:
    """Constant parameters that are exactly 0 for every subject: the cohort's column, else the model's value."""
    assigned = {a.getSymbol() for a in m.getListOfInitialAssignments()}
    assigned |= {r.getVariable() for r in m.getListOfRules()}
    assigned |= {a.getVariable() for e in m.getListOfEvents() for a in e.getListOfEventAssignments()}
    zeros = []
    for p in m.getListOfParameters():
        pid = p.getId()
        if not p.getConstant() or pid in assigned:
            continue
        if pid in given:
            column = matrix[:, given.index(pid)]
            if column.size and bool(np.all(column == 0.0)):
                zeros.append(pid)
        elif p.isSetValue() and p.getValue() == 0.0:
            zeros.append(pid)
    return tuple(zeros)


def _structure(model: Model, regimen: RegimenLike, t: np.ndarray, outputs: Sequence[str], given: list[str],
               method: str, matrix: np.ndarray
               ) -> tuple[tuple[str, tuple[Action, ...], tuple[str, ...]] | None, dict[str, str]]:
    """What the workers need for the structure-aware path (None: the general path) and the attrs saying so."""
    if method == "general":
        return None, {"method": "general"}
    actions, _ = model.plan(regimen, end=float(t[-1]))
    zeros = _known_zeros(model.sbml_model, given, matrix)
    try:
        structure = LinearPkStructure.detect(model.sbml_model, actions, outputs, given, zeros)
    except NotDetected as err:
        reason = f"no linear PK structure: {err}"
        if method == "linear-pk":
            from qsp_sbml.errors import UnsupportedFeatureError

            raise UnsupportedFeatureError(f"model {model.id!r}: method='linear-pk' needs a linear PK part the doses "
                                          f"go into, but {err}; use method='auto' or 'general'",
                                          feature="cohort-linear-pk") from None
        logger.info("simulate_cohort: general path for model %r (%s)", model.id, reason)
        return None, {"method": "general", "method_reason": reason}
    logger.info("simulate_cohort: structure-aware path for model %r: %r", model.id, structure)
    return (model.sbml, tuple(actions), zeros), {"method": "linear-pk", "method_reason": repr(structure)}


def _run_inputs(model: Model, regimen: RegimenLike, t: np.ndarray, outputs: Sequence[str], opts: IntegratorOptions,
                cohort: Cohort, columns: list[str], matrix: np.ndarray) -> dict[str, Any]:
    """What a resumable run's manifest records: a resumed run must have the same."""
    from qsp_sbml.population.checkpoint import cohort_sha256

    return {"model_sha256": model.sha256, "regimen": str(regimen),
            "times_sha256": hashlib.sha256(np.ascontiguousarray(t, dtype="<f8").tobytes()).hexdigest(),
            "outputs": list(outputs), "options": dataclasses.asdict(opts),
            "cohort_sha256": cohort_sha256(cohort.subject_ids, columns, matrix), "cohort_seed": cohort.seed}


#: Default batch of the structure-aware path: it advances a batch at once, and a subject cost 15, 8.2 and
#: 6.9 ms in batches of 64, 256 and 512 on benchmarks/cohort.py's model (2026-12-07, shared 2-core VM).
LINEAR_BATCH = 256


def _batch_size(batch_size: int | None, n: int, eng: Engine, linear: bool = False) -> int:
    """The given batch size, checked, or the default: 64 (``linear``: 256), fewer when under 4 tasks per worker."""
    if batch_size is None:
        default = LINEAR_BATCH if linear else 64
        return max(1, min(default, -(-n // (4 * eng.n_workers)))) if eng.n_workers > 1 else default
    if isinstance(batch_size, bool) or not (isinstance(batch_size, int) and batch_size > 0):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


class _Collector:
    """The results of a cohort run as they arrive, by chunk, with the checkpoint of a resumable run."""

    def __init__(self, ids: list[Any], n_t: int, n_o: int) -> None:
        n = len(ids)
        self.ids, self.n_t, self.n_o = ids, n_t, n_o
        self.values = np.full((n, n_t, n_o), np.nan)
        self.status = np.array(["ok"] * n, dtype=object)
        self.messages = [""] * n
        self.fail_time = np.full(n, np.nan)
        self.checkpoint: Any = None
        self.chunk_ranges = [(0, n)]
        self.todo = [0]
        self.lost: list[_Batch] = []
        self.general = 0

    def open_checkpoint(self, out: str | Path, inputs: Mapping[str, Any], *, chunk_size: int, resume: bool) -> None:
        """Write chunks to ``out`` as they finish; with ``resume``, read the chunks already there."""
        from qsp_sbml.population.checkpoint import Checkpoint

        self.checkpoint = cp = Checkpoint(out, inputs, len(self.ids), chunk_size, resume=resume)
        self.chunk_ranges, self.todo = cp.ranges, cp.todo
        for index in sorted(cp.chunks):
            data = cp.read(index, self.n_t, self.n_o)
            sl = slice(data.start, data.stop)
            self.values[sl], self.status[sl], self.fail_time[sl] = data.values, data.status, data.fail_time
            self.messages[sl] = data.messages
        if cp.chunks:
            logger.info("resuming %s: %d of %d chunks done", out, len(cp.chunks), len(self.chunk_ranges))

    def batches(self, matrix: np.ndarray, batch_size: int) -> list[_Batch]:
        """The batches of the chunks still to simulate."""
        self.remaining = {c: self.chunk_ranges[c][1] - self.chunk_ranges[c][0] for c in self.todo}
        self.chunk_of = np.zeros(len(self.ids), dtype=int)
        for c, (a, b) in enumerate(self.chunk_ranges):
            self.chunk_of[a:b] = c
        return [_Batch(np.arange(s, min(s + batch_size, b)), matrix[s:min(s + batch_size, b)])
                for c in self.todo for a, b in [self.chunk_ranges[c]] for s in range(a, b, batch_size)]

    def run(self, eng: Engine, fn: Callable[[Any], Any], batches: list[_Batch], setup: _Setup, *,
            progress: bool | None, timeout: float | None) -> None:
        """Simulate ``batches`` on ``eng``; the subjects of batches lost with a worker again one by one."""
        batch_size = max(len(b.rows) for b in batches)
        eng.map_isolated(fn, batches, initializer=_init_worker, initargs=(setup,), progress=progress,
                         total=len(batches), timeout=None if timeout is None else timeout * batch_size,
                         on_result=functools.partial(self.on_result, pool=batches))
        if self.lost:  # a worker died on these batches: run their subjects one by one to find the culprit(s)
            singles = [_Batch(b.rows[k:k + 1], b.values[k:k + 1]) for b in self.lost for k in range(len(b.rows))]
            logger.warning("%d batch(es) lost with their worker; simulating their %d subjects one by one",
                           len(self.lost), len(singles))
            eng.map_isolated(fn, singles, initializer=_init_worker, initargs=(setup,), progress=progress,
                             timeout=timeout, on_result=functools.partial(self.on_result, pool=singles))

    def store(self, rows: np.ndarray, res: _BatchResult) -> None:
        """Keep a batch's results; write its chunk when complete."""
        self.values[rows], self.status[rows], self.fail_time[rows] = res.values, res.status, res.fail_time
        self.general += res.general
        for j, r in enumerate(rows):
            self.messages[r] = res.messages[j]
        c = int(self.chunk_of[rows[0]])
        self.remaining[c] -= len(rows)
        if self.remaining[c] == 0 and self.checkpoint is not None:
            a, b = self.chunk_ranges[c]
            self.checkpoint.write(c, ChunkData(a, b, self.values[a:b], list(self.status[a:b]), self.fail_time[a:b],
                                               self.messages[a:b]), self.ids)

    def on_result(self, i: int, res: _BatchResult | Lost, *, pool: list[_Batch]) -> None:
        """The engine's callback: a lost batch of several subjects is kept to be run one by one."""
        if isinstance(res, Lost):
            if len(pool[i].rows) > 1:
                self.lost.append(pool[i])
                return
            res = _BatchResult(np.full((1, self.n_t, self.n_o), np.nan), [_LOST_STATUS[res.reason]],
                               [f"subject lost: {res.message}"], np.array([np.nan]))
        self.store(pool[i].rows, res)

    def report_failures(self, *, strict: bool) -> dict[str, int]:
        """Counts of failed subjects by status; raise (``strict``) or warn naming the first."""
        status = self.status
        counts = {s: int(np.sum(status == s)) for s in ("failed", "crashed", "timeout") if np.any(status == s)}
        failed = [k for k in range(len(self.ids)) if status[k] != "ok"]
        if failed:
            first = failed[0]
            kinds = ", ".join(f"{v} {k}" for k, v in counts.items())
            text = (f"{len(failed)} of {len(self.ids)} subjects failed ({kinds}; first: subject "
                    f"{self.ids[first]!r}: {self.messages[first]})")
            if strict:
                when = self.fail_time[first]
                raise SimulationError(text, subject_id=str(self.ids[first]),
                                      time=None if math.isnan(when) else float(when))
            warnings.warn(f"{text}; see result.failed", SimulationWarning, stacklevel=3)
        return counts


#: Status of a subject whose worker was lost, by :attr:`qsp_sbml.engine.Lost.reason`.
_LOST_STATUS = {"crashed": "crashed", "timeout": "timeout"}
