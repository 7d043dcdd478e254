"""The reference store's own ``create`` options: each bad value is refused by name, each
edge value is accepted, and a refused create leaves the path free.

(The contract's ``path`` and ``dim`` rules run against any store in ``test_bad_input``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warmtier import InvalidArgumentError, WarmTierStore
from warmtier.format import MAX_DIM

pytestmark = pytest.mark.reference_only

BAD_OPTIONS: list[tuple[str, Any, str]] = [
    ("dim", MAX_DIM + 1, f"dim must be at most {MAX_DIM}; got {MAX_DIM + 1}"),
    ("initial_capacity", 0, "initial_capacity must be an int >= 1; got 0"),
    ("initial_capacity", 2.0, "initial_capacity must be an int >= 1; got 2.0"),
    ("initial_content_bytes", -1, "initial_content_bytes must be an int >= 0; got -1"),
    ("initial_content_bytes", True, "initial_content_bytes must be an int >= 0; got True"),
    ("max_content", -1, "max_content must be an int >= 0; got -1"),
    ("max_content", "1", "max_content must be an int >= 0; got '1'"),
    ("max_slots", 0, "max_slots must be a positive int or None; got 0"),
    ("max_slots", 1.5, "max_slots must be a positive int or None; got 1.5"),
    ("max_slots", False, "max_slots must be a positive int or None; got False"),
    ("max_content_bytes", -4096, "max_content_bytes must be a positive int or None; got -4096"),
    ("max_content_bytes", "4096", "max_content_bytes must be a positive int or None; got '4096'"),
]


@pytest.mark.parametrize(("option", "value", "says"), BAD_OPTIONS,
                         ids=[f"{o}={v!r}" for o, v, _ in BAD_OPTIONS])
def test_a_bad_create_option_is_refused_by_name(
    tmp_path: Path, option: str, value: Any, says: str
) -> None:
    kwargs: dict[str, Any] = {"dim": 4, option: value}
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(tmp_path / "s", **kwargs)
    assert str(info.value) == says
    assert not (tmp_path / "s").exists()


def test_create_on_a_file_is_refused_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"mine")
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(path, dim=4)
    assert str(info.value) == f"{path} exists and is not a directory"
    assert path.read_bytes() == b"mine"


def test_create_in_a_non_empty_directory_names_it(tmp_path: Path) -> None:
    (tmp_path / "junk").write_text("x")
    with pytest.raises(InvalidArgumentError) as info:
        WarmTierStore.create(tmp_path, dim=4)
    assert str(info.value) == f"{tmp_path} is not empty; create needs a new store"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": MAX_DIM, "initial_capacity": 1},
        {"dim": 1, "initial_capacity": 1, "initial_content_bytes": 0, "max_content": 0},
        {"dim": 2, "max_slots": 1, "max_content_bytes": 1},
    ],
    ids=["largest_dim", "smallest_everything", "smallest_limits"],
)
def test_edge_create_options_are_accepted_and_survive_reopen(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    dim = kwargs["dim"]
    with WarmTierStore.create(tmp_path / "s", **kwargs) as s:
        s.put("only", [0.5] * dim, b"" if kwargs.get("max_content") == 0 else b"c")
    with WarmTierStore.open(tmp_path / "s") as s:
        rec = s.get("only")
        assert rec is not None and rec.embedding.shape == (dim,)
        s.check()
