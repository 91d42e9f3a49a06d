"""Labeling functions: declarative ones that compile to polars expressions, and plain Python.

A declarative LF votes its one ``label`` where its condition holds and abstains
elsewhere; all of them run column-wise in one polars pass. A Python LF is called per
row with the example and returns a label name or None (abstain).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import polars as pl

from labelkit.errors import InputError


@dataclass(frozen=True)
class Example:
    """What a Python labeling function receives: ``x.text``, ``x.id`` and ``x.meta``."""

    id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


class LabelingFunction:
    """Base of every labeling function: a ``name`` and a ``definition`` that identifies it."""

    name: str

    @property
    def definition(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class DeclarativeLF(LabelingFunction):
    """An LF that votes ``label`` wherever ``condition`` (a polars boolean expression) holds."""

    name: str
    label: str
    kind: str
    params: tuple[tuple[str, Any], ...]
    condition: pl.Expr = field(compare=False, repr=False)

    @property
    def definition(self) -> str:
        return json.dumps({"kind": self.kind, "label": self.label, **dict(self.params)})


@dataclass(frozen=True)
class PythonLF(LabelingFunction):
    """An LF written as a Python function of an ``Example``, run per row."""

    name: str
    func: Callable[[Example], str | None] = field(repr=False)

    @property
    def definition(self) -> str:
        try:
            return inspect.getsource(self.func)
        except (OSError, TypeError):
            return f"{self.func.__module__}.{self.func.__qualname__}"

    def __call__(self, x: Example) -> str | None:
        return self.func(x)


def keyword_lf(
    name: str, keywords: Sequence[str], label: str, *, case_sensitive: bool = False
) -> DeclarativeLF:
    """Vote ``label`` when any keyword occurs as a whole word (or phrase).

    Examples
    --------
    >>> lf = keyword_lf("keyword_subscribe", ["subscribe", "sub to"], "spam")
    """
    if not keywords:
        raise InputError(f"keyword LF {name!r} has no keywords")
    words = "|".join(re.escape(word) for word in keywords)
    flags = "" if case_sensitive else "(?i)"
    pattern = rf"{flags}\b(?:{words})\b"
    return DeclarativeLF(
        name=name,
        label=label,
        kind="keywords",
        params=(("keywords", tuple(keywords)), ("case_sensitive", case_sensitive)),
        condition=pl.col("text").str.contains(pattern),
    )


def regex_lf(name: str, pattern: str, label: str, *, case_sensitive: bool = False) -> DeclarativeLF:
    """Vote ``label`` when the regular expression matches anywhere in the text.

    The pattern uses Rust regex syntax (as polars does): no look-around or backreferences.

    Examples
    --------
    >>> lf = regex_lf("regex_check_out", r"check\\s+(it\\s+)?out", "spam")
    """
    flags = "" if case_sensitive else "(?i)"
    try:
        pl.Series([""]).str.contains(flags + pattern)
    except pl.exceptions.PolarsError as error:
        raise InputError(f"regex LF {name!r}: invalid pattern {pattern!r}: {error}") from None
    return DeclarativeLF(
        name=name,
        label=label,
        kind="regex",
        params=(("pattern", pattern), ("case_sensitive", case_sensitive)),
        condition=pl.col("text").str.contains(flags + pattern),
    )


@overload
def labeling_function(func: Callable[[Example], str | None], /) -> PythonLF: ...
@overload
def labeling_function(
    *, name: str | None = None
) -> Callable[[Callable[[Example], str | None]], PythonLF]: ...


def labeling_function(
    func: Callable[[Example], str | None] | None = None, /, *, name: str | None = None
) -> PythonLF | Callable[[Callable[[Example], str | None]], PythonLF]:
    """Turn a function of an ``Example`` that returns a label or None into an LF.

    Examples
    --------
    >>> @labeling_function
    ... def short_comment(x):
    ...     return "ham" if len(x.text.split()) < 5 else None
    """

    def wrap(f: Callable[[Example], str | None]) -> PythonLF:
        return PythonLF(name=name or f.__name__, func=f)

    return wrap(func) if func is not None else wrap


def load_lfs(spec: str) -> list[LabelingFunction]:
    """The module-level labeling functions of a module (``pkg.mod``) or file (``lfs.py``),
    in the order they are defined.

    Examples
    --------
    >>> [lf.name for lf in load_lfs("labeling_functions.youtube")][:2]
    ['keyword_my', 'keyword_subscribe']
    """
    if spec.endswith(".py") or Path(spec).is_file():
        path = Path(spec)
        if not path.is_file():
            raise InputError(f"{path}: no such labeling-function file")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        if module_spec is None or module_spec.loader is None:
            raise InputError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(spec)
        except ImportError as error:
            raise InputError(f"cannot import labeling functions from {spec!r}: {error}") from None
    lfs = [value for value in vars(module).values() if isinstance(value, LabelingFunction)]
    if not lfs:
        raise InputError(f"{spec!r} defines no labeling functions at module level")
    return lfs
