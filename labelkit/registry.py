"""Registries for the swappable parts, in spaCy's manner: a name in a config picks the part.

Code registers a part with ``label_models.register("name")`` (as the shipped ones
are); an installed package adds its own through the entry-point groups
``labelkit_label_models``, ``labelkit_flaggers``, ``labelkit_small_models``,
``labelkit_span_label_models`` and ``labelkit_executors``, so that the CLI's
``--model NAME`` (``--flagger``, ``--executor``) finds them too.

A package cannot replace a part labelkit ships, or one code registered: the name
stays theirs, and a warning names the package. Code that registers a shipped part's
name replaces it, with a warning. Two packages registering one name are refused when
it is asked for, naming both; a package whose part does not load is named, and leaves
every other name working.

Examples
--------
>>> from labelkit.registry import label_models, resolve
>>> resolve(label_models, "majority_vote")().name
'majority_vote'
"""

from __future__ import annotations

import contextlib
import inspect
import traceback
import typing
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import catalogue
import numpy as np

from labelkit.errors import LabelkitError, LabelkitWarning, did_you_mean

# The packages' parts said to be ignored, once each (the second read: thrice a call).
_IGNORED_SAID: set[tuple[str, ...]] = set()


class PartRegistry(catalogue.Registry):
    """catalogue's registry, with what code registered (labelkit's own parts first)
    ahead of an installed package's entry points: catalogue looks entry points up
    first, so any installed package could replace a shipped default without a word
    (trial 62b: a package's ``majority_vote`` and ``tfidf_logreg`` ran in their place).

    Examples
    --------
    >>> registry = PartRegistry(("labelkit", "widgets"), entry_points=True)
    >>> registry.register("plain", func=dict) and registry.get("plain")
    <class 'dict'>
    """

    def register(
        self, name: str, *, func: Any | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def registered(made: Callable[..., Any], level: int = 2) -> Callable[..., Any]:
            before = self._in_code(name)
            if before is not None and shipped(before) and not shipped(made):
                what = getattr(made, "__qualname__", None) or repr(made)
                warnings.warn(
                    f"{getattr(made, '__module__', '')}.{what} replaces labelkit's "
                    f"{_kind(self)} {name!r}: every use of that name (a default included) "
                    "is now yours; register it under a name of its own to keep both",
                    LabelkitWarning,
                    stacklevel=level,
                )
            catalogue._set([*self.namespace, name], made)
            return made

        if func is None:
            return registered
        return registered(func, level=3)  # type: ignore[return-value]

    def get(self, name: str) -> Any:
        points = self._packaged(name)
        own = self._in_code(name)
        if own is not None:
            for point in points:
                if (said := (*self.namespace, name, point.value)) in _IGNORED_SAID:
                    continue
                _IGNORED_SAID.add(said)
                warnings.warn(
                    f"package {_package(point)} registers {_kind(self)} {name!r}, which "
                    f"{'labelkit ships' if shipped(own) else 'code registered'}: that one is "
                    "used; the package's needs a name of its own",
                    LabelkitWarning,
                    stacklevel=3,
                )
            return own
        if len(points) > 1:
            raise LabelkitError(
                f"{_kind(self)} {name!r} is registered by packages "
                f"{' and '.join(sorted(map(_package, points)))}: uninstall one of them"
            )
        if not points:
            raise catalogue.RegistryError(f"no {_kind(self)} {name!r}")
        return _loaded(points[0], self)

    def get_all(self) -> dict[str, Any]:
        """Every part by name: the packages' that load (a warning names one that does
        not), then code's, which win a shared name."""
        parts: dict[str, Any] = {}
        for point in self._get_entry_points() if self.entry_points else ():
            try:
                parts[point.name] = _loaded(point, self)
            except LabelkitError as error:
                warnings.warn(str(error), LabelkitWarning, stacklevel=2)
        return parts | self._coded()

    def names(self) -> list[str]:
        """Every registered name, sorted, without loading a package's parts (one that
        does not load would end the listing: trial 62b)."""
        packaged = (
            {point.name for point in self._get_entry_points()} if self.entry_points else set()
        )
        return sorted(set(self._coded()) | packaged)

    def providers(self) -> list[tuple[str, str]]:
        """Each name with what provides it: ``labelkit``, the module code registered it
        in, or a package (an ignored one and two that clash said so), without loading a
        package's part.

        Examples
        --------
        >>> label_models.providers()[:2]
        [('auto', 'labelkit'), ('dawid_skene', 'labelkit')]
        """
        points: dict[str, list[EntryPoint]] = {}
        for point in self._get_entry_points() if self.entry_points else ():
            points.setdefault(point.name, []).append(point)
        shown = []
        for name in self.names():
            own, packaged = self._in_code(name), points.get(name, [])
            if own is not None:
                by = "labelkit" if shipped(own) else f"code ({own.__module__})"
                ignored = ", ".join(map(_package, packaged))
                shown.append((name, by + (f"; {ignored} ignored" if ignored else "")))
            else:
                by = " and ".join(sorted(map(_package, packaged)))
                shown.append((name, by + (" (a clash: refused)" if len(packaged) > 1 else "")))
        return shown

    def _coded(self) -> dict[str, Any]:
        """The parts code registered (labelkit's among them), by name."""
        depth = len(self.namespace) + 1
        return {
            key[-1]: made
            for key, made in catalogue.REGISTRY.copy().items()
            if len(key) == depth and tuple(key[:-1]) == tuple(self.namespace)
        }

    def _in_code(self, name: str) -> Any | None:
        return catalogue.REGISTRY.get((*self.namespace, name))

    def _packaged(self, name: str) -> list[EntryPoint]:
        if not self.entry_points:
            return []
        return [point for point in self._get_entry_points() if point.name == name]


def part_packages() -> dict[str, str]:
    """The installed packages that register parts, with their versions: a step's run
    logs them (trial 62b: a package's part, or its upgrade, left no trace).

    Examples
    --------
    >>> part_packages()
    {'itplug': '0.1'}
    """
    found = {}
    for registry in _REGISTRIES:
        for point in registry._get_entry_points():
            dist = getattr(point, "dist", None)
            if dist is not None:
                found[dist.name] = dist.version
    return dict(sorted(found.items()))


def shipped(part: Any) -> bool:
    """Whether ``part`` (a class, a function or an instance) is labelkit's own."""
    module = getattr(part, "__module__", None) or type(part).__module__
    return module.split(".")[0] == "labelkit"


def part_failed(part: str, error: BaseException, maker: Any = None) -> LabelkitError:
    """An error naming the ``part`` (``"label model 'mine'"``) that raised ``error``, the
    line it raised at and what it said (trial 62b: a 70-line traceback through labelkit
    and cleanlab that never named the package's part).

    Examples
    --------
    >>> try:
    ...     model.fit(codes, 3)
    ... except Exception as error:
    ...     raise part_failed("label model 'mine'", error) from error
    """
    frames = traceback.extract_tb(error.__traceback__)
    # The part's own line where it has one: in its package's folder (``maker``: the
    # part or its factory), else not labelkit's nor another library's.
    module = inspect.getmodule(maker) if maker is not None else None
    home = Path(module.__file__).parent if module and getattr(module, "__file__", None) else None
    own = [frame for frame in frames if home and home in Path(frame.filename).parents]
    own = own or [frame for frame in frames if not _library(frame.filename)] or frames
    where = f" at {Path(own[-1].filename).name}:{own[-1].lineno}" if own else ""
    return LabelkitError(f"{part} failed{where}: {type(error).__name__}: {error}")


def _library(filename: str) -> bool:
    path = Path(filename)
    return Path(__file__).parent in path.parents or any(
        folder in path.parts for folder in ("site-packages", "dist-packages")
    )


@contextlib.contextmanager
def errors_named(part: str, maker: Any) -> Iterator[None]:
    """Within the block, an error raised by a part not labelkit's (``maker``: the part,
    or the factory that made it) becomes ``part_failed``'s one error naming it.

    Examples
    --------
    >>> with errors_named("flagger 'mine'", factory):
    ...     estimator.fit(texts, codes)
    """
    try:
        yield
    except LabelkitError:
        raise
    except Exception as error:
        if shipped(maker):
            raise
        raise part_failed(part, error, maker) from error


def checked_probabilities(
    proba: Any, rows: int, columns: int, part: str, first_row: int = 0
) -> np.ndarray:
    """``proba`` as the array it is, refused unless it has ``rows`` rows of ``columns``
    probabilities, each finite, from 0 to 1 and summing to one (within 0.001): a part's
    NaN rows were stored and labeled, and rows summing to 3 gave confidences of 1.49
    (trial 62b); ``part`` names it in the error, and ``first_row`` is the number of the
    first row (of a chunk) there.

    Examples
    --------
    >>> checked_probabilities(np.array([[0.2, 0.8]]), 1, 2, "label model 'mine'")
    array([[0.2, 0.8]])
    >>> checked_probabilities(np.array([[0.6, 0.8]]), 1, 2, "label model 'mine'")
    Traceback (most recent call last):
    LabelkitError: label model 'mine' gave probabilities that do not sum to 1 on 1 of the 1 rows ...
    """
    proba = np.asarray(proba)
    if proba.shape != (rows, columns) or not np.issubdtype(proba.dtype, np.number):
        raise LabelkitError(
            f"{part} gave probabilities of shape {proba.shape} ({proba.dtype}): it was asked "
            f"for {rows:,} rows of {columns} (one per row, a column per label in the task's "
            "order)"
        )
    problems = (
        ("NaN or infinite probabilities", ~np.isfinite(proba).all(axis=1)),
        ("probabilities below 0 or above 1", ((proba < -1e-9) | (proba > 1 + 1e-9)).any(axis=1)),
        ("probabilities that do not sum to 1", ~np.isclose(proba.sum(axis=1), 1.0, atol=1e-3)),
    )
    for what, bad in problems:
        if bad.any():
            first = int(np.argmax(bad))
            raise LabelkitError(
                f"{part} gave {what} on {int(bad.sum()):,} of the {rows:,} rows it was given "
                f"(the first, row {first_row + first:,}: {np.round(proba[first], 4).tolist()})"
            )
    return proba


def _package(point: EntryPoint) -> str:
    """The distribution an entry point comes from, with its version."""
    dist = getattr(point, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else point.value.split(":")[0]


def _loaded(point: EntryPoint, registry: catalogue.Registry) -> Any:
    try:
        return point.load()
    except Exception as error:  # any error of a package's import is that package's
        raise LabelkitError(
            f"{_kind(registry)} {point.name!r} of package {_package(point)} does not load "
            f"({point.value}): {type(error).__name__}: {error}"
        ) from error


def every_registry() -> dict[str, PartRegistry]:
    """Every registry by name, its shipped parts registered.

    Examples
    --------
    >>> list(every_registry())
    ['label_models', 'flaggers', 'small_models', 'span_label_models', 'executors']
    """
    import labelkit.aggregate.spans
    import labelkit.executors
    import labelkit.flag_classifiers
    import labelkit.train  # noqa: F401 (each registers its parts)

    return {registry.namespace[-1]: registry for registry in _REGISTRIES}


def _create(name: str) -> PartRegistry:
    """The registry ``name``, whose packages' entry-point group is ``labelkit_<name>``."""
    return PartRegistry(("labelkit", name), entry_points=True)


label_models = _create("label_models")
"""Label models: factories ``(**params) -> LabelModel``."""

flaggers = _create("flaggers")
"""Out-of-sample classifiers for confident learning: ``(**params) -> sklearn estimator``."""

small_models = _create("small_models")
"""Small models to distil into: ``(**params) -> spaCy training config``."""


def resolve(registry: catalogue.Registry, name: str) -> Callable[..., Any]:
    """The part registered as ``name``, or an error that lists the registered names."""
    try:
        return registry.get(name)
    except catalogue.RegistryError:
        known = (
            registry.names() if isinstance(registry, PartRegistry) else sorted(registry.get_all())
        )
        raise LabelkitError(
            f"unknown {_kind(registry)} {name!r}; registered: {known}" + did_you_mean(name, known)
        ) from None


def parameters(registry: catalogue.Registry, name: str) -> list[str] | None:
    """The parameters the part registered as ``name`` takes, or None where it takes any
    (it passes ``**params`` on, as the attribute layouts do).

    Examples
    --------
    >>> "max_epochs" in parameters(small_models, "spacy_textcat_bow")
    True
    """
    signature = inspect.signature(resolve(registry, name))
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return list(signature.parameters)


# What labelkit itself passes a part, and why: a part of one's own must take these.
PASSED = {
    "exclusive": "True where a text has one label, False where it has several",
    "seed": "the run's seed",
    "class_balance": "on a task with attributes, the share of texts each attribute is "
    "present in, for its presence part",
}


# What labelkit passes that a user's settings cannot give (train's --seed gives a seed).
_NOT_SETTINGS = ("exclusive", "seed")


def configure(
    registry: catalogue.Registry,
    name: str,
    passed: Mapping[str, Any] | None = None,
    **params: Any,
) -> Any:
    """The part registered as ``name`` made with ``params`` (the user's settings) and
    ``passed`` (what labelkit passes, ``PASSED``), or an error that names a parameter it
    does not take and lists those it does, or a ``passed`` one it must take (trial 62b:
    "takes no parameter 'exclusive'" blamed the user for what labelkit passed).

    Examples
    --------
    >>> configure(small_models, "spacy_textcat_bow", max_epoch=5)
    Traceback (most recent call last):
    LabelkitError: small model 'spacy_textcat_bow' takes no parameter 'max_epoch'; ...
    """
    passed = dict(passed or {})
    # A seed or a task's exclusiveness given as a setting would be overridden unsaid;
    # a class balance given is the value parts', and labelkit's the presence part's.
    if given := [key for key in passed if key in params and key in _NOT_SETTINGS]:
        raise LabelkitError(
            f"{_kind(registry)} {name!r}: {given[0]} is set by labelkit "
            f"({PASSED.get(given[0], 'a setting of the run')}), not by --param: give it as "
            "the command's own option where it has one"
        )
    check_names(registry, name, params)
    known = parameters(registry, name)
    missing = [key for key in passed if known is not None and key not in known]
    if missing:
        raise LabelkitError(
            f"{_kind(registry)} {name!r} must take {' and '.join(map(repr, missing))}, which "
            "labelkit passes it: "
            + "; ".join(f"{key}, {PASSED.get(key, 'a setting of the run')}" for key in missing)
            + " (help(labelkit.registry))"
        )
    check_values(registry, name, params)
    return resolve(registry, name)(**(params | passed))


def check_names(
    registry: catalogue.Registry, name: str, params: Mapping[str, Any], also: Sequence[str] = ()
) -> None:
    """Refuse a parameter the part registered as ``name`` does not take, naming those it
    does; ``also`` are the parameters its caller takes beside them, listed with them.

    Examples
    --------
    >>> check_names(small_models, "spacy_ner", {"rule": True}, also=("rules",))
    Traceback (most recent call last):
    LabelkitError: small model 'spacy_ner' takes no parameter 'rule'; ... (did you mean 'rules'?)
    """
    known = parameters(registry, name)
    if known is None:
        return
    unknown = [p for p in params if p not in known and p not in also]
    if unknown:
        # A small model's task kind, language and seed are set by train, not by the user.
        hidden = ("exclusive", "lang", "seed") if registry is small_models else ()
        takes = [p for p in known if p not in hidden] + list(also)
        raise LabelkitError(
            f"{_kind(registry)} {name!r} takes no parameter {unknown[0]!r}; it takes {takes}"
            + did_you_mean(unknown[0], takes)
        )


def check_values(registry: catalogue.Registry, name: str, params: dict[str, Any]) -> None:
    """Refuse text given to a parameter whose default is a number, a flag or a list of
    numbers (``--param max_iter=abc``, read as text, not JSON, ended in a TypeError deep
    in the fit), and a negative number given to one whose default is not negative.

    Examples
    --------
    >>> check_values(label_models, "auto", {"max_iter": "abc"})
    Traceback (most recent call last):
    LabelkitError: label model 'auto': max_iter takes what its default does (100), not 'abc'
    """
    factory = resolve(registry, name)
    signature = inspect.signature(factory)
    hints = _parameter_hints(factory)
    for key, value in params.items():
        parameter = signature.parameters.get(key)
        default = None if parameter is None else parameter.default
        numbers = default if isinstance(default, tuple | list) else [default]
        numeric = bool(numbers) and all(isinstance(n, bool | int | float) for n in numbers)
        if numeric and isinstance(value, str):
            raise LabelkitError(
                f"{_kind(registry)} {name!r}: {key} takes what its default does "
                f"({default!r}), not {value!r}"
            )
        # No registered number may be negative (rates, counts, seeds, strengths): -1
        # iterations or a learning rate of -1 ended in numpy's or torch's own error.
        given = value if isinstance(value, tuple | list) else [value]
        if numeric and any(_negative(v) for v in given) and not any(_negative(n) for n in numbers):
            raise LabelkitError(
                f"{_kind(registry)} {name!r}: {key} takes a number from 0, not {value!r}"
            )
        # A default of None says nothing; the hint does (ray's ``workers: int | None``).
        kinds = set(typing.get_args(hints.get(key))) - {type(None)}
        if kinds and kinds <= {bool, int, float} and isinstance(value, str):
            named = " or ".join(sorted(kind.__name__ for kind in kinds))
            raise LabelkitError(f"{_kind(registry)} {name!r}: {key} takes {named}, not {value!r}")


def _parameter_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """The type hints of ``factory``'s parameters (a class's, of its ``__init__``), or
    none where they cannot be read."""
    try:
        return typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except (NameError, TypeError):
        return {}


def _negative(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value < 0


def _kind(registry: catalogue.Registry) -> str:
    """What the registry holds, in words: ``label_models`` -> ``label model``."""
    return registry.namespace[-1].replace("_", " ").rstrip("s")


span_label_models = _create("span_label_models")
"""Span label models: factories ``(labels, **params) -> SpanLabelModel``."""

executors = _create("executors")
"""Where the heavy stages run: factories ``(**params) -> Executor`` (``labelkit.executors``)."""

_REGISTRIES = (label_models, flaggers, small_models, span_label_models, executors)
