"""The persistence models powercut knows, by `--model` name.

Each model is its own small class (see `persistence.py` for the interface
and the README for the rules); this module only names them. It must never
hold model logic itself.
"""

from __future__ import annotations

from powercut.errors import PowercutError
from powercut.replayer.models.base import Pending, PersistenceModel, Requires
from powercut.replayer.models.lazyfs.model import LazyFSModel

MODELS: dict[str, type[PersistenceModel]] = {LazyFSModel.name: LazyFSModel}
DEFAULT_MODEL = LazyFSModel.name

__all__ = ["DEFAULT_MODEL", "MODELS", "LazyFSModel", "Pending", "PersistenceModel", "Requires",
           "get_model"]


def get_model(name: str = DEFAULT_MODEL, page_size: int = 4096) -> PersistenceModel:
    """The model called `name`, with pages of `page_size` bytes."""
    cls = MODELS.get(name)
    if cls is None:
        raise PowercutError(f"unknown persistence model {name!r}; known: {', '.join(MODELS)}")
    return cls(page_size)
