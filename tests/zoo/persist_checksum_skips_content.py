"""Persistence: the slot checksum covers the slot fields but not the content bytes.

Nothing changes while the files are intact. After a crash or power cut that kept a
published slot but lost (or tore) its content, recovery accepts the record with the
wrong bytes instead of dropping it; bit rot in the arena is never reported.
"""

from __future__ import annotations

from warmtier.format import FORMAT_VERSION, slot_checksum
from warmtier.store import WarmTierStore

from ._support import patch, rebind

CATEGORY = "persistence"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_power_loss.py",)


def _slot_only_checksum(slot: bytes | memoryview, content: bytes | memoryview,
                        version: int = FORMAT_VERSION) -> int:
    return slot_checksum(slot, b"", version)  # BUG: ``content`` is not folded in


@patch("_verify", old="ok = [crc32(arena_mv[o : o + n], crc32(slots_mv[st + 4 : st + size])) == c",
       new="ok = [crc32(slots_mv[st + 4 : st + size]) == c  # BUG: likewise, in format 1")
@patch("_verify", old="ok = [h(arena_mv[o : o + n], h(slots_mv[st + 16 : st + size],",
       new="ok = [h(b'', h(slots_mv[st + 16 : st + size],  # BUG: the content is not covered")
class ChecksumSkipsContentStore(WarmTierStore):
    """Reference store whose checksums ignore content (where recovery, check() and
    compaction compute one; put's own checksum, ``unpublished_slot_checksum``, still
    covers the content)."""

    _slot_on_disk = rebind(WarmTierStore._slot_on_disk, slot_checksum=_slot_only_checksum)
    _copy_into = rebind(WarmTierStore._copy_into, slot_checksum=_slot_only_checksum)
