"""Crash ordering: recovery trusts the header's counters over the slots and numbers new
writes from the header's sequence floor, not from the highest sequence number on disk.

The header is written only at a flush; after a crash the slots hold newer numbers. New
writes then reuse numbers that live slots carry, so after the next crash an old version
of an id can win recovery ("highest seq wins"), and ``check()`` finds slots numbered at
or above the next sequence number.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "crash"
CAUGHT_BY = ("crash",)


@patch("_next_seq_after",
       old="nxt = max(int(seqs.max(initial=0)), self._header.seq_floor) + 1",
       new="nxt = self._header.seq_floor + 1  # BUG: max(seq on disk, seq_floor) + 1")
class NextSeqFromHeaderStore(WarmTierStore):
    """Reference store whose recovery takes the next sequence number from the header."""
