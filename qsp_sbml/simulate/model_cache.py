"""Compiled-model cache on disk: RoadRunner's saved state of a flat SBML model, reused across runs.

RoadRunner compiles every model to machine code with LLVM when it loads it (0.2 s for the largest composed
model here, more for larger ones); its saved state (``saveStateS``) holds the compiled model and loads
in about 10 ms without compiling.  :func:`compiled_state` returns that state for an SBML text, from the
cache when an entry exists, else by compiling and storing it.

* Key: sha256 of the SBML text RoadRunner compiles (with the hidden root events of
  :mod:`qsp_sbml.simulate.trigger_roots` where a trigger combines relations), the libroadrunner version,
  the platform and the RoadRunner settings that change the compiled code (:data:`KEY_SETTINGS`).  A
  different model, version or setting is a different entry; nothing is ever reused across them.
* Location: ``$QSP_SBML_CACHE_DIR`` if set, else the user cache folder (``$XDG_CACHE_HOME/qsp-sbml`` or
  ``~/.cache/qsp-sbml`` on Linux, ``~/Library/Caches/qsp-sbml`` on macOS, ``%LOCALAPPDATA%\\qsp-sbml\\Cache``
  on Windows), sub-folder ``roadrunner``.  ``QSP_SBML_CACHE=0`` (or ``off``, ``no``, ``false``) disables it.
* Safe under concurrent runs: an entry is written to a temporary file and renamed over its name, so a
  reader sees a whole entry or none; two runs compiling the same model both write the same bytes.
* An entry carries the sha256 of its payload: a truncated or corrupt entry (or one RoadRunner refuses)
  is ignored, rebuilt and rewritten, never loaded blindly.  A cache folder that cannot be written only
  costs the compilation (logged at debug level).

Entries are never pruned automatically; remove the folder (:func:`cache_dir`) to reclaim space.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["KEY_SETTINGS", "STATS", "cache_dir", "cache_key", "compiled_state"]

logger = logging.getLogger(__name__)

#: RoadRunner ``Config`` settings that change what the compiler produces (part of the key).
KEY_SETTINGS = (
    "LLVM_BACKEND", "LLJIT_OPTIMIZATION_LEVEL", "LOADSBMLOPTIONS_CONSERVED_MOIETIES",
    "LOADSBMLOPTIONS_MUTABLE_INITIAL_CONDITIONS", "LOADSBMLOPTIONS_OPTIMIZE_CFG_SIMPLIFICATION",
    "LOADSBMLOPTIONS_OPTIMIZE_DEAD_CODE_ELIMINATION", "LOADSBMLOPTIONS_OPTIMIZE_DEAD_INST_ELIMINATION",
    "LOADSBMLOPTIONS_OPTIMIZE_GVN", "LOADSBMLOPTIONS_OPTIMIZE_INSTRUCTION_COMBINING",
    "LOADSBMLOPTIONS_OPTIMIZE_INSTRUCTION_SIMPLIFIER", "LOADSBMLOPTIONS_PERMISSIVE",
)

#: Counts in this process: ``hit``, ``miss``, ``corrupt`` (ignored entries), ``write``, ``write_failed``.
STATS: Counter[str] = Counter()

_MAGIC = b"QSP-SBML roadrunner state v1\n"
_DIGEST = 64  # hex sha256 of the payload, then a newline


def cache_dir() -> Path | None:
    """The cache folder for compiled models, or ``None`` when caching is disabled (``QSP_SBML_CACHE=0``)."""
    if os.environ.get("QSP_SBML_CACHE", "").strip().lower() in ("0", "off", "no", "false"):
        return None
    explicit = os.environ.get("QSP_SBML_CACHE_DIR", "").strip()
    if explicit:
        base = Path(explicit).expanduser()
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "qsp-sbml"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "qsp-sbml" / "Cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache") / "qsp-sbml"
    return base / "roadrunner"


def _settings(rr_module: Any) -> list[str]:
    out = []
    for name in KEY_SETTINGS:
        try:
            out.append(f"{name}={rr_module.Config.getValue(getattr(rr_module.Config, name))}")
        except (AttributeError, RuntimeError):  # a setting this version does not have
            out.append(f"{name}=?")
    return out


def cache_key(sbml: str) -> str:
    """The cache key of ``sbml`` under the running libroadrunner version, platform and settings."""
    import roadrunner

    parts = [hashlib.sha256(sbml.encode("utf-8")).hexdigest(), f"roadrunner={roadrunner.__version__}",
             f"platform={sys.platform}-{platform.machine()}", *_settings(roadrunner)]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def _read_entry(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.debug("compiled-model cache: cannot read %s: %s", path, err)
        return None
    head = len(_MAGIC) + _DIGEST + 1
    payload = data[head:]
    if (not data.startswith(_MAGIC) or len(data) <= head
            or data[len(_MAGIC):head - 1].decode("ascii", "replace") != hashlib.sha256(payload).hexdigest()):
        STATS["corrupt"] += 1
        logger.warning("compiled-model cache: ignoring corrupt entry %s (rebuilding it)", path)
        return None
    return payload


def _write_entry(path: Path, state: bytes) -> None:
    from qsp_sbml._io import atomic_write_bytes

    try:
        atomic_write_bytes(path, _MAGIC + hashlib.sha256(state).hexdigest().encode("ascii") + b"\n" + state)
        STATS["write"] += 1
    except OSError as err:
        STATS["write_failed"] += 1
        logger.debug("compiled-model cache: cannot write %s: %s", path, err)


def compiled_state(sbml: str) -> bytes:
    """RoadRunner's saved state of ``sbml`` compiled: from the cache, or compiled now (and cached).

    Raises
    ------
    RuntimeError
        RoadRunner refused the model (as ``roadrunner.RoadRunner(sbml)`` would).
    """
    from qsp_sbml.simulate.runner import new_runner
    from qsp_sbml.simulate.trigger_roots import with_trigger_roots

    # the text RoadRunner compiles (the same string unless a trigger combines relations), so that the key
    # names what the entry holds
    sbml = with_trigger_roots(sbml)
    folder = cache_dir()
    path = folder / f"{cache_key(sbml)}.rrstate" if folder is not None else None
    if path is not None:
        payload = _read_entry(path)
        if payload is not None:
            try:
                new_runner(state=payload)  # a whole, loadable entry: ~10 ms, no compilation
            except RuntimeError as err:
                STATS["corrupt"] += 1
                logger.warning("compiled-model cache: RoadRunner refused entry %s (%s); rebuilding it", path, err)
            else:
                STATS["hit"] += 1
                logger.debug("compiled-model cache: hit %s", path)
                return payload
    STATS["miss"] += 1
    state = bytes(new_runner(sbml).saveStateS())
    if path is not None:
        _write_entry(path, state)
    return state
