"""The `lazyfs` persistence model (see `model` for its rules, `pending` for a crash point's view)."""

from powercut.replayer.models.lazyfs.model import LazyFSModel

__all__ = ["LazyFSModel"]
