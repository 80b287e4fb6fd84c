"""qsp_sbml._io: files and folders appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from qsp_sbml._io import atomic_folder, atomic_write_bytes, atomic_write_many


def _tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def test_write_many_all_or_none(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    before = _tree(tmp_path)
    with pytest.raises(OSError):
        atomic_write_many({tmp_path / "a.txt": "new a", tmp_path / "b.txt": b"new b",
                           tmp_path / "blocker" / "c.txt": "cannot be written"})
    assert _tree(tmp_path) == before  # a.txt untouched, b.txt not created, no temporary files left
    written = atomic_write_many({tmp_path / "a.txt": "new a", tmp_path / "sub" / "b.txt": b"new b"})
    assert written == [tmp_path / "a.txt", tmp_path / "sub" / "b.txt"]
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "sub" / "b.txt").read_bytes() == b"new b"
    assert not list(tmp_path.rglob(".*"))


def test_write_bytes_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_folder_replaced_whole_or_left_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous run")
    before = _tree(tmp_path)
    with pytest.raises(RuntimeError, match="half-way"), atomic_folder(out) as tmp:
        (tmp / "new.txt").write_text("partial")
        raise RuntimeError("failed half-way")
    assert _tree(tmp_path) == before
    with atomic_folder(out) as tmp:
        (tmp / "new.txt").write_text("complete")
    assert _tree(tmp_path) == {"out": None, "out/new.txt": b"complete"}
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)
