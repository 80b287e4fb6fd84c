"""Tissue:plasma partition coefficients (Kp) from physicochemistry.

Two mechanistic methods, each from its primary publication:

* **Rodgers & Rowland** (Rodgers, Leahy & Rowland 2005, J Pharm Sci 94:1259,
  moderate-to-strong bases, pKa >= 7; Rodgers & Rowland 2006, J Pharm Sci
  95:1238, neutrals, acids and weak bases).  Drug partitions into tissue water
  (extra- and intracellular, with pH partitioning of the ionised fraction),
  neutral lipids and neutral phospholipids; bases also bind acidic
  phospholipids (affinity derived from the blood:plasma ratio through the
  erythrocytes); acids and neutrals bind extracellular albumin or
  lipoproteins (tissue:plasma ratio of the binding protein, derived from fu).
* **Poulin & Theil** (Poulin & Theil 2002, J Pharm Sci 91:129 and 91:1358):
  partitioning into tissue water, neutral lipids and phospholipids relative to
  plasma, with a tissue binding correction from fu; adipose uses the vegetable
  oil:water partition ``log D_vo:w = 1.115 log P - 1.35`` and no binding.

Both return the total tissue:plasma ratio ``Kp`` (= ``Kpu * fu`` for Rodgers
& Rowland).  Tissue composition comes from
:func:`qsp_sbml.physiology.tissue_composition`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from qsp_sbml.errors import QspError
from qsp_sbml.physiology import TissueComposition

__all__ = [
    "PH_ERYTHROCYTE",
    "PH_INTRACELLULAR",
    "PH_PLASMA",
    "RR_HEMATOCRIT",
    "CompoundType",
    "Ionisation",
    "kp_poulin_theil",
    "kp_rodgers_rowland",
]

#: pH of plasma, intracellular tissue water and erythrocytes (Rodgers & Rowland 2005, Table 1 footnotes).
PH_PLASMA = 7.4
PH_INTRACELLULAR = 7.0
PH_ERYTHROCYTE = 7.22
#: Haematocrit used with the erythrocyte partition (Rodgers, Leahy & Rowland 2005).
RR_HEMATOCRIT = 0.45


class PartitionError(QspError, ValueError):
    """Inputs outside the domain of a partition method."""


__all__ += ["PartitionError"]


class CompoundType(StrEnum):
    """Acid-base class of a compound."""

    NEUTRAL = "neutral"
    ACID = "acid"
    BASE = "base"
    DIPROTIC_ACID = "diprotic_acid"
    DIPROTIC_BASE = "diprotic_base"
    ZWITTERION = "zwitterion"


@dataclass(frozen=True)
class Ionisation:
    """Acid-base class and pKa values (zwitterion: ``(pKa_acid, pKa_base)``; diprotic: two of one kind)."""

    kind: CompoundType
    pka: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        need = {CompoundType.NEUTRAL: 0, CompoundType.ACID: 1, CompoundType.BASE: 1}.get(self.kind, 2)
        if len(self.pka) != need:
            raise PartitionError(f"a {self.kind.value} compound needs {need} pKa value(s), got {list(self.pka)}")

    def ionised_ratio(self, ph: float) -> float:
        """Ratio of ionised to neutral species at ``ph`` (Henderson-Hasselbalch).

        >>> round(Ionisation(CompoundType.BASE, (8.4,)).ionised_ratio(7.4), 6)
        10.0
        """
        k = self.kind
        if k is CompoundType.NEUTRAL:
            return 0.0
        if k is CompoundType.ACID:
            return 10 ** (ph - self.pka[0])
        if k is CompoundType.BASE:
            return 10 ** (self.pka[0] - ph)
        if k is CompoundType.DIPROTIC_ACID:
            a1, a2 = sorted(self.pka)
            return 10 ** (ph - a1) + 10 ** (2 * ph - a1 - a2)
        if k is CompoundType.DIPROTIC_BASE:
            b2, b1 = sorted(self.pka)
            return 10 ** (b1 - ph) + 10 ** (b1 + b2 - 2 * ph)
        acid, base = self.pka
        return 10 ** (base - ph) + 10 ** (ph - acid)

    @property
    def binds_acidic_phospholipids(self) -> bool:
        """Whether the Rodgers-Leahy-Rowland 2005 base equation applies (a basic pKa >= 7)."""
        if self.kind in (CompoundType.BASE, CompoundType.DIPROTIC_BASE):
            return max(self.pka) >= 7.0
        if self.kind is CompoundType.ZWITTERION:
            return self.pka[1] >= 7.0
        return False

    @property
    def binds_albumin(self) -> bool:
        """Rodgers & Rowland 2006: neutrals bind lipoproteins; acids, weak bases and zwitterions bind albumin."""
        return self.kind is not CompoundType.NEUTRAL


def _check(log_p: float, fu: float, bp: float | None = None) -> None:
    if not math.isfinite(log_p) or not -10 < log_p < 12:
        raise PartitionError(f"logP={log_p!r} is outside a plausible range (-10, 12)")
    if not 0 < fu <= 1:
        raise PartitionError(f"fu={fu!r} must be in (0, 1]")
    if bp is not None and not bp > 0:
        raise PartitionError(f"blood:plasma ratio {bp!r} must be > 0")


def kp_rodgers_rowland(
    tissues: Mapping[str, TissueComposition],
    *,
    log_p: float,
    ionisation: Ionisation,
    fu: float,
    bp: float,
    plasma: TissueComposition,
    erythrocytes: TissueComposition,
    hematocrit: float,
    adipose: str = "adipose",
) -> dict[str, float]:
    """Kp (tissue:plasma, total) for every tissue by Rodgers & Rowland.

    For ``adipose`` the octanol:water P is replaced by the vegetable
    oil:water partition ``log D_vo:w = 1.115 log P - 1.35``, as in Rodgers &
    Rowland 2006.  A negative protein-binding constant (lipid partitioning in
    plasma alone exceeding ``1/fu - 1``) is set to zero, as in Rodgers &
    Rowland 2006.  ``hematocrit`` should be the value the method was
    calibrated with, :data:`RR_HEMATOCRIT`.

    Raises
    ------
    PartitionError
        For a base whose blood:plasma ratio implies a negative affinity for
        acidic phospholipids (B:P below what water and lipids alone give).
    """
    _check(log_p, fu, bp)
    if not 0 < hematocrit < 1:
        raise PartitionError(f"haematocrit {hematocrit!r} must be in (0, 1)")
    p_ow = 10**log_p
    p_vo = 10 ** (1.115 * log_p - 1.35)
    x_p = ionisation.ionised_ratio(PH_PLASMA)
    x_iw = ionisation.ionised_ratio(PH_INTRACELLULAR)
    x_bc = ionisation.ionised_ratio(PH_ERYTHROCYTE)

    def lipids(c: TissueComposition, p: float) -> float:
        return (p * c.f_nl + (0.3 * p + 0.7) * c.f_np) / (1 + x_p)

    out: dict[str, float] = {}
    if ionisation.binds_acidic_phospholipids:
        # Erythrocyte unbound partition from B:P gives the acidic-phospholipid affinity (2005, eq. 2-3).
        kpu_bc = (hematocrit - 1 + bp) / (hematocrit * fu)
        e = erythrocytes
        ka_ap = (kpu_bc - (1 + x_bc) / (1 + x_p) * e.f_iw - lipids(e, p_ow)) * (1 + x_p) / (e.acidic_pl * x_bc)
        if ka_ap < 0:
            raise PartitionError(
                f"B:P={bp} and fu={fu} imply a negative acidic-phospholipid affinity ({ka_ap:.3g}); "
                "check B:P (it must exceed what water and lipid partitioning alone give)"
            )
        for name, c in tissues.items():
            p = p_vo if name == adipose else p_ow
            kpu = (c.f_ew + (1 + x_iw) / (1 + x_p) * c.f_iw + ka_ap * c.acidic_pl * x_iw / (1 + x_p)
                   + lipids(c, p))
            out[name] = kpu * fu
        return out
    # Binding to extracellular proteins, from fu (2006, eq. 5); a drug property, so with P_o:w.
    ka_pr = max(1 / fu - 1 - lipids(plasma, p_ow), 0.0)
    for name, c in tissues.items():
        p = p_vo if name == adipose else p_ow
        ratio = c.albumin_ratio if ionisation.binds_albumin else c.lipoprotein_ratio
        kpu = c.f_ew + (1 + x_iw) / (1 + x_p) * c.f_iw + lipids(c, p) + ka_pr * ratio
        out[name] = kpu * fu
    return out


def kp_poulin_theil(
    tissues: Mapping[str, TissueComposition],
    *,
    log_p: float,
    ionisation: Ionisation,
    fu: float,
    plasma: TissueComposition,
    adipose: str = "adipose",
) -> dict[str, float]:
    """Kp (tissue:plasma, total) for every tissue by Poulin & Theil 2002.

    Non-adipose tissues use the octanol:water P and ``fu_t = 1 / (1 + 0.5 (1 -
    fu) / fu)``; adipose uses the vegetable oil:water D at pH 7.4 (ionised
    fraction excluded) and ``fu_t = 1``.
    """
    _check(log_p, fu)
    p_ow = 10**log_p
    d_vo = 10 ** (1.115 * log_p - 1.35) / (1 + ionisation.ionised_ratio(PH_PLASMA))
    fu_t = 1 / (1 + 0.5 * (1 - fu) / fu)

    def uptake(c: TissueComposition, p: float) -> float:
        return p * (c.f_nl + 0.3 * c.f_np) + (c.f_water + 0.7 * c.f_np)

    out: dict[str, float] = {}
    for name, c in tissues.items():
        if name == adipose:
            out[name] = uptake(c, d_vo) / uptake(plasma, d_vo) * fu
        else:
            out[name] = uptake(c, p_ow) / uptake(plasma, p_ow) * fu / fu_t
    return out
