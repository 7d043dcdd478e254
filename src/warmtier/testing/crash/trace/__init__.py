"""Syscall-level observation of durability: a ptrace+seccomp tracer that logs every sync,
write and name change made by any code of a child, and the per-file ledger folded from it.

>>> from warmtier.testing.crash.trace import trace, ledger   # doctest: +SKIP
>>> t = trace(workload, store_dir, stop_at=12)               # doctest: +SKIP
>>> ledger(t, page=512).by_path()["data.bin"].dirty          # doctest: +SKIP
"""

from warmtier.testing.crash.trace.events import (
    NAMESPACE,
    Close,
    DirImage,
    Dup,
    Event,
    FileImage,
    Link,
    Mark,
    Mkdir,
    Mmap,
    Open,
    Rename,
    Resize,
    Sync,
    Unlink,
    Write,
)
from warmtier.testing.crash.trace.ledger import DirState, FileState, Ledger, ledger
from warmtier.testing.crash.trace.proc import Tree
from warmtier.testing.crash.trace.tracer import Mode, Observer, StopAt, Trace, trace

__all__ = [
    "NAMESPACE",
    "Close",
    "DirImage",
    "DirState",
    "Dup",
    "Event",
    "FileImage",
    "FileState",
    "Ledger",
    "Link",
    "Mark",
    "Mkdir",
    "Mmap",
    "Mode",
    "Observer",
    "Open",
    "Rename",
    "Resize",
    "StopAt",
    "Sync",
    "Trace",
    "Tree",
    "Unlink",
    "Write",
    "ledger",
    "trace",
]
