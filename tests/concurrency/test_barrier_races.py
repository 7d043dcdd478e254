"""Barrier-synchronized races against any contract store, each with a precise criterion.

All threads start together (``threading.Barrier``), the switch interval is shortened,
and every race is bounded by ``--warmtier-race-timeout`` (on expiry: every thread's stack).
Per-operation latencies are printed at the end, never asserted.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from warmtier.records import Record
from warmtier.testing.compare import assert_stats_match, records_equal
from warmtier.testing.concurrency.history import HistoryRecorder
from warmtier.testing.concurrency.linearizability import check
from warmtier.testing.concurrency.pytest_plugin import ReplayHint
from warmtier.testing.concurrency.races import Latencies, Role, run_workload
from warmtier.testing.concurrency.witness import (
    DIM,
    check_store,
    expected,
    origin,
    put,
    value,
    whole,
)
from warmtier.testing.subject import BATCH_CALLS, Subject

Factory = Callable[..., Any]
LatencyFactory = Callable[[str], Latencies]

QUICK = "quick"
FULL = pytest.param("full", marks=pytest.mark.slow)


@dataclass
class Race:
    """What every race shares: a fresh store of the store under test, the run's size
    (``quick``; ``full`` in the nightly run), its latency tables, timeout and replay."""

    store: Any
    size: str
    subject: Subject
    replay: ReplayHint
    timeout: float
    latency_factory: LatencyFactory

    def scaled(self, quick: int, full: int) -> int:
        return full if self.size == "full" else quick

    def latencies(self, scenario: str) -> Latencies:
        return self.latency_factory(scenario)

    def recorded(self) -> tuple[HistoryRecorder, Any]:
        """A history recorder and the store seen through it (calls made on the view are
        recorded for the linearizability check)."""
        recorder = HistoryRecorder()
        return recorder, recorder.wrap(self.store)

    def run(self, *roles: Role) -> None:
        """Every role's threads at once, bounded by the timeout; failures name the replay."""
        run_workload(roles, timeout=self.timeout, replay=self.replay.command())


@pytest.fixture(params=[QUICK, FULL])
def race(request: pytest.FixtureRequest, make_store: Factory, subject: Subject,
         latencies: LatencyFactory, race_timeout: float, replay: ReplayHint) -> Race:
    """The shared setup of every race below, in its quick and its full (slow) size."""
    return Race(make_store(dim=DIM), request.param, subject, replay, race_timeout, latencies)


def content_capacities(store: Any) -> tuple[Any, Any]:
    """Slot capacity and content arena bytes, for the growth printout: the arena size
    (``content_capacity_bytes``) is the reference store's extension, "n/a" elsewhere."""
    stats = store.stats()
    return stats.capacity, getattr(stats, "content_capacity_bytes", "n/a")


def same_record(got: Any, want: Record) -> bool:
    """The contract's record equality (any Record type; confidences as float32 values)."""
    return records_equal(got, want)


def assert_count_matches_ids(store: Any, replay: ReplayHint) -> None:
    """Once the threads are done, ``len`` must count exactly the ids ``ids()`` lists."""
    ids = store.ids()
    assert len(store) == len(ids) == len(set(ids)), (
        f"expected len() == number of distinct ids(); got len() = {len(store)}, "
        f"{len(ids)} ids ({len(set(ids))} distinct). {replay.command()}"
    )


def assert_linearizable(recorder: HistoryRecorder, replay: ReplayHint) -> None:
    history = recorder.history()
    result = check(history, recorder.model())  # it knows each put's embedding (search)
    print(f"linearizability check of {len(history)} operations ({len(result.parts)} "
          f"partitions): {result.seconds:.3f} s")
    assert result.ok is True, f"{result.message}\n{replay.command()}"


def test_concurrent_puts_of_distinct_ids_are_all_stored_exactly(race: Race) -> None:
    writers, puts = 10, race.scaled(30, 100)
    store, replay = race.store, race.replay
    lat = race.latencies(f"{writers} writers x {puts} puts of distinct ids")

    def write(w: int, i: int, _rng: random.Random) -> None:
        emb, content, conf = value(f"w{w}-{i}", w, i, 16 + (w * 37 + i * 11) % 300)
        lat.time("put", store.put, f"w{w}-{i}", emb, content, conf)

    race.run(Role("writer", writers, write, ops=puts))
    assert len(store) == writers * puts, f"expected {writers * puts} records, got {len(store)}"
    assert sorted(store.ids()) == sorted(f"w{w}-{i}" for w in range(writers) for i in range(puts))
    contents = set()
    wanted = {}
    for w in range(writers):
        for i in range(puts):
            want = expected(f"w{w}-{i}", w, i, 16 + (w * 37 + i * 11) % 300)
            got = store.get(want.id)
            assert same_record(got, want), f"expected {want!r}, got {got!r}. {replay.command()}"
            contents.add(got.content)
            wanted[want.id] = want
    assert len(contents) == writers * puts, "two records share their content bytes"
    # Live and allocated bytes by the reference store's measure; the contract's fields
    # and types for any store.
    assert_stats_match(store.stats(), wanted, reference=race.subject.is_reference)
    check_store(store)


def test_readers_never_see_a_torn_record_while_writers_rewrite_it(race: Race) -> None:
    readers, gets, ids = 20, race.scaled(150, 1000), 100
    store, replay = race.store, race.replay
    for k in range(ids):
        put(store, f"r{k}", 0, 0, 64)
    lat = race.latencies(f"{readers} readers x {gets} gets over {ids} records, 2 rewriters")
    torn: list[str] = []

    def read(_r: int, _i: int, rng: random.Random) -> None:
        id = f"r{rng.randrange(ids)}"
        got = lat.time("get", store.get, id)
        problem = "missing" if got is None else whole(got, id)
        if problem:
            torn.append(problem)

    def rewrite(k: int, i: int, _rng: random.Random) -> None:
        w, seq = k + 1, i + 1
        size_ = (16, 64, 200, 1000)[seq % 4]
        emb, content, conf = value(f"r{seq * 7 % ids}", w, seq, size_)
        lat.time("put", store.put, f"r{seq * 7 % ids}", emb, content, conf)

    race.run(Role("reader", readers, read, ops=gets), Role("rewriter", 2, rewrite, ops=None))
    assert torn == [], f"expected only whole records; {len(torn)} bad reads, first: {torn[0]}. " \
                       f"{replay.command()}"
    check_store(store)


@pytest.mark.promise("linearizable")
def test_mixed_writers_and_readers_keep_the_store_linearizable(race: Race) -> None:
    writers, readers, ops, ids = 5, 10, race.scaled(60, 300), 40
    store, replay = race.store, race.replay
    recorder, view = race.recorded()
    for k in range(ids):
        put(view, f"m{k}", 99, k)
    lat = race.latencies(f"mixed: {writers} writers + {readers} readers x {ops} ops")
    bad: list[str] = []

    def write(w: int, i: int, rng: random.Random) -> None:
        id = f"m{rng.randrange(ids)}"
        if rng.random() < 0.8:
            emb, content, conf = value(id, w, i, rng.choice((20, 100, 700)))
            lat.time("put", view.put, id, emb, content, conf)
        else:
            lat.time("remove", view.remove, id)

    def read(_r: int, _i: int, rng: random.Random) -> None:
        id = f"m{rng.randrange(ids)}"
        got = lat.time("get", view.get, id)
        if got is not None and (problem := whole(got, id)):
            bad.append(problem)

    race.run(Role("writer", writers, write, ops=ops),
             Role("reader", readers, read, ops=ops, seed=1000))
    assert bad == [], f"expected whole records; first bad read: {bad[0]}. {replay.command()}"
    assert_linearizable(recorder, replay)
    assert_count_matches_ids(store, replay)
    check_store(store)


@pytest.mark.promise("linearizable")
def test_hot_spot_of_fifty_threads_on_ten_ids_is_linearizable(race: Race) -> None:
    threads, ops, ids = 50, race.scaled(20, 100), 10
    store, replay = race.store, race.replay
    recorder, view = race.recorded()
    lat = race.latencies(f"hot spot: {threads} threads x {ops} ops on {ids} ids")

    def act(t: int, i: int, rng: random.Random) -> None:
        id = f"h{rng.randrange(ids)}"
        roll = rng.random()
        if roll < 0.4:
            emb, content, conf = value(id, t, i, rng.choice((10, 90, 400)))
            lat.time("put", view.put, id, emb, content, conf)
        elif roll < 0.8:
            lat.time("get", view.get, id)
        elif roll < 0.95:
            lat.time("remove", view.remove, id)
        else:
            lat.time("contains", view.__contains__, id)

    race.run(Role("worker", threads, act, ops=ops))
    assert_linearizable(recorder, replay)
    assert_count_matches_ids(store, replay)
    check_store(store)


def _batch_calls(race: Race) -> None:
    missing = [c for c in BATCH_CALLS if c not in race.subject.batch_calls]
    if missing:
        pytest.skip(f"the store declares no {', '.join(missing)} (batch_calls): the batch "
                    "extensions are optional")


@pytest.mark.promise("linearizable")
def test_batch_calls_racing_single_calls_on_eight_ids_are_linearizable(race: Race) -> None:
    """Each batch call is one atomic operation (docs/contract-extensions.md): no other
    thread's call falls between two records of it. A batch stays within one of four
    pairs of ids, so the checker splits the history by pair."""
    _batch_calls(race)
    threads, ops = 12, race.scaled(15, 80)
    store, replay = race.store, race.replay
    recorder, view = race.recorded()

    def act(t: int, i: int, rng: random.Random) -> None:
        pair = 2 * rng.randrange(4)
        some = [f"h{pair + rng.randrange(2)}" for _ in range(rng.randint(1, 3))]
        roll = rng.random()
        if roll < 0.35:
            view.put_many([(id, *value(id, t, i * 8 + j, rng.choice((10, 90))))
                           for j, id in enumerate(some)])
        elif roll < 0.6:
            view.get_many(some)
        elif roll < 0.7:
            view.remove_many(some)
        elif roll < 0.85:
            view.put(some[0], *value(some[0], t, i * 8 + 7))
        else:
            view.get(some[0])

    race.run(Role("worker", threads, act, ops=ops))
    assert_linearizable(recorder, replay)
    assert_count_matches_ids(store, replay)
    check_store(store)


@pytest.mark.promise("linearizable")
def test_search_many_racing_batches_of_puts_sees_each_batch_whole(race: Race) -> None:
    _batch_calls(race)
    threads, ops = 4, race.scaled(8, 25)
    store, replay = race.store, race.replay
    recorder, view = race.recorded()

    def act(t: int, i: int, rng: random.Random) -> None:
        some = [f"s{rng.randrange(6)}" for _ in range(rng.randint(1, 3))]
        if t % 2:
            view.put_many([(id, *value(id, t, i * 8 + j)) for j, id in enumerate(some)])
        else:
            view.search_many([value(id, t, i)[0] for id in some[:2]], 3)

    race.run(Role("worker", threads, act, ops=ops))
    assert_linearizable(recorder, replay)
    check_store(store)


def test_racing_writers_of_different_sizes_leave_one_whole_written_value(race: Race) -> None:
    writers, rounds, ids = 8, race.scaled(25, 150), 5
    store, replay = race.store, race.replay
    recorder, view = race.recorded()
    lat = race.latencies(f"writer-writer: {writers} writers x {rounds} rounds on {ids} ids")
    sizes = (0, 7, 64, 4096, 70_000)

    def write_round(w: int, i: int, _rng: random.Random) -> None:
        for k in range(ids):
            emb, content, conf = value(f"s{k}", w, i, sizes[(w + i + k) % len(sizes)])
            lat.time("put", view.put, f"s{k}", emb, content, conf)

    race.run(Role("writer", writers, write_round, ops=rounds))
    for k in range(ids):
        got = store.get(f"s{k}")
        assert got is not None, f"s{k} vanished after only puts"
        problem = whole(got, f"s{k}")
        assert problem is None, f"{problem}. {replay.command()}"
        found = origin(got)
        assert found is not None and found[2] == rounds - 1, (
            f"s{k}: expected the last round's value of some writer, got put #{found}"
        )
    check_store(store)
    assert_linearizable(recorder, replay)


def test_compaction_in_a_loop_never_changes_what_readers_see(race: Race) -> None:
    writers, readers, ops, ids = 3, 4, race.scaled(60, 400), 60
    store, replay = race.store, race.replay
    recorder, view = race.recorded()
    for k in range(ids):
        put(view, f"c{k}", 99, 0, 300)
    lat = race.latencies(f"compaction loop + {writers} writers + {readers} readers x {ops}")
    bad: list[str] = []
    compactions = [0]

    def write(w: int, i: int, rng: random.Random) -> None:
        id = f"c{rng.randrange(ids)}"
        if rng.random() < 0.25:
            lat.time("remove", view.remove, id)
        else:
            emb, content, conf = value(id, w, i, rng.choice((30, 300, 3000)))
            lat.time("put", view.put, id, emb, content, conf)

    def read(_r: int, _i: int, rng: random.Random) -> None:
        id = f"c{rng.randrange(ids)}"
        got = lat.time("get", view.get, id)
        if got is not None and (problem := whole(got, id)):
            bad.append(problem)

    def compact(_k: int, _i: int, _rng: random.Random) -> None:
        lat.time("compact", store.compact)
        compactions[0] += 1

    race.run(Role("writer", writers, write, ops=ops),
             Role("reader", readers, read, ops=ops, seed=100),
             Role("compactor", 1, compact, ops=None))
    assert compactions[0] > 0, "the compactor never ran"
    assert bad == [], f"expected whole records; first bad read: {bad[0]}. {replay.command()}"
    assert_linearizable(recorder, replay)
    check_store(store)


def test_growth_under_writers_never_disturbs_readers(race: Race) -> None:
    writers, readers, puts = 4, 6, race.scaled(40, 250)
    store, replay = race.store, race.replay
    for k in range(50):
        put(store, f"base{k}", 0, k, 500)
    before = content_capacities(store)
    lat = race.latencies(f"growth: {writers} writers x {puts} puts of 1-48 KiB + {readers} readers")
    bad: list[str] = []

    def write(w: int, i: int, _rng: random.Random) -> None:
        emb, content, conf = value(f"g{w}-{i}", w, i, 1024 * (1 + (i * 7 + w) % 48))
        lat.time("put", store.put, f"g{w}-{i}", emb, content, conf)

    def read(_r: int, _i: int, rng: random.Random) -> None:
        k = rng.randrange(50)
        got = lat.time("get", store.get, f"base{k}")
        if not same_record(got, expected(f"base{k}", 0, k, 500)):
            bad.append(f"base{k}: expected its first value, got {got!r}")

    race.run(Role("writer", writers, write, ops=puts), Role("reader", readers, read, ops=None))
    after = content_capacities(store)
    print(f"\ngrowth: capacity {before[0]} -> {after[0]} records, content arena "
          f"{before[1]} -> {after[1]} bytes")
    assert bad == [], f"{len(bad)} bad reads during growth, first: {bad[0]}. {replay.command()}"
    for w in range(writers):
        for i in range(puts):
            want = expected(f"g{w}-{i}", w, i, 1024 * (1 + (i * 7 + w) % 48))
            assert same_record(store.get(want.id), want), f"{want.id} is not what was put"
    assert len(store) == 50 + writers * puts
    check_store(store)


@pytest.mark.promise("scan-consistency")
def test_scan_during_puts_and_removes_is_weakly_consistent(race: Race) -> None:
    stable, churn, scans = 200, 100, race.scaled(3, 20)
    store, replay = race.store, race.replay
    for k in range(stable):
        put(store, f"stable{k}", 0, k, 40 + k % 50)
    lat = race.latencies(f"scan of {stable} stable records during churn on {churn} ids")
    problems: list[str] = []

    def churn_one(k: int, i: int, rng: random.Random) -> None:
        w = k + 1
        id = f"churn{rng.randrange(churn)}"
        if rng.random() < 0.6:
            emb, content, conf = value(id, w, i + 1, rng.choice((8, 80, 800)))
            lat.time("put", store.put, id, emb, content, conf)
        else:
            lat.time("remove", store.remove, id)

    def scan_once(_k: int, _i: int, _rng: random.Random) -> None:
        seen: dict[str, int] = {}
        for record in store.scan(batch_size=16):
            seen[record.id] = seen.get(record.id, 0) + 1
            if problem := whole(record):
                problems.append(f"scan yielded a bad record: {problem}")
            elif record.id.startswith("stable"):
                k = int(record.id[6:])
                if not same_record(record, expected(record.id, 0, k, 40 + k % 50)):
                    problems.append(f"{record.id} changed though nobody wrote it")
        missing = [f"stable{k}" for k in range(stable) if f"stable{k}" not in seen]
        if missing:
            problems.append(f"scan missed {len(missing)} records live throughout, "
                            f"e.g. {missing[:3]}")
        twice = sorted(id for id, n in seen.items() if n > 1)
        if twice:
            problems.append(f"scan yielded {len(twice)} ids twice, e.g. {twice[:3]}")

    race.run(Role("scanner", 1, scan_once, ops=scans),
             Role("churner", 3, churn_one, ops=None, seed=1))
    assert problems == [], f"expected the contract's weak consistency: {problems[:5]}. " \
                           f"{replay.command()}"
    check_store(store)


@pytest.mark.reference_only
def test_concurrent_puts_never_share_a_slot_or_an_extent(
    make_store: Factory, race_timeout: float, replay: ReplayHint
) -> None:
    writers, puts = 10, 100
    store = make_store(dim=DIM, initial_capacity=16, initial_content_bytes=4096)

    def write(w: int, i: int, _rng: random.Random) -> None:
        put(store, f"w{w}-{i}", w, i, 1 + (w * 53 + i * 17) % 900)

    run_workload([Role("writer", writers, write, ops=puts)], timeout=race_timeout,
                 replay=replay.command())
    slots = list(store._index.values())
    assert len(slots) == writers * puts == len(set(slots)), (
        f"expected {writers * puts} distinct slots, got {len(set(slots))} for {len(slots)} ids"
    )
    extents = sorted((int(store._offsets[s]), int(store._lengths[s])) for s in slots)
    overlaps = [
        (a, b) for a, b in itertools.pairwise(extents) if a[1] and b[1] and a[0] + a[1] > b[0]
    ]
    assert overlaps == [], f"content extents overlap: {overlaps[:3]}. {replay.command()}"
    check_store(store)
