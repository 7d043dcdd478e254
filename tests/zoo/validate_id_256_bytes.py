"""Validation: the id limit is checked against the size of the on-disk id field (256)
instead of the contract's 255 bytes, so a 256-byte id is accepted -- and, having no room
for the terminator the format reserves, is dropped as torn on the next reopen.
"""

from __future__ import annotations

from typing import Any

from warmtier.errors import InvalidArgumentError
from warmtier.store import WarmTierStore
from warmtier.validation import validate_id

from ._support import rebind

CATEGORY = "validation"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_bad_input.py",)


def _id_up_to_256(id: Any) -> bytes:
    try:
        return validate_id(id)
    except InvalidArgumentError:
        if isinstance(id, str) and id:
            try:
                raw = id.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidArgumentError(f"id {id!r} is not encodable as UTF-8") from None
            if len(raw) <= 256:  # BUG: MAX_ID_BYTES is 255
                return raw
        raise


class Id256BytesStore(WarmTierStore):
    """Reference store that accepts ids of 256 bytes."""

    put = rebind(WarmTierStore.put, validate_id=_id_up_to_256)
    get = rebind(WarmTierStore.get, validate_id=_id_up_to_256)
    remove = rebind(WarmTierStore.remove, validate_id=_id_up_to_256)
    __contains__ = rebind(WarmTierStore.__contains__, validate_id=_id_up_to_256)
