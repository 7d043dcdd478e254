"""Remove: the id stays in the index, pointing at the slot that was just released.

``get`` answers an empty record for a removed id, ``len`` and ``in`` still count it,
and a second ``remove`` reports ``True``.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "remove"
CAUGHT_BY = ("properties",)


@patch("remove", old="""
    if slot is None:
        return False
""", new="""
    if slot is None or not self._live[slot]:
        return slot is not None  # BUG: the stale entry still reads as present
""")
@patch("remove", old="del self._index[id]", new="pass  # BUG: ``del self._index[id]`` is missing")
class KeepsIndexStore(WarmTierStore):
    """Reference store whose remove keeps the index entry."""
