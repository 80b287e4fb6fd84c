from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    for flag in ("slow", "conformance"):
        parser.addoption(f"--run-{flag}", action="store_true", help=f"run tests marked {flag}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for flag in ("slow", "conformance"):
            if flag in item.keywords and not config.getoption(f"--run-{flag}"):
                item.add_marker(pytest.mark.skip(reason=f"needs --run-{flag}"))


def conformance_dir() -> Path:
    """Where ../shared/conformance is (QSP_SBML_CONFORMANCE_DIR overrides)."""
    env = os.environ.get("QSP_SBML_CONFORMANCE_DIR")
    path = Path(env) if env else REPO.parent / "shared" / "conformance"
    return path if path.is_absolute() else (REPO / path).resolve()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def run():
    """Invoke the ``qsp-sbml`` command line in-process: ``run("models", "list")`` -> click's Result."""
    from click.testing import CliRunner

    from qsp_sbml.cli import main

    runner = CliRunner()

    def invoke(*args: object):
        return runner.invoke(main, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def wholebody_model():
    """The shipped whole-body PBPK module, compiled once (test_pbpk, test_pbpk_saturable)."""
    import qsp_sbml as qs
    from qsp_sbml.resources import project_models_dir

    return qs.load_model(project_models_dir() / "pbpk" / "wholebody_pbpk.xml", guard=False)


@pytest.fixture(scope="session")
def midazolam_record():
    """The shipped midazolam drug record."""
    from qsp_sbml.pbpk import load_drug
    from qsp_sbml.resources import project_models_dir

    return load_drug(project_models_dir() / "pbpk" / "drugs" / "midazolam.yaml")
