"""Resident memory of the current process (the runner process on host or device)."""

from __future__ import annotations

import os
import sys


def current_rss_bytes() -> int:
    """Resident set size now (Linux: /proc; elsewhere psutil if installed, else 0)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import psutil

            return int(psutil.Process().memory_info().rss)
        except ImportError:
            return 0


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since it started (or since its exec).

    On Linux this reads VmHWM: getrusage's ru_maxrss survives execve, so a runner started
    from a large parent (torch, training data) would report the parent's peak.
    """
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm * 1024
    try:
        import resource
    except ImportError:  # Windows
        return current_rss_bytes()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
