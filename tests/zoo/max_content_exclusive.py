"""Put: a content of exactly ``max_content`` bytes is refused.

The size check uses ``>=`` instead of ``>``, so the documented maximum is unusable.
"""

from __future__ import annotations

from typing import Any

from warmtier.errors import InvalidArgumentError
from warmtier.store import WarmTierStore

CATEGORY = "put"
CAUGHT_BY = ("properties",)


class MaxContentExclusiveStore(WarmTierStore):
    """Reference store whose content limit is off by one."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        size = len(content.encode("utf-8", "surrogatepass")) if isinstance(content, str) else (
            len(content) if isinstance(content, bytes) else -1)
        if size >= self._max_content:  # BUG: >= instead of >
            raise InvalidArgumentError(f"content is {size} bytes; the limit is {self._max_content}")
        super().put(id, embedding, content, confidence)
