"""What shapes the cost of fresh page-cache pages on the machine a bench runs on: the
read-around of the disk under its files, and memory handed back to a hypervisor."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Free blocks of this order and up go back to the host (virtio-balloon free page
#: reporting); touching such memory again is slow where it is set.
REPORTING_ORDER = Path("/sys/module/page_reporting/parameters/page_reporting_order")


def page_cache_facts(path: Path) -> dict[str, int]:
    """``read_ahead_kb`` of the block device holding ``path`` and the free page reporting
    order, where this machine has them (Linux ``/sys``); empty elsewhere."""
    facts: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        dev = os.stat(path).st_dev
        block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
        for queue in (block / "queue", block / ".." / "queue"):  # a disk, or a partition
            if (queue / "read_ahead_kb").exists():
                facts["read_ahead_kb"] = int((queue / "read_ahead_kb").read_text())
                break
    with contextlib.suppress(OSError, ValueError):
        facts["page_reporting_order"] = int(REPORTING_ORDER.read_text())
    return facts


def describe(facts: dict[str, int]) -> list[str]:
    """The facts as a Markdown bullet for a report's header (none when there are none)."""
    parts = []
    if "read_ahead_kb" in facts:
        parts.append(f"a fault in a mapped file reads around {facts['read_ahead_kb']} KiB "
                     "(the disk's read_ahead_kb)")
    if "page_reporting_order" in facts:
        parts.append(f"free blocks of {4 << facts['page_reporting_order']} KiB and up go "
                     "back to the host (free page reporting), and their first touch again "
                     "is slow")
    return [f"- page cache here: {'; '.join(parts)}"] if parts else []
