"""Atomic file writes: a file appears whole or not at all."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "differing", "sync_generated"]


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
