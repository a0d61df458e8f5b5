"""The `lazyfs` persistence model: `model` states its rules, `pending` is one crash point."""

from powercut.replayer.models.lazyfs.model import LazyFSModel

__all__ = ["LazyFSModel"]
