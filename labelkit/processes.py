"""Worker processes that end with the process that forked them."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

# prctl's option to be sent a signal when the parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> None:
    """Have this forked worker killed when ``parent`` (the pid that forked it) dies,
    on Linux (``PR_SET_PDEATHSIG``); a parent already gone ends it at once. Trial 56c:
    a `kill -9` of apply left its workers running the labeling functions for nobody.

    Examples
    --------
    >>> parent = os.getpid()
    >>> worker = multiprocessing.get_context("fork").Process(target=end_with_parent,
    ...                                                      args=(parent,))
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
