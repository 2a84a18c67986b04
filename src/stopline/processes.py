"""How stopline starts helper processes (the import's normalisers, the export's parts).

Kept apart from what the helpers do, so a helper imports only what its own work needs.
"""

from __future__ import annotations

import multiprocessing
import os

__all__ = ["default_start_method", "default_workers"]


def default_workers() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_start_method() -> str:
    """ "forkserver" where it exists, else "spawn"; never plain "fork".

    `fork` copies a multi-threaded server's memory with other threads' locks held (logging,
    database pools, the import lock), which can deadlock the child. The fork server is a clean
    single-threaded process started once per parent, so later pools start in milliseconds.
    """
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"
