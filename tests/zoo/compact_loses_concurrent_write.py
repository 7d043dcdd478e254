"""Compaction: the copy runs outside the lock from a snapshot of the live slots, and the
switch installs that snapshot; a ``put`` or ``remove`` that lands during the copy is lost.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "compaction"
CAUGHT_BY = ("concurrency",)


@patch("compact", old="self._switch_to(plan, self._write_generation(plan))", new="""
    self._lock.release()  # BUG: the lock is released for the slow copy ("readers should
    try:  # not wait"); the switch below installs the plan made before it
        new = self._write_generation(plan)
    finally:
        self._lock.acquire()
    self._switch_to(plan, new)
""")
@patch("_write_generation",
       old="self._copy_into(new, plan.order, plan.new_offs, plan.header)",
       new="""
    with self._lock:  # (the copy itself under the lock, reading the planned slots)
        self._copy_into(new, plan.order, plan.new_offs, plan.header)
""")
class LosesConcurrentWriteStore(WarmTierStore):
    """Reference store whose compaction copies without the lock (writes meanwhile vanish)."""
