"""The peers: one module per store family, each a class per variant.

Every peer speaks the same small interface (:class:`benchmarks.peers.base.Peer`), so the
runner times the same operations on each. ``available()`` lists the peers whose library
imports, with their versions.
"""

from __future__ import annotations

from benchmarks.peers.base import Peer


def available() -> list[type[Peer]]:
    """Every peer class that can run here (a missing library drops its family)."""
    from benchmarks.peers import memmap_peer, numpy_dict_peer, sqlite_peer, warmtier_peer

    classes: list[type[Peer]] = [*warmtier_peer.variants()]
    try:
        from benchmarks.peers import lmdb_peer

        classes += [lmdb_peer.LmdbPerPut, lmdb_peer.LmdbBatched]
    except ImportError:
        pass
    classes += [sqlite_peer.SqliteAutocommit, sqlite_peer.SqliteBatched]
    classes += [numpy_dict_peer.NumpyDict, memmap_peer.MemmapArena]
    return classes
