"""Growth: the slot written just before the slots file is remapped is lost.

Growing copies the slots into the new mapping up to the last slot *before* the most
recent write, so the record published just before the growth reads back as zeros.
"""

from __future__ import annotations

import numpy as np

from warmtier.store import WarmTierStore

CATEGORY = "growth"
CAUGHT_BY = ("properties",)


class LosesLastSlotStore(WarmTierStore):
    """Reference store whose slot-file growth drops the newest slot's bytes."""

    def _grow_slots(self) -> None:
        newest = int(np.argmax(self._seqs)) if len(self._seqs) else -1
        super()._grow_slots()
        if newest >= 0 and self._live[newest]:
            self._embeddings[newest] = 0  # BUG: the copy stops one slot short
