"""Fuzz ``qsp-sbml validate`` with mutated shipped models: no crash, no hang, no traceback.

The driver (tests/fuzz_validate.py) runs in a subprocess with a hard timeout:
a native crash ends that process (seen here as its exit status), a hang runs
into the timeout, and the last "start" line names the mutant responsible.
Budget: 10 s by default, 60 s with ``--run-slow`` (QSP_SBML_FUZZ_SECONDS overrides).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_mutated_sbml_never_crashes_hangs_or_shows_a_traceback(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    budget = float(os.environ.get("QSP_SBML_FUZZ_SECONDS", 60 if request.config.getoption("--run-slow") else 10))
    seed = int(os.environ.get("QSP_SBML_FUZZ_SEED", "20261122"))
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.fuzz_validate", str(seed), str(budget), str(tmp_path)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=budget + 120)
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        last = out.strip().splitlines()[-1] if out.strip() else "(nothing)"
        pytest.fail(f"validate hung; last mutant started: {last}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, f"driver died (exit {proc.returncode}) at {lines[-1] if lines else None}: " \
                                 f"{proc.stderr[-2000:]}"
    results = [r for r in lines if "exit_code" in r]
    assert len(results) >= 5, f"only {len(results)} mutants ran in {budget} s"
    bad = [r for r in results if r["exit_code"] not in (0, 1) or r["exception"] or r["traceback"]
           or not r["json_ok"]]
    assert not bad, bad[:5]
    # the mutations are real: most mutants are refused
    assert sum(r["exit_code"] == 1 for r in results) >= len(results) // 3, results
