"""Every models/composed/*.yaml with an `exchange:` check: COPASI and RoadRunner agree (<= 1e-4 relative).

Each spec is composed afresh here (its committed outputs are checked by test_compose's --check test);
a test with a temporary spec runs the same check on the mAb -> Emax (uM) composition.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qsp_sbml.compose import compose_spec, load_spec
from qsp_sbml.compose.spec import ComposeSpec
from qsp_sbml.dosing import Regimen
from qsp_sbml.resources import project_models_dir
from tests.test_compose import EC50_NM, MAB, emax_module

pytest.importorskip("basico", reason="COPASI exchange tests need the copasi extra")

COMPOSED = project_models_dir() / "composed"
SPECS = sorted(COMPOSED.glob("*.yaml")) if COMPOSED.is_dir() else []


def _exchange(spec: ComposeSpec, tmp_path: Path) -> dict[str, float]:
    from qsp_sbml.interop.copasi import compare_with_roadrunner

    assert spec.exchange is not None
    comp = tmp_path / f"{spec.name}.xml"
    comp.write_text(compose_spec(spec).comp_sbml)
    regimen = Regimen.parse(spec.exchange.regimen) if spec.exchange.regimen else None
    return compare_with_roadrunner(comp, spec.exchange.times(), spec.exchange.selections, regimen=regimen)


@pytest.mark.parametrize("path", [p for p in SPECS if load_spec(p).exchange], ids=lambda p: p.stem)
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
