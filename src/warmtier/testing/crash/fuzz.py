"""Corrupt files at scale: mutate the files of a populated store and open them.

The only outcomes allowed are ``CorruptionError`` (from ``open`` alone) or a working
store: ``check()`` passes, every id reads, a put, a close and a reopen work. The opening
runs in an isolated child (``isolate``): a store that dies on the files is a failure. A mutation
is a small value (kind, file, position, size, byte), so Hypothesis can shrink a failing
list of them and a seeded loop can run a hundred thousand cheaply.

>>> files = {"a": bytes(8192)}
>>> mutated = apply_mutations(files, [Mutation("flip", 0, 0.0, 1, 3)])
>>> mutated["a"][0]
8
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from warmtier.errors import CorruptionError
from warmtier.testing.contract import close_quietly, snapshot
from warmtier.testing.crash.checks import run_check
from warmtier.testing.crash.isolate import Isolated, worker_or
from warmtier.testing.crash.workload import DIM, apply, batch_kinds, make_store, operations

__all__ = [
    "KINDS",
    "Mutation",
    "apply_mutations",
    "base_images",
    "loop_case",
    "mutations",
    "open_outcome",
    "opened_problems",
    "random_mutations",
]

PAGE = 4096
#: bit flip, truncation, zeroed page, swapped pages, random bytes, extension, deletion.
KINDS = ("flip", "truncate", "zero_page", "swap_pages", "random_bytes", "extend", "delete")


@dataclass(frozen=True)
class Mutation:
    """One change to one file. ``file`` indexes the sorted file names (modulo their
    count), ``at`` is a position as a fraction of the file, ``size`` a byte count."""

    kind: str
    file: int
    at: float
    size: int
    value: int

    def __str__(self) -> str:
        return f"{self.kind}(file#{self.file}, at={self.at:.4f}, size={self.size}, " \
               f"value={self.value})"


def apply_mutations(files: dict[str, bytes], muts: list[Mutation]) -> dict[str, bytes]:
    """The files with each mutation applied in turn (the input is not changed)."""
    out = dict(files)
    for m in muts:
        names = sorted(out)
        if not names:
            break
        name = names[m.file % len(names)]
        data = bytearray(out[name])
        pos = min(len(data), int(m.at * len(data)))
        if m.kind == "flip" and data:
            i = min(pos, len(data) - 1)
            data[i] ^= 1 << (m.value % 8)
        elif m.kind == "truncate":
            del data[pos:]
        elif m.kind == "zero_page":
            start = pos // PAGE * PAGE
            data[start : start + PAGE] = bytes(len(data[start : start + PAGE]))
        elif m.kind == "swap_pages":
            pages = len(data) // PAGE
            if pages >= 2:
                a = pos // PAGE % pages
                b = (a + 1 + m.size % (pages - 1)) % pages
                pa = bytes(data[a * PAGE : (a + 1) * PAGE])
                data[a * PAGE : (a + 1) * PAGE] = data[b * PAGE : (b + 1) * PAGE]
                data[b * PAGE : (b + 1) * PAGE] = pa
        elif m.kind == "random_bytes":
            rng = np.random.default_rng(m.value + 7919 * m.size)
            n = min(m.size, len(data) - pos)
            data[pos : pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        elif m.kind == "extend":
            data += bytes([m.value]) * m.size
        elif m.kind == "delete":
            del out[name]
            continue
        out[name] = bytes(data)
    return out


def mutations(max_size: int = 4) -> st.SearchStrategy[list[Mutation]]:
    """Hypothesis: 1 to ``max_size`` mutations, e.g. ``[Mutation('flip', 1, 0.25, 1, 6)]``."""
    one = st.builds(
        Mutation,
        kind=st.sampled_from(KINDS),
        file=st.integers(0, 7),
        at=st.floats(0.0, 1.0, allow_nan=False),
        size=st.integers(1, 3 * PAGE),
        value=st.integers(0, 255),
    )
    return st.lists(one, min_size=1, max_size=max_size)


def random_mutations(rng: np.random.Generator, max_size: int = 4) -> list[Mutation]:
    """The same distribution as :func:`mutations`, from a numpy generator (the loop)."""
    return [
        Mutation(KINDS[int(rng.integers(len(KINDS)))], int(rng.integers(8)),
                 float(rng.random()), int(rng.integers(1, 3 * PAGE + 1)),
                 int(rng.integers(256)))
        for _ in range(int(rng.integers(1, max_size + 1)))
    ]


def loop_case(rng: np.random.Generator, index: int, bases: list[str]) -> tuple[str, list[Mutation]]:
    """Case ``index`` of the seeded fuzz loop: the base store's name and the mutations
    (draws them from ``rng``, which must be at case ``index``)."""
    return bases[index % len(bases)], random_mutations(rng)


def _read_files(directory: str) -> dict[str, bytes]:
    out = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out[name] = f.read()
    return out


def base_images(store_class: type[Any], workdir: str, seed: int = 0) -> dict[str, dict[str, bytes]]:
    """Populated stores to mutate: one closed cleanly, one abandoned mid-workload (files
    as a kill would leave them), one just compacted."""
    where = tempfile.mkdtemp(prefix="fuzz-base-", dir=workdir)
    try:
        images: dict[str, dict[str, bytes]] = {}
        ops = list(operations(seed, 60, batch_kinds(store_class)))
        path = os.path.join(where, "closed")
        store = make_store(store_class, path)
        for op in ops:
            apply(store, op)
        store.close()
        images["closed"] = _read_files(path)
        path = os.path.join(where, "abandoned")
        store = make_store(store_class, path)
        for op in ops[:45]:
            apply(store, op)
        images["abandoned"] = _read_files(path)
        store.compact()
        for op in ops[45:50]:
            apply(store, op)
        images["compacted"] = _read_files(path)
        store.close()
        return images
    finally:
        shutil.rmtree(where, ignore_errors=True)


def open_outcome(store_class: type[Any], files: dict[str, bytes], *,
                 worker: Isolated | None = None, replay: str = "") -> list[str]:
    """Open mutated files in an isolated child (``worker``, else one of its own); the
    problems if the outcome is neither a clean CorruptionError from ``open`` nor a working
    store. A death (SIGBUS, SIGABRT, a hang...) is a problem naming the signal, the kept
    files and ``replay``."""
    with worker_or(worker) as child:
        outcome = child.call_on_files(files, opened_problems, store_class, label="fuzz")
    if outcome.ok:
        return list(outcome.value)
    return [outcome.report("opening the mutated files", replay)]


def opened_problems(path: str, store_class: type[Any]) -> list[str]:
    """The child's part of :func:`open_outcome`: open the files in ``path``, check the
    store, put, close, reopen."""
    try:
        store = store_class.open(path)
    except CorruptionError:
        return []
    except Exception as exc:
        return [f"open() raised {type(exc).__name__}: {exc} (only CorruptionError is allowed)"]
    try:
        problems = run_check(store)
        if problems:
            return ["open() accepted the files but " + problems[0]]
        state = snapshot(store)
        store.put("fuzz-probe", np.ones(DIM, np.float32), b"probe", 0.5)
        store.close()
        again = store_class.open(path)
        try:
            problems = run_check(again)
            got = snapshot(again)
            got.pop("fuzz-probe", None)
            if got != state:
                problems.append("a put, close and reopen changed the other records")
        finally:
            again.close()
        return problems
    except Exception as exc:
        return [f"the opened store failed: {type(exc).__name__}: {exc}"]
    finally:
        close_quietly(store)
