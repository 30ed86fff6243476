"""Keep freed memory in the process instead of handing it back to the kernel (glibc).

edgeprune's array work allocates and frees the same few megabytes over and over: a block of
corrupted images, its float temporaries, a batch of logits. glibc's malloc serves blocks
above its mmap threshold (128 KiB, rising to at most 32 MiB as such blocks are freed) with
fresh mappings and gives the top of its heap back to the kernel beyond its trim threshold,
so the same memory is faulted in, zeroed and unmapped again on every call. Measured at
224x224 on this project's 2-core machine, shot noise over 256 images took 5.5 ms per image
with glibc's defaults and 1.8 ms with freed memory kept (``tools/bench_corruptions.py``
prints its setting). Peak memory is unchanged: what is kept is what was in use at the peak.

``keep_freed_memory`` sets glibc's own tunables (``mallopt``: blocks below 32 MiB from the
heap, up to 256 MiB of free heap top kept); elsewhere (musl, macOS, Windows) it does nothing.
The same settings reach a child process through ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` (``environment``).
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for the threshold on 64-bit systems
TRIM_THRESHOLD = 256 << 20


def keep_freed_memory() -> bool:
    """Apply the settings to this process; True where glibc took them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def environment() -> dict[str, str]:
    """The same settings for a child process (glibc reads them at its start)."""
    return {
        "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
        "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
    }
