"""Search's ranking: the top ``k`` live slots by cosine score, from raw float32 products.

Candidates are picked in float32 (one pass), then scored exactly in float64 from their own
rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from warmtier.state import StoreState

__all__ = ["Ranking"]

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


def _margin(dim: int) -> float:
    """How far a float32 score ``raw * float32(1 / norm)`` can be from the exact score
    (the float64 product over the norm): a float32 sum of ``dim`` products errs by at
    most ``dim * 2**-24`` of ``|e| |q|``, which is the norm (``q`` is a unit vector),
    and the weight and the product add two roundings; twice that, for margin."""
    return 2 * (dim + 2) * 2.0**-24


#: Slots per block when bounding the k-th best score from below by block maxima.
_BLOCK = 64
#: Slots per matrix product of a batch of queries.
_CHUNK = 4096


class Ranking(StoreState):
    """Turns raw products into ranked (id, score) lists, ties by id ascending.

    A slot's exact score is its embedding's float64 product with the query, row by row,
    over its norm, clipped to [-1, 1]. Ranking every slot exactly costs a float64 pass per
    query; instead each query's candidates are the slots whose float32 score is within
    twice :func:`_margin` of a lower bound on its k-th best score, which keeps every slot
    of the exact top ``k`` and every slot tied with it. Zero and extreme norms, which
    float32 cannot score, are always candidates.
    """

    def _rank(self, units: _F64, k: int) -> list[list[tuple[str, float]]]:
        """For each unit query (a row of ``units``), its top ``k`` live slots."""
        approx, unsafe = self._approximate(units)
        live = self._table.live[: len(approx)]
        forced = unsafe[live[unsafe]]
        floors = (_floors(approx, k) - 2 * _margin(self._dim)).astype(np.float32)
        near = np.flatnonzero(~(approx < floors))  # NaN is kept, and scored exactly
        rows, cols = np.divmod(near, len(units))
        keep = live[rows]
        rows, cols = rows[keep], cols[keep]  # ascending by row, so each query's too
        order = np.argsort(cols, kind="stable")
        ends = np.cumsum(np.bincount(cols, minlength=len(units))).tolist()
        out = []
        for q, (lo, hi) in enumerate(zip([0, *ends], ends, strict=False)):
            cand = rows[order[lo:hi]]
            if len(forced):
                cand = np.union1d(cand, forced)
            out.append(self._top_k(cand, self._scores(units[q], cand), k))
        return out

    def _approximate(self, units: _F64) -> tuple[_F32, _I64]:
        """The float32 scores of every slot up to :meth:`_span` for each unit query (a row
        of ``units``), one column per query: the float32 products times the slots' score
        weights, in place; ``-inf`` for the slots float32 does not score (not live, or a
        norm outside :data:`~warmtier.slots.SAFE_NORM`: a zero weight), which come second.
        Slots go through the matrix product a few thousand at a time (over 100K slots, 32
        queries took 18% less time than in one product: the slots stay in cache for every
        query)."""
        embeddings, queries = self._embeddings[: self._span()], units.astype(np.float32).T
        span = len(embeddings)
        weight = self._table.weights[:span]  # kept by every put and remove: no pass here
        with np.errstate(all="ignore"):
            if queries.shape[1] == 1:  # one matrix-vector product (blocks slow it down)
                approx = (embeddings @ queries[:, 0])[:, None]
            else:
                approx = np.empty((span, queries.shape[1]), np.float32)
                for lo in range(0, span, _CHUNK):  # nothing else here: BLAS threads spin
                    np.matmul(embeddings[lo : lo + _CHUNK], queries,  # after a product,
                              out=approx[lo : lo + _CHUNK])  # slowing numpy work between
            np.multiply(approx, weight[:, None], out=approx)  # no second array to map
        unsafe = np.flatnonzero(weight == 0)
        approx[unsafe] = -np.inf
        return approx, unsafe

    def _scores(self, unit: _F64, rows: _I64) -> _F64:
        """The cosine similarity to ``unit`` (a unit vector), in [-1, 1], of the slots
        ``rows``: their embeddings' float64 products, row by row, over their norms; 0.0 for
        a zero embedding. A row's score depends on its values alone, so identical
        embeddings tie exactly (one BLAS product over every slot does not promise that:
        blocks, tails and threads round differently)."""
        norms = self._table.norms[rows]
        with np.errstate(all="ignore"):
            dots = (self._embeddings[rows].astype(np.float64) * unit).sum(axis=1)
            scores: _F64 = dots / norms
        scores[norms == 0.0] = 0.0
        np.clip(scores, -1.0, 1.0, out=scores)
        return scores

    def _top_k(self, cand: _I64, s: _F64, k: int) -> list[tuple[str, float]]:
        """The ``k`` best of the slots ``cand`` by their scores ``s``, as (id, score),
        ties by id ascending."""
        if k < len(cand):
            top = np.argpartition(-s, k - 1)[:k]
            keep = s >= s[top].min()  # every slot tied with the k-th stays a candidate
            cand, s = cand[keep], s[keep]
        slot_ids = self._table.ids
        pairs = [(str(slot_ids[i]), v) for i, v in zip(cand.tolist(), s.tolist(), strict=True)]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return pairs[:k]

    def _span(self) -> int:
        """One past the highest live slot: a search reads no further. (Slots are taken
        lowest first, so after growth this is the used part, not the capacity.)"""
        live = self._table.live
        from_end = int(np.argmax(live[::-1]))  # stops at the first live slot from the end
        return len(live) - from_end if len(live) and live[-1 - from_end] else 0


def _floors(approx: _F32, k: int) -> _F64:
    """Per column of ``approx``, a lower bound on its k-th largest value: the k-th largest
    of its block maxima (k values of the column, one from each of k blocks, are at least
    that). ``-inf`` when it has fewer than ``k`` blocks; NaN when a NaN is among them (then
    nothing is cut).

    >>> _floors(np.array([[0, 5, 1, 9, 2, 3, 8, 4] * 16], np.float32).T, 2).tolist()
    [8.0]
    """
    span, queries = approx.shape
    blocks = span // _BLOCK
    if blocks < k:
        return np.full(queries, -np.inf)
    # block j holds rows j, j + blocks, j + 2 * blocks, ...: the max is taken over whole
    # contiguous rows of the reshaped array, one vectorized pass
    maxima = approx[: blocks * _BLOCK].reshape(_BLOCK, blocks, queries).max(axis=0)
    kth: _F64 = np.partition(maxima, blocks - k, axis=0)[blocks - k].astype(np.float64)
    return kth
