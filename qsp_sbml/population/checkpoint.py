"""Resumable cohort runs: results written in chunks (Parquet) with a JSON manifest.

A run with an output folder ``DIR`` splits the cohort into chunks of ``chunk_size`` consecutive subjects.
Each finished chunk is written atomically to ``DIR/chunk-NNNNN.parquet`` (one row per subject: row index,
subject id, status, failure time, message and the subject's trajectories as one fixed-size list), then the
manifest ``DIR/manifest.json`` is rewritten atomically to list it with its subject range and sha256.  A chunk
is therefore either listed and whole, or not listed: after a kill (even SIGKILL) a resumed run reads the
listed chunks back (checksums verified) and simulates only the others, so no subject is lost or duplicated,
and since each subject's simulation is deterministic the result equals that of an uninterrupted run.

The manifest records what the results depend on (model and cohort hashes, regimen, output times, outputs,
integrator options, chunk size, seed); resuming with different inputs is refused with a message that names
what differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qsp_sbml._io import atomic_write_bytes, atomic_write_text
from qsp_sbml.errors import QspError

__all__ = ["MANIFEST", "Checkpoint", "ChunkData", "ResumeError", "cohort_sha256"]

logger = logging.getLogger(__name__)

#: File name of the manifest inside a run folder.
MANIFEST = "manifest.json"
_FORMAT = 1


class ResumeError(QspError, ValueError):
    """A run folder cannot be used: it holds another run, or a partial run without ``resume``."""


def cohort_sha256(subject_ids: list[Any], columns: list[str], matrix: np.ndarray) -> str:
    """Hash of what a cohort contributes to a simulation: subject ids, parameter columns and values."""
    h = hashlib.sha256()
    h.update(json.dumps([str(s) for s in subject_ids]).encode())
    h.update(json.dumps(columns).encode())
    h.update(np.ascontiguousarray(matrix, dtype="<f8").tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ChunkData:
    """The results of one chunk: subjects ``start..stop-1``."""

    start: int
    stop: int
    values: np.ndarray        # (stop - start, n_times, n_outputs)
    status: list[str]
    fail_time: np.ndarray
    messages: list[str]


class Checkpoint:
    """The chunk files and manifest of one run folder.

    Parameters
    ----------
    folder
        The run folder (created when missing).
    inputs
        What the results depend on (JSON-serialisable); compared on resume.
    n
        Number of subjects.
    chunk_size
        Subjects per chunk.
    resume
        Continue a run found in ``folder``; without it a partial run there is an error.
    """

    def __init__(self, folder: str | Path, inputs: Mapping[str, Any], n: int, chunk_size: int, *,
                 resume: bool) -> None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.folder = Path(folder)
        self.inputs = json.loads(json.dumps(dict(inputs)))  # normalised as it will be read back
        self.n = n
        self.chunk_size = chunk_size
        self.ranges = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
        self.chunks: dict[int, dict[str, Any]] = {}
        path = self.folder / MANIFEST
        if path.is_file():
            self._open(path, resume)

    # -- reading -------------------------------------------------------------------------------------------
    def _open(self, path: Path, resume: bool) -> None:
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ResumeError(f"{path}: not a readable manifest ({err}); use another output folder") from err
        if not resume:
            if manifest.get("complete"):  # a finished run is replaced by a new one
                self._clear(manifest)
                return
            raise ResumeError(f"{self.folder}: holds a partial run ({len(manifest.get('chunks', []))} of "
                              f"{manifest.get('n_chunks', '?')} chunks); resume it (resume=True, CLI --resume) "
                              "or choose another output folder")
        if manifest.get("format") != _FORMAT:
            raise ResumeError(f"{path}: manifest format {manifest.get('format')!r} is not {_FORMAT}")
        theirs = {**manifest.get("inputs", {}), "n_subjects": manifest.get("n_subjects"),
                  "chunk_size": manifest.get("chunk_size")}
        ours = {**self.inputs, "n_subjects": self.n, "chunk_size": self.chunk_size}
        differ = [k for k in sorted(set(theirs) | set(ours)) if theirs.get(k) != ours.get(k)]
        if differ:
            detail = "; ".join(f"{k}: run has {_short(theirs.get(k))}, now {_short(ours.get(k))}" for k in differ)
            raise ResumeError(f"{path}: cannot resume, the inputs differ from the run in this folder ({detail}); "
                              "resume with the same inputs or choose another output folder")
        for entry in manifest.get("chunks", []):
            file = self.folder / entry["file"]
            if not file.is_file() or hashlib.sha256(file.read_bytes()).hexdigest() != entry["sha256"]:
                logger.warning("%s: missing or altered, simulating chunk %d again", file, entry["index"])
                continue
            self.chunks[int(entry["index"])] = entry

    def _clear(self, manifest: Mapping[str, Any]) -> None:
        (self.folder / MANIFEST).unlink(missing_ok=True)
        for entry in manifest.get("chunks", []):
            (self.folder / entry["file"]).unlink(missing_ok=True)

    @property
    def todo(self) -> list[int]:
        """Indices of the chunks still to simulate."""
        return [i for i in range(len(self.ranges)) if i not in self.chunks]

    def read(self, index: int, n_times: int, n_outputs: int) -> ChunkData:
        """The results of a listed chunk."""
        import pyarrow.parquet as pq

        entry = self.chunks[index]
        table = pq.read_table(self.folder / entry["file"])
        start, stop = self.ranges[index]
        rows = table.column("row").to_numpy()
        if not np.array_equal(rows, np.arange(start, stop)):
            raise ResumeError(f"{self.folder / entry['file']}: rows {rows[:3]}... are not subjects {start}..{stop - 1}")
        flat = table.column("values").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return ChunkData(start, stop, flat.reshape(stop - start, n_times, n_outputs),
                         [str(s) for s in table.column("status").to_pylist()],
                         table.column("fail_time").to_numpy(zero_copy_only=False).astype(float),
                         [str(m) for m in table.column("message").to_pylist()])

    # -- writing -------------------------------------------------------------------------------------------
    def write(self, index: int, data: ChunkData, subject_ids: list[Any]) -> None:
        """Write chunk ``index`` atomically, then the manifest listing it."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        k = data.stop - data.start
        width = int(np.prod(data.values.shape[1:]))
        table = pa.table({
            "row": pa.array(np.arange(data.start, data.stop), type=pa.int64()),
            "subject_id": pa.array([str(s) for s in subject_ids[data.start:data.stop]]),
            "status": pa.array(data.status),
            "fail_time": pa.array(data.fail_time, type=pa.float64()),
            "message": pa.array(data.messages),
            "values": pa.FixedSizeListArray.from_arrays(
                pa.array(np.ascontiguousarray(data.values, dtype=float).reshape(k * width)), width),
        })
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        blob = buffer.getvalue()
        name = f"chunk-{index:05d}.parquet"
        atomic_write_bytes(self.folder / name, blob)
        self.chunks[index] = {"index": index, "start": data.start, "stop": data.stop, "file": name,
                              "sha256": hashlib.sha256(blob).hexdigest(),
                              "n_failed": sum(s != "ok" for s in data.status)}
        self._write_manifest()

    def _write_manifest(self) -> None:
        manifest = {"format": _FORMAT, "kind": "qsp_sbml.cohort_run", "n_subjects": self.n,
                    "chunk_size": self.chunk_size, "n_chunks": len(self.ranges),
                    "complete": len(self.chunks) == len(self.ranges), "inputs": self.inputs,
                    "chunks": [self.chunks[i] for i in sorted(self.chunks)]}
        atomic_write_text(self.folder / MANIFEST, json.dumps(manifest, indent=1))


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
