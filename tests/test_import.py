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
