"""Fluvoxamine exposure at repeated doses, and what it does to the CYP1A2 DDI predictions (a measurement).

The fluvoxamine drug record's clearance ``cl_iv`` comes from a single 22 mg IV infusion; its only saturable
pathway is CYP2D6 with the literature Km 76.3 uM (Miura & Ohkubo 2007), far above clinical unbound
concentrations, so the record is linear in practice. Fluvoxamine's disposition is not linear on repeated dosing
(Spigset O et al. 1998 Br J Clin Pharmacol 45:257, "Non-linear fluvoxamine disposition"). This script
measures, with the record as shipped:

1. predicted vs observed fluvoxamine plasma concentrations under the multiple-dose regimens of the OSP
   fluvoxamine snapshot (Open-Systems-Pharmacology/Fluvoxamine-Model@555fc20d5f: observed data sets and
   the dose times of their simulation protocols, doses in mg base = maleate x 0.7328; data copied below);
2. for each fluvoxamine study of ``models/pbpk/validation/ddi_studies.tsv``: the simulated fluvoxamine
   plasma Cmax within 24 h of the victim's dose, the peak unbound liver concentration in that window (``Cu_liver``,
   the concentration the enzyme module sees) over the record's Ki, and the predicted AUC ratio;
3. a DIAGNOSTIC, not a prediction and not shipped: ``cl_iv`` refitted (one parameter) to the Fleishaker 1994
   repeated-dose profile (a PK data set, no DDI data), then the same studies again. It shows how much of
   the CYP1A2 under-prediction the perpetrator's exposure explains.
4. a DIAGNOSTIC, not a prediction and not shipped: the record plus the CYP1A2 Km of the OSP fluvoxamine
   model (7.35 nM, parameter-identified by OSP on its building studies, which include Fleishaker 1994 and
   Spigset 1998 of item 1; evaluation report section 2.3.5), with ``cl_iv`` unchanged: the IV building study's
   clearance, the repeated-dose exposure of item 1 and the same DDI studies.

Figures quoted in ``models/pbpk/enzyme_turnover.md`` ("Fluvoxamine and CYP1A2"). Usage::

    python benchmarks/fluvoxamine_exposure.py
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

import qsp_sbml as qs
from qsp_sbml.dosing import Dose, Regimen, Route
from qsp_sbml.pbpk.ddi_verification import load_ddi_studies
from qsp_sbml.pbpk.drugs import DrugRecord, load_drugs
from qsp_sbml.pbpk.interaction import predict_ddi
from qsp_sbml.pbpk.parameters import parameterise
from qsp_sbml.pbpk.structure import DOSE_TARGETS
from qsp_sbml.physiology import reference
from qsp_sbml.resources import project_models_dir

MG_BASE = 0.7328  # fluvoxamine base per mg maleate (the snapshot's protocols)


def _q(n: int, every: float, mg_maleate: float, start: float = 0.0) -> list[tuple[float, float]]:
    return [(start + every * i, round(mg_maleate * MG_BASE, 2)) for i in range(n)]


_SPIGSET = _q(14, 12, 12.5) + _q(14, 12, 25, 168) + _q(14, 12, 50, 336) + _q(14, 12, 100, 504)

#: Observed mean plasma concentrations (h: ng/mL) and regimens (h, mg base) of the OSP snapshot's
#: multiple-dose data sets (adults; Fleishaker 1994 mixes smokers and non-smokers, Spigset 1998 CYP2D6
#: extensive and poor metabolisers, as the snapshot's data-set names say).
OBSERVED: dict[str, tuple[str, list[tuple[float, float]], str]] = {
    "Fleishaker 1994, 50 mg q.d. x 3 then 100 mg q.d. x 7": (
        "Fleishaker J, Hulst L 1994 Eur J Clin Pharmacol 46:35",
        _q(3, 24, 50) + _q(7, 24, 100, 72),
        "1:2.18 2:8.23 4:17.7 6:20.3 8:19.3 12:15.9 16:13.5 20:10.8 24:9.37 48:14.1 72:17.4 96:32.8 120:40.6 "
        "144:48.8 168:51.6 192:57.4 216:53.4 217:58.6 218:69.2 220:84.4 221:87.8 222:86.2 223:85.1 225:88.3 "
        "226:84.4 227:81 228:77.1 230:75.6 231:72.3 232:69.5 233:70 235:64 237:60.5 240:57.6 245:55.5 252:49.4"),
    "de Vries 1992, 50 mg b.i.d. x 28 days (last dose 648 h)": (
        "DeVries M et al. 1992 Ther Drug Monit 14:493", _q(55, 12, 50),
        "648:89.9 650:79.9 652:100 654:95 656:94.1 660:73.3 672:66.3 678:52.3 704:20.1 720:10.3"),
    "Spigset 1998, 12.5 mg b.i.d. (day 7)": ("Spigset O et al. 1998 Br J Clin Pharmacol 45:257", _SPIGSET,
                                             "144:4.68 147.5:7.99"),
    "Spigset 1998, 25 mg b.i.d. (day 14)": ("Spigset O et al. 1998", _SPIGSET, "312:15.9 314.5:24.3"),
    "Spigset 1998, 50 mg b.i.d. (day 21)": ("Spigset O et al. 1998", _SPIGSET, "480:53.5 482.5:77.7"),
    "Spigset 1998, 100 mg b.i.d. (day 28)": ("Spigset O et al. 1998", _SPIGSET, "648:189 651.5:235"),
}


def _points(text: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [tuple(map(float, p.split(":"))) for p in text.split()]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _simulate(model: qs.Model, drug: DrugRecord, doses: Sequence[tuple[float, float]], times: np.ndarray,
              output: str = "C_plasma") -> np.ndarray:
    """``output`` (plasma, or unbound liver ``Cu_liver``) at ``times`` in ng/mL after oral ``doses``."""
    regimen = Regimen.of(*[Dose(amount=a, unit="mg", route=Route.ORAL, time=t, time_unit="h",
                                target=DOSE_TARGETS[Route.ORAL]) for t, a in doses])
    grid = np.unique(np.concatenate([np.arange(0.0, times.max() + 0.5, 0.25), times]))
    frame = model.simulate(grid, selections=[output], parameters=parameterise(drug, reference("male")).values,
                           regimen=regimen)
    return np.interp(times, frame["time"].to_numpy(), frame[output].to_numpy() * 1000.0)


def _with_cl(drug: DrugRecord, cl: float) -> DrugRecord:
    return drug.model_copy(update={"clearance": drug.clearance.model_copy(update={"cl_iv": cl})})


def _exposure(model: qs.Model, record: DrugRecord) -> None:
    for name, (source, doses, text) in OBSERVED.items():
        t, obs = _points(text)
        ratio = _simulate(model, record, doses, t) / obs
        print(f"   {name}: n = {t.size}, geometric mean {math.exp(np.log(ratio).mean()):.2f} "
              f"(range {ratio.min():.2f}-{ratio.max():.2f}); {source}")


def _iv_clearance(model: qs.Model, record: DrugRecord) -> float:
    """Dose / AUC(0-240 h) of the 21.98 mg base 60-min IV infusion of Japanese Society 2015 (the cl_iv study)."""
    t = np.linspace(0.0, 240.0, 2401)
    regimen = Regimen.of(Dose(amount=21.98, unit="mg", route=Route.IV_INFUSION, duration=1.0, time_unit="h",
                              target=DOSE_TARGETS[Route.IV_INFUSION]))
    c = model.simulate(t, selections=["C_plasma"], parameters=parameterise(record, reference("male")).values,
                       regimen=regimen)["C_plasma"].to_numpy()
    return 21.98 / float(np.sum((c[1:] + c[:-1]) / 2 * np.diff(t)))


def main() -> None:
    root = project_models_dir() / "pbpk"
    drugs = load_drugs(root / "drugs")
    fv = drugs["fluvoxamine"]
    model = qs.load_model(str(root / "wholebody_pbpk.xml"), guard=False)
    print(f"fluvoxamine record: cl_iv {fv.clearance.cl_iv} L/h, Km {fv.clearance.km} uM, fu {fv.fu}, CYP1A2 Ki "
          f"{fv.interactions['CYP1A2'].ki} uM; models from {root}\n")
    print("1. repeated doses, predicted / observed plasma concentration (reference male)")
    _exposure(model, fv)

    t_f, obs_f = _points(next(iter(OBSERVED.values()))[2])
    doses_f = next(iter(OBSERVED.values()))[1]

    def loss(log_cl: float) -> float:
        return float(np.mean(np.log(_simulate(model, _with_cl(fv, math.exp(log_cl)), doses_f, t_f) / obs_f) ** 2))

    cl_fit = math.exp(minimize_scalar(loss, bounds=(math.log(5.0), math.log(200.0)), method="bounded").x)
    studies = [s for s in load_ddi_studies(root / "validation" / "ddi_studies.tsv", drugs)
               if s.design.perpetrator == "fluvoxamine"]
    ki_mg_l = (fv.interactions["CYP1A2"].ki or math.nan) * fv.molecular_weight / 1000.0
    osp_km = fv.model_copy(update={"clearance": fv.clearance.model_copy(
        update={"km": {**fv.clearance.km, "CYP1A2": 0.00735}})})
    for label, record in (("2. record as shipped (predicted)", fv),
                          (f"3. DIAGNOSTIC: cl_iv {cl_fit:.1f} L/h fitted to Fleishaker 1994 (not a prediction)",
                           _with_cl(fv, cl_fit)),
                          ("4. DIAGNOSTIC: plus OSP's identified CYP1A2 Km 7.35 nM, cl_iv unchanged (not a prediction)",
                           osp_km)):
        print(f"\n{label}")
        if record is osp_km:
            print(f"   IV 22 mg, dose / AUC(0-240 h): {_iv_clearance(model, osp_km):.1f} L/h "
                  f"(record as shipped {_iv_clearance(model, fv):.1f} L/h; cl_iv {fv.clearance.cl_iv} L/h)")
            _exposure(model, osp_km)
        current = {**drugs, "fluvoxamine": record}
        for s in studies:
            r = predict_ddi(s.design, current)
            t0 = s.design.victim_time_h
            window = np.arange(max(0.0, t0 - 24.0), t0 + 24.0 + 1e-9, 0.25)
            peak_u = _simulate(model, record, s.design.perpetrator_doses, window, "Cu_liver").max() / 1000.0
            print(f"   {s.id:>6} {s.study[:26]:26s} {s.design.victim:10s} observed {s.obs_auc_ratio:6.2f}  "
                  f"dynamic {r.auc_ratio:5.2f}  fluvoxamine Cmax {r.perpetrator_cmax * 1000:5.1f} ng/mL  "
                  f"peak unbound liver / Ki {peak_u / ki_mg_l:4.1f}")


if __name__ == "__main__":
    main()
