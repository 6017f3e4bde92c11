"""Memory a process has freed, given back to the operating system (glibc's ``malloc_trim``).

glibc keeps what a program frees for its next allocations: in the main heap, and in one more
heap per thread that allocated at once (up to 8 per core), each kept as large as it has been.
A serving process frees a lot in bursts (ONNX Runtime parsing and optimising the model at
load; photo bytes, decoded pixels and view batches in several threads per request), and its
resident memory would stay at the high-water mark of every one of those heaps.
``malloc_trim(0)`` hands every whole free page of every heap back (``MADV_DONTNEED``); the
next allocation that reuses such a page takes a page fault, so it is called at moments that
are not on a request's path (docs/operations.md, "Memory").

With another C library (musl, macOS), :func:`trim` does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable


def _load_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        function = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_malloc_trim = _load_trim()


def can_trim() -> bool:
    """Whether this process's C library has ``malloc_trim`` (glibc)."""
    return _malloc_trim is not None


def trim() -> bool:
    """Give the free pages of every malloc heap back to the operating system.

    Thread-safe (glibc locks each heap in turn); 0.5-3 ms in a serving process. Returns
    whether memory was released (``False`` too where there is nothing to call).
    """
    if _malloc_trim is None:
        return False
    return bool(_malloc_trim(0))
