"""Persistence: the slot checksum covers the slot fields but not the content bytes.

Nothing changes while the files are intact. After a crash or power cut that kept a
published slot but lost (or tore) its content, recovery accepts the record with the
wrong bytes instead of dropping it; bit rot in the arena is never reported.
"""

from __future__ import annotations

import zlib

from warmtier.store import WarmTierStore

from ._support import rebind

CATEGORY = "persistence"
CAUGHT_BY = ("crash",)


def _slot_only_checksum(slot: bytes | memoryview, content: bytes | memoryview) -> int:
    crc = zlib.crc32(slot[0:8])
    return zlib.crc32(slot[12:], crc)  # BUG: ``content`` is not folded in


class ChecksumSkipsContentStore(WarmTierStore):
    """Reference store whose checksums ignore content (in every place that computes one)."""

    _write_and_publish = rebind(WarmTierStore._write_and_publish,
                                slot_checksum=_slot_only_checksum)
    _rebuild = rebind(WarmTierStore._rebuild, slot_checksum=_slot_only_checksum)
    _violations = rebind(WarmTierStore._violations, slot_checksum=_slot_only_checksum)
    _copy_into = rebind(WarmTierStore._copy_into, slot_checksum=_slot_only_checksum)
