"""Persistence: the slot checksum covers the slot fields but not the content bytes.

Nothing changes while the files are intact. After a crash or power cut that kept a
published slot but lost (or tore) its content, recovery accepts the record with the
wrong bytes instead of dropping it; bit rot in the arena is never reported.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

from warmtier.format import slot_checksum
from warmtier.store import WarmTierStore

from ._support import rebind

CATEGORY = "persistence"
CAUGHT_BY = ("crash",)
QUICK = ("tests/crash/test_crash_power_loss.py",)
COPIED_FROM = {"_verify": "b8134c51a35b"}


def _slot_only_checksum(slot: bytes | memoryview, content: bytes | memoryview) -> int:
    return slot_checksum(slot, b"")  # BUG: ``content`` is not folded in


class ChecksumSkipsContentStore(WarmTierStore):
    """Reference store whose checksums ignore content (in every place that computes one)."""

    _write_and_publish = rebind(WarmTierStore._write_and_publish,
                                slot_checksum=_slot_only_checksum)
    _violations = rebind(WarmTierStore._violations, slot_checksum=_slot_only_checksum)
    _copy_into = rebind(WarmTierStore._copy_into, slot_checksum=_slot_only_checksum)

    def _verify(self, cand: npt.NDArray[np.int64], offs: npt.NDArray[np.int64],
                lens: npt.NDArray[np.int64], sane: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """Which candidate slots pass their checksum (one crc32 pass per slot and content)."""
        size = self._slot_size
        slots_mv = self._slot_bytes.data
        crc32 = zlib.crc32
        pick = np.flatnonzero(sane)
        starts = (cand[pick] * size).tolist()
        ok = [
            crc32(slots_mv[st + 4 : st + size]) == c  # BUG: the content is not covered
            for st, o, n, c in zip(starts, offs[pick].tolist(), lens[pick].tolist(),
                                   self._slots["crc"][cand[pick]].tolist(), strict=True)
        ]
        good = np.zeros(len(cand), dtype=bool)
        good[pick] = ok
        return good
