"""Helpers shared by tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

from labelkit import ReviewQueue, Workspace


def table_counts(ws: Workspace) -> dict[str, int]:
    """Row counts of every table: compared before and after a failing step."""
    names = ws.sql("SELECT table_name FROM information_schema.tables")["table_name"]
    return {name: ws.sql(f"SELECT count(*) AS n FROM {name}")["n"][0] for name in names}


def labelkit_with_stdin_closed(*args: str) -> subprocess.CompletedProcess[str]:
    """``labelkit ARGS`` run with its standard input closed (``<&-`` in a shell), which
    Python then sees as ``sys.stdin is None``."""
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.close(0),
        timeout=120,
    )


def review_in_threads(
    queue: ReviewQueue, reviewers: int, *, per_reviewer: int | None = None
) -> list[tuple[str, str]]:
    """Reviewers ``r0``, ``r1``… in one thread each, accepting whatever ``next`` hands them
    until the queue is empty (or ``per_reviewer`` answers); the (reviewer, example id)
    pairs handed out. A failure in any thread fails the caller."""
    handed: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def review(name: str) -> None:
        try:
            answered = 0
            while per_reviewer is None or answered < per_reviewer:
                item = queue.next(reviewer=name)
                if item is None:
                    break
                handed.append((name, item.example_id))
                queue.answer(item.example_id, "accept", reviewer=name)
                answered += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=review, args=(f"r{i}",)) for i in range(reviewers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return handed


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a server that is down, or one to start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
