"""A store with one planted bug for the campaign tests: the model, except that a content of
three bytes or more loses its last byte on the way in. The store machine catches it in a
few steps."""

from __future__ import annotations

from typing import Any

from warmtier.model import ModelStore


class DropsLastByteStore(ModelStore):
    """``put`` keeps all but the last byte of a content of three bytes or more."""

    def put(self, id: str, embedding: Any, content: bytes | str, confidence: float = 1.0) -> None:
        data = content.encode() if isinstance(content, str) else bytes(content)
        super().put(id, embedding, data[:-1] if len(data) >= 3 else content, confidence)
