"""Keep a serving process's memory flat under concurrent photo traffic (glibc only).

glibc gives every thread that allocates its own malloc arena and keeps freed blocks in them; with
megabyte-sized photo buffers and ONNX Runtime activations allocated from several threads, a
server's resident memory grows to about twice what it uses. Two arenas and a 1 MiB trim
threshold keep it near the working set (measured: 315 MB → 176 MB after the same 30
identifications of 12 MP photos) at no measurable speed cost. The same can be had by starting
the process with ``MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=1048576``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger("hortus")

M_TRIM_THRESHOLD = -1
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2, trim_threshold: int = 1024 * 1024) -> bool:
    """Apply the limits through ``mallopt`` unless the environment already chose; True if set."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        ok = libc.mallopt(M_ARENA_MAX, arenas) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return False
    if ok:
        logger.debug("malloc limited to %d arenas", arenas)
    return ok
