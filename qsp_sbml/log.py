"""Opt-in logging configuration, timing and progress helpers."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["ENV_LOG_LEVEL", "configure", "progress", "timed"]

ENV_LOG_LEVEL = "QSP_SBML_LOG"
T = TypeVar("T")


def configure(level: int | str | None = None) -> None:
    """Attach a console handler to the ``qsp_sbml`` logger (never done on import).

    Parameters
    ----------
    level
        Logging level; defaults to ``$QSP_SBML_LOG`` or ``WARNING``.
    """
    chosen = level if level is not None else os.environ.get(ENV_LOG_LEVEL, "WARNING")
    root = logging.getLogger("qsp_sbml")
    root.setLevel(chosen.upper() if isinstance(chosen, str) else chosen)
    if not any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.NullHandler)
        for h in root.handlers
    ):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        root.addHandler(handler)


@contextmanager
def timed(what: str, logger: logging.Logger, level: int = logging.INFO) -> Iterator[None]:
    """Log how long the body took."""
    t0 = time.perf_counter()
    yield
    logger.log(level, "%s finished in %.3f s", what, time.perf_counter() - t0)


def progress(iterable: Iterable[T], *, enable: bool | None = None, **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar when tqdm is installed and enabled.

    ``enable=None`` follows tqdm's own default (a bar on a terminal only).
    """
    if enable is False:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    bar: Iterable[T] = tqdm(iterable, disable=None if enable is None else not enable, **kwargs)
    return bar
