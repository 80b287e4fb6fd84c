"""The composed models of models/composed/*.yaml: regeneration, comp vs flat, COPASI vs RoadRunner, references.

For every spec: its committed ``<name>.xml``, ``<name>_flat.xml`` and
``<name>_flat_provenance.tsv`` are what the composer gives now; the comp
document and the flat model give the same trajectories under the spec's
exchange regimen (<= 1e-9 relative); COPASI, reading the flat model with the
regimen written as SBML events, agrees with RoadRunner (<= 1e-4 relative at
rtol 1e-8).  Two composed models are compared with single-file models written
independently in qsp_sbml.library (same drug, same regimen).  A test with a
temporary spec runs the exchange check on the mAb -> Emax (uM) composition.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qsp_sbml import load_model
from qsp_sbml.compose import compose_spec, load_spec
from qsp_sbml.compose.spec import ComposeSpec, outputs_for
from qsp_sbml.dosing import Regimen
from qsp_sbml.interop.copasi import relative_difference
from qsp_sbml.resources import project_models_dir
from qsp_sbml.simulate.options import IntegratorOptions
from tests.test_compose import EC50_NM, MAB, emax_module

COMPOSED = project_models_dir() / "composed"
SPECS = sorted(COMPOSED.glob("*.yaml")) if COMPOSED.is_dir() else []
#: The composed models this project ships (issue 4): each must exist and carry an exchange check.
EXPECTED = {"mab_psoriasis", "mab_crohns", "mab_lupus_nephritis", "pbpk_oncology", "pbpk_metoprolol_beta1"}
TIGHT = IntegratorOptions(rtol=1e-10, atol=1e-14)


def _ids(path: Path) -> str:
    return path.stem


def _regimen(spec: ComposeSpec) -> Regimen | None:
    assert spec.exchange is not None
    return Regimen.parse(spec.exchange.regimen) if spec.exchange.regimen else None


def _exchange(spec: ComposeSpec, tmp_path: Path) -> dict[str, float]:
    pytest.importorskip("basico", reason="COPASI exchange tests need the copasi extra")
    from qsp_sbml.interop.copasi import compare_with_roadrunner

    assert spec.exchange is not None
    comp = tmp_path / f"{spec.name}.xml"
    comp.write_text(compose_spec(spec).comp_sbml)
    return compare_with_roadrunner(comp, spec.exchange.times(), spec.exchange.selections, regimen=_regimen(spec),
                                   rtol=1e-8, atol=1e-12)


def test_every_shipped_composed_model_has_a_spec_with_an_exchange_check():
    assert {p.stem for p in SPECS} >= EXPECTED
    for path in SPECS:
        spec = load_spec(path)
        assert spec.exchange is not None and spec.exchange.regimen, f"{path}: no exchange regimen"


@pytest.mark.parametrize("path", SPECS, ids=_ids)
def test_committed_outputs_are_what_the_composer_gives(path):
    composition = compose_spec(path)
    comp, flat, prov = outputs_for(path)
    assert comp.read_text(encoding="utf-8") == composition.comp_sbml, f"{comp} stale: python -m qsp_sbml.compose"
    assert flat.read_text(encoding="utf-8") == composition.flat_sbml, f"{flat} stale"
    assert prov.read_text(encoding="utf-8") == composition.provenance_tsv(), f"{prov} stale"


@pytest.mark.parametrize("path", SPECS, ids=_ids)
def test_comp_document_and_flat_model_agree(path):
    spec = load_spec(path)
    assert spec.exchange is not None
    comp, flat, _ = outputs_for(path)
    times = spec.exchange.times()
    a = load_model(comp).simulate(times, selections=spec.exchange.selections, regimen=_regimen(spec), options=TIGHT)
    b = load_model(flat).simulate(times, selections=spec.exchange.selections, regimen=_regimen(spec), options=TIGHT)
    for sel in spec.exchange.selections:
        assert np.all(np.isfinite(b[sel].to_numpy())), sel
        assert relative_difference(a[sel].to_numpy(), b[sel].to_numpy()) <= 1e-9, sel
    # the drug arrives: the first selection (a concentration) is positive after the first dose
    assert b[spec.exchange.selections[0]].to_numpy()[1:].max() > 0


@pytest.mark.parametrize("path", [p for p in SPECS if load_spec(p).exchange], ids=_ids)
def test_composed_model_copasi_matches_roadrunner(path, tmp_path):
    diffs = _exchange(load_spec(path), tmp_path)
    assert max(diffs.values()) <= 1e-4, diffs


def test_exchange_check_from_a_spec(tmp_path):
    emax_module(tmp_path / "pd_um.xml", units="uM", ec50=EC50_NM / 1000.0)
    (tmp_path / "mab_emax.yaml").write_text(
        f"modules:\n  pk: {MAB}\n  pd: pd_um.xml\nlinks:\n  - pk.C_free -> pd.C_drug\n"
        "exchange:\n  regimen: 200 nmol sc q168h x 4 to pk__mab_sc_depot\n  end: 840\n"
        "  selections: [pk_C_free, pd__E, pk__mab_sc_depot]\n  points: 35\n")
    spec = load_spec(tmp_path / "mab_emax.yaml")
    assert spec.exchange is not None and spec.exchange.times()[:2] == [0.0, 12.0]
    diffs = _exchange(spec, tmp_path)
    assert set(diffs) == {"pk_C_free", "pd__E", "pk__mab_sc_depot"}
    assert max(diffs.values()) <= 1e-4, diffs


# -- against single-file models written independently (qsp_sbml.library) ---------------------------------------


def test_mab_psoriasis_equals_the_single_file_risankizumab_model():
    # psoriasis_risankizumab.xml: the same disease equations with risankizumab PK, IC50 and UltIMMa doses written
    # by hand in one model (qsp_sbml/library/psoriasis.py); the composed model must give the same PASI.
    spec = load_spec(COMPOSED / "mab_psoriasis.yaml")
    weeks = np.array([0.5, 2, 4.5, 8, 12, 16, 20, 28.5, 36, 44, 50])
    times = [0.0, *(weeks * 168.0)]
    composed = load_model(COMPOSED / "mab_psoriasis_flat.xml").simulate(
        times, selections=["pk_C_free", "pd_inhibition", "disease__PASI"], regimen=_regimen(spec), options=TIGHT)
    single = load_model(project_models_dir() / "disease" / "psoriasis_risankizumab.xml").simulate(
        times, selections=["C_free", "E_drug", "PASI"], options=TIGHT)
    assert relative_difference(composed["pk_C_free"].to_numpy()[1:], single["C_free"].to_numpy()[1:]) <= 1e-6
    assert relative_difference(composed["pd_inhibition"].to_numpy()[1:], single["E_drug"].to_numpy()[1:]) <= 1e-6
    assert relative_difference(composed["disease__PASI"].to_numpy(), single["PASI"].to_numpy()) <= 1e-6
    assert composed["disease__PASI"].iloc[-1] < 0.1 * composed["disease__PASI"].iloc[0]


def test_mab_crohns_equals_the_single_file_pf04236921_model():
    # build_crohns_pf04236921 (qsp_sbml/library/crohns.py) writes PF-04236921 PK in mg/L with IC50 194 ng/mL and
    # the ANDANTE doses; the composed model works in nmol and nM (150 kDa): E_drug, CRP and CDAI must agree.
    from qsp_sbml.library.crohns import build_crohns_pf04236921

    spec = load_spec(COMPOSED / "mab_crohns.yaml")
    times = [0.0, *(np.array([0.5, 1, 2, 4.5, 6, 8, 10, 11.5]) * 168.0)]
    composed = load_model(COMPOSED / "mab_crohns_flat.xml").simulate(
        times, selections=["pd_inhibition", "disease__CRP", "disease__CDAI"], regimen=_regimen(spec), options=TIGHT)
    single = load_model(build_crohns_pf04236921(50.0)).simulate(times, selections=["E_drug", "CRP", "CDAI"],
                                                                options=TIGHT)
    assert relative_difference(composed["pd_inhibition"].to_numpy()[1:], single["E_drug"].to_numpy()[1:]) <= 1e-6
    assert relative_difference(composed["disease__CRP"].to_numpy(), single["CRP"].to_numpy()) <= 1e-6
    assert relative_difference(composed["disease__CDAI"].to_numpy(), single["CDAI"].to_numpy()) <= 1e-6


def test_pbpk_models_report_occupancy_of_the_unbound_molar_concentration():
    # E = C / (C + KD) with C = Cu_plasma / MW * 1e6 (nM), checked outside SBML
    cases = (("pbpk_oncology", 325.78, 1.0, "pd_E"), ("pbpk_metoprolol_beta1", 267.36, 30.9, "pd__E"))
    for name, mw, kd, e_id in cases:
        spec = load_spec(COMPOSED / f"{name}.yaml")
        out = load_model(COMPOSED / f"{name}_flat.xml").simulate(
            spec.exchange.times() if spec.exchange else [0.0], selections=["pbpk_Cu_plasma", e_id],
            regimen=_regimen(spec), options=TIGHT)
        c_nm = out["pbpk_Cu_plasma"].to_numpy() / mw * 1e6
        assert c_nm.max() > kd / 10
        assert relative_difference(out[e_id].to_numpy()[1:], c_nm[1:] / (c_nm[1:] + kd)) <= 1e-9, name
