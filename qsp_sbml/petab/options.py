"""Options of the PEtab objective: integrator, steady state, priors."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from qsp_sbml.simulate.options import IntegratorOptions

__all__ = ["ObjectiveOptions", "SteadyStateOptions"]


@dataclass(frozen=True, kw_only=True)
class SteadyStateOptions:
    """How preequilibration and ``t = inf`` measurements reach steady state.

    Convergence means ``max|dx/dt| <= atol + rtol * max|x|`` over the state
    (floating species amounts and rate-rule variables).

    Examples
    --------
    >>> SteadyStateOptions(method="simulate").method
    'simulate'
    """

    #: ``auto``: RoadRunner's steady-state solver (NLEQ2) when the model has no
    #: events and no stoichiometric conservation laws (the gradient's runner:
    #: its own Newton with the conservation laws), checked for convergence and
    #: non-negativity, else (or when it fails) a long simulation;
    #: ``simulate``: long simulation only; ``newton``: the solver only (error
    #: when it fails).
    method: Literal["auto", "simulate", "newton"] = "auto"
    #: Relative tolerance of the convergence check.
    rtol: float = 1e-8
    #: Absolute tolerance of the convergence check.
    atol: float = 1e-10
    #: First simulation window; each further window is 10 times longer.
    first_window: float = 1.0
    #: Give up (SimulationError) after simulating this long.
    max_time: float = 1e12

    def __post_init__(self) -> None:
        """Check ranges."""
        if self.method not in ("auto", "simulate", "newton"):
            raise ValueError(f"method must be 'auto', 'simulate' or 'newton', got {self.method!r}")
        for name in ("rtol", "atol", "first_window", "max_time"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _default_integrator() -> IntegratorOptions:
    return IntegratorOptions(rtol=1e-8, atol=1e-12)


@dataclass(frozen=True, kw_only=True)
class ObjectiveOptions:
    """Options of :class:`~qsp_sbml.petab.PetabObjective`.

    Examples
    --------
    >>> from qsp_sbml.simulate.options import IntegratorOptions
    >>> ObjectiveOptions(integrator=IntegratorOptions(rtol=1e-10), priors=True).priors
    True
    """

    #: CVODE tolerances and limits (benchmark problems need rtol <= 1e-8).
    integrator: IntegratorOptions = field(default_factory=_default_integrator)
    #: Steady-state settings.
    steady_state: SteadyStateOptions = field(default_factory=SteadyStateOptions)
    #: Add the log-prior of the parameter table (v1 ``objectivePrior*``, v2 priors)
    #: to the objective (then ``objective(x)`` is the negative log-posterior).
    priors: bool = False
    #: State sensitivities of the gradient: ``sensitivities`` (forward sensitivity
    #: equations generated into an augmented model, exact up to the integrator's
    #: tolerances) or ``finite_differences`` (central differences of the
    #: simulation, for comparison only).
    gradient: Literal["sensitivities", "finite_differences"] = "sensitivities"

    #: Fisher information matrix of ``objective(x, sensi=2)`` (Hessian approximation for
    #: fides): ``gauss-newton`` (AMICI's convention: Gauss-Newton matrix of the weighted
    #: residuals, sigma included) or ``expected`` (expected information of the noise
    #: distribution); see :func:`qsp_sbml.petab.llh.fisher_factors`.
    fim: Literal["gauss-newton", "expected"] = "gauss-newton"

    def __post_init__(self) -> None:
        """Check the gradient route and the FIM kind."""
        if self.fim not in ("gauss-newton", "expected"):
            raise ValueError(f"fim must be 'gauss-newton' or 'expected', got {self.fim!r}")
        if self.gradient not in ("sensitivities", "finite_differences"):
            raise ValueError(f"gradient must be 'sensitivities' or 'finite_differences', got {self.gradient!r}")
