"""Calibration workflows on our PEtab objective with pyPESTO: multistart, profiles, sampling, stored results.

pyPESTO, fides and matplotlib are imported only when a workflow runs.
"""

from qsp_sbml.calibrate.multistart import MultistartResult, multistart, start_points
from qsp_sbml.calibrate.plots import plot_fit, plot_profiles, plot_traces, plot_waterfall
from qsp_sbml.calibrate.profile import profile, profile_intervals
from qsp_sbml.calibrate.sample import SamplingResult, sample
from qsp_sbml.calibrate.store import CalibrationRun, load, save

__all__ = [
    "CalibrationRun",
    "MultistartResult",
    "SamplingResult",
    "load",
    "multistart",
    "plot_fit",
    "plot_profiles",
    "plot_traces",
    "plot_waterfall",
    "profile",
    "profile_intervals",
    "sample",
    "save",
    "start_points",
]
