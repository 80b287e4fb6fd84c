"""One dose record and the route vocabulary: the pieces every reader of regimens builds on.

:mod:`qsp_sbml.dosing` (regimens, the dosing table) and ``qsp_sbml._regimen_text`` (the compact text
form) both build :class:`Dose` records; this module sits below both so that neither imports the other's
internals.  The public names are exported, and documented, by :mod:`qsp_sbml.dosing`.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qsp_sbml.errors import RegimenError
from qsp_sbml.units import parse_amount_unit, parse_time_unit

__all__ = ["ROUTE_ALIASES", "Dose", "Route", "as_route", "pydantic_message"]


class Route(StrEnum):
    """Route of administration."""

    IV_BOLUS = "iv_bolus"
    IV_INFUSION = "iv_infusion"
    ORAL = "oral"
    SUBCUTANEOUS = "sc"
    INTRAMUSCULAR = "im"

    @property
    def is_infusion(self) -> bool:
        """Whether doses on this route are zero-order inputs."""
        return self is Route.IV_INFUSION


ROUTE_ALIASES: dict[str, Route] = {
    "iv": Route.IV_BOLUS,
    "ivb": Route.IV_BOLUS,
    "bolus": Route.IV_BOLUS,
    "iv_bolus": Route.IV_BOLUS,
    "ivi": Route.IV_INFUSION,
    "infusion": Route.IV_INFUSION,
    "iv_infusion": Route.IV_INFUSION,
    "po": Route.ORAL,
    "oral": Route.ORAL,
    "sc": Route.SUBCUTANEOUS,
    "subq": Route.SUBCUTANEOUS,
    "subcut": Route.SUBCUTANEOUS,
    "subcutaneous": Route.SUBCUTANEOUS,
    "im": Route.INTRAMUSCULAR,
    "intramuscular": Route.INTRAMUSCULAR,
}


def as_route(value: str | Route) -> Route:
    """Normalise a route name or alias."""
    if isinstance(value, Route):
        return value
    key = str(value).strip().lower()
    if key in ROUTE_ALIASES:
        return ROUTE_ALIASES[key]
    raise ValueError(f"unknown route {value!r}; use one of {sorted(ROUTE_ALIASES)}")


class Dose(BaseModel):
    """One dose, optionally repeated every ``interval`` for ``count`` administrations.

    Times, durations and intervals are in ``time_unit`` (model units when None);
    the amount is in ``unit`` (model units when None), the infusion ``rate`` in
    ``unit`` per ``time_unit``.

    Examples
    --------
    >>> Dose(amount=500, unit="mg", route="iv_infusion", duration=1, time_unit="h", target="A")
    ... # doctest: +ELLIPSIS
    Dose(amount=500.0, unit='mg', time=0.0, ...)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Amount per administration, > 0.
    amount: float = Field(gt=0)
    #: Amount unit (``mg``, ``umol``...); None means model units.
    unit: str | None = None
    #: Time of the first administration, >= 0.
    time: float = Field(default=0.0, ge=0)
    #: Unit of ``time``, ``duration`` and ``interval``; None means model units.
    time_unit: str | None = None
    #: Route of administration.
    route: Route = Route.IV_BOLUS
    #: SBML id receiving the dose; None means the model's default for the route.
    target: str | None = None
    #: Infusion duration (infusions only; give this or ``rate``).
    duration: float | None = Field(default=None, gt=0)
    #: Infusion rate in amount per time (infusions only; give this or ``duration``).
    rate: float | None = Field(default=None, gt=0)
    #: Time between administrations (> 0) when repeated.
    interval: float | None = Field(default=None, gt=0)
    #: Number of administrations; None with an interval repeats until the end of the simulation.
    count: int | None = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _normalise_route(cls, data: Any) -> Any:
        if isinstance(data, dict) and "route" in data and data["route"] is not None:
            data = dict(data)
            data["route"] = as_route(data["route"])
        return data

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name in ("amount", "time", "duration", "rate", "interval"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.unit is not None:
            parse_amount_unit(self.unit)
        if self.time_unit is not None:
            parse_time_unit(self.time_unit)
        if self.route.is_infusion:
            if (self.duration is None) == (self.rate is None):
                raise ValueError("an IV infusion needs exactly one of duration or rate")
        elif self.duration is not None or self.rate is not None:
            raise ValueError(f"route {self.route.value!r} takes no duration or rate; use iv_infusion")
        if self.count is None and self.interval is None:
            raise ValueError("an open-ended dose (count=None) needs an interval")
        if self.count is not None and self.count > 1 and self.interval is None:
            raise ValueError(f"count={self.count} needs an interval")
        if self.infusion_duration is not None and self.interval is not None:
            # relative slack: an infusion filling its interval must survive unit conversion (rounding)
            if self.infusion_duration > self.interval * (1 + 1e-12):
                raise ValueError(
                    f"infusion duration {self.infusion_duration} exceeds the interval {self.interval}"
                )
        return self

    @property
    def infusion_duration(self) -> float | None:
        """Duration of each infusion in ``time_unit`` (None for other routes)."""
        if not self.route.is_infusion:
            return None
        if self.duration is not None:
            return self.duration
        assert self.rate is not None  # noqa: S101 -- guaranteed by the validator
        return self.amount / self.rate

    def times(self, end: float | None = None) -> list[float]:
        """Administration times in ``time_unit``; open-ended doses stop at ``end``."""
        if self.count is None:
            if end is None:
                raise RegimenError("an open-ended regimen needs the simulation end time")
            assert self.interval is not None  # noqa: S101
            n = int(math.floor((end - self.time) / self.interval + 1e-9)) + 1
            return [self.time + k * self.interval for k in range(max(n, 0))]
        step = self.interval or 0.0
        return [self.time + k * step for k in range(self.count)]


def pydantic_message(err: Exception) -> str:
    """A pydantic validation error as one line, ``field: message; ...`` (other errors: their text)."""
    if isinstance(err, ValidationError):
        parts = []
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        return "; ".join(parts)
    return str(err)
