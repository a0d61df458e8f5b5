"""The durability oracle: what acknowledged writes a recovered state must still hold.

Pure functions over markers. A marker with a `key` field is an
acknowledged write: its `value`, or a delete when `deleted` is true (or the
value is None). The expected value of a key is its last acknowledged one;
a recovered state that reads back anything else for it has lost data.
Keys are compared as text. A workload may also record its *intent* before
sending a write (same fields plus `"intent": true`): a write in flight at
the crash may or may not have happened, so its value is accepted too (else
an overwrite made durable just before its acknowledgement would count as
lost). Also the convention by which a `command`
checker reports data loss: a line of its output that is a JSON object with
`"verdict": "data-loss"` (and optionally `"missing": [...]`).

No I/O here: the checkers read the keys back and call `lost`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from powercut.explorer.verdict import Evidence, LostWrite, Verdict
from powercut.trace import Op

Expected = dict[str, str | None]  # key -> last acknowledged value (None: deleted)


@dataclass(frozen=True)
class Expectation:
    """Per acknowledged key: the last acknowledged value, and in-flight values also allowed."""

    acked: Expected
    in_flight: dict[str, frozenset[str | None]]

    def __bool__(self) -> bool:
        return bool(self.acked)

    def allows(self, key: str, found: str | None) -> bool:
        return found == self.acked[key] or found in self.in_flight.get(key, ())

    def items(self) -> list[tuple[str, str | None]]:
        return list(self.acked.items())


def expected(markers: Sequence[Op]) -> Expectation:
    """What the markers require: last acknowledged values, and intents not yet acknowledged."""
    acked: Expected = {}
    flying: dict[str, set[str | None]] = {}
    for m in markers:
        key = m.extra.get("key")
        if key is None:
            continue
        value = m.extra.get("value")
        deleted = bool(m.extra.get("deleted")) or value is None
        text = None if deleted else _str(value)
        if m.extra.get("intent"):
            flying.setdefault(_str(key), set()).add(text)
        else:
            acked[_str(key)] = text
            flying.pop(_str(key), None)  # acknowledged: no longer in flight
    return Expectation(acked, {k: frozenset(v) for k, v in flying.items() if k in acked})


def _str(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def lost(want: Expectation, read: Callable[[str], str | None]) -> list[LostWrite]:
    """Each acknowledged key whose read-back value differs (its expected value, what was
    found)."""
    missing = []
    for key, value in want.items():
        found = read(key)
        if not want.allows(key, found):
            missing.append(LostWrite(key, value, found))
    return missing


def signature(missing: Sequence[LostWrite]) -> str:
    gone = sum(1 for m in missing if m.found is None)
    changed = len(missing) - gone
    parts = []
    if gone:
        parts.append("acknowledged keys missing")
    if changed:
        parts.append("acknowledged keys with another value")
    return " and ".join(parts) or "acknowledged writes lost"


def data_loss(missing: Sequence[LostWrite], duration: float, evidence: Evidence) -> Verdict:
    """The `data-loss` verdict for keys read back wrong (evidence `missing`)."""
    return Verdict("data-loss", signature=signature(missing), duration=duration,
                   evidence=dataclasses.replace(evidence, missing=tuple(missing)))


def reported_loss(output: str) -> list[LostWrite] | None:
    """What a command checker's output says was lost (its `missing`), or None if it says not.

    `missing` may hold keys as plain strings or `{"key": ..., "value": ...}`
    objects (both documented), or one of either.
    """
    found: list[LostWrite] | None = None
    for line in output.splitlines():
        line = line.strip()
        if not (line.startswith("{") and "data-loss" in line):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("verdict") == "data-loss":
            missing = record.get("missing", [])
            found = [_loss_entry(m) for m in (missing if isinstance(missing, list)
                                              else [missing])]
    return found


def _loss_entry(item: object) -> LostWrite:
    """One entry of a reported `missing` list."""
    if isinstance(item, Mapping) and "key" in item:
        return LostWrite(_text(item["key"]), _maybe(item.get("value")), _maybe(item.get("found")))
    return LostWrite(item if isinstance(item, str) else json.dumps(item))


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _maybe(value: object) -> str | None:
    return None if value is None else _text(value)
