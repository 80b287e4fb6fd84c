"""The shipped model library by name: list the models, find a model's file, read its model card.

A model's name is its path under the library folder without ``.xml`` (``pbpk/wholebody_pbpk``,
``disease/psoriasis``, ``composed/mab_psoriasis``); its kind is the first folder (``pbpk``, ``pd``,
``disease``, ``composed``), or ``reference`` for the package's small reference models
(``reference/pk_one_compartment_iv``).  Every model has a card: ``<name>.md`` beside it, or, for a
variant such as ``composed/mab_psoriasis_flat`` or ``disease/psoriasis_risankizumab``, the card of the
model whose name it extends.

Examples
--------
>>> from qsp_sbml import registry
>>> registry.model_path("pbpk/wholebody_pbpk").name
'wholebody_pbpk.xml'
>>> registry.get("composed/mab_psoriasis_flat").card.name
'mab_psoriasis.md'
>>> "disease/psoriasis" in [m.name for m in registry.list_models(kind="disease")]
True
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from qsp_sbml.errors import QspError
from qsp_sbml.resources import MODELS_DIR, project_models_dir

__all__ = ["KINDS", "ModelEntry", "UnknownModelError", "get", "list_models", "model_card", "model_path"]

#: The kinds of shipped models, in listing order.
KINDS = ("pbpk", "pd", "disease", "composed", "reference")


class UnknownModelError(QspError, LookupError):
    """A model name that the library does not have; the message lists close names."""


@dataclass(frozen=True)
class ModelEntry:
    """One shipped SBML model: ``name`` (``kind/stem``), ``kind``, file ``path``, ``card`` path and ``title``."""

    name: str
    kind: str
    path: Path
    card: Path

    @property
    def title(self) -> str:
        """The card's first heading, without ``# Model card:``."""
        for line in self.card.read_text(encoding="utf-8").splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip().removeprefix("Model card:").strip()
        return self.name

    def read_card(self) -> str:
        """The model card's Markdown text."""
        return self.card.read_text(encoding="utf-8")


def _card_for(xml: Path) -> Path | None:
    """``<stem>.md`` beside ``xml``, else the card with the longest stem that prefixes ``<stem>_``."""
    own = xml.with_suffix(".md")
    if own.is_file():
        return own
    prefixes = [md for md in xml.parent.glob("*.md") if xml.stem.startswith(md.stem + "_")]
    return max(prefixes, key=lambda md: len(md.stem)) if prefixes else None


def _scan() -> list[ModelEntry]:
    entries = []
    sources = [(project_models_dir(), None), (MODELS_DIR, "reference")]
    for root, fixed_kind in sources:
        for xml in sorted(root.rglob("*.xml")):
            rel = xml.relative_to(root).with_suffix("")
            kind = fixed_kind or rel.parts[0]
            name = f"reference/{rel.as_posix()}" if fixed_kind else rel.as_posix()
            card = _card_for(xml)
            if card is None:
                raise FileNotFoundError(f"{xml}: shipped model without a model card ({xml.stem}.md); write one")
            entries.append(ModelEntry(name=name, kind=kind, path=xml, card=card))
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(entries, key=lambda e: (order.get(e.kind, len(KINDS)), e.name))


def list_models(kind: str | None = None) -> list[ModelEntry]:
    """Every shipped model (optionally of one ``kind``), sorted by kind then name."""
    entries = _scan()
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r}; use one of {', '.join(KINDS)}")
        entries = [e for e in entries if e.kind == kind]
    return entries


def get(name: str) -> ModelEntry:
    """The entry of model ``name`` (``kind/stem``; a trailing ``.xml`` is accepted).

    Raises :class:`UnknownModelError` listing close names.
    """
    key = name.strip().removesuffix(".xml")
    entries = {e.name: e for e in _scan()}
    if key in entries:
        return entries[key]
    by_stem = [e for e in entries.values() if e.name.rsplit("/", 1)[-1] == key]
    if len(by_stem) == 1:
        return by_stem[0]
    close = difflib.get_close_matches(key, list(entries), n=5, cutoff=0.5)
    close += [n for n in entries if key and key in n and n not in close][: 5 - len(close)]
    hint = f"; close names: {', '.join(close)}" if close else ""
    raise UnknownModelError(f"unknown model {name!r}{hint} (qsp-sbml models list shows all {len(entries)})")


def model_path(name: str) -> Path:
    """The SBML file of model ``name``."""
    return get(name).path


def model_card(name: str) -> str:
    """The model card (Markdown) of model ``name``."""
    return get(name).read_card()
