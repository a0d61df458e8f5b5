"""The persistence models powercut knows, by `--model` name.

Each model is its own small class in its own module or folder (see `base`
for the interface and the README for the rules); this module only names
them. It must never hold model logic itself.
"""

from __future__ import annotations

from powercut.errors import PowercutError
from powercut.replayer.models.alice import AliceModel
from powercut.replayer.models.base import Pending, PersistenceModel
from powercut.replayer.models.ext4 import Ext4OrderedModel
from powercut.replayer.models.failure import FSYNC_FAILURES, KEEP
from powercut.replayer.models.lazyfs import LazyFSModel

MODELS: dict[str, type[PersistenceModel]] = {
    m.name: m for m in (LazyFSModel, Ext4OrderedModel, AliceModel)}
DEFAULT_MODEL = LazyFSModel.name

__all__ = ["DEFAULT_MODEL", "FSYNC_FAILURES", "MODELS", "AliceModel", "Ext4OrderedModel",
           "LazyFSModel", "Pending", "PersistenceModel", "get_model", "parse_models"]


def get_model(name: str = DEFAULT_MODEL, page_size: int = 4096, *,
              fsync_failure: str = KEEP) -> PersistenceModel:
    """The model called `name`, with pages of `page_size` bytes and the rule `fsync_failure`
    for what a failed fsync leaves (`keep` or `revert`, see `failure`)."""
    cls = MODELS.get(name)
    if cls is None:
        raise PowercutError(f"unknown persistence model {name!r}; known: {', '.join(MODELS)}")
    return cls(page_size, fsync_failure=fsync_failure)


def parse_models(text: str) -> list[str]:
    """`lazyfs,ext4-ordered` -> the model names, each known, none twice."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise PowercutError("--model: give at least one model")
    for name in names:
        if name not in MODELS:
            raise PowercutError(f"--model {name!r}: known models are {', '.join(MODELS)}")
    if len(set(names)) != len(names):
        raise PowercutError(f"--model {text!r} names a model twice")
    return names
