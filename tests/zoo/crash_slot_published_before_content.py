"""Crash ordering: ``put`` publishes the slot (writes its sequence number) before it
copies the content into the arena.

A failure between the two -- an exception at ``put.after_content``, a full disk, a kill
-- leaves a published slot whose content was never written: the store reports the put
as failed while the disk holds it, and ``check()`` finds a free slot still published.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "crash"
CAUGHT_BY = ("crash", "concurrency")


@patch("_write", old="""
    if data:
        self._arena_mv[off : off + n] = data
    failpoint("put.after_content")
""", new="""
    pass  # BUG: the content is copied after the publish (see put)
""")
@patch("_put_locked", old="self._publish(slot, seq)", new="""
    self._publish(slot, seq)
    if data:  # BUG: published before the content is written
        self._arena_mv[off : off + len(data)] = data
    failpoint("put.after_content")
""")
class SlotPublishedBeforeContentStore(WarmTierStore):
    """Reference store whose put writes slot, seq, then content."""
