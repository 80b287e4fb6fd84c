"""Atomic file writes: a file appears whole or not at all."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["atomic_folder", "atomic_write_bytes", "atomic_write_many", "atomic_write_text", "check_output_folder",
           "differing", "json_text", "replace_folder", "sync_generated"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text version of :func:`atomic_write_bytes` (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_many(files: Mapping[Path, str | bytes]) -> list[Path]:
    """Write several files (path -> text or bytes) all or none.

    Every file is first written whole to a temporary file beside its target;
    only when all are written are they renamed over their targets (renames do
    not fail for want of space).  If writing any of them fails, no target is
    touched and the temporary files are removed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return [target for _, target in staged]


@contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder in a temporary folder beside ``path``; on success it replaces ``path`` whole.

    On an exception the temporary folder is removed and ``path`` (if it
    existed) is left exactly as it was.  A previous ``path`` is renamed aside
    and removed only after the new folder is in place.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_folder(root / "out") as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(p.name for p in (root / "out").iterdir())
    ['a.txt']
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary folder
        yield tmp
        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``, replacing a previous ``target`` whole.

    The old folder is renamed aside first and restored if the final rename fails, so ``target`` is
    either the old folder or the new one (for an instant, between the two renames, neither).
    """
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{tmp.name}")
        target.rename(backup)
        try:
            tmp.rename(target)
        except BaseException:
            backup.rename(target)
            raise
        shutil.rmtree(backup, ignore_errors=True)
    else:
        tmp.rename(target)


def check_output_folder(path: str | os.PathLike[str], *, marker: str | tuple[str, ...], what: str,
                        option: str = "--out", error: type[Exception] | None = None) -> Path:
    """Refuse, before any work, an output folder that :func:`atomic_folder` must not replace.

    A command that writes its output folder whole replaces a previous run of itself (recognised by its
    ``marker`` file, which the command writes into every output folder; a tuple when one file name is shared
    with another command's folders: all of them must be there) or an empty folder; anything else at
    ``path`` (a file, a folder without ``marker``) is something the user made, and is refused with a message
    naming it and ``option``.  ``error`` is the exception class (default
    :class:`qsp_sbml.errors.QspError`).

    >>> import tempfile, pathlib
    >>> mine = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (mine / "notes.txt").write_text("keep me")
    >>> check_output_folder(mine, marker="metrics.json", what="calibration results")
    Traceback (most recent call last):
    ...
    qsp_sbml.errors.QspError: ...: exists and is not a calibration results folder (no metrics.json); ...
    """
    if error is None:
        from qsp_sbml.errors import QspError

        error = QspError
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise error(f"{target}: is a file, not a {what} folder; choose another {option} (nothing was written)")
    markers = (marker,) if isinstance(marker, str) else marker
    missing = [m for m in markers if not (target / m).is_file()]
    if target.exists() and any(target.iterdir()) and missing:
        raise error(f"{target}: exists and is not a {what} folder (no {' and no '.join(missing)}); choose another "
                    f"{option} or remove it (nothing was written)")
    return target


def _plain(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return float(f"{v:.12g}") if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def json_text(obj: Any) -> str:
    """Canonical JSON for result files.

    NaN and infinities become ``null`` (valid JSON), floats keep 12 significant digits, numpy scalars and
    paths become plain values.

    >>> print(json_text({"ccc": float("nan"), "n": 3}), end="")
    {
      "ccc": null,
      "n": 3
    }
    """
    return json.dumps(_plain(obj), indent=2, allow_nan=False) + "\n"


def differing(files: Mapping[Path, str]) -> list[Path]:
    """The paths in ``files`` (path -> expected text) that are missing or whose text differs."""
    return [path for path, text in files.items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def sync_generated(files: Mapping[Path, str], *, check: bool, command: str) -> int:
    """Write generated ``files`` (path -> text), or with ``check`` only compare them.

    Returns 1 when ``check`` finds a missing or differing file (each named on
    stderr with ``command``, the one that regenerates it), else 0.
    """
    stale = differing(files) if check else []
    if not check:
        for path, text in files.items():
            atomic_write_text(path, text)
            sys.stdout.write(f"wrote {path}\n")
    for path in stale:
        sys.stderr.write(f"{path} differs from the generated model; run {command}\n")
    return 1 if stale else 0
