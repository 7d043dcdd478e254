"""Growth: enlarging the content arena loses the last byte in use.

The arena is copied into the larger file up to ``high_water - 1``, so the last byte of
the extent that ends highest comes back as zero.
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

CATEGORY = "growth"
CAUGHT_BY = ("properties",)


class DropsLastByteStore(WarmTierStore):
    """Reference store whose arena growth truncates the used span by one byte."""

    def _grow_content(self, need: int) -> None:
        end = self._alloc.high_water
        super()._grow_content(need)
        if end:
            self._arena[end - 1] = 0  # BUG: copies [0, end - 1)
