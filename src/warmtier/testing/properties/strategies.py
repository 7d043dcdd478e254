"""Every Hypothesis generator the suites use: ids, embeddings, contents, confidences, bad input.

Each strategy aims at the edges on purpose (255-byte ids, ``-0.0``, subnormals, float32
extremes, zero norms, duplicate embeddings, sizes straddling allocator boundaries, the
89 % / 10 % / 1 % content size mix). Tests import from here; they never redefine one.
"""

from __future__ import annotations

import functools
import hashlib
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from warmtier.validation import MAX_ID_BYTES

__all__ = [
    "BAD_BATCH_SIZES",
    "BAD_CONFIDENCES",
    "BAD_KS",
    "BOUNDARY_SIZES",
    "CHURN_IDS",
    "CONFUSABLE_FAMILIES",
    "EDGE_FLOATS",
    "RESIZES",
    "Blob",
    "NearFreed",
    "Resize",
    "bad_contents",
    "bad_embeddings",
    "bad_ids",
    "bad_queries",
    "churn_ops",
    "confidences",
    "confusable_ids",
    "content_sizes",
    "contents",
    "create_options",
    "embeddings",
    "expected_content",
    "ids",
    "materialize",
    "max_length_ids",
    "queries",
    "relative_contents",
    "resized",
    "to_float32",
]

F32 = np.finfo(np.float32)

#: Floats that break careless float32 code: signed zeros, the smallest and largest
#: subnormals, the smallest normal, the extremes, a float64 value that rounds to the
#: float32 maximum, values that vanish to ``±0.0`` in float32, and ordinary ones.
EDGE_FLOATS: tuple[float, ...] = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    float(F32.smallest_subnormal),
    -float(F32.smallest_subnormal),
    float(np.nextafter(F32.smallest_normal, np.float32(0))),  # largest subnormal
    float(F32.smallest_normal),
    float(F32.max),
    -float(F32.max),
    3.40282356e38,  # above float32 max in float64, but rounds down to it
    1e-46,  # rounds to +0.0 in float32
    -1e-46,  # rounds to -0.0 in float32
    1e-20,
    1e20,
    0.1,
)

#: Content sizes around the places allocators and page-based layouts change behaviour:
#: powers of two, alignment units, the 4 KiB page and 64 KiB, each with both neighbours.
BOUNDARY_SIZES: tuple[int, ...] = tuple(
    sorted({0, 1} | {b + d for b in (2, 8, 16, 64, 256, 4096, 65536) for d in (-1, 0, 1)})
)

#: confidences the contract refuses.
BAD_CONFIDENCES: tuple[Any, ...] = (
    -0.1, -1e-45, 1.0000001, 2.0, math.nan, math.inf, -math.inf, True, "0.5", None, 0.5j,
)
#: ``k`` values the contract refuses.
BAD_KS: tuple[Any, ...] = (0, -1, 1.5, True, "3", None)
#: ``batch_size`` values ``scan`` refuses.
BAD_BATCH_SIZES: tuple[Any, ...] = (0, -5, 2.5, True, "10", None)


# -- ids --------------------------------------------------------------------------------


def max_length_ids() -> st.SearchStrategy[str]:
    """Ids of exactly 255 UTF-8 bytes built from 1-, 2-, 3- and 4-byte characters.

    Sample: ``'é' * 127 + 'x'`` (255 bytes), ``'😀' * 63 + 'abc'`` (255 bytes).
    """
    fills = st.sampled_from(["a", "é", "€", "😀", "\x00", "中"])

    def build(fill: str, tail_char: str) -> str:
        width = len(fill.encode("utf-8"))
        count = MAX_ID_BYTES // width
        rest = MAX_ID_BYTES - count * width
        return fill * count + tail_char * rest

    return st.builds(build, fills, st.sampled_from(["z", "\x00"]))


def _bounded_text() -> st.SearchStrategy[str]:
    # 40 characters of at most 4 UTF-8 bytes each: never over 255 bytes, nothing filtered.
    return st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


def _same_prefix(prefix: str, tails: Sequence[str]) -> tuple[str, ...]:
    return tuple(prefix + t for t in tails)


#: Families of distinct ids that careless stores merge: by case folding, Unicode
#: normalization (NFC/NFD, NFKC compatibility forms), stripping trailing whitespace or
#: NULs, file-name rules (path separators, ``.``/``..``), or truncation (in characters,
#: or in bytes that split a multi-byte character). Every member is a valid id
#: (1 to 255 UTF-8 bytes) and no two are equal.
CONFUSABLE_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("a", "A", "a ", "a\x00", "./a", "a/", "ａ", "a\t"),
    ("é", "e\u0301", "É", "é ", "./é", "é/", "E\u0301"),
    ("ﬁ", "fi", "FI", "fi ", "./fi", "ﬁ/", "Fi"),
    ("a/b", "a//b", "./a/b", "a/b/", "A/B", "a/b ", "a\\b"),
    (".", "..", "./", "...", "../", "/", ". "),
    ("straße", "STRASSE", "strasse", "Straße", "straße ", "①", "1"),
    _same_prefix("k" * 64, ("x", "y", "x ", "X")),
    _same_prefix("é" * 64, ("x", "y", "x ", "X")),
    _same_prefix("x" * 254, ("a", "b", "A", " ")),
    _same_prefix("é" * 127, ("a", "b", "A", " ")),
    _same_prefix("€" * 84, ("é", "è", "abc", "e\u0301")),
    _same_prefix("😀" * 63, ("abc", "abd", "ABC", "é")),
)


def confusable_ids() -> st.SearchStrategy[str]:
    """Two siblings of ONE family of :data:`CONFUSABLE_FAMILIES` per test case.

    The family and two of its members are drawn once per test case (``st.shared``);
    each draw gives one of the two (now and then any member), so the ids of a case (a
    put, then a get or another put) are often two that a case-folding, normalizing,
    blank-stripping, path-like or truncating store would merge. Samples: ``'a'`` then
    ``'A'``; ``'é'`` then ``'e\\u0301'``; ``'x' * 254 + 'a'`` then ``'x' * 254 + 'b'``.
    """
    pair = st.shared(
        st.sampled_from(CONFUSABLE_FAMILIES).flatmap(
            lambda fam: st.tuples(st.just(fam), st.lists(st.sampled_from(fam), min_size=2,
                                                         max_size=2, unique=True))),
        key="warmtier.confusable_pair",
    )
    return pair.flatmap(lambda fp: st.one_of(st.sampled_from(fp[1]), st.sampled_from(fp[0])))


_FULLWIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}

#: What careless stores do to an id: fold case, normalize, widen, add or strip a
#: trailing blank or NUL, spell it as a path, truncate it (in characters or bytes).
_CONFUSIONS: tuple[Callable[[str], str], ...] = (
    str.upper, str.lower, str.swapcase, str.casefold,
    *(functools.partial(unicodedata.normalize, form) for form in ("NFC", "NFD", "NFKC", "NFKD")),
    lambda s: s.translate(_FULLWIDTH), lambda s: s + " ", lambda s: s + "\x00", str.rstrip,
    lambda s: s.rstrip("\x00"), lambda s: "./" + s, lambda s: s + "/",
    lambda s: s.replace("/", "//"), lambda s: s[:64], lambda s: s[:-1],
    lambda s: s.encode("utf-8")[:-1].decode("utf-8", "ignore"),
)


def _is_sibling(id: str, form: str) -> bool:
    return bool(form) and form != id and len(form.encode("utf-8")) <= MAX_ID_BYTES


def confusable_siblings(id: str) -> list[str]:
    """Valid ids distinct from ``id`` that a careless store could merge with it (every
    form of ``_CONFUSIONS`` that is a valid, different id).

    >>> confusable_siblings("a")[:4]
    ['A', 'ａ', 'a ', 'a\\x00']
    """
    seen: list[str] = []
    for confuse in _CONFUSIONS:
        form = confuse(id)
        if _is_sibling(id, form) and form not in seen:
            seen.append(form)
    return seen


def confusable_bases() -> st.SearchStrategy[str]:
    """A member of one :data:`CONFUSABLE_FAMILIES` family (each family equally likely):
    ids whose :func:`confusable_siblings` a careless store merges."""
    return st.sampled_from(CONFUSABLE_FAMILIES).flatmap(st.sampled_from)


def ids() -> st.SearchStrategy[str]:
    """Valid ids, biased toward collisions, confusable siblings and the edges.

    About three draws in seven come from one :data:`CONFUSABLE_FAMILIES` family per test
    case (see :func:`confusable_ids`), so a case holds ids a store could merge.
    Samples: ``'a'``, ``'A'``, ``'b0'``, ``'a\\x00'`` (differs from ``'a'`` only by a
    trailing NUL), ``'e\\u0301'`` (NFD of ``'é'``), ``'Ω≈ç'``, ``'é' * 127 + 'z'``
    (exactly 255 bytes).
    """
    small = st.text(alphabet="ab0", min_size=1, max_size=3)
    nul_tail = st.builds(lambda s, n: s + "\x00" * n, st.sampled_from(["a", "b", "é"]), st.integers(1, 2))
    sibling = confusable_ids()
    return st.one_of(small, sibling, nul_tail, sibling, _bounded_text(), sibling,
                     max_length_ids())


def bad_ids() -> st.SearchStrategy[Any]:
    """Ids the contract refuses: empty, 256+ bytes, lone surrogates, not a ``str``.

    Samples: ``''``, ``'a' * 256``, ``'é' * 128``, ``'\\ud800'``, ``b'a'``, ``7``, ``None``.
    """
    return st.one_of(
        st.just(""),
        st.just("a" * (MAX_ID_BYTES + 1)),
        st.just("é" * 128),
        st.just("😀" * 64),
        st.sampled_from(["\ud800", "a\udfff", "\udc80x"]),
        st.sampled_from([b"a", bytearray(b"a"), 7, None, 1.5, ("a",)]),
    )


# -- embeddings -------------------------------------------------------------------------


def to_float32(values: Any) -> np.ndarray[Any, np.dtype[np.float32]]:
    """What the contract stores for ``values``: a float32 copy (``-0.0`` kept)."""
    return np.array(np.asarray(values, dtype=np.float64), dtype=np.float32)


def _array_like(values: list[float], kind: str) -> Any:
    if kind == "list":
        return values
    if kind == "tuple":
        return tuple(values)
    if kind == "float32":
        return np.array(values, dtype=np.float32)
    if kind == "float64":
        return np.array(values, dtype=np.float64)
    if kind == "int":
        return [int(v) for v in values]
    raise AssertionError(kind)  # pragma: no cover - closed set


def _pool(dim: int) -> list[list[float]]:
    """A handful of fixed directions; drawing from it makes duplicates and exact ties."""
    pool = [[1.0] * dim, [-1.0] * dim]
    for i in range(min(dim, 3)):
        axis = [0.0] * dim
        axis[i] = 1.0
        pool.append(axis)
    return pool


def _nudged(base: list[float], at: int, ulps: int, scale: float) -> list[float]:
    """``base`` scaled, with one component moved ``ulps`` float32 steps: a direction
    almost parallel to a pool direction (cosine within a few 1e-8 of it), at huge or
    tiny magnitude, so near-ties and float32 overflow of norms are both reachable."""
    out = np.array(base, dtype=np.float32) * np.float32(scale)
    value = out[at]
    for _ in range(ulps):
        value = np.nextafter(value, np.float32(np.inf))
    out[at] = value
    return [float(v) for v in out]


def embeddings(dim: int) -> st.SearchStrategy[Any]:
    """Valid embeddings of length ``dim``, as lists, tuples, float32/float64 arrays, ints.

    The mix: ordinary float32 values; only edge values (``-0.0``, subnormals, ``±max``,
    1e-46 that rounds to 0.0); zero-norm vectors; copies and scaled copies (×2, ×0.5) of
    a small pool of directions, so that searches meet exact ties; and near-parallel
    copies (one component a few float32 steps off, scaled by 1, 1e-30 or 1e30), so that
    they meet near-ties and norms that overflow or underflow in float32.

    Samples (dim 3): ``[0.5, -1.0, 0.1]``, ``array([-0., 0., 0.], dtype=float32)``,
    ``[1e-45, 3.4028234663852886e+38, -0.0]``, ``[2.0, 2.0, 2.0]``.
    """
    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    plain = st.lists(finite32, min_size=dim, max_size=dim)
    edges = st.lists(st.sampled_from(EDGE_FLOATS), min_size=dim, max_size=dim)
    zeros = st.lists(st.sampled_from([0.0, -0.0, 1e-46]), min_size=dim, max_size=dim)
    pooled = st.builds(
        lambda v, s: [x * s for x in v], st.sampled_from(_pool(dim)), st.sampled_from([1.0, 2.0, 0.5])
    )
    small_ints = st.lists(st.integers(-2, 2).map(float), min_size=dim, max_size=dim)
    near = st.builds(_nudged, st.sampled_from(_pool(dim)), st.integers(0, dim - 1),
                     st.integers(1, 3), st.sampled_from([1.0, 1e-30, 1e30]))
    values = st.one_of(pooled, small_ints, plain, edges, zeros, near)

    def shape(v: list[float], kind: str) -> Any:
        if kind == "int" and not all(float(x).is_integer() and abs(x) < 2**31 for x in v):
            kind = "list"
        return _array_like(v, kind)

    return st.builds(shape, values, st.sampled_from(["list", "float32", "float64", "tuple", "int"]))


def queries(dim: int) -> st.SearchStrategy[Any]:
    """Valid queries: embeddings whose float32 norm is not zero, built, never filtered.

    A drawn embedding that is zero in float32 gets one component (drawn) set to a
    non-zero edge value, so no draw is thrown away (in one dimension a third would be).

    Samples (dim 3): ``[1.0, 1.0, 1.0]``, ``[0.0, -1e-45, 0.0]``, ``[3.4028234663852886e+38, 0.0, 1.0]``.
    """
    nonzero = [v for v in EDGE_FLOATS if np.float32(v) != 0]

    def make_nonzero(values: Any, at: int, fill: float) -> Any:
        if np.any(to_float32(values)):
            return values
        out = [float(v) for v in to_float32(values)]
        out[at % dim] = fill
        return out

    return st.builds(make_nonzero, embeddings(dim), st.integers(0, dim - 1), st.sampled_from(nonzero))


def bad_embeddings(dim: int) -> st.SearchStrategy[Any]:
    """Embeddings the contract refuses: wrong length or shape, NaN, inf, values that
    overflow float32, complex, bool, text, ragged or non-numeric.

    Samples (dim 3): ``[0.0, 0.0]``, ``[[1.0, 1.0, 1.0]]``, ``[nan, 0.0, 0.0]``,
    ``[1e39, 0.0, 0.0]``, a float32 array holding ``inf`` (the type a store's fast path
    takes), ``array([1j, 0j, 0j])``, ``'abc'``, ``[1.0, 'x', 2.0]``.
    """
    def with_bad(value: Any, at: int) -> list[Any]:
        out: list[Any] = [0.5] * dim
        out[at % dim] = value
        return out

    def float32_with(value: float, at: int) -> Any:
        out = np.full(dim, 0.5, dtype=np.float32)  # the stored type: a store's fast path
        out[at % dim] = value
        return out

    return st.one_of(
        st.sampled_from([d for d in (0, 1, dim - 1, dim + 1) if d != dim and d >= 0]).map(
            lambda n: [1.0] * n
        ),
        st.just([[1.0] * dim]),
        st.just(np.ones((1, dim), dtype=np.float32)),
        st.builds(
            with_bad,
            st.sampled_from([math.nan, math.inf, -math.inf, 1e39, -3.5e38, "x", None]),
            st.integers(0, dim - 1),
        ),
        st.builds(float32_with, st.sampled_from([math.nan, math.inf, -math.inf]),
                  st.integers(0, dim - 1)),
        st.just(np.full(dim, 1j)),
        st.just(np.ones(dim, dtype=bool)),
        st.sampled_from(["a" * dim, b"\x00" * (4 * dim), None, 3.0]),
        st.just([[1.0], [1.0, 2.0]]),
    )


def bad_queries(dim: int) -> st.SearchStrategy[Any]:
    """Queries the contract refuses: every bad embedding, and zero-norm vectors.

    Samples (dim 3): ``[0.0, -0.0, 0.0]``, ``[1e-46, 0.0, 0.0]`` (zero in float32), ``[nan, 0.0, 0.0]``.
    """
    zero = st.lists(st.sampled_from([0.0, -0.0, 1e-46, -1e-46]), min_size=dim, max_size=dim)
    return st.one_of(zero, bad_embeddings(dim))


# -- contents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A content of ``size`` pseudo-random bytes derived from ``seed``, printed short.

    Large contents stay readable in a counterexample program and cheap to shrink.

    >>> Blob(5, seed=1).materialize() == Blob(5, seed=1).materialize()
    True
    >>> len(Blob(300_000).materialize())
    300000
    """

    size: int
    seed: int = 0

    def materialize(self) -> bytes:
        return _blob_bytes(self.size, self.seed)


@functools.lru_cache(maxsize=32)
def _blob_bytes(size: int, seed: int) -> bytes:
    """The bytes of ``Blob(size, seed)``: a hash block repeated, xored with a ramp so that
    neighbouring 32-byte blocks differ (a shifted copy never matches)."""
    block = hashlib.sha256(f"{seed}".encode()).digest()
    reps = max(-(-size // 32), 1)
    raw = np.frombuffer(block * reps, dtype=np.uint8)[:size]
    ramp = (np.arange(size, dtype=np.uint32) // 32 % 251).astype(np.uint8)
    return bytes(raw ^ ramp)


def materialize(content: bytes | str | Blob) -> bytes | str:
    """The argument to hand to ``put``: a Blob becomes its bytes; bytes and str unchanged."""
    return content.materialize() if isinstance(content, Blob) else content


def expected_content(content: bytes | str | Blob) -> bytes:
    """What ``get`` must return for ``content``: bytes, a str as its UTF-8."""
    value = materialize(content)
    return value.encode("utf-8") if isinstance(value, str) else value


def content_sizes(max_size: int = 512 * 1024) -> st.SearchStrategy[int]:
    """Sizes in the 89 % / 10 % / 1 % mix (under 1 KiB / up to 64 KiB / up to ``max_size``),
    with allocator boundary sizes mixed in. Shrinks toward 0.

    Samples: ``0``, ``17``, ``4097``, ``31_337``, ``300_000``.
    """
    large_floor = min(65_537, max_size)

    def pick(bucket: int) -> st.SearchStrategy[int]:
        if bucket < 89:
            return st.one_of(st.integers(0, 1023), st.sampled_from([s for s in BOUNDARY_SIZES if s < 1024]))
        if bucket < 99:
            return st.one_of(
                st.integers(1024, 65_536), st.sampled_from([s for s in BOUNDARY_SIZES if s >= 1024])
            )
        return st.integers(large_floor, max_size)

    return st.integers(0, 99).flatmap(pick)


def contents(max_size: int = 512 * 1024) -> st.SearchStrategy[bytes | str | Blob]:
    """Valid contents: empty (as bytes or str), NULs (as bytes or str; a C-string store
    truncates them), the same text as str and as its UTF-8 bytes, literal bytes up to 64
    bytes, str (stored as UTF-8), or a :class:`Blob` of any size in the
    :func:`content_sizes` mix. (Exactly ``max_content`` bytes is the machine's
    ``content_at_and_over_max`` rule: it depends on the store's option.)

    Samples: ``b''``, ``b'\\x00'``, ``'héllo'``, ``Blob(size=4097, seed=3)``,
    ``Blob(size=300000, seed=0)``.
    """
    literal = st.binary(max_size=64)
    text = st.text(max_size=16)
    blob = st.builds(Blob, content_sizes(max_size), st.integers(0, 3))
    edges = st.sampled_from([b"", "", b"\x00", "\x00", b"a\x00", b"\x00" * 64, "é", b"\xc3\xa9"])
    return st.one_of(edges, literal, text, blob)


def bad_contents() -> st.SearchStrategy[Any]:
    """Contents the contract refuses: anything but ``bytes`` or ``str``.

    Samples: ``None``, ``7``, ``bytearray(b'ab')``, ``memoryview(b'ab')``, ``[1, 2]``, ``'\\ud800'``.
    """
    return st.one_of(
        st.sampled_from([None, 7, 1.5, [1, 2], bytearray(b"ab"), np.zeros(2, dtype=np.uint8)]),
        st.just(memoryview(b"ab")),
        st.just("\ud800"),
    )


# -- confidences ------------------------------------------------------------------------


def confidences() -> st.SearchStrategy[float]:
    """Valid confidences in ``[0, 1]``, with ``-0.0``, subnormals, 1.0 and values that
    float32 rounds (0.1).

    Samples: ``1.0``, ``0.0``, ``-0.0``, ``1e-45``, ``0.9999999403953552``, ``0.1``.
    """
    edges = st.sampled_from(
        [1.0, 0.0, -0.0, 1e-45, 1e-46, 0.1, float(np.nextafter(np.float32(1), np.float32(0))), 0.5]
    )
    return st.one_of(edges, st.floats(0.0, 1.0))


# -- store options ----------------------------------------------------------------------


def create_options(supported: Sequence[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword options for ``create`` among the ``supported`` names: tiny initial sizes so
    that growth happens early, a small ``max_content`` so that its edge is reachable, and
    in about a third of the draws hard limits (``max_slots``, ``max_content_bytes``) so
    that ``CapacityError`` happens.

    Samples: ``{'initial_capacity': 2, 'initial_content_bytes': 64, 'max_content': 70000}``,
    ``{'initial_capacity': 1, 'initial_content_bytes': 1, 'max_content': 600000,
    'max_slots': 4, 'max_content_bytes': 16384}``.
    """
    base: dict[str, st.SearchStrategy[Any]] = {
        "initial_capacity": st.sampled_from([1, 2, 4, 16]),
        "initial_content_bytes": st.sampled_from([1, 64, 4096, 65536]),
        "max_content": st.sampled_from([70_000, 600_000]),
    }
    limits: dict[str, st.SearchStrategy[Any]] = {
        "max_slots": st.sampled_from([2, 4, 16]),
        "max_content_bytes": st.sampled_from([8192, 16384, 1 << 20]),
    }
    plain = st.fixed_dictionaries({k: v for k, v in base.items() if k in supported})
    limited = st.fixed_dictionaries(
        {k: v for k, v in {**base, **limits}.items() if k in supported}
    )
    if not any(k in supported for k in limits):
        return plain
    return st.sampled_from([False, False, True]).flatmap(lambda lim: limited if lim else plain)


# -- replacements -----------------------------------------------------------------------

#: How a replacement's size relates to the old one (see :func:`resized`). "same" is drawn
#: a third of the time: a store that rewrites a value of unchanged size in place (or keeps
#: its old offset) breaks only there, and with the batch rules in the swarm a 1-in-9
#: draw came up once in a whole `nox -s properties` run.
RESIZES = st.sampled_from(["same", "same", "same", "+1", "-1", "+7", "x2", "/2", "+4096",
                           "to 0", "to 70000"])


def resized(old: int, how: str) -> int:
    """The new size for a replacement of an ``old``-byte content.

    >>> [resized(10, h) for h in ("same", "+1", "-1", "x2", "/2", "to 0")]
    [10, 11, 9, 20, 5, 0]
    """
    if how == "same":
        return old
    if how.startswith("to "):
        return int(how[3:])
    if how.startswith("x"):
        return old * int(how[1:])
    if how.startswith("/"):
        return old // int(how[1:])
    return max(0, old + int(how))


@dataclass(frozen=True)
class Resize:
    """A replacement content defined by the old one: ``how`` (see :func:`resized`) and a
    seed for the new bytes, which always differ from the old ones.

    Sample: ``Resize(how='same', seed=0)`` (new bytes, old length).
    """

    how: str
    seed: int = 0


@dataclass(frozen=True)
class NearFreed:
    """A content one byte under, at or over (``delta``) the size of one recently freed
    content (``pick`` counts back from the newest): the sizes of the allocator's holes.

    Sample: ``NearFreed(delta=1, pick=0, seed=2)``.
    """

    delta: int
    pick: int = 0
    seed: int = 0


def relative_contents() -> st.SearchStrategy[Resize | NearFreed]:
    """Contents sized relative to the store's history (resolved by the machine).

    Samples: ``Resize(how='+1', seed=0)``, ``NearFreed(delta=-1, pick=0, seed=0)``.
    """
    return st.one_of(
        st.builds(Resize, RESIZES, st.integers(0, 3)),
        st.builds(NearFreed, st.sampled_from([-1, 0, 1]), st.integers(0, 15), st.integers(0, 3)),
    )


#: The ids a churn batch works on: few, so that puts, replaces and removes collide, plus
#: a trailing-NUL id and one of exactly 255 UTF-8 bytes.
CHURN_IDS: tuple[str, ...] = ("a", "b", "c", "a\x00", "é" * 127 + "z")


def churn_ops() -> st.SearchStrategy[list[tuple[str, int, int, int]]]:
    """A batch of mixed operations on a handful of ids: ``(op, id index, size, seed)``
    with op one of put, remove, flush. Puts of an id already live are replaces.

    Sample: ``[('put', 0, 3, 0), ('put', 0, 3, 1), ('flush', 0, 0, 0), ('remove', 0, 0, 0)]``.
    """
    op = st.sampled_from(["put", "put", "remove", "flush"])
    return st.lists(
        st.tuples(op, st.integers(0, len(CHURN_IDS) - 1),
                  st.one_of(st.just(0), content_sizes(70_000)), st.integers(0, 3)),
        min_size=1, max_size=12,
    )
