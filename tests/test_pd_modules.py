"""PD modules and the oncology module against analytic solutions and independent integrations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import qsp_sbml as qs
from qsp_sbml.compose import ports
from qsp_sbml.library import oncology, pd
from qsp_sbml.resources import project_models_dir

PD = project_models_dir() / "pd"


def _load(name: str) -> qs.Model:
    return qs.load_model(PD / f"{name}.xml", guard=False)


# -- receptor occupancy -------------------------------------------------------------------------------------------
def test_occupancy_at_steady_state_with_constant_total_receptor() -> None:
    # kint = kdeg: the total receptor stays at ksyn/kdeg and RO -> C / (C + (koff + kint) / kon).
    model = _load("receptor_occupancy")
    v = pd.DEFAULTS["receptor_occupancy"]
    for c in (0.5, 5.6, 50.0):
        frame = model.simulate([0, 10, 200], selections=["RO", "R_total", "R_free"],
                               parameters={"C_drug": c, "kint": v["kdeg"]})
        kss = (v["koff"] + v["kdeg"]) / v["kon"]
        np.testing.assert_allclose(frame["R_total"], v["ksyn"] / v["kdeg"], rtol=1e-7)
        assert frame["RO"].iloc[-1] == pytest.approx(c / (c + kss), rel=1e-6)
        assert frame["R_free"].iloc[-1] == pytest.approx(v["ksyn"] / v["kdeg"] * kss / (c + kss), rel=1e-6)


def test_closed_binding_follows_the_exact_exponential_approach_to_kd() -> None:
    # No turnover, no internalisation: RO(t) = C/(C + KD) (1 - exp(-(kon C + koff) t)), KD = koff / kon.
    model = _load("receptor_occupancy")
    kon, koff, c = 0.5, 2.0, 3.0
    t = np.linspace(0, 3, 31)
    frame = model.simulate(t, selections=["RO", "R_total"],
                           parameters={"kon": kon, "koff": koff, "ksyn": 0.0, "kdeg": 0.0, "kint": 0.0,
                                       "C_drug": c, "receptor": 2.0})
    exact = c / (c + koff / kon) * (1 - np.exp(-(kon * c + koff) * t))
    np.testing.assert_allclose(frame["RO"].to_numpy()[1:], exact[1:], rtol=1e-6)
    np.testing.assert_allclose(frame["R_total"], 2.0, rtol=1e-9)


def test_no_drug_no_occupancy() -> None:
    frame = _load("receptor_occupancy").simulate([0, 24, 240], selections=["RO", "R_free"])
    v = pd.DEFAULTS["receptor_occupancy"]
    np.testing.assert_allclose(frame["RO"], 0.0, atol=1e-15)
    np.testing.assert_allclose(frame["R_free"], v["ksyn"] / v["kdeg"], rtol=1e-9)


# -- QSS-TMDD -----------------------------------------------------------------------------------------------------
def test_qss_identities_hold_and_target_returns_to_baseline() -> None:
    model = _load("tmdd_qss")
    v = pd.DEFAULTS["tmdd_qss"]
    frame = model.simulate(np.linspace(0, 24 * 300, 61), selections=["[A_drug]", "[target_total]", "C_free", "complex"],
                           parameters={"[A_drug]": 20.0, "R0": 2.0, "[target_total]": 2.0})
    c = frame["C_free"]
    np.testing.assert_allclose(c + frame["complex"], frame["[A_drug]"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frame["complex"], frame["[target_total]"] * c / (v["KSS"] + c), rtol=1e-9, atol=1e-12)
    assert frame["[target_total]"].iloc[-1] == pytest.approx(2.0, rel=1e-3)  # drug gone after 300 days (t1/2 10 days)


def test_qss_tmdd_approaches_michaelis_menten_when_target_is_low() -> None:
    # kint = kdeg keeps R_tot = R0; with R0 << C the total drug is the free drug and
    # dC/dt = -CL/V C - Vmax C / (KSS + C) with Vmax = kint R0 (Gibiansky et al. 2008, MM approximation).
    model = _load("tmdd_qss")
    v = pd.DEFAULTS["tmdd_qss"]
    r0, kint, c0 = 0.01, 5.0, 50.0
    t = np.linspace(0, 24 * 20, 41)
    frame = model.simulate(t, selections=["C_free"], parameters={"R0": r0, "kint": kint, "kdeg": kint,
                                                                 "[target_total]": r0, "[A_drug]": c0})
    kel, vmax, km = v["CL"] / v["central"], kint * r0, v["KSS"]
    mm = solve_ivp(lambda _t, y: [-kel * y[0] - vmax * y[0] / (km + y[0])], (0, t[-1]), [c0], t_eval=t,
                   rtol=1e-10, atol=1e-12).y[0]
    np.testing.assert_allclose(frame["C_free"], mm, rtol=2e-3)
    linear = c0 * np.exp(-kel * t)
    assert frame["C_free"].iloc[-1] < 0.9 * linear[-1]  # the target-mediated route matters here


# -- Emax / Hill --------------------------------------------------------------------------------------------------
def test_emax_at_ec50_is_half_and_hill_shape() -> None:
    model = _load("emax_hill")
    p = {"E0": 2.0, "Emax": 6.0, "EC50": 30.0, "IC50": 7.0, "Imax": 0.8}
    frame = model.simulate([0, 1], selections=["E", "inhibition"], parameters=p | {"C_drug": 30.0})
    assert frame["E"].iloc[-1] == pytest.approx(2.0 + 3.0, rel=1e-12)
    frame = model.simulate([0, 1], selections=["E", "inhibition"], parameters=p | {"C_drug": 7.0})
    assert frame["inhibition"].iloc[-1] == pytest.approx(0.4, rel=1e-12)
    frame = model.simulate([0, 1], selections=["E", "inhibition"], parameters=p | {"C_drug": 60.0, "hill": 3.0})
    assert frame["E"].iloc[-1] == pytest.approx(2.0 + 6.0 * 8 / 9, rel=1e-12)
    frame = model.simulate([0, 1], selections=["E", "inhibition"], parameters=p | {"C_drug": 0.0})
    assert (frame["E"].iloc[-1], frame["inhibition"].iloc[-1]) == (2.0, 0.0)


def test_molar_conversion_of_a_known_mass_concentration() -> None:
    # 1 mg/L of midazolam (325.78 g/mol) is 1e-3 g/L / 325.78 g/mol = 3.0696e-6 mol/L = 3069.6 nM
    model = _load("molar_conversion")
    frame = model.simulate([0, 1], selections=["C_molar"], parameters={"C_mass": 1.0})
    assert frame["C_molar"].iloc[-1] == pytest.approx(1e-3 / 325.78 * 1e9, rel=1e-12)
    # 2.5 mg/L of a 149 kDa antibody: 2.5e-3 / 149000 mol/L = 16.78 nM
    frame = model.simulate([0, 1], selections=["C_molar"], parameters={"C_mass": 2.5, "MW": 149_000.0})
    assert frame["C_molar"].iloc[-1] == pytest.approx(2.5e-3 / 149_000.0 * 1e9, rel=1e-12)
    assert {p.element: p.direction for p in ports(PD / "molar_conversion.xml")} == {
        "C_mass": "input", "C_molar": "output"}


# -- indirect response --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_indirect_response_at_constant_concentration_is_exact(kind: int) -> None:
    # Constant C: R(t) = Rss + (R0 - Rss) exp(-k t) with (Dayneka, Garg & Jusko 1993)
    # I: Rss = R0 (1 - I), k = kout;  II: Rss = R0 / (1 - I), k = kout (1 - I);
    # III: Rss = R0 (1 + S), k = kout;  IV: Rss = R0 / (1 + S), k = kout (1 + S).
    model = _load(f"idr{kind}")
    kin, kout, c, ic50, hill = 3.0, 0.2, 25.0, 10.0, 1.5
    frac = (c / ic50) ** hill / (1 + (c / ic50) ** hill)
    imax, smax = 0.9, 2.5
    i_drug, s_drug = imax * frac, smax * frac
    r0 = kin / kout
    rss, k = {1: (r0 * (1 - i_drug), kout), 2: (r0 / (1 - i_drug), kout * (1 - i_drug)),
              3: (r0 * (1 + s_drug), kout), 4: (r0 / (1 + s_drug), kout * (1 + s_drug))}[kind]
    t = np.linspace(0, 48, 25)
    drug = {"Imax": imax, "IC50": ic50} if kind in (1, 2) else {"Smax": smax, "SC50": ic50}
    frame = model.simulate(t, selections=["R"],
                           parameters={"kin": kin, "kout": kout, "C_drug": c, "hill": hill, "R": r0} | drug)
    np.testing.assert_allclose(frame["R"], rss + (r0 - rss) * np.exp(-k * t), rtol=1e-6)


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_indirect_response_stays_at_baseline_without_drug(kind: int) -> None:
    frame = _load(f"idr{kind}").simulate([0, 100], selections=["R"])
    v = pd.DEFAULTS["idr"]
    np.testing.assert_allclose(frame["R"], v["kin"] / v["kout"], rtol=1e-10)


def test_indirect_response_rejects_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="1, 2, 3 or 4"):
        pd.build_indirect_response(5)


# -- transit delay ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 3, 6])
def test_transit_impulse_response_is_erlang_with_mean_mtt(n: int) -> None:
    model = qs.load_model(pd.build_transit_delay(n=n), guard=False)
    mtt = 30.0
    ktr = n / mtt
    t = np.linspace(0, 20 * mtt, 4001)
    # A unit impulse into compartment 1: the outflow ktr * signal_out is the Erlang(n, ktr) density.
    frame = model.simulate(t, selections=["signal_out"], parameters={"MTT": mtt, "transit_1": 1.0})
    density = ktr * frame["signal_out"].to_numpy()
    erlang = ktr**n * t ** (n - 1) * np.exp(-ktr * t) / math.factorial(n - 1)
    np.testing.assert_allclose(density, erlang, rtol=1e-5, atol=1e-9)
    area = np.trapezoid(density, t)
    assert area == pytest.approx(1.0, rel=1e-4)
    assert np.trapezoid(t * density, t) / area == pytest.approx(mtt, rel=1e-4)


def test_transit_passes_a_constant_signal_unchanged_at_steady_state() -> None:
    frame = _load("transit_delay").simulate([0, 24 * 30], selections=["signal_out"], parameters={"signal_in": 0.7})
    assert frame["signal_out"].iloc[-1] == pytest.approx(0.7, rel=1e-8)
    with pytest.raises(ValueError, match=">= 1"):
        pd.build_transit_delay(n=0)


# -- oncology -----------------------------------------------------------------------------------------------------
def _simeoni_reference(t: np.ndarray, p: dict[str, float], x0: float, kill: float) -> np.ndarray:
    """Simeoni et al. 2004 equations (1)-(4) with three damage stages, integrated by scipy."""
    def rhs(_t: float, x: np.ndarray) -> list[float]:
        w = x.sum()
        growth = p["lambda0"] * x[0] / (1 + (p["lambda0"] * w / p["lambda1"]) ** p["psi"]) ** (1 / p["psi"])
        return [growth - kill * x[0], kill * x[0] - p["k1"] * x[1], p["k1"] * (x[1] - x[2]), p["k1"] * (x[2] - x[3])]

    sol = solve_ivp(rhs, (0, t[-1]), [x0, 0, 0, 0], t_eval=t, rtol=1e-10, atol=1e-10, method="LSODA")
    return np.asarray(sol.y.sum(axis=0))


@pytest.fixture(scope="module")
def tgi() -> qs.Model:
    return qs.load_model(project_models_dir() / "disease" / "oncology_tgi.xml", guard=False)


@pytest.mark.parametrize(("c_nm", "e_drug"), [(0.0, 0.0), (200.0, 0.0), (0.0, 0.8)])
def test_tgi_matches_an_independent_integration_of_simeoni(tgi: qs.Model, c_nm: float, e_drug: float) -> None:
    p = oncology.SIMEONI_PACLITAXEL
    t = np.linspace(0, 24 * 40, 81)
    frame = tgi.simulate(t, selections=["tumour_weight", "tumour_volume"],
                         parameters={"C_drug": c_nm, "E_drug": e_drug})
    kill = p["k2"] * c_nm + p["lambda0"] * e_drug  # kmax defaults to lambda0
    np.testing.assert_allclose(frame["tumour_weight"], _simeoni_reference(t, p, 110.0, kill), rtol=1e-5)
    np.testing.assert_allclose(frame["tumour_volume"], frame["tumour_weight"], rtol=1e-12)  # 1 mg/mm3


def test_tgi_untreated_growth_is_exponential_then_linear(tgi: qs.Model) -> None:
    p = oncology.SIMEONI_PACLITAXEL
    t = np.linspace(0, 24 * 10, 11)  # stays below lambda1 / (2 lambda0) = 1490 mg: exponential regime
    small = tgi.simulate(t, selections=["tumour_weight"])
    np.testing.assert_allclose(small["tumour_weight"], 110.0 * np.exp(p["lambda0"] * t), rtol=1e-6)
    big = tgi.simulate([0, 24, 48], selections=["tumour_weight"], parameters={"x1": 20_000.0})
    np.testing.assert_allclose(np.diff(big["tumour_weight"]), p["lambda1"] * 24, rtol=1e-6)


def test_tgi_kill_slows_growth_monotonically_with_occupancy(tgi: qs.Model) -> None:
    finals = [tgi.simulate([0, 24 * 21], selections=["tumour_volume"], parameters={"E_drug": e})["tumour_volume"]
              .iloc[-1] for e in (0.0, 0.25, 0.5, 1.0)]
    assert finals == sorted(finals, reverse=True)
    assert finals[-1] < 0.5 * finals[0]


def test_tgi_validation_on_the_lxf_a677_control_arm() -> None:
    outcome = oncology.validate()
    assert outcome.tolerance == oncology.TOLERANCE_GMFE == 1.5
    assert outcome.passed, outcome
    table = outcome.table
    assert set(table["animal"]) == {40, 94, 95, 136, 140, 155, 169, 170}
    assert (table["set"] == "forecast").sum() == 46
