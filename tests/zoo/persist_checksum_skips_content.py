"""Persistence: the slot checksum covers the slot fields but not the content bytes.

Nothing changes while the files are intact. After a crash or power cut that kept a
published slot but lost (or tore) its content, recovery accepts the record with the
wrong bytes instead of dropping it; bit rot in the arena is never reported.
"""

from __future__ import annotations

from collections.abc import Iterable

from warmtier.format import FORMAT_VERSION, Bytes, slot_checksum, slots_pass
from warmtier.store import WarmTierStore

from ._support import rebind

CATEGORY = "persistence"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_power_loss.py",)


def _slot_only_checksum(slot: Bytes, content: Bytes, version: int = FORMAT_VERSION,
                        embedding: Bytes = b"") -> int:
    return slot_checksum(slot, b"", version, embedding)  # BUG: ``content`` is not folded in


def _slots_only_pass(version: int, slots: memoryview, embeddings: memoryview,
                     arena: memoryview, rows: Iterable[tuple[int, int, int, int]], size: int,
                     row: int) -> list[bool]:
    empty = ((i, o, 0, c) for i, o, _, c in rows)  # BUG: likewise, at open
    return slots_pass(version, slots, embeddings, arena, empty, size, row)


class ChecksumSkipsContentStore(WarmTierStore):
    """Reference store whose checksums ignore content (where recovery, check() and
    compaction compute one; the checksums put and put_many write still cover the
    content)."""

    _verify = rebind(WarmTierStore._verify, slots_pass=_slots_only_pass)
    _slot_on_disk = rebind(WarmTierStore._slot_on_disk, slot_checksum=_slot_only_checksum)
    _copy_into = rebind(WarmTierStore._copy_into, slot_checksum=_slot_only_checksum)
