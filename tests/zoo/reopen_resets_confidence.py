"""Recovery: every record comes back with confidence 1.0.

The recovery path fills the in-memory confidences with the default instead of reading
the slots' field, so confidences survive only until the store is reopened.
"""

from __future__ import annotations

from warmtier.store import Verify, WarmTierStore

CATEGORY = "persistence"
CAUGHT_BY = ("properties",)


class ResetsConfidenceStore(WarmTierStore):
    """Reference store whose recovery forgets the confidences."""

    def _rebuild(self, verify: Verify = "all") -> None:
        super()._rebuild(verify)
        self._confidences[self._live] = 1.0  # BUG: the default, not the slot's field
        self._slots["confidence"][self._live] = 1.0
