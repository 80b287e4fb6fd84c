"""Simulation: integrator options, dosing timelines, model inputs."""

from qsp_sbml.simulate.options import IntegratorOptions

__all__ = ["IntegratorOptions"]
