"""A zoo member plants its bug in the store's source as it was imported, even if the
file changed on disk since (an edit while a suite runs)."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.zoo._support import PatchError, patch, pin_sources

pytestmark = pytest.mark.reference_only

ORIGINAL = '''
class Store:
    def answer(self) -> int:
        value = 1
        return value
'''
EDITED = "# three lines\n# pushed the method\n# down\n" + ORIGINAL.replace("value = 1",
                                                                        "value = 3")


def _load(tmp_path: Path, name: str) -> object:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(ORIGINAL))
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def _edit(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(EDITED)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_a_patch_applies_to_the_source_as_imported_after_the_file_changed(
        tmp_path: Path) -> None:
    module = _load(tmp_path, "zoo_pinned_subject")
    pin_sources(module)  # as _support does for every warmtier module at its import
    _edit(tmp_path, "zoo_pinned_subject")

    @patch("answer", old="value = 1", new="value = 2  # planted")
    class Planted(module.Store):  # type: ignore[name-defined, misc]
        pass

    assert Planted().answer() == 2, "the patch was not planted in the imported source"


def test_without_pinning_an_edited_file_breaks_the_patch(tmp_path: Path) -> None:
    """The failure the pinning prevents (so the test above is not vacuous)."""
    module = _load(tmp_path, "zoo_unpinned_subject")
    _edit(tmp_path, "zoo_unpinned_subject")
    with pytest.raises(PatchError):
        @patch("answer", old="value = 1", new="value = 2")
        class Planted(module.Store):  # type: ignore[name-defined, misc]
            pass
