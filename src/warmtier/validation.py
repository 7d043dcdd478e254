"""Argument rules of the contract, shared by the model and the reference store.

Each function returns the normalized value or raises InvalidArgumentError; none has
side effects, so a store that validates everything first changes nothing on bad input.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from warmtier.errors import InvalidArgumentError
from warmtier.records import Embedding

__all__ = [
    "DEFAULT_MAX_CONTENT",
    "MAX_ID_BYTES",
    "record_fields",
    "validate_confidence",
    "validate_content",
    "validate_embedding",
    "validate_id",
    "validate_k",
    "validate_query",
]

MAX_ID_BYTES = 255
DEFAULT_MAX_CONTENT = 64 * 1024 * 1024


def validate_id(id: Any) -> bytes:
    """Return the id's UTF-8 bytes: a non-empty ``str`` of at most 255 bytes."""
    if not isinstance(id, str):
        raise InvalidArgumentError(f"id must be a str, not {type(id).__name__}")
    if not id:
        raise InvalidArgumentError("id must not be empty")
    try:
        raw = id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"id {id!r} is not encodable as UTF-8: {exc.reason}") from None
    if len(raw) > MAX_ID_BYTES:
        raise InvalidArgumentError(
            f"id is {len(raw)} bytes as UTF-8; the limit is {MAX_ID_BYTES}"
        )
    return raw


def validate_embedding(embedding: Any, dim: int, what: str = "embedding") -> Embedding:
    """Return a fresh float32 copy of a 1-D real array-like of length ``dim``, all finite."""
    if (
        type(embedding) is np.ndarray
        and embedding.dtype == np.float32
        and embedding.shape == (dim,)
    ):  # the fast path: already the stored type
        out = embedding.copy()
        if not np.isfinite(out).all():
            _raise_not_finite(out, out, what)
        return out
    if isinstance(embedding, (str, bytes, bytearray, memoryview)):
        raise InvalidArgumentError(f"{what} must be an array of numbers, not {type(embedding).__name__}")
    try:
        arr = np.asarray(embedding)
    except Exception as exc:  # ragged lists and other unconvertible objects
        raise InvalidArgumentError(f"{what} is not an array of numbers: {exc}") from None
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"{what} holds non-numeric values: {exc}") from None
    if arr.dtype.kind not in "fiu":
        raise InvalidArgumentError(
            f"{what} must hold real numbers; got dtype {arr.dtype} (complex, bool and text are refused)"
        )
    if arr.ndim != 1:
        raise InvalidArgumentError(f"{what} must be 1-D; got shape {arr.shape}")
    if arr.shape[0] != dim:
        raise InvalidArgumentError(f"{what} must have length {dim}; got {arr.shape[0]}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.array(arr, dtype=np.float32, copy=True)
    if not np.isfinite(out).all():
        _raise_not_finite(out, arr, what)
    return out


def _raise_not_finite(converted: Embedding, original: Any, what: str) -> None:
    bad = int(np.flatnonzero(~np.isfinite(converted))[0])
    raise InvalidArgumentError(
        f"{what}[{bad}] = {original[bad]!r} is not finite as float32 (NaN, inf and values "
        "beyond float32's range are refused)"
    )


def validate_query(query: Any, dim: int) -> Embedding:
    """Like :func:`validate_embedding`, and the query must have a non-zero norm."""
    q = validate_embedding(query, dim, what="query")
    if not np.any(q):
        raise InvalidArgumentError("query has zero norm; cosine similarity is undefined")
    return q


def validate_content(content: Any, max_content: int) -> bytes:
    """Return content as bytes: ``bytes`` as is, ``str`` as its UTF-8."""
    if isinstance(content, str):
        try:
            content = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidArgumentError(f"content str is not encodable as UTF-8: {exc.reason}") from None
    elif not isinstance(content, bytes):
        raise InvalidArgumentError(f"content must be bytes or str, not {type(content).__name__}")
    data = bytes(content)
    if len(data) > max_content:
        raise InvalidArgumentError(f"content is {len(data)} bytes; the limit is {max_content}")
    return data


def validate_confidence(confidence: Any) -> float:
    """Return the confidence as the float32 value that will be stored."""
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise InvalidArgumentError(
            f"confidence must be a real number, not {type(confidence).__name__}"
        )
    value = float(confidence)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"confidence must be in [0.0, 1.0]; got {value!r}")
    return float(np.float32(value))


def validate_k(k: Any) -> int:
    """Return ``k`` as an int of at least 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InvalidArgumentError(f"k must be an int, not {type(k).__name__}")
    if k < 1:
        raise InvalidArgumentError(f"k must be at least 1; got {k}")
    return int(k)


def record_fields(record: Any) -> tuple[Any, Any, Any, Any]:
    """``(id, embedding, content, confidence)`` of one ``put_many`` record, unvalidated:
    a 3- or 4-tuple or list (confidence 1.0 when left out), or an object with those four
    attributes (a ``Record``); anything else is an InvalidArgumentError.

    >>> record_fields(("a", [1.0], b"x"))
    ('a', [1.0], b'x', 1.0)
    """
    if isinstance(record, (tuple, list)):
        if len(record) not in (3, 4):
            raise InvalidArgumentError("a record is (id, embedding, content[, confidence]); "
                                       f"got {len(record)} fields")
        return (record[0], record[1], record[2], record[3] if len(record) == 4 else 1.0)
    try:
        return (record.id, record.embedding, record.content, record.confidence)
    except AttributeError as exc:
        raise InvalidArgumentError(f"not a record: {exc}") from None
