"""Remove: ``ids()`` keeps listing removed ids until the next flush.

``ids()`` is served from a list of ids that ``remove`` forgets to update; only a
durability point rebuilds it.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "remove"
CAUGHT_BY = ("properties",)


class GhostInIdsStore(WarmTierStore):
    """Reference store whose ids() still names ids removed since the last flush."""

    def remove(self, id: str) -> bool:
        found = super().remove(id)
        if found:
            self.__dict__.setdefault("_ghosts", []).append(id)  # BUG: the stale id list
        return found

    def put(self, id, embedding, content, confidence=1.0):  # type: ignore[no-untyped-def]
        super().put(id, embedding, content, confidence)
        ghosts = self.__dict__.get("_ghosts", [])
        if id in ghosts:
            ghosts.remove(id)

    def _sync_and_mark(self) -> None:
        super()._sync_and_mark()
        self.__dict__["_ghosts"] = []

    def ids(self) -> list[str]:
        live = super().ids()
        return live + [g for g in self.__dict__.get("_ghosts", []) if g not in live]
