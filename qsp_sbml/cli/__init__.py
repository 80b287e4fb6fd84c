"""The ``qsp-sbml`` command line: thin wrappers over the Python API, one module per group of commands.

:mod:`qsp_sbml.cli.main` holds the ``main`` group and registers the commands of the other modules
(``calibrate``, ``compose``, ``fhir``, ``gsa``, ``interop``, ``library``, ``pbpk``, ``petab``, ``population``,
``trial``); :mod:`qsp_sbml.cli.common` the error handling and JSON output they share.
"""

from qsp_sbml.cli.main import main

__all__ = ["main"]
