"""The verdicts of one exploration: durable in its journal, summarised in memory.

`VerdictBook.add` stores a verdict in the exploration's journal (durably,
before it may be reported) and in the results cache, and keeps only a small
`Outcome` (verdict and signature) per state key in memory; a report that needs
the whole verdict (its log excerpt, its evidence) reads it back from the
journal. `known` answers from the run's `Memo` (a state another model of
this run judged), then the journal of a resumed run, then the results
cache. So memory holds a few dozen bytes a judged state, never a log tail.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from powercut.explorer.store.cache import ResultsCache
from powercut.explorer.store.journal import Journal
from powercut.explorer.store.memo import Memo
from powercut.explorer.verdict import Verdict


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the analysis and the progress display need of a verdict."""

    verdict: str
    signature: str

    @property
    def failing(self) -> bool:
        return self.verdict != "ok"


class VerdictBook:
    """Verdicts by state key: journal on disk, `Outcome`s in memory."""

    def __init__(self, journal: Journal, cache: ResultsCache | None = None,
                 memo: Memo | None = None) -> None:
        self.journal = journal
        self.cache = cache
        self.memo = memo
        self._outcomes: dict[str, Outcome] = {}
        self._signatures: dict[str, str] = {}  # one string object per distinct signature
        self._lock = threading.Lock()
        self.reused = 0  # states whose verdict came from the memo, the journal or the cache
        self.shared = 0  # ... judged under another model of this run (the memo): no check
        self.from_cache = 0  # ... from the results cache
        self.verdicts: Counter[str] = Counter()

    def __contains__(self, key: object) -> bool:
        return key in self._outcomes

    def __len__(self) -> int:
        return len(self._outcomes)

    def outcome(self, key: str) -> Outcome | None:
        return self._outcomes.get(key)

    def _keep(self, key: str, verdict: Verdict) -> Outcome:
        with self._lock:
            sig = self._signatures.setdefault(verdict.signature, verdict.signature)
            outcome = Outcome(verdict.verdict, sig)
            old = self._outcomes.get(key)
            if old is not None:  # judged again (a hang confirmed at the full timeout)
                self.verdicts[old.verdict] -= 1
            self.verdicts[verdict.verdict] += 1
            self._outcomes[key] = outcome
            return outcome

    def known(self, key: str) -> Verdict | None:
        """A verdict judged before (under another model of this run, in a resumed run's
        journal, then in the results cache), kept."""
        if self.memo is not None:
            verdict = self.memo.get(key)
            if verdict is not None:
                if key not in self.journal:  # the models of a run may share one journal
                    self.journal.append(key, verdict, durable=False)
                self._keep(key, verdict)
                self.reused += 1
                self.shared += 1
                return verdict
        verdict = self.journal.get(key)
        if verdict is not None:
            self._keep(key, verdict)
            self.reused += 1
            return verdict
        if self.cache is not None:
            verdict = self.cache.get(key)
            if verdict is not None:
                self.journal.append(key, verdict, durable=False)
                self._keep(key, verdict)
                self.reused += 1
                self.from_cache += 1
        return verdict

    def add(self, key: str, verdict: Verdict) -> Outcome:
        """Keep a new verdict: durable in the journal before it may be reported, and in the
        results cache. A hang inferred at an early deadline is cached as inferred: an
        exploration that reuses it confirms its cause at the full timeout as it would its
        own (and the confirmation, judged later, is the record a later lookup finds)."""
        self.journal.append(key, verdict)
        if self.cache is not None:
            self.cache.append(key, verdict)
        if self.memo is not None:
            self.memo.keep(key, self.journal, verdict)
        return self._keep(key, verdict)

    def full(self, key: str) -> Verdict | None:
        """The whole verdict of a judged state, read back from the journal."""
        return self.journal.get(key)

    @property
    def failing(self) -> int:
        return sum(n for name, n in self.verdicts.items() if name != "ok")
