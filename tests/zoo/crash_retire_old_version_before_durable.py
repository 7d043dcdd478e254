"""Crash ordering: a replace unpublishes the old version of the id at once instead of at
the next flush, after the new version is durable.

A process kill cannot tell (the page cache holds both writes), but a power cut that
keeps the page with the zeroed old slot and loses the page of the new slot leaves the id
with no version at all: a record that was flushed disappears.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash",)


class RetireOldVersionBeforeDurableStore(WarmTierStore):
    """Reference store that retires a replaced version before the new one is durable."""

    def _retire_replaced(self, slot: int, id: str) -> None:
        self._seqs[slot] = 0  # BUG: the new version is not durable yet
        self._pending_slots.append(slot)
        self._release_live(slot)
