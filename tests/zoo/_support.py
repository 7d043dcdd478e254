"""Helpers for planting bugs without editing the reference store (not a zoo member).

:func:`rebind` copies a store function with some of its module globals replaced, so a
member can swap one helper (a checksum, a validator) for the methods that call it.
:func:`allocator_swap` makes every allocator a store builds an instance of a broken
subclass, wherever the store builds it (create, recovery, compaction).
:func:`source_digest` fingerprints a reference method: a member that copies a whole
method records ``COPIED_FROM = {"name": digest}`` and the zoo's tests fail when the
reference method changes, so the copy is refreshed instead of silently planting a
second, unintended bug.
"""

from __future__ import annotations

import hashlib
import inspect
import types
from collections.abc import Callable
from typing import Any

from warmtier.allocator import ExtentAllocator
from warmtier.store import WarmTierStore

__all__ = ["allocator_swap", "rebind", "source_digest"]


def rebind(func: Callable[..., Any], **replacements: Any) -> Callable[..., Any]:
    """A copy of ``func`` whose global names in ``replacements`` resolve to new values."""
    code = func.__code__  # type: ignore[attr-defined]
    globs = {**func.__globals__, **replacements}  # type: ignore[attr-defined]
    copy = types.FunctionType(code, globs, func.__name__, func.__defaults__,  # type: ignore[attr-defined]
                              func.__closure__)  # type: ignore[attr-defined]
    copy.__kwdefaults__ = func.__kwdefaults__  # type: ignore[attr-defined]
    copy.__qualname__ = func.__qualname__
    return copy


def allocator_swap(broken: type[ExtentAllocator]) -> property:
    """A ``_alloc`` property that turns every allocator the store assigns into ``broken``.

    ``broken`` must subclass :class:`ExtentAllocator` without adding state.
    """

    def get(self: Any) -> ExtentAllocator:
        return self.__dict__["_alloc"]  # type: ignore[no-any-return]

    def set_(self: Any, value: ExtentAllocator) -> None:
        value.__class__ = broken
        self.__dict__["_alloc"] = value

    return property(get, set_)


def source_digest(method: str) -> str:
    """The first 12 hex digits of the sha1 of ``WarmTierStore.<method>``'s source."""
    src = inspect.getsource(getattr(WarmTierStore, method))
    return hashlib.sha1(src.encode()).hexdigest()[:12]
