"""The one place where a store's answers are compared with the model's, and where the
replay command printed with every failure is built.

Every assertion message names what was expected, what the store gave, and the command
that replays the failure (see :func:`replay_hint`).
"""

from __future__ import annotations

import itertools
import math
import numbers
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from warmtier.model import cosine_scores
from warmtier.records import Record

__all__ = [
    "COMPACTION_FIELDS",
    "SCORE_ATOL",
    "STATS_FIELDS",
    "ReplayContext",
    "StoreMismatch",
    "assert_compaction_consistent",
    "assert_ids_match",
    "assert_record_matches",
    "assert_scan_matches",
    "assert_search_matches",
    "assert_stats_match",
    "current_replay",
    "mismatch",
    "nox_to_pytest_argv",
    "records_equal",
    "replay_hint",
    "set_replay",
    "states_equal",
]

#: Absolute tolerance on cosine scores: the model computes in float64, a store may use
#: float32 arithmetic on float32 data.
SCORE_ATOL = 1e-4


class StoreMismatch(AssertionError):
    """The store's answer differs from the model's (message: expected, actual, replay)."""


# -- the replay hint --------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayContext:
    """What a replay command needs: the test's node id, and the options that shape the run.

    >>> ReplayContext("tests/properties/test_x.py::test_y", seed=7, profile="ci").seed_command()
    'nox -s properties -- tests/properties/test_x.py::test_y --hypothesis-profile=ci --hypothesis-seed=7'
    """

    nodeid: str
    seed: int | None = None
    profile: str | None = None
    store_spec: str | None = None

    def _base(self) -> list[str]:
        args = ["nox", "-s", "properties", "--", self.nodeid]
        if self.profile:
            args.append(f"--hypothesis-profile={self.profile}")
        if self.store_spec:
            args.append(f"--warmtier-store={self.store_spec}")
        return args

    def seed_command(self) -> str:
        """Re-run the search from the same seed (same profile, fresh example database)."""
        args = self._base()
        if self.seed is not None:
            args.append(f"--hypothesis-seed={self.seed}")
        return shlex.join(args)

    def blob_command(self, version: str, blob: str) -> str:
        """Replay exactly one counterexample, from Hypothesis' ``@reproduce_failure`` blob."""
        return shlex.join([*self._base(), f"--warmtier-replay={version}:{blob}"])


_current: ReplayContext | None = None


def set_replay(context: ReplayContext | None) -> None:
    """Declare the test being run, so assertion messages can name its replay command."""
    global _current
    _current = context


def current_replay() -> ReplayContext | None:
    """The context declared by :func:`set_replay`, if any."""
    return _current


def replay_hint() -> str:
    """One line for assertion messages: how to replay the failing test."""
    if _current is None:
        return "replay: re-run this test; Hypothesis prints the failing program below"
    return (
        f"replay: the 'Replay:' line below gives the exact command; to search again "
        f"from the same seed: {_current.seed_command()}"
    )


def nox_to_pytest_argv(line: str) -> list[str]:
    """The pytest arguments that ``nox -s properties -- ARGS`` runs (mirrors noxfile.py).

    >>> nox_to_pytest_argv("nox -s properties -- tests/properties/t.py::x --hypothesis-seed=3")
    ['tests/properties/t.py::x', '--hypothesis-seed=3', '--hypothesis-profile=dev']
    >>> nox_to_pytest_argv("nox -s properties -- -k put")
    ['tests/properties', '-m', 'not slow', '-k', 'put', '--hypothesis-profile=dev']
    """
    words = shlex.split(line)
    if words[:4] != ["nox", "-s", "properties", "--"]:
        raise ValueError(f"not a 'nox -s properties -- ...' command: {line!r}")
    args = words[4:]
    targets = [] if any(_is_target(a) for a in args) else ["tests/properties"]
    profile = (
        [] if any(a.startswith("--hypothesis-profile") for a in args)
        else ["--hypothesis-profile=dev"]
    )
    marks = [] if not targets or any(a.startswith("-m") for a in args) else ["-m", "not slow"]
    return [*targets, *marks, *args, *profile]


def _is_target(arg: str) -> bool:
    return not arg.startswith("-") and (arg.startswith("tests/") or "::" in arg)


def mismatch(what: str, expected: str, actual: str, *, note: str = "") -> StoreMismatch:
    """The one failure message: what was checked, what was expected, what the store did,
    an optional note, and how to replay. ``expected`` and ``actual`` are shown as given
    (pass ``repr(value)`` for a value, a description such as ``"StoreClosedError"``
    for an outcome).

    >>> print(mismatch("len(store)", "2", "3", note="after a remove"))  # doctest: +ELLIPSIS
    len(store)
      expected: 2
      actual:   3
      after a remove
      replay: ...
    """
    extra = f"  {note}\n" if note else ""
    return StoreMismatch(
        f"{what}\n  expected: {expected}\n  actual:   {actual}\n{extra}  {replay_hint()}"
    )


def _fail(what: str, expected: Any, actual: Any) -> StoreMismatch:
    return mismatch(what, repr(expected), repr(actual))


# -- records ----------------------------------------------------------------------------


def assert_record_matches(actual: Any, expected: Record | None, *, what: str) -> None:
    """``actual`` (a store's Record or None) equals ``expected`` bit for bit.

    Compares by field, so another store's own Record type passes if its fields match:
    ``content`` is ``bytes``, ``embedding`` a float32 array with the same bytes (``-0.0``
    kept), ``confidence`` a float with the same float32 value (the contract makes ``-0.0``
    and ``0.0`` the same confidence: only embeddings are bit-exact).
    """
    if expected is None:
        if actual is not None:
            raise _fail(f"{what}: the id is not live, so the store must return None", None, actual)
        return
    if actual is None:
        raise _fail(f"{what}: the store lost a live record", expected, None)
    for field in ("id", "embedding", "content", "confidence"):
        if not hasattr(actual, field):
            raise _fail(f"{what}: the returned record has no field {field!r}", expected, actual)
    if actual.id != expected.id:
        raise _fail(f"{what}: wrong id", expected.id, actual.id)
    if type(actual.content) is not bytes:
        raise _fail(f"{what}: content must be bytes", "bytes", type(actual.content).__name__)
    if actual.content != expected.content:
        raise _fail(
            f"{what}: wrong content ({len(expected.content)} bytes expected, "
            f"{len(actual.content)} returned, first difference at byte "
            f"{_first_difference(expected.content, actual.content)})",
            _short(expected.content),
            _short(actual.content),
        )
    emb = np.asarray(actual.embedding)
    if emb.dtype != np.float32 or emb.shape != expected.embedding.shape:
        raise _fail(
            f"{what}: embedding must be float32 of shape {expected.embedding.shape}",
            f"float32{list(expected.embedding.shape)}",
            f"{emb.dtype}{list(emb.shape)}",
        )
    if isinstance(actual.embedding, np.ndarray) and actual.embedding.flags.writeable:
        raise _fail(f"{what}: the returned embedding is writable; a Record is immutable",
                    "a read-only array", "writeable=True")
    if emb.tobytes() != expected.embedding.tobytes():
        raise _fail(f"{what}: embedding differs (compared bit for bit, so -0.0 != 0.0)",
                    expected.embedding.tolist(), emb.tolist())
    # The float32 value of what was put, as a float: compared as a value, so -0.0 == 0.0.
    want = float(np.float32(expected.confidence))
    if not isinstance(actual.confidence, float) or float(actual.confidence) != want:
        raise _fail(f"{what}: wrong confidence (the float32 value put; -0.0 == 0.0)",
                    want, actual.confidence)


def records_equal(actual: Any, expected: Record | None) -> bool:
    """Whether :func:`assert_record_matches` finds ``actual`` equal to ``expected``: the
    contract's record equality (a store's own Record type, a confidence ``0.0`` for
    ``-0.0``), where ``==`` of :class:`~warmtier.records.Record` is bit for bit."""
    try:
        assert_record_matches(actual, expected, what="record")
    except StoreMismatch:
        return False
    return True


def states_equal(actual: Mapping[str, Any], expected: Mapping[str, Record]) -> bool:
    """Whether two ``{id: record}`` states hold the same ids with equal records."""
    return actual.keys() == expected.keys() and all(
        records_equal(actual[rid], expected[rid]) for rid in expected
    )


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def _short(data: bytes) -> str:
    if len(data) <= 24:
        return repr(data)
    return f"{data[:16]!r}...<{len(data)} bytes>"


def assert_ids_match(actual: Any, expected: Iterable[str], *, what: str = "ids()") -> None:
    """``actual`` is a list of the live ids, each once, in any order."""
    want = sorted(expected)
    if not isinstance(actual, list):
        raise _fail(f"{what} must return a list", "list", type(actual).__name__)
    got = sorted(actual)
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        dupes = sorted({i for i in got if got.count(i) > 1})
        raise _fail(
            f"{what}: live ids differ (missing {missing!r}, unexpected {extra!r}, "
            f"repeated {dupes!r})",
            want,
            got,
        )


def assert_scan_matches(actual: Iterable[Any], expected: Mapping[str, Record]) -> None:
    """``scan()`` yields every live record exactly once, each equal to the model's."""
    seen: set[str] = set()
    for rec in actual:
        rid = getattr(rec, "id", None)
        if not isinstance(rid, str):
            raise _fail("scan() yielded something without a str id", "a Record", rec)
        if rid in seen:
            raise _fail("scan() yielded an id twice", "each live id once", rid)
        if rid not in expected:
            raise _fail("scan() yielded a record that is not live", sorted(expected), rec)
        seen.add(rid)
        assert_record_matches(rec, expected[rid], what=f"scan() record {rid!r}")
    if seen != set(expected):
        raise _fail("scan() missed live records", sorted(expected), sorted(seen))


# -- search -----------------------------------------------------------------------------


def assert_search_matches(
    actual: Any, query: Any, k: int, records: Sequence[Record], *, atol: float = SCORE_ATOL
) -> None:
    """``actual`` is a valid answer of ``search(query, k)`` over ``records``.

    Checked against the model's brute force (float64): the length is ``min(k, n)``; ids
    are distinct and live; each score is within ``atol`` of the exact cosine (zero norm
    scores 0.0); scores never increase; equal scores come by id ascending; and nothing
    left out beats something returned by more than ``2 * atol``, nor, on an exact tie of
    identical embeddings, has a smaller id than something returned.
    """
    q = np.asarray(query, dtype=np.float64).astype(np.float32)
    exact = dict(cosine_scores(q, list(records)))
    by_id = {r.id: r for r in records}
    n = len(records)
    expected_top = sorted(exact.items(), key=lambda p: (-p[1], p[0]))[:k]
    answer = _SearchAnswer(k=k, n=n, atol=atol, exact=exact, expected_top=expected_top,
                           pairs=_search_pairs(actual))
    _check_search_results(answer)
    _check_search_order(answer)
    _check_nothing_better_left_out(answer, by_id)


@dataclass(frozen=True)
class _SearchAnswer:
    """A ``search(query, k)`` answer under check, beside the model's view of the query."""

    k: int
    n: int  # the number of live records
    atol: float
    exact: dict[str, float]  # live id -> the exact cosine score of the query
    expected_top: list[tuple[str, float]]  # the model's answer
    pairs: list[tuple[str, float]]  # the store's answer

    @property
    def context(self) -> str:
        """The start of every message about this answer."""
        return f"search(k={self.k}) over {self.n} records"

    def fail(self, problem: str) -> StoreMismatch:
        """The failure ``problem``, showing the model's answer and the store's."""
        return _fail(f"{self.context}: {problem}", self.expected_top, self.pairs)


def _search_pairs(actual: Any) -> list[tuple[str, float]]:
    """``actual`` as a list of (id, score) pairs, or the failure saying why it is not one."""
    if not isinstance(actual, list):
        raise _fail("search() must return a list", "list", type(actual).__name__)
    pairs: list[tuple[str, float]] = []
    for item in actual:
        try:
            rid, score = item
        except (TypeError, ValueError):
            raise _fail("search() items must be (id, score) pairs", "(id, score)", item) from None
        pairs.append((rid, score))
    return pairs


def _check_search_results(answer: _SearchAnswer) -> None:
    """``min(k, n)`` results, distinct live ids, each score within ``atol`` of the exact one."""
    pairs, exact, atol = answer.pairs, answer.exact, answer.atol
    if len(pairs) != min(answer.k, answer.n):
        raise answer.fail("wrong number of results")
    ids = [p[0] for p in pairs]
    if len(set(ids)) != len(ids):
        raise answer.fail("an id is returned twice")
    for rid, score in pairs:
        if rid not in exact:
            raise answer.fail(f"returned id {rid!r} is not live")
        if not isinstance(score, float) or not math.isfinite(score):
            raise _fail(f"{answer.context}: score of {rid!r} must be a finite float",
                        exact[rid], score)
        if abs(score - exact[rid]) > atol:
            raise _fail(f"{answer.context}: score of {rid!r} is off by more than {atol}",
                        (rid, exact[rid]), (rid, score))


def _check_search_order(answer: _SearchAnswer) -> None:
    """Scores never increase, and equal scores come by id ascending."""
    for (a, sa), (b, sb) in itertools.pairwise(answer.pairs):
        if sb > sa:
            raise answer.fail(f"scores must not increase ({a!r} before {b!r})")
        if sb == sa and b < a:
            raise answer.fail(f"equal scores must come by id ascending ({a!r}, {b!r})")


def _check_nothing_better_left_out(answer: _SearchAnswer, by_id: Mapping[str, Record]) -> None:
    """No live id left out beats a returned one by more than ``2 * atol``, nor ties one
    exactly (identical embeddings) and has the smaller id."""
    exact, atol = answer.exact, answer.atol
    ids = [p[0] for p in answer.pairs]
    returned = set(ids)
    for other, s_other in exact.items():
        if other in returned:
            continue
        for rid in ids:
            if s_other > exact[rid] + 2 * atol:
                raise answer.fail(f"{other!r} (score {s_other}) beats returned {rid!r} "
                                  f"(score {exact[rid]}) but was left out")
            if (
                other < rid
                and s_other == exact[rid]
                and by_id[other].embedding.tobytes() == by_id[rid].embedding.tobytes()
            ):
                raise answer.fail(f"{other!r} ties {rid!r} exactly (same embedding) and has the "
                                  "smaller id, so it must be returned first")


# -- stats and compaction ---------------------------------------------------------------


#: The fields the contract promises in ``stats()`` and in ``compact()``'s result.
STATS_FIELDS = ("records", "capacity", "content_live_bytes", "content_allocated_bytes",
                "fragmentation")
COMPACTION_FIELDS = ("bytes_before", "bytes_after", "bytes_reclaimed")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def assert_stats_match(stats: Any, expected: Mapping[str, Record], *, reference: bool) -> None:
    """``stats()`` keeps the contract: its five fields are there, the counts and byte sizes
    non-negative ints, ``fragmentation`` a float from 0.0 to 1.0. How each is measured is
    the store's own definition, so only for the reference store (``reference``) are they
    checked against what the model implies: record count and live content bytes exactly,
    capacity and allocated bytes consistent with them, and its fragmentation formula
    ``1 - content_live_bytes / content_allocated_bytes``."""
    for field in STATS_FIELDS:
        if not hasattr(stats, field):
            raise _fail(f"stats() lacks the field {field!r} (the contract names "
                        f"{', '.join(STATS_FIELDS)})", field, stats)
    for field in STATS_FIELDS[:-1]:
        value = getattr(stats, field)
        if not _is_int(value) or value < 0:
            raise _fail(f"stats().{field} must be a non-negative int", "an int >= 0", value)
    frag = stats.fragmentation
    if (isinstance(frag, bool) or not isinstance(frag, numbers.Real)
            or not 0.0 <= float(frag) <= 1.0):
        raise _fail("stats().fragmentation must be a float from 0.0 to 1.0", "0.0 <= x <= 1.0",
                    frag)
    if not reference:
        return
    records = len(expected)
    live = sum(len(r.content) for r in expected.values())
    if stats.records != records:
        raise _fail("stats().records != number of live records", records, stats.records)
    if stats.content_live_bytes != live:
        raise _fail("stats().content_live_bytes != sum of live content sizes", live,
                    stats.content_live_bytes)
    if stats.capacity < records:
        raise _fail("stats().capacity is below the record count", f">= {records}", stats.capacity)
    allocated = stats.content_allocated_bytes
    if allocated < live:
        raise _fail("stats().content_allocated_bytes is below the live bytes", f">= {live}",
                    allocated)
    want = 0.0 if allocated == 0 else 1.0 - live / allocated
    if abs(float(frag) - want) > 1e-9:
        raise _fail(
            "stats().fragmentation != 1 - content_live_bytes / content_allocated_bytes "
            "(the reference store's definition)",
            want,
            frag,
        )


def assert_compaction_consistent(result: Any, stats_after: Any, *, reference: bool) -> None:
    """``compact()``'s result has the contract's three fields, each an int (content space by
    the store's own measure; a store whose compaction adds overhead may report growth).
    For the reference store (``reference``) also: ``bytes_after <= bytes_before``,
    ``bytes_reclaimed`` is the difference, ``bytes_after`` is the allocated content bytes
    ``stats()`` reports right after, and little of them is left unused."""
    for field in COMPACTION_FIELDS:
        if not hasattr(result, field):
            raise _fail(f"compact() result lacks {field!r} (the contract names "
                        f"{', '.join(COMPACTION_FIELDS)})", field, result)
        if not _is_int(getattr(result, field)):
            raise _fail(f"compact().{field} must be an int", "an int", getattr(result, field))
    if not reference:
        return
    before, after, reclaimed = result.bytes_before, result.bytes_after, result.bytes_reclaimed
    if after > before or reclaimed != before - after or reclaimed < 0:
        raise _fail("compact(): need bytes_after <= bytes_before and "
                    "bytes_reclaimed == bytes_before - bytes_after (the reference store's "
                    "measure)", f"reclaimed={before - after}", (before, after, reclaimed))
    if after != stats_after.content_allocated_bytes:
        raise _fail("compact().bytes_after != stats().content_allocated_bytes right after",
                    stats_after.content_allocated_bytes, after)
    if stats_after.content_allocated_bytes != stats_after.content_live_bytes and (
        stats_after.fragmentation > 0.5
    ):
        raise _fail("compact() left most of the allocated content bytes unused",
                    "fragmentation near 0", stats_after.fragmentation)
