"""How labelkit's work uses the machine: worker processes that end with the process
that forked them, and BLAS kept to one thread where more only wait on each other."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from contextlib import AbstractContextManager

from threadpoolctl import threadpool_limits

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


def leave_stops_to_parent() -> None:
    """Ignore, in this forked worker, the signals that stop a command (Ctrl-C, SIGTERM,
    SIGHUP): the parent handles them and stops its workers. A worker that took Ctrl-C
    printed its own traceback under the parent's line (trial 46), one with the parent's
    SIGTERM handler it forked with too (the second read of stop 54).

    Examples
    --------
    >>> leave_stops_to_parent()  # first thing in a worker
    """
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # Windows has no SIGHUP
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def one_blas_thread() -> AbstractContextManager[object]:
    """Keep BLAS (OpenBLAS, MKL) to one thread inside the block: for scikit-learn's
    logistic regressions on sparse n-grams, whose BLAS calls are small dense vector
    operations that threads only slow down. Trial 62d: `flag` took 26 minutes on a
    busy 2-core machine; one attribute's cross-validation took 48 s of wall time with
    OpenBLAS's two threads and 2.2 s with one, to the same probabilities.

    Examples
    --------
    >>> with one_blas_thread():
    ...     LogisticRegression().fit(x, y)
    """
    return threadpool_limits(limits=1, user_api="blas")
