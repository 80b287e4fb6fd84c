"""``python -m qsp_sbml`` runs the CLI."""

from qsp_sbml.cli.main import main

if __name__ == "__main__":
    main()
