"""Deliberately broken variants of the model, for the suite's own tests (the replay test).

They need no files, so the tests that use them do not depend on the reference store.
"""

from __future__ import annotations

from warmtier.model import ModelStore


class LenCountsRemovedModel(ModelStore):
    """Bug: ``len()`` still counts records removed since the store was opened."""

    def remove(self, id: str) -> bool:
        found = super().remove(id)
        if found:
            self.__dict__["_removed"] = self.__dict__.get("_removed", 0) + 1
        return found

    def __len__(self) -> int:
        return super().__len__() + int(self.__dict__.get("_removed", 0))
