"""What the explorations of one run share: verdicts by content key, and the trace's one pass.

`powercut explore --model lazyfs,ext4-ordered,alice` explores one trace
with one checker once per model. A verdict depends on the state's content
key (and the checker), never on the model that enumerated the state, so a
state the second model meets that the first already judged needs no check:
each exploration's `VerdictBook` asks the `Memo` before it checks, and
tells it every verdict it checks. The memo keeps, per key, only the journal
that holds the verdict (read back when asked), never the verdict: memory
stays a few dozen bytes a judged state, as in the book. A journal closed
since (its exploration closed) answers nothing: the state is checked again.

It also keeps the one pass over the trace that gathers its operations and
markers (what the durability oracle and the ranking read), per trace and
page size, so the models do not each read the trace again.

A memo holds the verdicts of one checker identity (`bind` refuses another),
and never shares an `error`: that says the check broke, not what the state
is, so another model checks the state again.
"""

from __future__ import annotations

from collections.abc import Iterator

from powercut.errors import PowercutError
from powercut.explorer.run.order import TraceFacts
from powercut.explorer.store.journal import Journal
from powercut.explorer.verdict import Verdict
from powercut.trace import Trace


class Memo:
    """Verdicts judged so far in one run, by content key, for its other explorations."""

    def __init__(self) -> None:
        self.identity: str | None = None  # the checker's, once bound
        self._where: dict[str, Journal] = {}
        self._facts: dict[tuple[str, str | None, int, int], TraceFacts] = {}

    def bind(self, identity: str) -> None:
        """Take the verdicts of the checker `identity` only."""
        if self.identity is None:
            self.identity = identity
        elif identity != self.identity:
            raise PowercutError("one Memo is for the explorations of one checker; this one "
                                f"holds {self.identity!r}, not {identity!r}")

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, key: object) -> bool:
        return key in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._where))

    def keep(self, key: str, journal: Journal, verdict: Verdict) -> None:
        """`verdict` was just judged for `key` and stored in `journal`."""
        if verdict.verdict == "error":
            self._where.pop(key, None)
        else:
            self._where[key] = journal

    def where(self, key: str) -> Journal | None:
        """The journal of the exploration that judged `key`, while it is open."""
        journal = self._where.get(key)
        return journal if journal is not None and not journal.closed else None

    def get(self, key: str) -> Verdict | None:
        journal = self.where(key)
        return journal.get(key) if journal is not None else None

    def facts(self, trace: Trace, page_size: int) -> TraceFacts:
        """The trace's operations and markers, read once per trace and page size."""
        index = (str(trace.path), trace.digest, trace.op_count, page_size)
        facts = self._facts.get(index)
        if facts is None:
            facts = self._facts[index] = TraceFacts.scan(trace.ops(), page_size)
        return facts
