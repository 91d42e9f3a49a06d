"""Registries for the swappable parts, in spaCy's manner: a name in a config picks the part.

Code registers a part with ``label_models.register("name")`` (as the shipped ones
are); an installed package adds its own through the entry-point groups
``labelkit_label_models``, ``labelkit_flaggers`` and ``labelkit_small_models``, so that
the CLI's ``--model NAME`` finds them too.

Examples
--------
>>> from labelkit.registry import label_models, resolve
>>> resolve(label_models, "majority_vote")().name
'majority_vote'
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import catalogue

from labelkit.errors import LabelkitError, did_you_mean

label_models = catalogue.create("labelkit", "label_models", entry_points=True)
"""Label models: factories ``(**params) -> LabelModel``."""

flaggers = catalogue.create("labelkit", "flaggers", entry_points=True)
"""Out-of-sample classifiers for confident learning: ``(**params) -> sklearn estimator``."""

small_models = catalogue.create("labelkit", "small_models", entry_points=True)
"""Small models to distil into: ``(**params) -> spaCy training config``."""


def resolve(registry: catalogue.Registry, name: str) -> Callable[..., Any]:
    """The part registered as ``name``, or an error that lists the registered names."""
    try:
        return registry.get(name)
    except catalogue.RegistryError:
        known = sorted(registry.get_all())
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


def configure(registry: catalogue.Registry, name: str, **params: Any) -> Any:
    """The part registered as ``name`` made with ``params``, or an error that names a
    parameter it does not take and lists those it does.

    Examples
    --------
    >>> configure(small_models, "spacy_textcat_bow", max_epoch=5)
    Traceback (most recent call last):
    LabelkitError: small model 'spacy_textcat_bow' takes no parameter 'max_epoch'; ...
    """
    check_names(registry, name, params)
    check_values(registry, name, params)
    return resolve(registry, name)(**params)


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


span_label_models = catalogue.create("labelkit", "span_label_models")
"""Span label models: factories ``(labels, **params) -> SpanLabelModel``."""

executors = catalogue.create("labelkit", "executors")
"""Where the heavy stages run: factories ``(**params) -> Executor`` (``labelkit.executors``)."""
