"""Integrator options as a frozen, validated object."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["IntegratorOptions"]


@dataclass(frozen=True, kw_only=True)
class IntegratorOptions:
    """CVODE settings applied to a RoadRunner instance.

    Examples
    --------
    >>> import dataclasses
    >>> tight = dataclasses.replace(IntegratorOptions(), rtol=1e-10, atol=1e-14)
    >>> tight.rtol
    1e-10
    """

    #: Relative tolerance.
    rtol: float = 1e-8
    #: Absolute tolerance (model units).
    atol: float = 1e-12
    #: Maximum number of internal steps per output interval.
    max_steps: int = 100_000
    #: BDF (stiff) when true, Adams-Moulton otherwise.
    stiff: bool = True
    #: Largest internal step (0 = no limit).
    max_step: float = 0.0

    def __post_init__(self) -> None:
        """Check ranges."""
        if not (0 < self.rtol < 1) or not math.isfinite(self.rtol):
            raise ValueError(f"rtol must be in (0, 1), got {self.rtol!r}")
        if not (0 < self.atol < 1) or not math.isfinite(self.atol):
            raise ValueError(f"atol must be in (0, 1), got {self.atol!r}")
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be positive, got {self.max_steps!r}")
        if self.max_step < 0 or not math.isfinite(self.max_step):
            raise ValueError(f"max_step must be >= 0, got {self.max_step!r}")

    def apply(self, rr: Any) -> None:
        """Set these options on a RoadRunner instance's CVODE integrator."""
        if rr.getIntegrator().getName() != "cvode":
            rr.setIntegrator("cvode")
        integrator = rr.getIntegrator()
        integrator.setValue("relative_tolerance", self.rtol)
        integrator.setValue("absolute_tolerance", self.atol)
        integrator.setValue("maximum_num_steps", self.max_steps)
        integrator.setValue("stiff", self.stiff)
        integrator.setValue("maximum_time_step", self.max_step)
