import subprocess
import sys


def test_import_does_not_pull_heavy_optional_deps():
    code = (
        "import sys, qsp_sbml\n"
        "heavy = {'matplotlib', 'pypesto', 'petab', 'tellurium', 'dask', 'tqdm', 'roadrunner'}\n"
        "loaded = sorted(m for m in heavy if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api_is_curated():
    import qsp_sbml

    for name in qsp_sbml.__all__:
        assert hasattr(qsp_sbml, name), name
    assert qsp_sbml.__version__


def test_subpackages_are_lazy_attributes():
    code = (
        "import sys, pkgutil, qsp_sbml as qs\n"
        "assert 'qsp_sbml.trial' not in sys.modules and 'qsp_sbml.metrics' not in sys.modules\n"
        "assert callable(qs.metrics.nca) and qs.trial.__name__ == 'qsp_sbml.trial'\n"
        "assert 'qsp_sbml.metrics' in sys.modules\n"
        "public = {m.name for m in pkgutil.iter_modules(qs.__path__) if not m.name.startswith('_')}\n"
        "public -= {'cli', 'demo', 'input_checks'}\n"
        "missing = sorted(public - set(qs._SUBMODULES))\n"
        "assert not missing, f'public modules not reachable as qs.<name>: {missing}'\n"
        "for name in qs._SUBMODULES:\n"
        "    assert getattr(qs, name).__name__ == f'qsp_sbml.{name}'\n"
        "assert 'metrics' in dir(qs)\n"
        "try:\n"
        "    qs.no_such_thing\n"
        "except AttributeError as err:\n"
        "    assert 'no_such_thing' in str(err)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_is_the_installed_distribution_version():
    from importlib.metadata import version

    import qsp_sbml

    assert qsp_sbml.__version__ == version("qsp-sbml")
    out = subprocess.run([sys.executable, "-m", "qsp_sbml", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"qsp-sbml, version {qsp_sbml.__version__}"
