"""Exchange with other tools (optional dependencies, imported lazily).

- :mod:`qsp_sbml.interop.copasi`: simulate an SBML (or comp SBML) file with COPASI.
"""
