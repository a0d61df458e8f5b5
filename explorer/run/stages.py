"""Where each worker writes its crash states: a `Staging` per worker thread.

A pool's worker thread writes every state it checks through its own
`Staging` (see the replayer's `staging`): by difference from the last one
where the work dir's file system makes reflinks, in full elsewhere. A
worker whose states are large (`LARGE` bytes written for one) and whose
work dir cannot clone gets a scratch XFS volume of its own, once
(`powercut.volume`: root only, seen by that thread alone, gone with the
process): from its next state on it writes only differences. Where no
volume can be made it goes on writing in full, as before, and `refused`
says why.

`Stages` is made by a pool (the thread pool, or one per Dask worker
process) and closed once its threads have stopped: that unmounts every
volume (from the closing thread) and removes every directory.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from pathlib import Path

from powercut.replayer.image import Image
from powercut.replayer.staging import Staging
from powercut.replayer.state import CrashState
from powercut.volume import ScratchVolume, VolumeError

LARGE = 8 << 20


@dataclass
class _Worker:
    staging: Staging
    volume: ScratchVolume | None = None
    asked: bool = False  # a volume was asked for (made or refused)


class Stages:
    """The stagings of one pool's worker threads, under `root`."""

    def __init__(self, root: Path, *, volumes: bool = True) -> None:
        self.root = Path(root)
        self.volumes = volumes
        self.refused: str | None = None  # why a worker that wanted a volume got none
        self._local = threading.local()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._names = itertools.count()

    def enter(self, state: CrashState | Image) -> Path:
        """`state` written for the calling thread's check (see `Staging.enter`)."""
        worker = self._here()
        if worker.staging.last_written >= LARGE and not worker.staging.reflinks \
                and not worker.asked:
            self._volume(worker)
        return worker.staging.enter(state)

    def leave(self) -> None:
        """The calling thread's check is done with its directory."""
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is not None:
            worker.staging.leave()

    def how(self) -> str:
        """How the calling thread's states are written, in a few words."""
        worker = self._here()
        if worker.volume is not None:
            return "by difference, reflinks on a scratch XFS volume"
        if worker.staging.reflinks:
            return "by difference, reflinks in the work dir"
        return "in full (no reflinks" + (f"; {self.refused}" if self.refused else "") + ")"

    @property
    def written(self) -> int:
        """Bytes of file data written so far by every worker."""
        with self._lock:
            return sum(w.staging.written for w in self._workers)

    def _here(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = _Worker(Staging(self.root / f"stage-{next(self._names)}"))
            self._local.worker = worker
            with self._lock:
                self._workers.append(worker)
        return worker

    def _volume(self, worker: _Worker) -> None:
        """Give the calling thread a scratch volume that clones, if it can have one."""
        worker.asked = True
        if not self.volumes:
            return
        try:
            volume = ScratchVolume(self.root / f"volume-{next(self._names)}")
        except VolumeError as e:
            self.refused = str(e)
            return
        old = worker.staging
        worker.staging = Staging(volume.path / "stage")
        worker.volume = volume
        old.close()

    def close(self) -> None:
        """Unmount every volume and remove every directory (the threads have stopped)."""
        with self._lock:
            workers, self._workers = self._workers, []
        failed: VolumeError | None = None
        for worker in workers:
            try:
                worker.staging.close()  # on a volume: its trees go with the file system
                if worker.volume is not None:
                    worker.volume.close()
            except VolumeError as e:
                failed = failed or e
        if failed is not None:
            raise failed
