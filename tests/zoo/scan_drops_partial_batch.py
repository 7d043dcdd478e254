"""Scan: the last, partial batch is never yielded.

The batch loop runs ``range(0, n - batch_size + 1, batch_size)``, so unless the number
of live records is a multiple of ``batch_size`` the tail is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from warmtier.records import Record
from warmtier.store import WarmTierStore

CATEGORY = "scan"
CAUGHT_BY = ("properties",)


class DropsPartialBatchStore(WarmTierStore):
    """Reference store whose scan loses the tail batch."""

    def _scan_batches(self, names: list[str], slots: Any, batch_size: int
                      ) -> Iterator[Record]:
        whole = len(names) - len(names) % batch_size  # BUG: the partial batch is dropped
        yield from super()._scan_batches(names[:whole], slots[:whole], batch_size)
