"""Partition coefficients against published predictions (Rodgers & Rowland rat Kpu; Poulin & Theil human Vss)."""

from __future__ import annotations

import math

import pytest

from qsp_sbml.pbpk.partition import (
    RR_HEMATOCRIT,
    CompoundType,
    Ionisation,
    PartitionError,
    kp_poulin_theil,
    kp_rodgers_rowland,
)
from qsp_sbml.physiology import TissueComposition, tissue_composition
from tests.data import kp_reference as ref


def _rr(row: tuple[float, ...]) -> TissueComposition:
    f_nl, f_np, f_ew, f_iw, ap, ar, lr = row
    return TissueComposition(f_ew=f_ew, f_iw=f_iw, f_nl=f_nl, f_np=f_np, acidic_pl=ap, albumin_ratio=ar,
                             lipoprotein_ratio=lr)


RAT = {t: _rr(r) for t, r in ref.RAT_RR.items()}


@pytest.mark.parametrize(("drug", "rtol"), [("bisoprolol", 0.02), ("acebutolol", 0.04), ("enoxacin", 0.08),
                                           ("cefazolin", 0.09)])
def test_rodgers_rowland_reproduces_published_rat_kpu(drug: str, rtol: float) -> None:
    log_p, kind, pka, fu, bp, reported = ref.RR_REPORTED[drug]
    kp = kp_rodgers_rowland(RAT, log_p=log_p, ionisation=Ionisation(CompoundType(kind), pka), fu=fu, bp=bp,
                            plasma=_rr(ref.RAT_PLASMA), erythrocytes=_rr(ref.RAT_ERYTHROCYTES),
                            hematocrit=RR_HEMATOCRIT)
    for tissue, kpu in reported.items():
        assert kp[tissue] / fu == pytest.approx(kpu, rel=rtol), tissue


def _pt(fv_row: tuple[float, float, float, float]) -> TissueComposition:
    _, water, nl, ph = fv_row
    return TissueComposition(f_ew=water, f_iw=0.0, f_nl=nl, f_np=ph, acidic_pl=0.0, albumin_ratio=0.0,
                             lipoprotein_ratio=0.0)


def _pt_vss(log_p: float, kind: str, pka: tuple[float, ...], fu: float, bp: float) -> float:
    """Poulin & Theil 2002 Vss (L/kg): sum FV * Kp + erythrocytes + plasma."""
    tissues = {t: _pt(r) for t, r in ref.PT_HUMAN.items()}
    kp = kp_poulin_theil(tissues, log_p=log_p, ionisation=Ionisation(CompoundType(kind), pka), fu=fu,
                         plasma=_pt(ref.PT_PLASMA))
    tissue_part = sum(ref.PT_HUMAN[t][0] * kp[t] for t in tissues)
    return tissue_part + ref.PT_ERYTHROCYTE_FV * (bp - (1 - 0.45)) / 0.45 + ref.PT_PLASMA[0]


@pytest.mark.parametrize("drug", sorted(ref.PT_VSS))
def test_poulin_theil_reproduces_published_human_vss(drug: str) -> None:
    log_p, kind, pka, fu, bp, reported = ref.PT_VSS[drug]
    vss = _pt_vss(log_p, kind, pka, fu, bp)
    # Published values are rounded to 0.01 L/kg; five compounds differ by up to 8 % (different
    # inputs in the original paper); the others reproduce to the printed digits.
    close = {"ascorbic acid", "thiopental", "caffeine", "trimethoprim", "cyclosporin"}
    if drug in close:
        assert vss == pytest.approx(reported, rel=0.08)
    else:
        assert vss == pytest.approx(reported, abs=0.0051)


def test_ionisation_of_each_class() -> None:
    assert Ionisation(CompoundType.NEUTRAL).ionised_ratio(7.4) == 0
    assert Ionisation(CompoundType.ACID, (4.4,)).ionised_ratio(7.4) == pytest.approx(1000)
    assert Ionisation(CompoundType.DIPROTIC_BASE, (9.0, 8.0)).ionised_ratio(7.0) == pytest.approx(100 + 1000)
    assert Ionisation(CompoundType.ZWITTERION, (6.4, 8.4)).ionised_ratio(7.4) == pytest.approx(10 + 10)
    assert Ionisation(CompoundType.BASE, (9.0,)).binds_acidic_phospholipids
    assert not Ionisation(CompoundType.BASE, (6.5,)).binds_acidic_phospholipids
    with pytest.raises(PartitionError, match="needs 1 pKa"):
        Ionisation(CompoundType.ACID, ())


def test_human_composition_is_complete_and_physical() -> None:
    comp = tissue_composition()
    for name, c in comp.items():
        total = c.f_water + c.f_nl + c.f_np
        assert 0 < total <= 1.0 + 1e-9, name
    assert {"adipose", "liver", "plasma", "erythrocytes"} <= set(comp)


def test_strong_base_with_implausible_bp_is_refused() -> None:
    comp = tissue_composition()
    with pytest.raises(PartitionError, match="negative acidic-phospholipid affinity"):
        kp_rodgers_rowland({"liver": comp["liver"]}, log_p=1.0, ionisation=Ionisation(CompoundType.BASE, (9.5,)),
                           fu=0.9, bp=0.3, plasma=comp["plasma"], erythrocytes=comp["erythrocytes"],
                           hematocrit=RR_HEMATOCRIT)


@pytest.mark.parametrize("bad", [{"log_p": math.nan}, {"fu": 0.0}, {"fu": 1.5}])
def test_out_of_domain_inputs_are_refused(bad: dict[str, float]) -> None:
    comp = tissue_composition()
    kwargs = {"log_p": 1.0, "fu": 0.5} | bad
    with pytest.raises(PartitionError):
        kp_poulin_theil({"liver": comp["liver"]}, ionisation=Ionisation(CompoundType.NEUTRAL),
                        plasma=comp["plasma"], **kwargs)
