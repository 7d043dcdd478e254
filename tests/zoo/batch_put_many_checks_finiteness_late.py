"""Batch: put_many finds a non-finite embedding only when it reaches that record, after
writing the records before it, so a refused batch is not "nothing written".
"""

from __future__ import annotations

from warmtier.store import WarmTierStore

from ._support import patch

CATEGORY = "batch"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_bad_input.py", "-k", "put_many")


@patch("put_many", old="""
    norms = []
    for j, row in enumerate(rows):
        try:
            norms.append(self._norm(row[2]))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"records[{j}]: {exc}") from None
    self._ensure_open()
    self._reserve_slots(len(rows))
    for (id, raw_id, emb, data, conf), norm in zip(rows, norms, strict=True):
        self._put_locked(id, raw_id, emb, data, conf, norm)
""", new="""
    self._ensure_open()
    self._reserve_slots(len(rows))
    for id, raw_id, emb, data, conf in rows:  # BUG: the norm (and its NaN check) comes late
        self._put_locked(id, raw_id, emb, data, conf, self._norm(emb))
""")
class ChecksFinitenessLateStore(WarmTierStore):
    """Reference store whose put_many writes a prefix of a batch it then refuses."""
