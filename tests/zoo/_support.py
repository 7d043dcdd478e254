"""Planting bugs without editing the reference store (not a zoo member).

:func:`patch` is how a member plants its bug: the lines it changes in one of the store's
own methods, applied to the method's current source. When the store moves those lines,
the member fails to import, naming the member, the method and the lines.
:func:`rebind` copies a store function with some of its module globals replaced, so a
member can swap one helper (a checksum, a validator) for the methods that call it.
:func:`allocator_swap` makes every allocator a store builds an instance of a broken
subclass, wherever the store builds it (create, recovery, compaction).

The store's sources are read once, when this module is imported (:func:`pin_sources`):
``inspect.getsource`` rereads a file that changed on disk, at the line numbers of the
code imported before, so editing the store while a suite runs made members planted
afterwards fail with a false PatchError.
"""

from __future__ import annotations

import inspect
import linecache
import sys
import textwrap
import types
from collections.abc import Callable
from typing import Any, TypeVar

import warmtier.store  # noqa: F401  (loaded before its sources are pinned, below)
from warmtier.allocator import ExtentAllocator

__all__ = ["PatchError", "allocator_swap", "patch", "pin_sources", "rebind"]

C = TypeVar("C", bound=type)


class PatchError(Exception):
    """A member's patch no longer applies to the store's method."""


def patch(method: str, *, old: str, new: str, **names: Any) -> Callable[[C], C]:
    """A class decorator: the decorated store's ``method`` is the inherited one with the
    lines ``old`` replaced by ``new``.

    ``old`` must match consecutive whole lines of the method exactly once (indentation
    and trailing comments aside); ``new`` is indented where ``old`` stood. The result is
    compiled in the method's own module globals, plus ``names`` for anything ``new``
    uses that the module does not import. Decorators stack, each on the result of the
    one below it::

        @patch("_top_k", old="pairs.sort(key=lambda p: (-p[1], p[0]))",
               new="pairs.sort(key=lambda p: -p[1])  # BUG: no id tie-break")
        class SearchTiesBySlotStore(WarmTierStore):
            '''Reference store whose search breaks ties by slot position.'''
    """

    def apply(cls: C) -> C:
        where = f"zoo member {cls.__module__}.{cls.__qualname__}"
        owner, raw = _inherited(cls, method, where)
        func = raw.__func__ if isinstance(raw, (classmethod, staticmethod)) else raw
        source = getattr(func, "__zoo_source__", None) or textwrap.dedent(inspect.getsource(func))
        if "super()" in source:
            raise PatchError(f"{where}: {owner.__qualname__}.{method} calls super(), which "
                             "a patched copy cannot; patch the method it calls instead")
        patched = _replace(source, old, new, f"{where}: {owner.__qualname__}.{method}")
        filename = f"<{cls.__module__}: {owner.__qualname__}.{method}, patched>"
        linecache.cache[filename] = (len(patched), None, patched.splitlines(True), filename)
        scope: dict[str, Any] = {}
        globs = {**func.__globals__, **names} if names else func.__globals__
        exec(compile(patched, filename, "exec"), globs, scope)
        result = scope[func.__name__]
        inner = result.__func__ if isinstance(result, (classmethod, staticmethod)) else result
        inner.__qualname__ = f"{cls.__qualname__}.{method}"
        inner.__zoo_source__ = patched
        setattr(cls, method, result)
        return cls

    return apply


def pin_sources(module: types.ModuleType) -> None:
    """Keep the source lines of ``module``'s file as they are now, for ``inspect``, even if
    the file changes later (a linecache entry without an mtime is never rechecked)."""
    filename = getattr(module, "__file__", None)
    if not filename or not filename.endswith(".py"):
        return
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4 and entry[1] is None:
        return
    lines = linecache.getlines(filename, module.__dict__)
    if lines:
        linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)


def _inherited(cls: type, method: str, where: str) -> tuple[type, Any]:
    """The class that defines ``method`` for ``cls``, and its raw attribute."""
    for klass in cls.__mro__:
        if method in vars(klass):
            return klass, vars(klass)[method]
    raise PatchError(f"{where}: no method {method!r} to patch")


def _code(line: str) -> str:
    """A line without its indentation and trailing comment."""
    return line.split("  #", 1)[0].strip()


def _replace(source: str, old: str, new: str, where: str) -> str:
    lines = source.splitlines()
    want = [_code(x) for x in textwrap.dedent(old).strip("\n").splitlines()]
    hits = [i for i in range(len(lines) - len(want) + 1)
            if [_code(x) for x in lines[i : i + len(want)]] == want]
    if len(hits) != 1:
        found = "is not there any more" if not hits else f"occurs {len(hits)} times"
        raise PatchError(
            f"{where}: the lines to change {found}:\n"
            + textwrap.indent(textwrap.dedent(old).strip("\n"), "    ")
            + "\nRead the method's current source and re-plant the bug against it "
            "(a patch must match exactly once)."
        )
    at = hits[0]
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    body = [indent + x if x.strip() else x
            for x in textwrap.dedent(new).strip("\n").splitlines()]
    return "\n".join([*lines[:at], *body, *lines[at + len(want):]]) + "\n"


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


for _name, _module in list(sys.modules.items()):
    if _name == "warmtier" or _name.startswith("warmtier."):
        pin_sources(_module)
