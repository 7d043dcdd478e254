"""Crash ordering: ``flush`` syncs the slots file but not the content arena (the content
msync was "moved" to compaction, which syncs its new files itself).

Slots that reach the disk point at content that may not; after a power cut, records
written before the last flush fail their checksum and ``open()`` refuses the store.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "crash"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_power_loss.py",)


def _no_sync() -> None:
    """Stands in for ``MappedFile.sync`` of the content arena."""


class FlushSkipsContentSyncStore(WarmTierStore):
    """Reference store whose durability points forget the content file."""

    def _remap(self) -> None:
        super()._remap()
        self._content_file.sync = _no_sync  # type: ignore[method-assign]  # BUG
