"""`qsp-sbml pbpk qualify`: profile metrics against hand computations, the report folder, bad tables."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsp_sbml.cli import main
from qsp_sbml.pbpk import load_drugs
from qsp_sbml.pbpk.parameters import hepatic_blood_flow, parameterise
from qsp_sbml.pbpk.qualification import GROUPS, ObservedProfile, ProfileError, load_profiles, profile_metrics
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

PBPK = project_models_dir() / "pbpk"
PROFILES = PBPK / "validation" / "observed_profiles.tsv"


def _invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def _hand_trapezoid(t: list[float], c: list[float]) -> float:
    total = 0.0
    for i in range(1, len(t)):
        total += (t[i] - t[i - 1]) * (c[i] + c[i - 1]) / 2.0
    return total


def _rows() -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in PROFILES.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    table = list(csv.reader(lines, delimiter="\t"))
    return table[0], table[1:]


def test_profile_metrics_match_a_hand_computation() -> None:
    t = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    obs = [10.0, 30.0, 40.0, 25.0, 12.0, 3.0]
    pred = [20.0, 30.0, 20.0, 50.0, 6.0, 6.0]
    m = profile_metrics(t, obs, pred)
    assert m["auc_obs"] == pytest.approx(_hand_trapezoid(t, obs))
    assert m["auc_pred"] == pytest.approx(_hand_trapezoid(t, pred))
    assert m["auc_ratio"] == pytest.approx(_hand_trapezoid(t, pred) / _hand_trapezoid(t, obs))
    assert (m["cmax_obs"], m["cmax_pred"], m["cmax_ratio"]) == (40.0, 50.0, 1.25)
    folds = [abs(math.log10(p / o)) for p, o in zip(pred, obs, strict=True)]
    assert m["conc_gmfe"] == pytest.approx(10 ** (sum(folds) / len(folds)))


def test_shipped_profiles_load_and_every_study_is_tagged() -> None:
    drugs = load_drugs(PBPK / "drugs")
    profiles = load_profiles(PROFILES, drugs)
    assert {p.group for p in profiles} == set(GROUPS)
    assert {"midazolam", "fluconazole", "itraconazole", "rifampicin", "erythromycin", "omeprazole"} <= {
        p.drug for p in profiles}
    # The groups follow the drug records' sources: the studies behind midazolam's CL, BP, ka and Fg build the model.
    building = {p.study for p in profiles if p.drug == "midazolam" and p.group == "building"}
    assert building == {"Allonen 1981", "Heizmann 1983", "Hohmann 2015"}
    assert {p.group for p in profiles if p.drug == "omeprazole" and p.study == "Regardh 1990"} == {"building"}
    # Perpetrators from the OSP snapshots: the studies behind each record's clearance and ka build the model.
    for drug, studies in {"clarithromycin": {"Chu 1992b", "Chu 1993a"}, "ketoconazole": {"Huang 1986"},
                          "fluvoxamine": {"Japanese Society 2015", "de Vries 1993"}}.items():
        assert {p.study for p in profiles if p.drug == drug and p.group == "building"} == studies
        assert {p.group for p in profiles if p.drug == drug} == set(GROUPS)
    assert all(p.reference and p.times == tuple(sorted(p.times)) for p in profiles)
    # Index substrates of CYP3A4, CYP2D6, CYP1A2, CYP2C19 and renal elimination, and warfarin, are on profiles.
    assert {"caffeine", "atenolol", "warfarin", "metoprolol", "tizanidine", "alfentanil"} <= {p.drug for p in profiles}
    # None of the caffeine, atenolol, warfarin and metoprolol studies is a source of their records: all verification.
    assert {p.group for p in profiles if p.drug in ("caffeine", "atenolol", "warfarin", "metoprolol")} == {
        "verification"}
    # The new records are middle-out from exactly one building study each.
    assert {p.study for p in profiles if p.drug == "tizanidine" and p.group == "building"} == {"Granfors 2004"}
    assert {p.study for p in profiles if p.drug == "alfentanil" and p.group == "building"} == {"Kharasch 2004"}


def _nca(profile: ObservedProfile, *, bolus: bool) -> float:
    """AUC from 0 to infinity by hand: trapezoid, a log-linear C0 for a bolus, 3-point terminal extrapolation."""
    t, c = list(profile.times), list(profile.values)
    if bolus:
        slope = math.log(c[1] / c[0]) / (t[1] - t[0])
        head = t[0] * (c[0] * math.exp(-slope * t[0]) + c[0]) / 2
    else:
        head = t[0] * c[0] / 2
    tail_t, tail_c = t[-3:], [math.log(x) for x in c[-3:]]
    mt, mc = sum(tail_t) / 3, sum(tail_c) / 3
    lz = -sum((a - mt) * (b - mc) for a, b in zip(tail_t, tail_c, strict=True)) / sum((a - mt) ** 2 for a in tail_t)
    return head + _hand_trapezoid(t, c) + c[-1] / lz


def test_middle_out_values_of_the_new_records_follow_from_their_building_studies() -> None:
    # The records state how their clearance and Fg come from their building data; recompute it from the table.
    drugs = load_drugs(PBPK / "drugs")
    profiles = {(p.drug, p.route): p for p in load_profiles(PROFILES, drugs) if p.group == "building"
                and p.drug in ("tizanidine", "alfentanil")}
    tiz = drugs["tizanidine"]
    oral = profiles["tizanidine", "oral"]
    assert tiz.clearance.clint is not None
    assert tiz.clearance.clint["CYP1A2"] == pytest.approx(oral.dose_mg() / _nca(oral, bolus=False) / tiz.fu, rel=2e-3)
    alf = drugs["alfentanil"]
    iv, po = profiles["alfentanil", "iv_bolus"], profiles["alfentanil", "oral"]
    cl = iv.dose_mg() / _nca(iv, bolus=True)  # per-kg dose x the reference adult's weight, as simulated
    assert alf.clearance.cl_iv == pytest.approx(cl, rel=3e-3)
    bioavailability = (_nca(po, bolus=False) / po.dose) / (_nca(iv, bolus=True) / iv.dose)
    hepatic = 1 - cl / alf.bp / hepatic_blood_flow(parameterise(alf, reference("male")).values)
    assert alf.absorption.fg == pytest.approx(bioavailability / (alf.absorption.fa * hepatic), rel=3e-3)


def _reduced_table(tmp_path: Path) -> tuple[Path, dict[str, list[list[str]]]]:
    """Three data sets: a midazolam building profile (ng/mL), fluconazole IV infusion and oral (verification)."""
    header, rows = _rows()
    col = {name: i for i, name in enumerate(header)}
    wanted = {
        "Hohmann 2015 - iv 1 mg - Midazolam - IV - 1 mg - Plasma - agg. (n=16)",
        "Ripa 1993 - Fluconazole i.v. - Fluconazole - IV - 100 mg - Plasma - agg. (n=6)",
        "Thorpe 1990 - Fluconazole oral without antacida - Fluconazole - PO - 100 mg - Plasma - agg. (n=14)",
    }
    keep = [r for r in rows if r[col["dataset"]] in wanted]
    by_set: dict[str, list[list[str]]] = {}
    for r in keep:
        by_set.setdefault(r[col["dataset"]], []).append(r)
    assert set(by_set) == wanted, sorted(by_set)
    path = tmp_path / "profiles.tsv"
    path.write_text("# reduced set\n" + "\n".join("\t".join(r) for r in [header, *keep]) + "\n", encoding="utf-8")
    return path, by_set


@pytest.mark.slow
def test_qualify_report_on_a_reduced_set_matches_an_independent_computation(tmp_path: Path) -> None:
    observed, by_set = _reduced_table(tmp_path)
    header, _ = _rows()
    col = {name: i for i, name in enumerate(header)}
    report = tmp_path / "report"
    code, out = _invoke("pbpk", "qualify", "--observed", observed, "--report", report, "--json")
    assert code == 0, out
    payload = json.loads(out)
    names = sorted(p.name for p in report.iterdir())
    for drug in ("fluconazole", "midazolam"):
        assert f"{drug}_profiles_log.png" in names and f"{drug}_profiles_linear.png" in names
    assert {"gof.png", "report.md", "studies.tsv", "points.tsv", "ddi.tsv", "summary.json"} <= set(names)

    studies = {r["dataset"]: r for r in csv.DictReader((report / "studies.tsv").open(), delimiter="\t")}
    points = list(csv.DictReader((report / "points.tsv").open(), delimiter="\t"))
    to_mg_l = {"mg/L": 1.0, "ng/mL": 1e-3}
    for dataset, rows in by_set.items():
        # observed AUC by hand from the input file, with the unit converted by hand
        t = [float(r[col["time_h"]]) for r in rows]
        c = [float(r[col["value"]]) * to_mg_l[r[col["unit"]]] for r in rows]
        s = studies[dataset]
        assert s["group"] == rows[0][col["group"]]
        assert float(s["auc_obs"]) == pytest.approx(_hand_trapezoid(t, c), rel=1e-5)
        assert float(s["cmax_obs"]) == pytest.approx(max(c), rel=1e-5)
        pred = [float(p["predicted_mg_l"]) for p in points if p["dataset"] == dataset]
        assert [float(p["time_h"]) for p in points if p["dataset"] == dataset] == pytest.approx(t)
        assert float(s["auc_pred"]) == pytest.approx(_hand_trapezoid(t, pred), rel=1e-5)
        folds = [abs(math.log10(p / o)) for p, o in zip(pred, c, strict=True)]
        assert float(s["conc_gmfe"]) == pytest.approx(10 ** (sum(folds) / len(folds)), rel=1e-5)
    # the fluconazole predictions are predictions of a record fitted to nothing here; they must be close
    flu = [s for s in studies.values() if s["drug"] == "fluconazole"]
    assert all(0.5 < float(s["auc_ratio"]) < 2.0 for s in flu)

    # summary: verification GMFE of AUC over fluconazole's two profiles, by hand
    ratios = [float(s["auc_pred"]) / float(s["auc_obs"]) for s in flu]
    hand = 10 ** (sum(abs(math.log10(r)) for r in ratios) / len(ratios))
    assert payload["summary"]["fluconazole"]["verification"]["gmfe_auc"] == pytest.approx(hand, rel=1e-5)
    assert set(payload["summary"]["midazolam"]) == {"building"}
    assert json.loads((report / "summary.json").read_text())["summary"] == payload["summary"]
    text = (report / "report.md").read_text()
    assert "| midazolam | building |" in text and "| fluconazole | verification |" in text
    assert "Guest" in text and "no verification profile informed any value" in text
    # the values fitted to model-building profiles are listed (midazolam's), fluconazole has none
    fitted = json.loads((report / "summary.json").read_text())["fitted_to_building"]
    assert {(f["drug"], f["parameter"]) for f in fitted} == {("midazolam", "kp_scale"), ("midazolam", "absorption.ka")}
    assert all(f["source"].startswith("FITTED") and "Heizmann 1983" in f["source"] for f in fitted)
    assert "## Values fitted to model-building profiles" in text and "| midazolam | kp_scale | 0.524 |" in text


#: A line of the shipped table to break (its 0.25 h point of Hohmann 2015, IV 1 mg) and the header.
POINT = "\t0.25\t0.0171384\tmg/L\t"
HEADER = "drug\tstudy\tdataset\t"


@pytest.mark.parametrize(("line_of", "old", "new", "expect"), [
    (HEADER, "\tunit\t", "\tunits\t", ("missing column", "'unit'")),
    (POINT, "\t0.0171384\t", "\tlots\t", ("column value", "'lots' is not a number")),
    (POINT, "\t0.25\t", "\tsoon\t", ("column time_h", "'soon' is not a number")),
    (POINT, "midazolam\tHohmann", "midazolamx\tHohmann", ("column drug", "no drug record 'midazolamx'")),
    (POINT, "\tmg/L\t", "\tgrains/L\t", ("column unit", "'grains/L'")),
    (POINT, "\tbuilding\t", "\tfitted\t", ("column group", "'fitted'")),
])
def test_bad_profiles_are_refused_naming_file_line_and_column(tmp_path: Path, line_of: str, old: str, new: str,
                                                              expect: tuple[str, ...]) -> None:
    lines = PROFILES.read_text(encoding="utf-8").splitlines()
    number = next(i for i, ln in enumerate(lines, start=1) if line_of in ln and old in ln)
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report"
    report.mkdir()
    (report / "keep.txt").write_text("old report")
    code, out = _invoke("pbpk", "qualify", "--observed", path, "--report", report)
    assert code == 1, out
    for fragment in (f"{path}:{number}", *expect):
        assert fragment in out.replace("\n", ""), out
    assert "Traceback" not in out
    assert sorted(p.name for p in report.iterdir()) == ["keep.txt"]  # nothing written, nothing replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tsv", "report"]
    with pytest.raises(ProfileError, match=f":{number}"):
        load_profiles(path, load_drugs(PBPK / "drugs"))


def test_unknown_drug_option_is_refused(tmp_path: Path) -> None:
    code, out = _invoke("pbpk", "qualify", "--drug", "aspirin", "--report", tmp_path / "r")
    assert code == 1 and "aspirin" in out and "observed_profiles.tsv" in out
    assert not (tmp_path / "r").exists()


def test_points_at_the_instant_of_an_iv_bolus_are_kept_but_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample 'at 0' of a bolus meets the jump of the simulated venous concentration: listed, never scored."""
    import qsp_sbml.pbpk.qualification as q

    bolus = ObservedProfile(drug="d", study="s", dataset="bolus", reference="r", route="iv_bolus", dose=1.0,
                            dose_unit="mg", infusion_h=0.0, sex="male", weight_kg=None, matrix="plasma",
                            group="verification", n="1", statistic="mean", times=(0.0, 0.5, 1.0, 2.0),
                            values=(0.0005, 4.0, 2.0, 1.0), line=10)
    oral = ObservedProfile(**{**bolus.__dict__, "dataset": "oral", "route": "oral", "values": (0.0, 4.0, 2.0, 1.0)})
    pred_b = q.ProfilePrediction(bolus, np.zeros(1), np.zeros(1), np.array([50.0, 4.0, 2.0, 1.0]))
    pred_o = q.ProfilePrediction(oral, np.zeros(1), np.zeros(1), np.array([0.0, 4.0, 2.0, 1.0]))
    assert pred_b.compared.tolist() == [False, True, True, True]
    assert pred_o.compared.all()
    # the metrics only need the prediction at the observed times: a fixed one stands in for the simulation
    monkeypatch.setattr(q, "predict_profile", lambda p, drug, model: pred_b if p is bolus else pred_o)
    studies, points, _ = q.qualify([bolus, oral], {"d": None}, None)  # type: ignore[dict-item, arg-type]
    by_set = studies.set_index("dataset")
    # the bolus profile is scored on its 0.5-2 h points only: Cmax 4 vs 4, AUC of the same three points
    assert by_set.loc["bolus", "cmax_ratio"] == 1.0
    assert by_set.loc["bolus", "auc_obs"] == pytest.approx(_hand_trapezoid([0.5, 1.0, 2.0], [4.0, 2.0, 1.0]))
    assert by_set.loc["oral", "auc_obs"] == pytest.approx(_hand_trapezoid([0.0, 0.5, 1.0, 2.0], [0.0, 4.0, 2.0, 1.0]))
    assert len(points) == 8 and points["compared"].sum() == 7
    assert set(q.compared_points(points)["time_h"]) == {0.5, 1.0, 2.0}


def test_an_iv_bolus_data_set_without_a_point_after_the_dose_is_refused(tmp_path: Path) -> None:
    header, rows = _rows()
    col = {name: i for i, name in enumerate(header)}
    first = next(r for r in rows if r[col["study"]] == "Darwish 2008" and float(r[col["time_h"]]) == 0.0)
    assert first[col["route"]] == "iv"  # an IV bolus with a pre-dose point at time 0
    path = tmp_path / "bolus.tsv"
    path.write_text("\t".join(header) + "\n" + "\t".join(first) + "\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bolus\.tsv:2, column time_h: .* no observation after the dose time"):
        load_profiles(path, load_drugs(PBPK / "drugs"))


def test_the_report_lists_the_values_fitted_to_building_profiles() -> None:
    from qsp_sbml.pbpk.qualification_report import fitted_values

    drugs = load_drugs(PBPK / "drugs")
    fitted = fitted_values(drugs, ["fluconazole", "midazolam", "omeprazole"])
    assert [(f["drug"], f["parameter"]) for f in fitted] == [
        ("midazolam", "kp_scale"), ("midazolam", "absorption.ka"), ("omeprazole", "kp_scale")]
    assert fitted[0]["value"] == drugs["midazolam"].kp_scale != 1.0
    assert fitted_values(drugs, ["fluconazole", "warfarin"]) == []
