"""Executors: where the heavy stages run, by name from ``labelkit.registry.executors``.

``local`` (the default) runs them in this process and its forked workers; ``ray`` on a
Ray cluster through Ray Data (the optional extra ``ray``: ``ray[data]``). Either way the
workspace's DuckDB file is written only by the process that opened it.

Examples
--------
>>> executor_for("ray", address="auto", workers=4).name
'ray'
"""

from __future__ import annotations

from typing import Any

from labelkit.executors import local, ray_data
from labelkit.executors.base import Executor, LFVotes
from labelkit.registry import configure, executors


def executor_for(name: str, **params: Any) -> Executor:
    """The executor registered as ``name``, made with ``params`` (a parameter it does not
    take, or text where it takes a number, is refused by name).

    Examples
    --------
    >>> executor_for("local").name
    'local'
    """
    return configure(executors, name, **params)


__all__ = ["Executor", "LFVotes", "executor_for", "local", "ray_data"]
