"""Fuzz driver: mutate shipped SBML models and feed each mutant to ``qsp-sbml validate``.

Run by tests/test_fuzz_validate.py in a subprocess with a timeout (a hang or a
native crash of this process is then seen by the test).  Usage::

    python -m tests.fuzz_validate SEED BUDGET_SECONDS OUT_FOLDER

Mutations (one to three per mutant, seeded): byte flips, truncation, deletion
or duplication of a random element, and changing a random attribute to an empty,
negative, non-finite, non-numeric, over-long value or to another element's id.
For each mutant one JSON line is printed *before* it runs (so a hang or crash
names it) and one after: ``{"k", "source", "mutations", "exit_code", "exception",
"traceback"}``.  The mutants are written to OUT_FOLDER (a temporary folder).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted([*REPO.glob("qsp_sbml/resources/models/*.xml"), *REPO.glob("models/pd/*.xml"),
                  *REPO.glob("models/disease/*.xml"), REPO / "models/pbpk/mab_two_compartment_tmdd.xml",
                  REPO / "models/composed/mab_psoriasis.xml", REPO / "models/composed/pbpk_oncology.xml",
                  *REPO.glob("tests/fixtures/bad_sbml/comp_*.xml")])
ODD_VALUES = ["", "-1", "-1e308", "NaN", "INF", "-INF", "0", "1e999", "abc", "x y", "__", "true", "2.5.1",
              "a" * 5000, "&amp;", "\u00e9\u4e2d"]


def _byte_flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    n = rng.randint(1, 8)
    for _ in range(n):
        i = rng.randrange(len(buf))
        buf[i] = rng.randrange(256)
    return bytes(buf), f"flip {n} byte(s)"


def _truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randrange(len(data))
    return data[:cut], f"truncate at {cut}"


def _tree_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    try:
        root = ET.fromstring(data)  # noqa: S314 -- our own shipped models and their mutants
    except (ET.ParseError, LookupError, ValueError):  # LookupError: a flipped byte in encoding="UTF-8"
        return _byte_flip(data, rng)
    parents = [(p, c) for p in root.iter() for c in list(p)]
    if not parents:
        return _byte_flip(data, rng)
    parent, child = rng.choice(parents)
    tag = child.tag.rsplit("}", 1)[-1]
    kind = rng.choice(["delete", "duplicate", "attribute", "attribute"])
    if kind == "delete":
        parent.remove(child)
        what = f"delete <{tag}>"
    elif kind == "duplicate":
        parent.insert(list(parent).index(child), ET.fromstring(ET.tostring(child)))  # noqa: S314
        what = f"duplicate <{tag}>"
    else:
        ids = [e.get("id") for e in root.iter() if e.get("id")]
        if not child.attrib:
            child.set(rng.choice(["id", "value", "constant", "compartment", "variable"]), rng.choice(ODD_VALUES))
            what = f"add attribute to <{tag}>"
        else:
            name = rng.choice(sorted(child.attrib))
            child.set(name, rng.choice(ODD_VALUES + ids[:50]))
            what = f"change <{tag}> {name.rsplit('}', 1)[-1]}"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), what


MUTATIONS = [_byte_flip, _truncate, _tree_edit, _tree_edit, _tree_edit]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to three mutations of ``data``."""
    done = []
    for _ in range(rng.randint(1, 3)):
        data, what = rng.choice(MUTATIONS)(data, rng)
        done.append(what)
        if not data:
            break
    return data, done


def main(argv: list[str]) -> int:
    from click.testing import CliRunner

    from qsp_sbml.cli import main as cli

    seed, budget, out = int(argv[0]), float(argv[1]), Path(argv[2])
    rng = random.Random(seed)  # noqa: S311 -- reproducible mutations, not cryptography
    runner = CliRunner()
    deadline = time.monotonic() + budget
    k = 0
    while time.monotonic() < deadline:
        source = rng.choice(SOURCES)
        data, mutations = mutate(source.read_bytes(), rng)
        path = out / f"mutant_{k:04d}.xml"
        path.write_bytes(data)
        record = {"k": k, "source": str(source.relative_to(REPO)), "mutations": mutations}
        print(json.dumps({**record, "start": True}), flush=True)
        result = runner.invoke(cli, ["validate", str(path), "--json"])
        exc = result.exception
        escaped = exc is not None and not isinstance(exc, SystemExit)
        print(json.dumps({**record, "exit_code": result.exit_code,
                          "exception": repr(exc) if escaped else None,
                          "traceback": "Traceback" in result.output,
                          "json_ok": _json_ok(result.stdout)}), flush=True)
        k += 1
    return 0


def _json_ok(text: str) -> bool:
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and "ok" in payload and isinstance(payload.get("issues"), list)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
