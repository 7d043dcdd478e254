"""Lifecycle: ``in`` and ``len`` keep answering from the in-memory index after ``close()``
instead of raising ``StoreClosedError`` (the open check was dropped from the read-only,
"harmless" calls).
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "lifecycle"
CAUGHT_BY = ("properties", "unit")


@patch("__len__", old="self._ensure_open()", new="pass  # BUG: no self._ensure_open()")
@patch("__contains__", old="self._ensure_open()", new="pass  # BUG: no self._ensure_open()")
class ContainsAfterCloseStore(WarmTierStore):
    """Reference store whose membership and length ignore close()."""
