"""The reference store's ranking cut: candidates picked in float32 lose nothing that exact
scoring of every live slot would rank in the top k, ties and extreme norms included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmtier.store import WarmTierStore

DIM = 8


def _embeddings(rng: np.random.Generator, n: int, bases: int, jitter: float) -> Any:
    """``n`` embeddings around a few directions: exact copies, copies nudged by
    ``jitter`` (float32 near-ties), opposite ones, zeros, and norms float32 cannot score."""
    base = rng.standard_normal((bases, DIM)).astype(np.float32)
    out = base[rng.integers(0, bases, n)]
    nudged = rng.random(n) < 0.5
    out[nudged] *= (1 + jitter * rng.standard_normal((int(nudged.sum()), DIM))).astype(
        np.float32)
    out[rng.random(n) < 0.2] *= -1
    scale = rng.choice(np.array([1.0, 1e-35, 1e35, 0.0, 3.0], np.float32), n,
                       p=[0.85, 0.03, 0.03, 0.04, 0.05])
    return (out * scale[:, None]).astype(np.float32)


def _exact(store: WarmTierStore, units: Any, k: int) -> list[list[tuple[str, float]]]:
    """Every live slot scored exactly, then ranked: what the cut must agree with."""
    live = np.flatnonzero(store._table.live)
    return [store._top_k(live, store._scores(u, live), k) for u in units]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(700, 2500), bases=st.integers(1, 12),
       jitter=st.sampled_from([0.0, 1e-7, 1e-6, 1e-3]), k=st.sampled_from([1, 2, 10, 50]),
       removed=st.floats(0.0, 0.6))
def test_ranking_with_the_float32_cut_equals_exact_ranking_of_every_live_slot(
    tmp_path_factory: Any, seed: int, n: int, bases: int, jitter: float, k: int,
    removed: float,
) -> None:
    rng = np.random.default_rng(seed)
    embs = _embeddings(rng, n, bases, jitter)
    path: Path = tmp_path_factory.mktemp("ranking") / "s"
    with WarmTierStore.create(path, dim=DIM) as store:
        store.put_many((f"r{i:05d}", e, b"", 1.0) for i, e in enumerate(embs))
        store.remove_many([f"r{i:05d}" for i in np.flatnonzero(rng.random(n) < removed)])
        queries = np.vstack([embs[rng.integers(0, n, 3)], rng.standard_normal((2, DIM))]).astype(
            np.float32)
        queries = queries[np.linalg.norm(queries.astype(np.float64), axis=1) > 0]
        units = np.array([q / float(np.linalg.norm(q)) for q in queries.astype(np.float64)])
        expected = _exact(store, units, k)
        got = store._rank(units, k)
        assert got == expected, (
            f"the cut ranking differs from exact ranking of every live slot (seed {seed}, "
            f"n {n}, k {k}): expected {expected}, got {got}")
        for query, unit in zip(queries, units, strict=True):  # one query: a matrix-vector
            alone = _exact(store, unit[None, :], k)[0]  # product, summed in its own order
            assert store.search(query, k) == alone, (
                f"search differs from exact ranking of every live slot (seed {seed}, n {n}, "
                f"k {k}): expected {alone}, got {store.search(query, k)}")
