"""The on-disk format: the header, the slot record layout, checksums and the CURRENT file.

A store directory holds ``CURRENT`` (names the live generation), ``slots.<gen>`` (a
4 KiB header, then fixed-size slots), ``embeddings.<gen>`` (one dense float32 row per
slot; formats 1 and 2 keep each embedding inside its slot) and ``content.<gen>`` (the
content arena).
Every parse failure here raises CorruptionError, never a struct or numpy error.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import xxhash

from warmtier.errors import CorruptionError

__all__ = [
    "CURRENT_NAME",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "ID_OFFSET",
    "LOCK_NAME",
    "MAGIC",
    "SLOT_FIXED",
    "Bytes",
    "Header",
    "checksums",
    "content_name",
    "embeddings_name",
    "embeds_in_slots",
    "read_current",
    "slot_checksum",
    "slot_dtype",
    "slots_name",
    "slots_pass",
    "unpublished_slot_checksum",
    "write_current",
]

MAGIC = b"WARMTIER"
#: 1: crc32 slot checksums; 2: XXH3; 3: XXH3, embeddings in a dense file of their own (so
#: a search reads them as one contiguous matrix). Older formats are opened and written in
#: place; compaction rewrites a store in this one.
FORMAT_VERSION = 3
HEADER_SIZE = 4096
MAX_DIM = 1 << 16
CURRENT_NAME = "CURRENT"
LOCK_NAME = "LOCK"
ID_FIELD = 256

# magic, version, dim, slot_size, header_size, max_content, flushed_seq, seq_floor, gen,
# max_slots, max_arena_bytes, then the header's own crc32.
_HEADER = struct.Struct("<8sIIIIQQQQQQ")
_HEADER_CRC = struct.Struct("<I")
_SEQ = struct.Struct("<Q")  # a slot's seq field, at offset 8
#: The largest sequence number a store can reach (one per put: 2**63 is out of reach).
MAX_SEQ = 2**63 - 1

# Slot layout: crc u4, id_len u2, flags u2, seq u8 (the publish), off u8, length u8,
# confidence f4, pad, norm f8, id[256]; in formats 1 and 2 the float32 embedding follows,
# padded to 8 bytes.
ID_OFFSET = 48
SLOT_FIXED = ID_OFFSET + ID_FIELD


def embeds_in_slots(version: int) -> bool:
    """Whether a format keeps each embedding inside its slot (1, 2) or in its own file."""
    return version < 3


def slot_dtype(dim: int, version: int = FORMAT_VERSION) -> np.dtype[np.void]:
    """The numpy structured dtype of one slot of format ``version`` for embeddings of
    ``dim`` float32 (the embedding is a field only where :func:`embeds_in_slots`)."""
    names = ["crc", "id_len", "flags", "seq", "off", "length", "confidence", "norm", "id"]
    formats: list[object] = ["<u4", "<u2", "<u2", "<u8", "<u8", "<u8", "<f4", "<f8",
                             ("u1", (ID_FIELD,))]
    offsets = [0, 4, 6, 8, 16, 24, 32, 40, 48]
    size = SLOT_FIXED
    if embeds_in_slots(version):
        names.append("embedding")
        formats.append(("<f4", (dim,)))
        offsets.append(SLOT_FIXED)
        size += 4 * dim
        size += (-size) % 8
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": size})


def fixed_dtype() -> np.dtype[np.void]:
    """The slot's fields before the id, packed (for reading every slot at once)."""
    return np.dtype(
        {
            "names": ["crc", "id_len", "flags", "seq", "off", "length", "confidence", "norm"],
            "formats": ["<u4", "<u2", "<u2", "<u8", "<u8", "<u8", "<f4", "<f8"],
            "offsets": [0, 4, 6, 8, 16, 24, 32, 40],
            "itemsize": ID_OFFSET,
        }
    )


_XXH3 = xxhash.xxh3_64_intdigest
_LOW32 = 0xFFFFFFFF


Bytes = bytes | memoryview


def slot_checksum(slot: Bytes, content: Bytes, version: int = FORMAT_VERSION,
                  embedding: Bytes = b"") -> int:
    """The 32-bit checksum of a slot (every byte after its crc field, the id_len and flags
    included), of its embedding and of its content: crc32 in format 1; from format 2 the
    low half of XXH3-64, an order of magnitude faster, chained (each part seeds the next):
    in format 2 over the slot's first 12 bytes (id_len, flags, seq), the rest of the slot,
    then the content; in format 3 over the whole slot after the crc, the embedding's row,
    then the content (three calls per record where a verified ``open`` makes them).
    Formats 1 and 2 ignore ``embedding``: it is inside the slot.

    >>> slot = bytes(range(64))
    >>> slot_checksum(slot, b"xy", 1) == zlib.crc32(b"xy", zlib.crc32(slot[4:]))
    True
    >>> slot_checksum(slot, b"xy") != slot_checksum(slot, b"xz")
    True
    >>> slot_checksum(slot, b"xy", 3, b"e") != slot_checksum(slot, b"xy", 3, b"f")
    True
    """
    if version == 1:
        return zlib.crc32(content, zlib.crc32(slot[4:]))
    if version == 2:
        return _XXH3(content, _XXH3(slot[16:], _XXH3(slot[4:16]))) & _LOW32
    return _XXH3(content, _XXH3(embedding, _XXH3(slot[4:]))) & _LOW32


def unpublished_slot_checksum(slot: Bytes, seq: int, content: Bytes,
                              version: int = FORMAT_VERSION, embedding: Bytes = b"") -> int:
    """:func:`slot_checksum` of ``slot`` once ``seq`` is written into it, computed while
    its seq field still holds 0 (formats 1 and 2 feed the seq bytes in between the chained
    parts; format 3 hashes a copy of the slot with the seq in it).

    >>> body = bytearray(64); body[20] = 7
    >>> published = bytearray(body); published[8:16] = (5).to_bytes(8, "little")
    >>> all(unpublished_slot_checksum(body, 5, b"xy", v, b"e")
    ...     == slot_checksum(published, b"xy", v, b"e") for v in (1, 2, 3))
    True
    """
    if version == 1:
        crc = zlib.crc32(_SEQ.pack(seq), zlib.crc32(slot[4:8]))
        return zlib.crc32(content, zlib.crc32(slot[16:], crc))
    if version == 2:
        head = bytes(slot[4:8]) + _SEQ.pack(seq)
        return _XXH3(content, _XXH3(slot[16:], _XXH3(head))) & _LOW32
    body = bytearray(slot[4:])  # the slot as it will be: its seq written in
    _SEQ.pack_into(body, 4, seq)
    return _XXH3(content, _XXH3(embedding, _XXH3(body))) & _LOW32


def slots_pass(version: int, slots: memoryview, embeddings: memoryview, arena: memoryview,
               rows: Iterable[tuple[int, int, int, int]], size: int, row: int) -> list[bool]:
    """For each ``(slot, offset, length, checksum)`` of ``rows``: whether that slot (of
    ``size`` bytes in ``slots``), its embedding (row ``slot`` of ``row`` bytes in
    ``embeddings``, format 3) and its content at ``offset`` of ``arena`` have that
    checksum. :func:`slot_checksum` over many slots, written out as one loop with no call
    per slot (what a verified ``open`` spends its time on).

    >>> slot, emb, content = bytes(range(64)), b"e", b"xy"
    >>> rows = [(0, 0, 2, slot_checksum(slot, content, 3, emb)), (0, 0, 1, 7)]
    >>> slots_pass(3, memoryview(slot), memoryview(emb), memoryview(content), rows, 64, 1)
    [True, False]
    """
    h = _XXH3
    if version == 1:
        crc32 = zlib.crc32
        return [crc32(arena[o : o + n], crc32(slots[i * size + 4 : (i + 1) * size])) == c
                for i, o, n, c in rows]
    if version == 2:
        return [h(arena[o : o + n], h(slots[i * size + 16 : (i + 1) * size],
                                      h(slots[i * size + 4 : i * size + 16])))
                & _LOW32 == c for i, o, n, c in rows]
    return [h(arena[o : o + n], h(embeddings[i * row : (i + 1) * row],
                                  h(slots[i * size + 4 : (i + 1) * size])))
            & _LOW32 == c for i, o, n, c in rows]


def checksums(slots: memoryview, embeddings: memoryview, contents: memoryview,
              extents: Iterable[tuple[int, int]], size: int, row: int) -> list[int]:
    """The format-3 :func:`slot_checksum` of slots ``0, 1, ...`` of ``slots`` (``size``
    bytes each, seq written in), with rows ``0, 1, ...`` of ``embeddings`` (``row`` bytes
    each) and the contents at the ``(offset, length)`` of ``extents`` in ``contents``: one
    loop with no call per slot (how ``put_many`` checksums a batch).

    >>> slots, emb, content = bytes(range(128)), b"efgh", b"xyz"
    >>> checksums(memoryview(slots), memoryview(emb), memoryview(content),
    ...           [(0, 2), (2, 1)], 64, 2) == [slot_checksum(slots[:64], b"xy", 3, b"ef"),
    ...                                        slot_checksum(slots[64:], b"z", 3, b"gh")]
    True
    """
    h = _XXH3
    return [h(contents[o : o + n], h(embeddings[i * row : (i + 1) * row],
                                     h(slots[i * size + 4 : (i + 1) * size]))) & _LOW32
            for i, (o, n) in enumerate(extents)]


@dataclass(frozen=True)
class Header:
    """The fields of the slots file's first 4 KiB."""

    dim: int
    slot_size: int
    max_content: int
    flushed_seq: int = 0
    seq_floor: int = 0
    gen: int = 0
    max_slots: int = 0
    max_arena_bytes: int = 0
    version: int = FORMAT_VERSION

    def pack(self) -> bytes:
        body = _HEADER.pack(
            MAGIC, self.version, self.dim, self.slot_size, HEADER_SIZE, self.max_content,
            self.flushed_seq, self.seq_floor, self.gen, self.max_slots, self.max_arena_bytes,
        )
        raw = body + _HEADER_CRC.pack(zlib.crc32(body))
        return raw + bytes(HEADER_SIZE - len(raw))

    def with_seqs(self, flushed_seq: int, seq_floor: int) -> Header:
        return replace(self, flushed_seq=flushed_seq, seq_floor=seq_floor)

    @classmethod
    def unpack(cls, raw: bytes, where: str) -> Header:
        need = _HEADER.size + _HEADER_CRC.size
        if len(raw) < need:
            raise CorruptionError(f"{where}: header is {len(raw)} bytes, shorter than {need}")
        fields = _HEADER.unpack_from(raw, 0)
        (magic, version, dim, slot_size, header_size, max_content, flushed_seq, seq_floor,
         gen, max_slots, max_arena) = fields
        if magic != MAGIC:
            raise CorruptionError(f"{where}: bad magic {magic!r}; this is not a warmtier store")
        (crc,) = _HEADER_CRC.unpack_from(raw, _HEADER.size)
        if crc != zlib.crc32(raw[: _HEADER.size]):
            raise CorruptionError(f"{where}: header checksum mismatch")
        if version > FORMAT_VERSION:
            raise CorruptionError(
                f"{where}: format version {version} is newer than this library's "
                f"{FORMAT_VERSION}; upgrade warmtier to open it"
            )
        if version < 1:
            raise CorruptionError(f"{where}: invalid format version {version}")
        if not 1 <= dim <= MAX_DIM:
            raise CorruptionError(f"{where}: invalid dim {dim}")
        if header_size != HEADER_SIZE:
            raise CorruptionError(f"{where}: header size {header_size} != {HEADER_SIZE}")
        if slot_size != slot_dtype(dim, version).itemsize:
            raise CorruptionError(f"{where}: slot size {slot_size} does not match dim {dim}")
        if flushed_seq > seq_floor:
            raise CorruptionError(f"{where}: flushed seq {flushed_seq} > seq floor {seq_floor}")
        return cls(dim, slot_size, max_content, flushed_seq, seq_floor, gen, max_slots,
                   max_arena, version)


def slots_name(gen: int) -> str:
    return f"slots.{gen}"


def content_name(gen: int) -> str:
    return f"content.{gen}"


def embeddings_name(gen: int) -> str:
    return f"embeddings.{gen}"


_CURRENT_PREFIX = "warmtier-current "


def read_current(directory: str) -> int:
    """The live generation named by ``CURRENT``."""
    path = os.path.join(directory, CURRENT_NAME)
    try:
        with open(path, "rb") as f:
            raw = f.read(256)
    except FileNotFoundError:
        raise CorruptionError(f"{directory}: no {CURRENT_NAME} file; not a warmtier store") from None
    except OSError as exc:
        raise CorruptionError(f"{path}: unreadable: {exc}") from None
    try:
        text = raw.decode("ascii")
        if not text.startswith(_CURRENT_PREFIX) or not text.endswith("\n"):
            raise ValueError(text)
        body, crc = text[len(_CURRENT_PREFIX) : -1].split(" ")
        if int(crc, 16) != zlib.crc32(body.encode()):
            raise ValueError("crc")
        gen = int(body)
        if gen < 0:
            raise ValueError(body)
    except ValueError:
        raise CorruptionError(f"{path}: does not parse as a generation number") from None
    return gen


def write_current(directory: str, gen: int) -> None:
    """Point ``CURRENT`` at ``gen`` atomically and durably (write, fsync, rename, fsync dir)."""
    body = str(gen)
    text = f"{_CURRENT_PREFIX}{body} {zlib.crc32(body.encode()):08x}\n".encode()
    tmp = os.path.join(directory, CURRENT_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, os.path.join(directory, CURRENT_NAME))
    fsync_dir(directory)


def fsync_dir(directory: str) -> None:
    """Make a directory's entries (creations, renames) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
