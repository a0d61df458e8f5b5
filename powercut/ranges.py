"""The one range syntax: crash points, operations and pages are named `5`, `3-9`, `40-`, `1,4-6`.

A list is items separated by commas; an item is a number `N`, an
inclusive range `A-B`, or `A-` (from A to the last one). Numbers may be
negative where the thing counted is (crash point -1 is "before the first
operation": `-1-5`). The same words wherever a user names several of
something: `explore --points`, `show --ops`, and the pages of a unit
(`--lose data/db:0-3,7`), which is also how reports print them (`ranges`).
Pure: no I/O.
"""

from __future__ import annotations

import re

_ITEM = re.compile(r"^(-?\d+)(-)?(-?\d+)?$")


class RangeError(ValueError):
    """Text that is not a list of numbers and ranges."""


def parse_ranges(text: str, last: int | None = None) -> range | list[int]:
    """The numbers `text` names, in order: a `range` for one item, else a sorted list.

    `A-` needs `last` (the last number there is); without it, it is refused.
    """
    found = spans(text, last)
    if len(found) == 1:
        return found[0]
    return sorted({n for r in found for n in r})


def spans(text: str, last: int | None = None) -> list[range]:
    """The items of `text` as ranges, as written (see `parse_ranges`)."""
    found: list[range] = []
    for item in text.split(","):
        m = _ITEM.match(item.strip())
        if m is None:
            raise RangeError(f"{item.strip()!r} is not N, A-B or A-")
        start = int(m.group(1))
        if m.group(2) is None:
            stop = start
        elif m.group(3) is not None:
            stop = int(m.group(3))
        elif last is not None:
            stop = last
        else:
            raise RangeError(f"{item.strip()!r}: an open range has no end here")
        if stop < start:
            raise RangeError(f"{item.strip()!r}: {stop} comes before {start}")
        found.append(range(start, stop + 1))
    return found


def ranges(values: list[int]) -> str:
    """`[0, 1, 2, 3, 7]` -> `0-3,7` (ascending input): what `parse_ranges` reads back."""
    parts: list[str] = []
    start = prev = None
    for v in values:
        if prev is not None and v == prev + 1:
            prev = v
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = v
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(parts)
