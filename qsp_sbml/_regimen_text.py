"""The compact text form of a dosing regimen.

Grammar (case-insensitive keywords; target ids keep their case)::

    regimen  := phrase ((";" | "then") phrase)*
    phrase   := [AMOUNT UNIT] [ROUTE] [infusion] [schedule] ["to" ID]
    infusion := "over" NUMBER TIME_UNIT | "rate" NUMBER UNIT "/" TIME_UNIT
    schedule := "at" NUMBER("," NUMBER)* TIME_UNIT          explicit times
              | FREQ [("x" N) | ("for" NUMBER TIME_UNIT)] [("from" | "at") NUMBER TIME_UNIT]
    FREQ     := qNh | qNd | qNwk | qNmin | qd | od | daily | bid | tid | qid | qod
              | qw | qwk | weekly | "every" NUMBER TIME_UNIT
    ROUTE    := po | oral | iv | sc | subq | im | infusion ...

Examples: ``"100 mg po q12h x 14"``, ``"400 mg sc at 0,2,4 wk then q4wk"``,
``"500 mg iv over 30 min q8h for 2 d"``, ``"5 mg po bid from 1 d to A_gut"``.

A phrase that omits amount, unit or route takes them from the previous phrase.
A phrase after ``then`` with a frequency and no start begins one interval after
the last dose of the previous phrase (``at 0,2,4 wk then q4wk`` gives weeks 0, 2,
4, 8, 12, ...).  A frequency without ``x``/``for`` repeats until the end of the
simulation.  Times are normalised to hours.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from qsp_sbml._dose import ROUTE_ALIASES, Dose, Route, pydantic_message
from qsp_sbml.errors import RegimenError, UnitError
from qsp_sbml.units import AMOUNT_UNITS, TIME_UNITS, parse_time_unit

__all__ = ["format_regimen_text", "parse_regimen_text"]

_TOKEN = re.compile(
    r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*,\s*\d+(?:\.\d+)?)*"  # number or number list
    r"|[A-Za-zµ_][A-Za-z0-9µ_.]*"  # words, ids, q12h, x14
    r"|[;/]"
    r"|\S"
)
_FREQ = re.compile(r"^q(\d+(?:\.\d+)?)?(min|h|hr|d|w|wk)$")
_NAMED_FREQ = {
    "qd": 24.0, "od": 24.0, "daily": 24.0, "bid": 12.0, "tid": 8.0, "qid": 6.0,
    "qod": 48.0, "qw": 168.0, "qwk": 168.0, "weekly": 168.0,
}
_FREQ_UNIT_HOURS = {"min": 1 / 60, "h": 1.0, "hr": 1.0, "d": 24.0, "w": 168.0, "wk": 168.0}
HOURS = "h"


@dataclass
class _Phrase:
    text: str
    amount: float | None = None
    unit: str | None = None
    route: Route | None = None
    duration_h: float | None = None
    rate: float | None = None
    rate_unit: str | None = None
    times_h: list[float] = field(default_factory=list)
    interval_h: float | None = None
    count: int | None = None
    for_h: float | None = None
    start_h: float | None = None
    target: str | None = None


def _hours(value: float, unit: str, where: str) -> float:
    key = unit.lower()
    if key not in TIME_UNITS:
        raise RegimenError(f"{unit!r} is not a time unit (use h, min, d, wk)", where=where)
    return value * TIME_UNITS[key] / 3600.0


def _is_number(tok: str) -> bool:
    return bool(tok) and tok[0].isdigit()


def _numbers(tok: str) -> list[float]:
    return [float(x) for x in tok.replace(" ", "").split(",")]


def _split_phrases(tokens: list[str]) -> list[list[str]]:
    phrases: list[list[str]] = [[]]
    for tok in tokens:
        if tok == ";" or tok.lower() == "then":
            phrases.append([])
        else:
            phrases[-1].append(tok)
    return phrases


def _parse_phrase(tokens: list[str], where: str) -> _Phrase:
    ph = _Phrase(text=" ".join(tokens))
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        low = tok.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if _is_number(tok) and ph.amount is None and nxt.lower() in {u.lower() for u in AMOUNT_UNITS}:
            if "," in tok:
                raise RegimenError(f"one amount expected, got {tok!r}", where=where)
            ph.amount, ph.unit = float(tok), nxt
            i += 2
        elif _is_number(tok) and ph.amount is None and nxt[:1].isalpha() and nxt.lower() not in ROUTE_ALIASES:
            known = ", ".join(sorted(AMOUNT_UNITS))
            raise RegimenError(f"unknown amount unit {nxt!r} after {tok}; use one of: {known}", where=where)
        elif low in ROUTE_ALIASES:
            ph.route = ROUTE_ALIASES[low]
            i += 1
        elif low == "over":
            i = _read_over(ph, tokens, i, where)
        elif low == "rate" or (low == "at" and len(tokens) > i + 3 and tokens[i + 3] == "/"):
            i = _read_rate(ph, tokens, i, where)
        elif low in ("at", "from", "starting", "start"):
            i = _read_time(ph, tokens, i, where)
        elif (m := _FREQ.match(low)) or low in _NAMED_FREQ:
            if m:
                ph.interval_h = float(m.group(1) or 1.0) * _FREQ_UNIT_HOURS[m.group(2)]
            else:
                ph.interval_h = _NAMED_FREQ[low]
            i += 1
        elif low == "every":
            ph.interval_h = _read_duration(tokens, i, "a number", where)
            i += 3
        elif re.fullmatch(r"x\d+", low) or (low == "x" and _is_number(nxt)):
            text = low[1:] if low != "x" else nxt
            ph.count = int(float(text))
            if ph.count < 1 or float(text) != ph.count:
                raise RegimenError(f"the dose count must be a whole number >= 1, got {text!r}", where=where)
            i += 1 if low != "x" else 2
        elif low == "for":
            ph.for_h = _read_duration(tokens, i, "a duration", where)
            i += 3
        elif low in ("to", "into"):
            ph.target = _need(tokens, i, 1, "a target id", where)
            i += 2
        else:
            raise RegimenError(
                f"cannot read {tok!r} in {ph.text!r}; expected e.g. '100 mg po q12h x 14'",
                where=where,
            )
    return ph


def _need(tokens: list[str], i: int, k: int, what: str, where: str) -> str:
    """The token ``k`` places after keyword ``tokens[i]``; an error names ``what`` was expected."""
    if i + k >= len(tokens):
        raise RegimenError(f"expected {what} after {tokens[i]!r}", where=where)
    return tokens[i + k]


def _read_duration(tokens: list[str], i: int, what: str, where: str) -> float:
    """``<keyword> NUMBER TIME_UNIT`` at ``i`` (``every``, ``for``) in hours."""
    number, unit = _need(tokens, i, 1, what, where), _need(tokens, i, 2, "a time unit", where)
    if not _is_number(number):
        raise RegimenError(f"expected {what} after {tokens[i].lower()!r}, got {number!r}", where=where)
    return _hours(float(number), unit, where)


def _read_over(ph: _Phrase, tokens: list[str], i: int, where: str) -> int:
    """``over NUMBER TIME_UNIT``: an infusion's duration; returns the index after it."""
    number, unit = _need(tokens, i, 1, "a duration", where), _need(tokens, i, 2, "a time unit", where)
    if not _is_number(number):
        raise RegimenError(f"expected a duration after 'over', got {number!r}", where=where)
    ph.duration_h = _hours(float(number), unit, where)
    ph.route = Route.IV_INFUSION
    return i + 3


def _read_rate(ph: _Phrase, tokens: list[str], i: int, where: str) -> int:
    """``rate NUMBER UNIT / TIME_UNIT`` (or ``at ...``): an infusion's rate; returns the index after it."""
    number, unit = _need(tokens, i, 1, "a rate", where), _need(tokens, i, 2, "a unit", where)
    slash, tunit = _need(tokens, i, 3, "'/'", where), _need(tokens, i, 4, "a time unit", where)
    if not _is_number(number) or slash != "/":
        raise RegimenError(f"a rate looks like 'rate 100 mg/h', got {ph.text!r}", where=where)
    ph.rate = float(number) / _hours(1.0, tunit, where)
    ph.rate_unit = unit
    ph.route = Route.IV_INFUSION
    return i + 5


def _read_time(ph: _Phrase, tokens: list[str], i: int, where: str) -> int:
    """``at|from|starting|start NUMBER[,NUMBER...] TIME_UNIT``: explicit times or the start of a schedule."""
    tok = tokens[i]
    low = tok.lower()
    number, unit = _need(tokens, i, 1, "a time", where), _need(tokens, i, 2, "a time unit", where)
    if not _is_number(number):
        raise RegimenError(f"expected a time after {tok!r}, got {number!r}", where=where)
    values = [_hours(v, unit, where) for v in _numbers(number)]
    if low == "at" and len(values) > 1:
        ph.times_h = values
    elif low == "at" and ph.interval_h is None and not _later_freq(tokens[i + 3 :]):
        ph.times_h = values
    else:
        ph.start_h = values[0]
    return i + 3


def _later_freq(rest: list[str]) -> bool:
    return any(_FREQ.match(t.lower()) or t.lower() in _NAMED_FREQ or t.lower() == "every" for t in rest)


def parse_regimen_text(text: str) -> list[Dose]:
    """Parse regimen text into doses (times in hours).

    Examples
    --------
    >>> [d.time for d in parse_regimen_text("400 mg sc at 0,2,4 wk")]
    [0.0, 336.0, 672.0]
    """
    if not text or not text.strip():
        raise RegimenError("the regimen text is empty")
    tokens = _TOKEN.findall(text)
    doses: list[Dose] = []
    prev: _Phrase | None = None
    prev_last: float | None = None
    for k, tokens_k in enumerate(_split_phrases(tokens), start=1):
        where = f"regimen phrase {k}"
        if not tokens_k:
            raise RegimenError(f"empty phrase in {text!r}", where=where)
        ph = _parse_phrase(tokens_k, where)
        if prev is not None:
            _inherit(ph, prev)
        _check_phrase(ph, where)
        start = ph.start_h
        if start is None and ph.interval_h is not None and prev_last is not None:
            start = prev_last + ph.interval_h
        doses += _phrase_doses(ph, start, where)
        last = doses[-1]
        if last.count is None:
            if k < len(_split_phrases(tokens)):
                raise RegimenError("an open-ended phrase (no 'x N' or 'for D') must be the last one",
                                   where=where)
            prev_last = None
        else:
            prev_last = last.time + (last.interval or 0.0) * (last.count - 1)
        prev = ph
    return doses


def _inherit(ph: _Phrase, prev: _Phrase) -> None:
    """Amount, unit, route, target (and an infusion's duration or rate) the phrase omits come from ``prev``."""
    ph.amount = ph.amount if ph.amount is not None else prev.amount
    ph.unit = ph.unit if ph.unit is not None else prev.unit
    ph.route = ph.route if ph.route is not None else prev.route
    ph.target = ph.target if ph.target is not None else prev.target
    if ph.duration_h is None and ph.rate is None and ph.route is Route.IV_INFUSION:
        ph.duration_h, ph.rate = prev.duration_h, prev.rate


def _check_phrase(ph: _Phrase, where: str) -> None:
    """Refuse a phrase without amount or route, or with clauses that contradict each other."""
    if ph.amount is None:
        raise RegimenError(f"no amount in {ph.text!r}; start with e.g. '100 mg'", where=where)
    if ph.route is None:
        raise RegimenError(f"no route in {ph.text!r}; add po, iv, sc or im", where=where)
    if ph.rate_unit is not None and ph.rate_unit.lower() != (ph.unit or "").lower():
        raise RegimenError(
            f"the rate unit {ph.rate_unit!r} differs from the amount unit {ph.unit!r}", where=where
        )
    if ph.count is not None and ph.for_h is not None:
        raise RegimenError("give either 'x N' or 'for D', not both", where=where)
    if (ph.count is not None or ph.for_h is not None) and ph.interval_h is None:
        raise RegimenError(f"'x N'/'for D' needs a frequency such as q12h in {ph.text!r}", where=where)
    if ph.times_h and ph.interval_h is not None:
        raise RegimenError("explicit times ('at 0,2,4 wk') and a frequency in one phrase; "
                           "split them with 'then'", where=where)


def _phrase_doses(ph: _Phrase, start: float | None, where: str) -> list[Dose]:
    """The doses of one checked phrase: one per explicit time, or one (repeated) dose from ``start``."""
    times = ph.times_h or [start or 0.0]
    count: int | None = 1
    if ph.interval_h is not None:
        if ph.count is not None:
            count = ph.count
        elif ph.for_h is not None:
            count = max(1, int(math.floor(ph.for_h / ph.interval_h + 1e-9)))
        else:
            count = None
    base: dict[str, Any] = {
        "amount": ph.amount,
        "unit": ph.unit,
        "time_unit": HOURS,
        "route": ph.route,
        "target": ph.target,
    }
    if ph.route is Route.IV_INFUSION:
        if ph.duration_h is None and ph.rate is None:
            raise RegimenError("an infusion needs 'over <duration>' or 'rate <r> mg/h'", where=where)
        base["duration"] = ph.duration_h
        base["rate"] = ph.rate
    doses = []
    try:
        for t in times:
            doses.append(Dose(**base, time=t, interval=ph.interval_h, count=count))
    except (ValidationError, UnitError) as err:
        raise RegimenError(pydantic_message(err), where=where) from None
    return doses


_ROUTE_WORD = {Route.IV_BOLUS: "iv", Route.IV_INFUSION: "infusion", Route.ORAL: "po", Route.SUBCUTANEOUS: "sc",
               Route.INTRAMUSCULAR: "im"}


def _num(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def format_regimen_text(doses: tuple[Dose, ...] | list[Dose]) -> str:
    """The text form of ``doses`` (inverse of :func:`parse_regimen_text`: it parses back to the same doses).

    Numbers are written exactly (``repr``) and times in hours, so nothing is
    rounded.  Every dose needs an amount unit and a time unit (text has no
    "model units"); at most one dose may repeat without end, and it is written
    last.  Doses without a target are written first (a phrase without ``to``
    takes the previous phrase's target).

    Examples
    --------
    >>> format_regimen_text(parse_regimen_text("100 mg po q12h x 3 to A_gut"))
    '100 mg po every 12 h x 3 from 0 h to A_gut'
    """
    open_ended = [d for d in doses if d.count is None]
    if len(open_ended) > 1:
        raise RegimenError("only one dose can repeat without end in the text form")
    # a phrase without "to ID" inherits the previous phrase's target: untargeted doses go first
    fixed = sorted((d for d in doses if d.count is not None), key=lambda d: d.target is not None)
    if open_ended and open_ended[0].target is None and any(d.target for d in fixed):
        raise RegimenError("the open-ended dose has no target but comes last in the text form, where it "
                           "would inherit another dose's target; give it a target")
    phrases = []
    for dose in fixed + open_ended:
        if dose.unit is None or dose.time_unit is None:
            raise RegimenError("a dose in model units (unit or time_unit None) has no text form; "
                               "give its units")
        hours = parse_time_unit(dose.time_unit).factor / 3600.0
        words = [_num(dose.amount), dose.unit, _ROUTE_WORD[dose.route]]
        if dose.route.is_infusion:
            if dose.duration is not None:
                words += ["over", _num(dose.duration * hours), "h"]
            else:
                assert dose.rate is not None  # noqa: S101 -- guaranteed by Dose
                words += ["rate", f"{_num(dose.rate / hours)} {dose.unit}/h"]
        if dose.count == 1:
            words += ["at", _num(dose.time * hours), "h"]
        else:
            assert dose.interval is not None  # noqa: S101 -- guaranteed by Dose
            words += ["every", _num(dose.interval * hours), "h"]
            if dose.count is not None:
                words += ["x", str(dose.count)]
            words += ["from", _num(dose.time * hours), "h"]
        if dose.target:
            words += ["to", dose.target]
        phrases.append(" ".join(words))
    if not phrases:
        raise RegimenError("an empty regimen has no text form")
    return "; ".join(phrases)
