"""Recovery: ids lose their trailing NUL characters (C-string habits).

``'a\\x00'`` is stored fine but read back from disk as ``'a'`` after ``open()``, so it
changes id, or collides with a different record named ``'a'``.
"""

from __future__ import annotations

from warmtier.store import Verify, WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


class StripsTrailingNulStore(WarmTierStore):
    """Reference store whose recovery decodes ids with rstrip(b'\\x00')."""

    def _rebuild(self, verify: Verify = "all") -> None:
        super()._rebuild(verify)
        renamed = {}
        for ident, slot in self._index.items():
            short = ident.rstrip("\x00")  # BUG: the id field is treated as a C string
            if short in renamed:
                continue
            renamed[short] = slot
            self._slot_ids[slot] = short
        self._index = renamed
