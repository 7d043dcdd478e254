"""Regression: an ``open()`` that fails keeps no lock on the directory.

Found by the bug zoo (``tests/zoo/lifecycle_open_keeps_lock_on_error.py``): a store whose
failed ``open()`` kept the directory lock passed every suite, because none opened a
broken directory twice. The contract: ``open()`` of a directory holding no valid store
raises ``CorruptionError`` -- every time -- and once the files are repaired it opens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warmtier.errors import CorruptionError


def _files(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_corrupt_directory_fails_to_open_every_time_and_opens_once_repaired(
    store_class: type[Any], tmp_path: Path
) -> None:
    path = tmp_path / "store"
    store = store_class.create(path, dim=3)
    store.put("a", [1.0, 2.0, 3.0], b"kept", confidence=0.5)
    store.close()
    saved = {p: data for p, data in _files(path).items() if data}
    if not saved:
        pytest.skip(f"{store_class.__name__} keeps no data in its directory; nothing to corrupt")
    for p, data in saved.items():
        p.write_bytes(b"\xa5" * len(data))

    for _attempt in range(3):
        with pytest.raises(CorruptionError):
            store_class.open(path)  # attempt 2 and 3 must not say StoreLockedError

    for p, data in saved.items():
        p.write_bytes(data)
    with store_class.open(path) as reopened:
        rec = reopened.get("a")
        assert rec is not None and rec.content == b"kept", (
            f"expected the repaired store to hold 'a' = b'kept'; got {rec!r}"
        )
