"""Every code block of README.md and the documentation (docs/**/*.md) runs, with sybil's MyST parsers.

* ```python blocks execute in one namespace per document; a block starting with ``>>>`` is a doctest
  (its printed output must match).
* ```console and ```bash blocks run their commands: each command must start with ``qsp-sbml``
  (``$ qsp-sbml ...`` in a console block; lines without ``$`` there are output, not compared) and exit 0.
* A block preceded by ``<!-- file: NAME -->`` is written to the file NAME (a spec the next commands read).
* All blocks of one document run in one temporary folder holding what ``qsp-sbml examples copy`` writes
  (the shipped ``models/``, ``petab_problems/``, ``trials/``, ``notebooks/``; one copy per session, linked
  into each document's folder), so commands use the same relative paths as a reader who ran it.  Commands
  run as the console script does, in processes forked from a server that imported qsp-sbml once (each
  command pays only for its own work); examples write their outputs into the document's folder.
* Other blocks (``yaml``, ``text``...) are not run; the format pages' examples are checked by
  tests/test_docs_formats.py.
* A block that must not run (installs, ``make``) is marked before it with
  ``<!-- skip: next "why" -->``; a long one with
  ``<!-- skip: next if(not RUN_SLOW, "slow: why") -->``, which runs under ``--run-slow``.

There is one test per block, in document order; a block first runs the blocks before it in its document
(once), so ``-k`` can select any block.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sybil = pytest.importorskip("sybil")
from sybil import Document, Example, Region  # noqa: E402
from sybil.evaluators.skip import Skipper  # noqa: E402
from sybil.parsers.myst import CodeBlockParser, PythonCodeBlockParser, SkipParser  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
#: Folders of docs/ that hold no hand-written pages: the build, generated model pages, the notebooks link.
NOT_SOURCES = ("_build", "_ext", "models", "tutorials", "api")
#: Commands a shell block may run.
ALLOWED = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)*qsp-sbml(?:\s|$)")
#: Wall-clock limit of one command (a slow block is skipped unless --run-slow).
COMMAND_TIMEOUT_S = 900


def documents() -> list[Path]:
    """README.md and every Markdown page of docs/ written by hand."""
    pages = [p for p in sorted(DOCS.rglob("*.md"))
             if not any(part in NOT_SOURCES for part in p.relative_to(DOCS).parts[:-1])]
    return [REPO / "README.md", *pages]


def _commands(block: str, language: str) -> Iterator[str]:
    """The commands of a shell block: ``$``-prompted lines in console blocks, every line in bash blocks."""
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if language == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.rstrip().endswith("\\") and i < len(lines):  # continuation lines
            line = line.rstrip()[:-1].rstrip() + " " + lines[i].strip()
            i += 1
        yield line.strip()


_MASTER: list[Path] = []


def _examples_master() -> Path:
    """One ``qsp-sbml examples copy`` per session; each document gets a copy of it."""
    if not _MASTER:
        base = Path(tempfile.mkdtemp(prefix="qsp-sbml-doc-examples-"))
        subprocess.run([*_qsp_sbml(), "examples", "copy", str(base / "ex")], check=True, capture_output=True,
                       text=True, timeout=COMMAND_TIMEOUT_S)
        _MASTER.append(base / "ex")
    return _MASTER[0]


def _qsp_sbml() -> list[str]:
    exe = Path(sys.executable).parent / "qsp-sbml"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "qsp_sbml"]


_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
#: Modules the command runner imports once, so that each command pays only for its own work.
_PRELOAD = ["qsp_sbml.cli", "roadrunner", "libsbml", "numpy", "pandas", "yaml", "click"]


def _run_cli(argv: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """Run ``qsp-sbml ARGV`` the way the console script does (in a child process of the fork server)."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    from qsp_sbml.cli import main

    main.main(args=argv, prog_name="qsp-sbml")  # exits through SystemExit with the command's code


def _context() -> Any:
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def run_command(command: str, cwd: Path) -> tuple[int, str, str]:
    """Run one ``qsp-sbml ...`` command line (optional ``NAME=value`` prefixes); exit code, stdout, stderr.

    The command runs as the console script would, in a process forked from a server that has imported
    qsp-sbml once (no shell: quoting as in a POSIX shell, no pipes or redirections).
    """
    words = shlex.split(command)
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if not words or words[0] != "qsp-sbml" or any(w in {"|", "||", "&&", ";", ">", ">>", "<"} for w in words):
        raise ValueError(f"not a plain qsp-sbml command: {command!r}")
    ctx = _context()
    if ctx is None:  # no fork server on this platform: the console script itself
        done = subprocess.run([*_qsp_sbml(), *words[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        return done.returncode, done.stdout, done.stderr
    with tempfile.TemporaryDirectory(prefix="qsp-sbml-cmd-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = ctx.Process(target=_run_cli, args=(words[1:], str(cwd), env, str(out), str(err)))
        child.start()
        child.join(COMMAND_TIMEOUT_S)
        if child.is_alive():
            child.kill()
            child.join()
            raise TimeoutError(f"{command!r} ran longer than {COMMAND_TIMEOUT_S} s")
        return int(child.exitcode or 0), _read(out), _read(err)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _shell_evaluator(language: str) -> Any:
    def evaluate(example: Example) -> None:
        for command in _commands(example.parsed, language):
            if not ALLOWED.match(command):
                raise AssertionError(
                    f"{example.path}, line {example.line}: {command!r} is not a qsp-sbml command; run only "
                    'qsp-sbml in shell blocks, or mark the block <!-- skip: next "why" -->')
            code, out, err = run_command(command, Path.cwd())
            if code != 0:
                raise AssertionError(f"{example.path}, line {example.line}: `{command}` exited {code}\n"
                                     f"stdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")
    return evaluate


_FILE_BLOCK = re.compile(r"^<!-- file: (?P<name>[^\s>]+) -->\n```[^\n]*\n(?P<text>.*?)^```", re.MULTILINE | re.DOTALL)


def _write_file(example: Example) -> None:
    name, text = example.parsed
    target = Path(name)
    if target.is_absolute() or ".." in target.parts:
        raise AssertionError(f"{example.path}, line {example.line}: file blocks write inside the example folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def file_block_parser(document: Document) -> Iterator[Region]:
    """``<!-- file: NAME -->`` then a fenced block: the block's text is written to NAME."""
    for match in _FILE_BLOCK.finditer(document.text):
        yield Region(match.start(), match.end(), (match["name"], match["text"]), _write_file)


PARSERS = [
    file_block_parser,
    PythonCodeBlockParser(),
    CodeBlockParser("console", _shell_evaluator("console")),
    CodeBlockParser("bash", _shell_evaluator("bash")),
    SkipParser(),
]


def _regions(path: Path) -> list[Example]:
    return list(Document.parse(str(path), *PARSERS))


def _is_code(example: Example) -> bool:
    """A code block (a test of its own), not a skip or file directive (run before the block they precede)."""
    return not isinstance(example.region.evaluator, Skipper) and example.region.evaluator is not _write_file


CASES = [pytest.param(path, k, id=f"{path.relative_to(REPO)}:{example.line}")
         for path in documents() for k, example in enumerate(_regions(path)) if _is_code(example)]


@dataclass
class DocRun:
    """One document's examples, run in order, once."""

    examples: list[Example]
    done: int = 0
    failed_at: int | None = None
    skipped: dict[int, str] = field(default_factory=dict)
    cwd: Path | None = None


_RUNS: dict[Path, DocRun] = {}


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[Path, DocRun]]:
    """Per-document state; every document runs in its own copy of the example files, removed at the end."""
    yield _RUNS
    for run in _RUNS.values():
        if run.cwd is not None:
            shutil.rmtree(run.cwd.parent, ignore_errors=True)
    _RUNS.clear()
    for master in _MASTER:
        shutil.rmtree(master.parent, ignore_errors=True)
    _MASTER.clear()


def _advance(run: DocRun, upto: int) -> None:
    """Evaluate the document's examples up to and including index ``upto`` (each at most once)."""
    while run.done <= upto:
        k, example = run.done, run.examples[run.done]
        run.done += 1
        if run.failed_at is not None:
            continue
        try:
            example.evaluate()
        except unittest.SkipTest as skip:
            run.skipped[k] = str(skip)
        except BaseException:
            run.failed_at = k
            raise


@pytest.mark.parametrize(("path", "index"), CASES)
def test_doc_block(path: Path, index: int, runs: dict[Path, DocRun], request: pytest.FixtureRequest) -> None:
    if path not in runs:
        run = DocRun(_regions(path))
        run.cwd = Path(tempfile.mkdtemp(prefix="qsp-sbml-doc-")) / "ex"
        run.cwd.mkdir()
        for folder in _examples_master().iterdir():  # the example files, shared read-only by the documents
            (run.cwd / folder.name).symlink_to(folder, target_is_directory=folder.is_dir())
        namespace = run.examples[0].namespace if run.examples else {}
        namespace["RUN_SLOW"] = bool(request.config.getoption("--run-slow", default=False))
        runs[path] = run
    run = runs[path]
    previous = Path.cwd()
    os.chdir(run.cwd)  # every block of the document runs in its folder
    try:
        if run.failed_at is not None and run.failed_at < index:
            pytest.fail(f"an earlier block of {path.name} (line {run.examples[run.failed_at].line}) failed")
        _advance(run, index - 1)
        if run.failed_at is not None:
            pytest.fail(f"an earlier block of {path.name} (line {run.examples[run.failed_at].line}) failed")
        _advance(run, index)
    finally:
        os.chdir(previous)
    if index in run.skipped:
        pytest.skip(run.skipped[index])


def test_shell_block_commands_are_parsed() -> None:
    block = "$ qsp-sbml validate m.xml\nm.xml: valid\n$ qsp-sbml trial t.yaml \\\n    --seed 1\n"
    assert list(_commands(block, "console")) == ["qsp-sbml validate m.xml", "qsp-sbml trial t.yaml --seed 1"]
    assert ALLOWED.match("QSP_SBML_TRIAL_MAX_REPLICATES=2 qsp-sbml trial x.yaml")
    assert not ALLOWED.match("pip install qsp-sbml")
    assert shlex.split(next(_commands("# comment\nqsp-sbml models list\n", "bash"))) == ["qsp-sbml", "models", "list"]
