"""Validation: content may be any bytes-like object (``bytearray``, ``memoryview``),
where the contract accepts only ``bytes`` and ``str`` and refuses the rest before any
state changes.
"""

from __future__ import annotations

from typing import Any

from warmtier.store import WarmTierStore, _content_bytes
from warmtier.validation import validate_content

from ._support import rebind

CATEGORY = "validation"
CAUGHT_BY = ("unit", "properties")
QUICK = ("tests/unit/test_bad_input.py",)


def _any_bytes_like(content: Any, max_content: int) -> bytes:
    if isinstance(content, (bytearray, memoryview)):  # BUG: "be liberal in what you accept"
        content = bytes(content)
    return validate_content(content, max_content)


class AcceptsBytearrayStore(WarmTierStore):
    """Reference store whose put takes bytearray and memoryview content."""

    put = rebind(WarmTierStore.put, _content_bytes=rebind(  # put's content check
        _content_bytes, validate_content=_any_bytes_like))
