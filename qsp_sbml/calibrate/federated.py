"""Federated calibration: each site keeps its measurements; only its log-likelihood and gradient leave it.

The likelihood of independent sites is a product, so the negative log-likelihood of the pooled data is the
sum of the sites' (for the same model, parameters and noise model).  Each **site** is a separate process
holding a PEtab problem over its own measurements (same model and parameter table as every other site);
it answers two requests over a TCP connection, one JSON object per line:

* ``{"op": "describe"}`` -> its name, the SHA-256 of its model file(s) and of its parameter table (read as
  a table, sorted by ``parameterId``), the free parameters with their bounds on their scales, and the
  number of its measurements;
* ``{"op": "evaluate", "x": [...], "sensi": 0|1|2}`` -> ``fval`` (negative log-likelihood), ``grad`` (its
  gradient) and, for ``sensi`` 2, ``fim`` (Gauss-Newton Fisher information), as
  :class:`qsp_sbml.petab.PetabObjective` computes them.

Nothing else is ever sent: no measurement, residual, simulation or condition.  The **coordinator**
(:class:`FederatedObjective`) holds the model and the parameter table but no data; it checks that every
site has the same model and parameter table as itself (a mismatch is an error naming the site), sums the
sites' answers, and :func:`federated_multistart` minimises the sum from several starts (scipy L-BFGS-B
with the summed gradient).  Every reply the coordinator receives is kept in
:attr:`FederatedObjective.received`, so what crossed the boundary can be inspected.

The transport is plain TCP on a host and port (loopback by default) with no encryption or
authentication: across real networks put it behind TLS (an SSH tunnel or a TLS-terminating proxy).  JSON,
not pickle, is the wire format, so a site never unpickles what a coordinator sends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from qsp_sbml._io import atomic_folder
from qsp_sbml.errors import CalibrationError

__all__ = [
    "PROTOCOL_VERSION",
    "FederatedObjective",
    "FederatedResult",
    "Site",
    "free_parameters",
    "federated_multistart",
    "problem_fingerprint",
    "split_problem",
    "start_site",
]

logger = logging.getLogger(__name__)

#: Version of the request/reply protocol (sites and coordinator must agree).
PROTOCOL_VERSION = 1
#: The only keys a site's replies may hold, by request.
REPLY_KEYS = {
    "describe": {
        "protocol",
        "site",
        "model_sha256",
        "parameters_sha256",
        "x_free_ids",
        "lb",
        "ub",
        "n_measurements",
        "dp",
    },
    "evaluate": {"fval", "grad", "fim"},
    "error": {"error"},
}


# -- the problem files ---------------------------------------------------------------------------------
def _problem_files(problem_yaml: Path) -> tuple[list[Path], Path]:
    """Model files and the parameter table of a PEtab v1 or v2 problem YAML."""
    spec = yaml.safe_load(problem_yaml.read_text(encoding="utf-8"))
    base = problem_yaml.parent
    if not isinstance(spec, dict):
        raise CalibrationError(f"{problem_yaml}: not a PEtab problem YAML")
    if "parameter_file" in spec:  # v1
        params = spec["parameter_file"]
        params = params[0] if isinstance(params, list) else params
        models = [m for p in spec.get("problems", []) for m in p.get("sbml_files", [])]
    else:  # v2
        params = (spec.get("parameter_files") or [None])[0]
        models = [m["location"] for m in (spec.get("model_files") or {}).values()]
    if not params or not models:
        raise CalibrationError(f"{problem_yaml}: no parameter table or model file named")
    return [base / m for m in models], base / params


def _sha256_parameters(path: Path) -> str:
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "parameterId" not in table.columns:
        raise CalibrationError(f"{path}: no parameterId column")
    table = table[sorted(table.columns)].sort_values("parameterId").reset_index(drop=True)
    return hashlib.sha256(table.to_csv(sep="\t", index=False).encode()).hexdigest()


def problem_fingerprint(
    model_files: Sequence[str | os.PathLike[str]], parameter_table: str | os.PathLike[str]
) -> dict[str, str]:
    """SHA-256 of the model files (bytes, in order) and of the parameter table (as a sorted table)."""
    digest = hashlib.sha256()
    for m in model_files:
        digest.update(Path(m).read_bytes())
    return {"model_sha256": digest.hexdigest(), "parameters_sha256": _sha256_parameters(Path(parameter_table))}


def free_parameters(parameter_table: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids of the estimated parameters and their bounds on their scales (``lin``, ``log``, ``log10``)."""
    table = pd.read_csv(parameter_table, sep="\t", dtype=str, keep_default_na=False)
    ids, lb, ub = [], [], []
    for _, row in table.iterrows():
        if str(row.get("estimate", "1")).strip() not in ("1", "1.0", "true", "True"):
            continue
        scale = str(row.get("parameterScale", "lin") or "lin")
        lo, hi = float(row["lowerBound"]), float(row["upperBound"])
        to_scale = {"lin": lambda v: v, "log": math.log, "log10": math.log10}.get(scale)
        if to_scale is None:
            raise CalibrationError(f"{parameter_table}: parameter {row['parameterId']}: unknown scale {scale!r}")
        ids.append(str(row["parameterId"]))
        lb.append(to_scale(lo))
        ub.append(to_scale(hi))
    return ids, np.array(lb), np.array(ub)


def split_problem(
    problem_yaml: str | os.PathLike[str], groups: Mapping[str, Sequence[str]], out: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write one PEtab v1 problem per site: the measurements (and conditions) of its condition ids.

    ``groups`` maps a site name to the ``simulationConditionId`` values it holds (for example its
    subjects).  Model, parameter and observable tables are copied unchanged.  Returns site -> YAML path.
    """
    src = Path(problem_yaml)
    spec = yaml.safe_load(src.read_text(encoding="utf-8"))
    if "parameter_file" not in spec or len(spec.get("problems", [])) != 1:
        raise CalibrationError(f"{src}: split_problem reads PEtab v1 problems with one problem entry")
    prob = spec["problems"][0]
    meas = pd.concat([pd.read_csv(src.parent / f, sep="\t") for f in prob["measurement_files"]], ignore_index=True)
    cond = pd.concat([pd.read_csv(src.parent / f, sep="\t") for f in prob["condition_files"]], ignore_index=True)
    seen: dict[str, str] = {}
    for site, ids in groups.items():
        for c in ids:
            if c in seen:
                raise CalibrationError(f"condition {c!r} is given to sites {seen[c]!r} and {site!r}")
            if c not in set(meas["simulationConditionId"]):
                raise CalibrationError(f"site {site!r}: condition {c!r} has no measurements in {src}")
            seen[c] = site
    out_dir = Path(out)
    paths = {}
    for site, ids in groups.items():
        with atomic_folder(out_dir / site) as d:  # a site folder holds its previous files or all the new ones
            _write_site(d, src, spec, prob, meas[meas["simulationConditionId"].isin(ids)],
                        cond[cond["conditionId"].isin(ids)])
        paths[site] = out_dir / site / "problem.yaml"
    return paths


def _write_site(d: Path, src: Path, spec: Mapping[str, Any], prob: Mapping[str, Any], meas: pd.DataFrame,
                cond: pd.DataFrame) -> None:
    """One site's PEtab v1 problem in folder ``d``: the shared tables copied, its own measurements and conditions."""
    for name in (*prob["sbml_files"], spec["parameter_file"], *prob["observable_files"]):
        (d / Path(name).name).write_bytes((src.parent / name).read_bytes())
    meas.to_csv(d / "measurements.tsv", sep="\t", index=False)
    cond.to_csv(d / "conditions.tsv", sep="\t", index=False)
    site_spec = {
        "format_version": 1,
        "parameter_file": Path(spec["parameter_file"]).name,
        "problems": [
            {
                "condition_files": ["conditions.tsv"],
                "measurement_files": ["measurements.tsv"],
                "observable_files": [Path(f).name for f in prob["observable_files"]],
                "sbml_files": [Path(f).name for f in prob["sbml_files"]],
            }
        ],
    }
    (d / "problem.yaml").write_text(yaml.safe_dump(site_spec, sort_keys=False), encoding="utf-8")


# -- a site ----------------------------------------------------------------------------------------------
@dataclass
class Site:
    """A running site: its name and address (and its process when started here)."""

    #: Site name.
    name: str
    #: Host the site listens on.
    host: str
    #: Port the site listens on.
    port: int
    #: The site's process when :func:`start_site` started it.
    process: subprocess.Popen[str] | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the site to stop and wait for its process (started here) to end."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                sock.sendall(b'{"op": "stop"}\n')
        except OSError:
            pass
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_site(
    problem_yaml: str | os.PathLike[str],
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 300.0,
    dp: Any = None,
    dp_seed: int | None = None,
) -> Site:
    """Start a site server process for a PEtab problem; returns once it listens.

    The process runs ``python -m qsp_sbml.calibrate._federated_site PROBLEM --name NAME``; it loads the
    problem (compiles the model) and prints ``LISTENING <port>``.  With ``dp``
    (:class:`qsp_sbml.calibrate.privacy.DpSettings`) the site releases only clipped, noised gradients within
    its budget (``dp_seed`` seeds its noise).
    """
    cmd = [
        sys.executable,
        "-m",
        "qsp_sbml.calibrate._federated_site",
        str(problem_yaml),
        "--name",
        name,
        "--host",
        host,
        "--port",
        str(port),
    ]
    if dp is not None:
        cmd += [
            "--dp-clip",
            repr(dp.clip),
            "--dp-noise",
            repr(dp.noise_multiplier),
            "--dp-epsilon",
            repr(dp.epsilon),
            "--dp-delta",
            repr(dp.delta),
        ]
        if dp_seed is not None:
            cmd += ["--dp-seed", str(dp_seed)]
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # the site's stderr (a pipe could fill and block it)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None  # noqa: S101 -- stdout=PIPE
    while True:
        line = proc.stdout.readline()
        if line.startswith("LISTENING "):
            return Site(name=name, host=host, port=int(line.split()[1]), process=proc)
        if not line or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            log.seek(0)
            err = log.read()
            log.close()
            raise CalibrationError(f"site {name!r} did not start: {err.strip()[-2000:] or 'no output'}")


# -- the coordinator -------------------------------------------------------------------------------------
class _Connection:
    def __init__(self, name: str, host: str, port: int, timeout: float) -> None:
        self.name = name
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as err:
            raise CalibrationError(f"site {name!r} at {host}:{port}: cannot connect: {err}") from None
        self.reader = self.sock.makefile("r", encoding="utf-8")
        self.lock = threading.Lock()

    def request(self, message: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                self.sock.sendall((json.dumps(message) + "\n").encode())
                line = self.reader.readline()
            except OSError as err:
                raise CalibrationError(f"site {self.name!r}: {err}") from None
        if not line:
            raise CalibrationError(f"site {self.name!r} closed the connection")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise CalibrationError(f"site {self.name!r}: malformed reply")
        return reply

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


class FederatedObjective:
    """The sum of the sites' negative log-likelihoods, evaluated at the sites.

    Parameters
    ----------
    sites
        :class:`Site` objects or ``(name, host, port)`` tuples.
    model_files, parameter_table
        The coordinator's copies of the model and the parameter table: every site must have the same
        (SHA-256), else :class:`~qsp_sbml.errors.CalibrationError` names the site.
    timeout
        Seconds to wait for a site's reply.
    """

    def __init__(
        self,
        sites: Sequence[Site | tuple[str, str, int]],
        *,
        model_files: Sequence[str | os.PathLike[str]],
        parameter_table: str | os.PathLike[str],
        timeout: float = 600.0,
    ) -> None:
        if not sites:
            raise CalibrationError("a federated objective needs at least one site")
        self.fingerprint = problem_fingerprint(model_files, parameter_table)
        self.x_free_ids, self.lb, self.ub = free_parameters(parameter_table)
        #: Every reply received, as (site, request op, reply): what crossed the boundary.
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self._conns: list[_Connection] = []
        try:
            for s in sites:
                name, host, port = (s.name, s.host, s.port) if isinstance(s, Site) else s
                self._conns.append(_Connection(name, host, port, timeout))
            self.sites = [self._describe(c) for c in self._conns]
        except Exception:
            self.close()
            raise
        self.n_calls = 0

    def _describe(self, conn: _Connection) -> dict[str, Any]:
        reply = self._request(conn, {"op": "describe"}, "describe")
        if reply.get("protocol") != PROTOCOL_VERSION:
            raise CalibrationError(
                f"site {conn.name!r} speaks protocol {reply.get('protocol')}, the coordinator {PROTOCOL_VERSION}"
            )
        for key, what in (("model_sha256", "model"), ("parameters_sha256", "parameter table")):
            if reply[key] != self.fingerprint[key]:
                raise CalibrationError(
                    f"site {conn.name!r}: its {what} differs from the coordinator's "
                    f"(SHA-256 {reply[key][:12]}... vs {self.fingerprint[key][:12]}...)"
                )
        if (
            reply["x_free_ids"] != self.x_free_ids
            or not np.allclose(reply["lb"], self.lb)
            or not np.allclose(reply["ub"], self.ub)
        ):
            raise CalibrationError(f"site {conn.name!r}: its free parameters or bounds differ from the coordinator's")
        return reply

    def _request(self, conn: _Connection, message: Mapping[str, Any], op: str) -> dict[str, Any]:
        reply = conn.request(message)
        self.received.append((conn.name, op, reply))
        if "error" in reply:
            raise CalibrationError(f"site {conn.name!r}: {reply['error']}")
        extra = set(reply) - REPLY_KEYS[op]
        if extra:
            raise CalibrationError(f"site {conn.name!r} sent keys outside the protocol: {sorted(extra)}")
        return reply

    @property
    def n_measurements(self) -> int:
        """Measurements over all sites (each site reports its count)."""
        return int(sum(s["n_measurements"] for s in self.sites))

    def __call__(self, x: np.ndarray, sensi: int = 0) -> Any:
        """The summed negative log-likelihood (``sensi`` 0), with gradient (1) and Fisher information (2)."""
        xv = [float(v) for v in np.asarray(x, dtype=float)]
        if len(xv) != len(self.x_free_ids):
            raise CalibrationError(f"x has {len(xv)} values for {len(self.x_free_ids)} free parameters")
        msg = {"op": "evaluate", "x": xv, "sensi": int(sensi)}
        with ThreadPoolExecutor(max_workers=len(self._conns)) as pool:
            replies = list(pool.map(lambda c: self._request(c, msg, "evaluate"), self._conns))
        self.n_calls += 1
        if any("fval" not in r for r in replies):
            raise CalibrationError("a site runs with differential privacy and releases gradients only: use gradient()")
        fval = float(sum(r["fval"] if r["fval"] is not None else math.inf for r in replies))
        if sensi == 0:
            return fval
        grad = np.sum([_array(r["grad"]) for r in replies], axis=0)
        if sensi == 1:
            return fval, grad
        fim = np.sum([_array(r["fim"]) for r in replies], axis=0)
        return fval, grad, fim

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """The summed gradient only: what sites running with differential privacy release (noised)."""
        msg = {"op": "evaluate", "x": [float(v) for v in np.asarray(x, dtype=float)], "sensi": 1}
        with ThreadPoolExecutor(max_workers=len(self._conns)) as pool:
            replies = list(pool.map(lambda c: self._request(c, msg, "evaluate"), self._conns))
        self.n_calls += 1
        return np.sum([_array(r["grad"]) for r in replies], axis=0)

    def close(self) -> None:
        """Close the connections (the sites keep running)."""
        for c in self._conns:
            c.close()

    def __enter__(self) -> FederatedObjective:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class FederatedResult:
    """The best point of a federated multistart and every start."""

    #: Free parameter ids.
    x_free_ids: tuple[str, ...]
    #: Best point on the parameters' scales.
    x: np.ndarray
    #: Its negative log-likelihood (the sum over sites).
    fval: float
    #: One row per start, best first: ``start, fval, n_iter, status`` (``converged``, ``stopped`` or ``failed``),
    #: ``message`` (scipy's) and the point.
    starts: pd.DataFrame


def federated_multistart(
    objective: Any, *, n_starts: int, seed: int | None = 0, x_starts: np.ndarray | None = None, max_iter: int = 1000
) -> FederatedResult:
    """Minimise ``objective(x, sensi=1)`` (value and gradient) from ``n_starts`` points (scipy L-BFGS-B).

    Start points are uniform within the bounds on the parameters' scales
    (:func:`qsp_sbml.calibrate.start_points`), the first rows given by ``x_starts``.  ``objective`` needs
    ``x_free_ids``, ``lb``, ``ub`` (a :class:`FederatedObjective`, or a pooled objective wrapped the same way).
    """
    from qsp_sbml._optional import require
    from qsp_sbml.calibrate.multistart import start_points

    opt = require("scipy.optimize", extra="calibrate")
    shim = _Bounds(tuple(objective.x_free_ids), np.asarray(objective.lb), np.asarray(objective.ub))
    starts = start_points(shim, n_starts, seed)  # type: ignore[arg-type]
    if x_starts is not None:
        given = np.atleast_2d(np.asarray(x_starts, dtype=float))
        starts[: len(given)] = given
    rows = []
    bounds = list(zip(shim.lb, shim.ub, strict=True))

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = objective(x, sensi=1)
        if not math.isfinite(f) or not np.all(np.isfinite(g)):
            return math.inf, np.zeros_like(x)
        return f, g

    for k, x0 in enumerate(starts):
        res = opt.minimize(
            fun,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-8},
        )
        # "stopped": L-BFGS-B ended without its convergence test (typically a line search that cannot improve
        # on gradients as accurate as the integrator's tolerances allow); the point is still reported
        status = "converged" if res.success else ("failed" if not math.isfinite(res.fun) else "stopped")
        rows.append(
            {
                "start": k,
                "fval": float(res.fun),
                "n_iter": int(res.nit),
                "status": status,
                "message": str(res.message),
                **dict(zip(shim.lb_ids, map(float, res.x), strict=True)),
            }
        )
    table = pd.DataFrame(rows).sort_values("fval", kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    return FederatedResult(
        x_free_ids=shim.lb_ids, x=best[list(shim.lb_ids)].to_numpy(dtype=float), fval=float(best["fval"]), starts=table
    )


@dataclass(frozen=True)
class _Bounds:
    lb_ids: tuple[str, ...]
    lb: np.ndarray
    ub: np.ndarray
    source: str = "federated problem"

    @property
    def x_free_ids(self) -> list[str]:
        return list(self.lb_ids)


def _describe_problem(problem_yaml: Path, name: str) -> tuple[Any, dict[str, Any]]:
    """Load a site's problem and its describe reply (used by the site process)."""
    import qsp_sbml.petab as qp

    problem = qp.PetabProblem.from_yaml(problem_yaml, guard=False)
    objective = qp.PetabObjective(problem)
    models, params = _problem_files(problem_yaml)
    info = {
        "protocol": PROTOCOL_VERSION,
        "site": name,
        **problem_fingerprint(models, params),
        "x_free_ids": list(problem.x_free_ids),
        "lb": [float(v) for v in problem.lb],
        "ub": [float(v) for v in problem.ub],
        "n_measurements": int(problem.n_measurements),
    }
    return objective, info


def _evaluate(objective: Any, request: Mapping[str, Any]) -> dict[str, Any]:
    x = np.asarray(request.get("x"), dtype=float)
    sensi = int(request.get("sensi", 0))
    if x.shape != (len(objective.problem.x_free_ids),) or sensi not in (0, 1, 2):
        return {"error": f"evaluate needs x of {len(objective.problem.x_free_ids)} values and sensi 0, 1 or 2"}
    out = objective(x, sensi=sensi)
    if sensi == 0:
        return {"fval": _num(out)}
    reply: dict[str, Any] = {"fval": _num(out[0]), "grad": [_num(v) for v in np.asarray(out[1], dtype=float)]}
    if sensi == 2:
        reply["fim"] = [[_num(v) for v in row] for row in np.asarray(out[2], dtype=float)]
    return reply


def _array(values: Any) -> np.ndarray:
    """A JSON list (None for a non-finite entry) as floats (NaN)."""
    return np.array(json.loads(json.dumps(values).replace("null", "NaN")), dtype=float)


def _num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


class _PrivateSite:
    """A site's per-subject objectives and its privacy budget (used by the site process)."""

    def __init__(self, problem_yaml: Path, settings: Any, *, seed: int | None) -> None:
        import tempfile as _tempfile

        import qsp_sbml.petab as qp

        self.settings = settings
        self.allowed = settings.releases
        self.released = 0
        self.rng = np.random.default_rng(seed)
        spec = yaml.safe_load(Path(problem_yaml).read_text(encoding="utf-8"))
        meas = pd.concat(
            [pd.read_csv(Path(problem_yaml).parent / f, sep="\t") for f in spec["problems"][0]["measurement_files"]]
        )
        conditions = list(dict.fromkeys(meas["simulationConditionId"]))
        self._tmp = _tempfile.TemporaryDirectory()
        paths = split_problem(problem_yaml, {c: [c] for c in conditions}, self._tmp.name)
        self.subjects = [qp.PetabObjective(qp.PetabProblem.from_yaml(p, guard=False)) for p in paths.values()]
        self.n_free = len(self.subjects[0].problem.x_free_ids)

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "clip": s.clip,
            "noise_multiplier": s.noise_multiplier,
            "epsilon": s.epsilon,
            "delta": s.delta,
            "releases_allowed": self.allowed,
            "mechanism": "gaussian, per-subject L2 clipping, zCDP accounting",
        }

    def evaluate(self, request: Mapping[str, Any]) -> dict[str, Any]:
        x = np.asarray(request.get("x"), dtype=float)
        if int(request.get("sensi", 0)) != 1 or x.shape != (self.n_free,):
            return {
                "error": f"this site releases noised gradients only: evaluate with sensi 1 and {self.n_free} values"
            }
        if self.released >= self.allowed:
            return {
                "error": f"privacy budget spent: {self.released} releases (epsilon {self.settings.epsilon}, "
                f"delta {self.settings.delta})"
            }
        grads = []
        for obj in self.subjects:
            _, g = obj(x, sensi=1)
            g = np.asarray(g, dtype=float)
            if not np.all(np.isfinite(g)):
                g = np.zeros_like(g)  # a subject whose simulation fails contributes nothing (still within the bound)
            grads.append(g)
        from qsp_sbml.calibrate.privacy import clip

        s = self.settings
        noisy = clip(grads, s.clip) + self.rng.normal(0.0, s.noise_multiplier * s.clip, size=self.n_free)
        self.released += 1
        return {"grad": [float(v) for v in noisy]}
