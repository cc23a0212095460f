"""Hand memory back to the operating system after a large piece of work, and keep the
garbage collector off what start-up built.

A sweep over 100,000 links allocates and frees a few hundred thousand small objects.
CPython returns its own arenas when they empty, but glibc's malloc keeps the freed heap
for reuse, so a daemon's RSS would stay at the sweep's peak through the idle hours that
follow. ``malloc_trim(0)`` gives the free heap back; on a C library without it (musl,
macOS) this only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_memory() -> None:
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def freeze_start_up() -> None:
    """Move every object alive now (modules, classes, settings, clients: what start-up
    built, and what lives as long as the process) out of the collector's reach.

    A full collection walks every tracked object. A pass over 10,000 links makes a few
    of them, and each walked the start-up's objects again, for about 6 % of the pass's
    CPU; after this only what the work itself allocates is walked. The frozen objects
    are never freed, which they would not be anyway.
    """
    gc.freeze()
