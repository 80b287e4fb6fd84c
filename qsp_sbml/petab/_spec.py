"""Version-independent description of a PEtab problem (internal).

The v1 and v2 readers (:mod:`._read_v1`, :mod:`._read_v2`) translate petab's
tables into these plain objects; the simulator and the objective only read
these.  Symbolic expressions are sympy objects; symbols are looked up by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsp_sbml.petab.llh import NoiseDistribution, Transformation

__all__ = ["Change", "ExperimentSpec", "MeasurementSpec", "ObservableSpec", "ParameterSpec", "Period", "ProblemSpec"]


@dataclass(frozen=True)
class ParameterSpec:
    """One row of the parameter table."""

    #: Parameter id.
    id: str
    #: ``lin``, ``log`` or ``log10`` (the scale of ``x`` for estimated parameters).
    scale: str
    #: Bounds and nominal value on the linear scale (NaN when absent).
    lb: float
    ub: float
    nominal: float
    #: Whether the parameter is estimated.
    estimate: bool
    #: An object with ``log_density(linear_value) -> float`` or None.
    prior: Any = None
    #: 1-based row in the parameter table.
    row: int = 0

    def unscale(self, value: float) -> float:
        """Linear value of ``value`` given on this parameter's scale."""
        if self.scale == "log":
            return math.exp(value)
        if self.scale == "log10":
            return float(10.0**value)
        return float(value)

    def to_scale(self, value: float) -> float:
        """``value`` (linear) on this parameter's scale."""
        if self.scale == "log":
            return math.log(value)
        if self.scale == "log10":
            return math.log10(value)
        return float(value)


@dataclass(frozen=True)
class ObservableSpec:
    """One row of the observable table, with placeholders made explicit."""

    id: str
    #: Observable formula (other observables already substituted).
    formula: Any
    #: Noise formula (observables already substituted).
    noise_formula: Any
    transformation: Transformation
    distribution: NoiseDistribution
    #: Names of the placeholder symbols, in the order of the measurement table's lists.
    observable_placeholders: tuple[str, ...]
    noise_placeholders: tuple[str, ...]
    row: int = 0


@dataclass(frozen=True)
class Change:
    """Set ``target`` to ``value`` (a sympy expression)."""

    target: str
    value: Any


@dataclass(frozen=True)
class Period:
    """Changes applied at ``start`` (``-inf``: preequilibration to steady state)."""

    start: float
    #: Changes applied simultaneously at the start of the period.
    changes: tuple[Change, ...] = ()
    #: Changes applied before the model is initialised (v1 parameter and
    #: compartment overrides of the first period: initial assignments see them).
    before_init: tuple[Change, ...] = ()

    @property
    def is_preequilibration(self) -> bool:
        """Whether this period runs to steady state."""
        return self.start == -math.inf


@dataclass(frozen=True)
class ExperimentSpec:
    """A v2 experiment, or a v1 (preequilibration, simulation) condition pair."""

    id: str
    periods: tuple[Period, ...]


@dataclass
class MeasurementSpec:
    """The measurement table as arrays (one entry per row, in file order)."""

    observable_id: np.ndarray
    experiment_id: np.ndarray
    time: np.ndarray
    measurement: np.ndarray
    #: Per row: tuple of sympy expressions for the observable / noise placeholders.
    observable_parameters: list[tuple[Any, ...]]
    noise_parameters: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class ProblemSpec:
    """Everything the objective needs, independent of the PEtab version."""

    version: int
    parameters: list[ParameterSpec]
    observables: dict[str, ObservableSpec]
    experiments: dict[str, ExperimentSpec]
    measurements: MeasurementSpec
    #: Model entity id -> expression over parameter ids, set before initialisation.
    model_parameters: dict[str, Any] = field(default_factory=dict)
    #: Table written as the simulation table (measurement table with ``simulation``).
    measurement_df: Any = None
