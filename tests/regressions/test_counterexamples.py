# ruff: noqa: F841  (programs are pasted verbatim: unused names, long lines)
"""Counterexamples the store machine once printed, kept as permanent tests.

Each test is a program pasted verbatim from a failure report (see README.md), named for
what broke. They pass on a correct store and fail on the store that produced them.
"""

from __future__ import annotations

from typing import Any

from numpy import array, float32, float64  # noqa: F401 - names pasted programs use

from warmtier.testing.properties.strategies import Blob, NearFreed, Resize  # noqa: F401


def test_same_size_replace_is_read_back_with_its_new_bytes(StoreMachine: Any) -> None:
    # Found in tests/zoo/replace_same_size_reads_old_extent.py: the new slot kept the
    # old extent's offset when the size did not change. (max_content, irrelevant here,
    # dropped from the pasted options: not every store takes it.)
    state = StoreMachine()
    state.create(options={'initial_capacity': 1, 'initial_content_bytes': 1})
    state.agrees_with_model()
    keys_0 = state.put_new(confidence=1.0, content='0', embedding=[1.0, 1.0, 1.0, 1.0], id='0')
    state.agrees_with_model()
    state.put_existing(confidence=1.0, content=Resize(how='same', seed=0), embedding=[1.0, 1.0, 1.0, 1.0], id=keys_0)
    state.agrees_with_model()
    state.teardown()


def test_an_id_made_of_a_nul_survives_an_abandoned_store(StoreMachine: Any) -> None:
    # Found in tests/zoo/id_trailing_nul_stripped.py: recovery decoded the id field as a
    # C string, so '\x00' came back as ''. (max_content, irrelevant here, dropped from
    # the pasted options: not every store takes it.)
    state = StoreMachine()
    state.create(options={'initial_capacity': 1, 'initial_content_bytes': 1})
    state.agrees_with_model()
    keys_0 = state.put_new(confidence=1.0, content=b'', embedding=[1.0, 1.0, 1.0, 1.0], id='\x00')
    state.agrees_with_model()
    state.abandon_and_reopen()
    state.teardown()
