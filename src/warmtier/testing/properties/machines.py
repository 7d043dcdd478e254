"""Hypothesis state machines that attack a store (and the offset allocator) step by step,
checking every answer against a trivially correct model after every step.

``store_machine(MyStore)`` binds the store machine to any class with the contract's
``create``/``open``; ``run_machine`` runs a machine and adds the one-line replay command.
The machines live beside this module: :mod:`~warmtier.testing.properties.machine_base` (state and
checks), :mod:`~warmtier.testing.properties.store_machine` (rules and binding),
:mod:`~warmtier.testing.properties.allocator_machine`.

>>> from warmtier.model import ModelStore
>>> Machine = store_machine(ModelStore, dim=3)
>>> run_machine(Machine, settings=settings(max_examples=2, database=None))
"""

from __future__ import annotations

import re
from typing import Any

import hypothesis
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from warmtier.testing import compare, exercised
from warmtier.testing.compare import ReplayContext
from warmtier.testing.properties.allocator_machine import AllocatorMachine, allocator_machine
from warmtier.testing.properties.machine_base import StoreMachineBase
from warmtier.testing.properties.store_machine import (
    StoreMachine,
    store_machine,
    supported_create_options,
)

__all__ = [
    "AllocatorMachine",
    "StoreMachine",
    "StoreMachineBase",
    "allocator_machine",
    "run_machine",
    "store_machine",
    "supported_create_options",
]

_BLOB_NOTE = re.compile(r"@reproduce_failure\('([^']+)', b'([^']+)'\)")


def run_machine(
    machine: type[RuleBasedStateMachine],
    *,
    replay: ReplayContext | None = None,
    reproduce: tuple[str, str] | None = None,
    settings: settings | None = None,
) -> None:
    """Run ``machine`` as a test; on failure add one line, ``Replay: <nox command>``.

    ``replay`` names the test (node id, profile, store, seed); its seed, when set, seeds
    the search (the example database still replays first). ``reproduce`` is a
    ``(version, blob)`` pair from ``@reproduce_failure``: run exactly that example.
    """
    exercised.note_machine(machine)
    factory: Any = machine
    if reproduce is not None:
        version, blob = reproduce
        factory = hypothesis.reproduce_failure(version, blob.encode("ascii"))(factory)
    elif replay is not None and replay.seed is not None:
        factory = hypothesis.seed(replay.seed)(factory)
    compare.set_replay(replay)
    try:
        run_state_machine_as_test(factory, settings=settings)
    except BaseException as exc:
        if replay is not None:
            notes = "\n".join(getattr(exc, "__notes__", []))
            found = _BLOB_NOTE.findall(notes + "\n" + str(exc))
            if found:
                version, blob = found[-1]
                line = replay.blob_command(version, blob)
            elif reproduce is not None:
                line = replay.blob_command(*reproduce)
            else:
                line = replay.seed_command()
            exc.add_note(f"Replay: {line}")
        raise
    finally:
        compare.set_replay(None)
