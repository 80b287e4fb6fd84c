"""A PEtab problem (v1 or v2) with its validated, compiled SBML model."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from qsp_sbml._optional import require
from qsp_sbml.errors import PetabError, UnsupportedFeatureError
from qsp_sbml.petab._common import ModelEntities
from qsp_sbml.petab._spec import ProblemSpec
from qsp_sbml.petab._tables import check_tables, read_tables

__all__ = ["PetabProblem"]

logger = logging.getLogger(__name__)


def _format_version(config: dict[str, Any], path: Path) -> int:
    raw = str(config.get("format_version", "")).strip()
    if raw in ("1", "1.0", "1.0.0"):
        return 1
    if raw.startswith("2"):
        return 2
    raise PetabError(f"{path}: unsupported format_version {raw!r} (PEtab 1 and 2 are supported)", table="yaml",
                     column="format_version")


def _model_path(config: dict[str, Any], version: int, base: Path) -> Path:
    if version == 1:
        problems = config.get("problems") or []
        if len(problems) != 1:
            raise UnsupportedFeatureError(f"{len(problems)} problems in one YAML file; only one is supported",
                                          feature="petab-multiple-problems")
        files = problems[0].get("sbml_files") or problems[0].get("model_files") or []
        if isinstance(files, dict):
            files = [m.get("location") for m in files.values()]
    else:
        models = config.get("model_files") or {}
        if any(str(m.get("language", "sbml")).lower() != "sbml" for m in models.values()):
            raise UnsupportedFeatureError("only SBML models are supported", feature="petab-model-language")
        files = [m.get("location") for m in models.values()]
    if len(files) != 1:
        raise UnsupportedFeatureError(f"{len(files)} model files; exactly one SBML model is supported",
                                      feature="petab-multiple-models")
    return (base / str(files[0])).resolve()


class PetabProblem:
    """A PEtab problem ready for :class:`~qsp_sbml.petab.PetabObjective`.

    Create it with :meth:`from_yaml`.  The SBML model is read and validated by
    :func:`qsp_sbml.load_model` and compiled once.

    Examples
    --------
    >>> import qsp_sbml.petab as qp
    >>> qp.PetabProblem.from_yaml("no/such/problem.yaml")
    Traceback (most recent call last):
    ...
    qsp_sbml.errors.PetabError: no/such/problem.yaml: no such file
    """

    def __init__(self, spec: ProblemSpec, model: Any, entities: ModelEntities, *, source: str) -> None:
        self.spec = spec
        self.model = model
        self.entities = entities
        self.source = source

    def __repr__(self) -> str:
        return (f"PetabProblem(source={self.source!r}, version={self.version}, "
                f"n_parameters={len(self.x_free_ids)}, n_measurements={self.n_measurements})")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], *, guard: bool = True) -> PetabProblem:
        """Read a PEtab problem (v1 or v2 YAML) and load its SBML model.

        Parameters
        ----------
        path
            The problem's YAML file.
        guard
            Load the SBML model in a child process (see :func:`qsp_sbml.load_model`).

        Raises
        ------
        PetabError
            The tables are malformed or inconsistent (the message names the
            table, row and column).
        UnsupportedFeatureError
            A PEtab or SBML feature this objective does not support.
        """
        from qsp_sbml.loading import load_model

        path = Path(path)
        if not path.is_file():
            raise PetabError(f"{path}: no such file")
        try:
            config = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise PetabError(f"{path}: not valid YAML: {err}", table="yaml") from None
        if not isinstance(config, dict):
            raise PetabError(f"{path}: expected a mapping at the top level", table="yaml")
        version = _format_version(config, path)
        model_path = _model_path(config, version, path.parent)
        if not model_path.is_file():
            raise PetabError(f"{path}: model file {model_path} does not exist", table="yaml")
        tables = read_tables(config, version, path)
        check_tables(tables)
        model = load_model(model_path, guard=guard)
        entities = ModelEntities.from_sbml(model.sbml_model)
        try:
            spec = cls._read(path, version, entities)
        except PetabError as err:
            raise tables.locate(err) from None
        logger.info("read PEtab v%d problem %s: %d measurements", version, path, len(spec.measurements))
        return cls(spec, model, entities, source=str(path))

    @staticmethod
    def _read(path: Path, version: int, entities: ModelEntities) -> ProblemSpec:
        if version == 1:
            v1 = require("petab.v1", extra="calibrate")
            from qsp_sbml.petab._read_v1 import read_v1

            try:
                problem = v1.Problem.from_yaml(str(path))
            except Exception as err:  # petab's parsers raise many kinds; our checks ran first
                raise PetabError(f"petab could not read the problem: {type(err).__name__}: {err}", table="yaml",
                                 file=str(path)) from None
            return read_v1(problem, entities)
        v2 = require("petab.v2", extra="calibrate")
        from qsp_sbml.petab._read_v2 import read_v2

        try:
            problem = v2.Problem.from_yaml(str(path))
        except Exception as err:  # petab's parsers raise many kinds; our checks ran first
            raise PetabError(f"petab could not read the problem: {type(err).__name__}: {err}", table="yaml",
                             file=str(path)) from None
        return read_v2(problem, entities)

    # -- parameters ----------------------------------------------------------------
    @property
    def version(self) -> int:
        """PEtab major version (1 or 2)."""
        return self.spec.version

    @property
    def n_measurements(self) -> int:
        """Number of rows of the measurement table."""
        return len(self.spec.measurements)

    @property
    def x_free_ids(self) -> list[str]:
        """Ids of the estimated parameters, in parameter-table order."""
        return [p.id for p in self.spec.parameters if p.estimate]

    @property
    def x_nominal(self) -> np.ndarray:
        """Nominal values of the estimated parameters, on their scales."""
        return np.array([p.to_scale(p.nominal) for p in self.spec.parameters if p.estimate], dtype=float)

    @property
    def lb(self) -> np.ndarray:
        """Lower bounds of the estimated parameters, on their scales."""
        return np.array([p.to_scale(p.lb) if p.lb > 0 or p.scale == "lin" else -math.inf
                         for p in self.spec.parameters if p.estimate], dtype=float)

    @property
    def ub(self) -> np.ndarray:
        """Upper bounds of the estimated parameters, on their scales."""
        return np.array([p.to_scale(p.ub) for p in self.spec.parameters if p.estimate], dtype=float)

    def parameter_values(self, x: np.ndarray | None = None) -> dict[str, float]:
        """Linear-scale values of all parameter-table ids for ``x`` (scaled, estimated only).

        Fixed parameters take their ``nominalValue``, which PEtab defines on the
        linear scale whatever their ``parameterScale``.
        """
        free = [p for p in self.spec.parameters if p.estimate]
        if x is None:
            x = self.x_nominal
        x = np.asarray(x, dtype=float).ravel()
        if x.shape != (len(free),):
            raise ValueError(f"x must have {len(free)} entries (the estimated parameters {self.x_free_ids}), "
                             f"got {x.shape[0]}")
        out = {p.id: p.nominal for p in self.spec.parameters if not p.estimate}
        for p, v in zip(free, x, strict=True):
            out[p.id] = p.unscale(float(v))
        return out
