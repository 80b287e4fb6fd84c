"""Exchange with other tools (optional dependencies, imported lazily).

- :mod:`qsp_sbml.interop.copasi`: simulate an SBML (or comp SBML) file with COPASI.
- :mod:`qsp_sbml.interop.crosscheck`: RoadRunner vs COPASI per output under an exchange plan.
- :mod:`qsp_sbml.interop.omex`: COMBINE archives with SED-ML (export), safe import of archives and SBML files.
- :mod:`qsp_sbml.interop.antimony`: Antimony text in and out.
"""
