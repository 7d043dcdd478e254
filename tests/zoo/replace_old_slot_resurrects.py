"""Replace: ``remove`` forgets to unpublish the superseded versions of the id.

The newest version is unpublished, but an older one not yet retired by a flush keeps
its sequence number on disk; after a reopen the removed id comes back with old data.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "replace"
CAUGHT_BY = ("properties",)


@patch("remove", old="self._seqs[old] = 0",
       new="pass  # BUG: the old version's sequence number is not zeroed")
class OldSlotResurrectsStore(WarmTierStore):
    """Reference store whose remove leaves replaced versions published."""
