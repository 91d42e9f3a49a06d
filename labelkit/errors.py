"""Errors that name what was wrong and where."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable, Sequence


class LabelkitError(Exception):
    """Base class of every error labelkit raises on purpose."""


class InputError(LabelkitError):
    """Bad input data: the message names the file, column and row at fault."""


class WorkspaceError(LabelkitError):
    """The workspace file cannot be used as asked (locked, missing a step, wrong version)."""


class WorkspaceLockedError(WorkspaceError):
    """Another process holds the workspace file: a later try may succeed (the CLI exits
    75, EX_TEMPFAIL)."""


class SchemaToMigrateError(WorkspaceError):
    """A workspace opened read-only is of an older schema, which only a writer migrates."""


class LabelingFunctionError(LabelkitError):
    """A labeling function raised or returned something that is not a label.

    Attributes
    ----------
    lf_name, example_id, text
        The labeling function, and the example it failed on.
    """

    def __init__(self, lf_name: str, example_id: str, text: str, reason: str) -> None:
        self.lf_name = lf_name
        self.example_id = example_id
        self.text = text
        self.reason = reason
        shown = text if len(text) <= 200 else text[:200] + "…"
        super().__init__(
            f"labeling function {lf_name!r} failed on example {example_id!r}: {reason}\n"
            f"  text: {shown!r}"
        )

    def __reduce__(self) -> tuple[type, tuple[str, str, str, str]]:
        # Pickled whole, so that one raised in another process (a Ray worker) arrives as it was.
        return (type(self), (self.lf_name, self.example_id, self.text, self.reason))


class LabelkitWarning(UserWarning):
    """Base class of every warning labelkit gives on purpose (the CLI prints them as
    one ``warning:`` line each)."""


class OutdatedWarning(LabelkitWarning):
    """A step reads results that are older than what they were computed from: examples
    ingested after the labeling functions ran, or votes changed after ``aggregate``."""


class StaleModelWarning(LabelkitWarning):
    """A small model is scored beside labels, or after review decisions, it did not learn
    from. ``labelkit evaluate`` with several models says it as a note: comparing an
    older model is what that is for (trial 63c: under LABELKIT_STRICT the day-over-day
    comparison the docs advise failed every night)."""


def outside_labelkit() -> int:
    """The ``stacklevel`` of a warning that points at the first caller outside labelkit,
    however deep in labelkit it is raised (``aggregate`` through ``aggregate_to_workspace``
    pointed at labelkit's own line).

    Examples
    --------
    >>> warnings.warn("...", LabelkitWarning, stacklevel=outside_labelkit())
    """
    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("labelkit."):
        level, frame = level + 1, frame.f_back
    return level


def did_you_mean(value: str, options: Iterable[str]) -> str:
    """A hint naming the option ``value`` most likely meant, to end an error message:
    the one that differs only in case, else a close spelling; empty when none is close.

    Examples
    --------
    >>> did_you_mean("favor", ["Against", "Favor", "None"])
    " (did you mean 'Favor'?)"
    """
    options = list(options)
    same = [option for option in options if option.casefold() == value.casefold()]
    close = same or difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_known_labels(what: str, named: Iterable[str], labels: Sequence[str]) -> None:
    """Refuse ``named`` labels (of option letters, aliases, definitions: ``what``) that
    are not among ``labels``, naming them, the labels, and the likely meant one.

    Examples
    --------
    >>> check_known_labels("aliases", ["favor"], ["Against", "Favor"])
    Traceback (most recent call last):
    labelkit.errors.InputError: aliases name labels the task lacks: ['favor']; its labels are ['Against', 'Favor'] (did you mean 'Favor'?)
    """
    unknown = sorted(set(named) - set(labels))
    if unknown:
        raise InputError(
            f"{what} name labels the task lacks: {unknown}; its labels are {list(labels)}"
            + did_you_mean(unknown[0], labels)
        )


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, why: str = ""
) -> None:
    """Refuse a setting ``name`` whose ``value`` lies below ``low`` or above ``high``
    (either may be None), saying ``why`` the bound is there. The library checks its own
    ranges, so that the CLI and the Python API refuse the same values in the same words.

    Examples
    --------
    >>> check_range("folds", 1, low=2, why=" to cross-validate")
    Traceback (most recent call last):
    labelkit.errors.InputError: folds must be at least 2 to cross-validate, got 1
    """
    if (low is None or value >= low) and (high is None or value <= high):
        return
    if high is None:
        bounds = f"at least {low}"
    else:
        bounds = f"at most {high}" if low is None else f"from {low} to {high}"
    raise InputError(f"{name} must be {bounds}{why}, got {value!r}")


def system_error(error: OSError) -> tuple[int | None, str]:
    """The errno of ``error`` and what it means, or None and its message: polars' and
    DuckDB's errors give neither as fields, only ``No space left on device (os error
    28)`` (trial 68b: predict's path went unsaid on a full disk).

    Examples
    --------
    >>> system_error(OSError("No space left on device (os error 28)"))
    (28, 'No space left on device')
    """
    if error.errno is not None:
        return error.errno, error.strerror or str(error)
    found = re.search(r"\s*\(os error (\d+)\)", str(error))
    if found is None:
        return None, str(error)
    return int(found.group(1)), str(error).replace(found.group(0), "")
