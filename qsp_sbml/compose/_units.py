"""Compare the units of two linked elements: same, rescaled, or incompatible."""

from __future__ import annotations

import libsbml

__all__ = ["magnitude", "same_dimension", "scale_factor"]


def _si(ud: libsbml.UnitDefinition) -> libsbml.UnitDefinition:
    return libsbml.UnitDefinition.convertToSI(ud)


def magnitude(ud: libsbml.UnitDefinition) -> float:
    """Size of one ``ud`` in SI base units, e.g. nM -> 1e-6 (mol/m^3)."""
    si = _si(ud)
    value = 1.0
    for i in range(si.getNumUnits()):
        u = si.getUnit(i)
        value *= (u.getMultiplier() * 10.0 ** u.getScale()) ** u.getExponentAsDouble()
    return value


def _dimension(ud: libsbml.UnitDefinition) -> dict[int, float]:
    si = _si(ud)
    dims: dict[int, float] = {}
    for i in range(si.getNumUnits()):
        u = si.getUnit(i)
        if u.getKind() == libsbml.UNIT_KIND_DIMENSIONLESS:
            continue
        dims[u.getKind()] = dims.get(u.getKind(), 0.0) + u.getExponentAsDouble()
    return {k: v for k, v in dims.items() if v != 0}


def same_dimension(a: libsbml.UnitDefinition, b: libsbml.UnitDefinition) -> bool:
    """Whether ``a`` and ``b`` measure the same dimension (scale may differ).

    Examples
    --------
    >>> nM = libsbml.UnitDefinition(3, 2)
    >>> u = nM.createUnit(); _ = (u.setKind(libsbml.UNIT_KIND_MOLE), u.setExponent(1), u.setScale(-9),
    ...                           u.setMultiplier(1))
    >>> same_dimension(nM, nM)
    True
    """
    return _dimension(a) == _dimension(b)


def scale_factor(source: libsbml.UnitDefinition, target: libsbml.UnitDefinition) -> float:
    """Multiply a value in ``source`` units by this to express it in ``target`` units.

    Both must have the same dimension (see :func:`same_dimension`); nM -> uM gives 1e-3.
    """
    return magnitude(source) / magnitude(target)
