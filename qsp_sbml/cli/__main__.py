"""``python -m qsp_sbml.cli`` runs the command line."""

from qsp_sbml.cli.main import main

if __name__ == "__main__":
    main()
