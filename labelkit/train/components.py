"""Text classifiers that learn from the label model's soft labels or confidence weights.

spaCy's own ``textcat`` and ``textcat_multilabel`` accept only 0/1 targets and have
no per-example weight. These subclasses allow probability targets and scale each
example's gradient by the weight stored in ``doc.user_data["labelkit_weight"]``: a
number for the whole example, or a mapping of label to weight (an attribute task's
outputs each carry the confidence of their attribute). They check only their own
labels' targets, so that several classifiers can learn from one set of ``doc.cats``.
The exclusive one can also weigh its classes (``class_weight = "balanced"``): each
example's gradient scaled by ``n / (k * n_class)`` of its class, so that a class that
nine texts in ten have (an attribute's ``none``) does not drown the others. Without
it, a bag of words on such data predicts the frequent class for every text, which
is right nine times in ten and useless for a macro-F1 over the classes.
They exist only while training: the trained weights are those of a plain classifier,
and ``plain_textcat`` rewrites the saved pipeline's factories so that the shipped
model loads with spaCy alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.pipeline.textcat_multilabel import MultiLabel_TextCategorizer
from spacy.training import Example
from thinc.api import Config, Model

FACTORY = "labelkit_textcat"
MULTILABEL_FACTORY = "labelkit_textcat_multilabel"
# What each training factory is saved as.
PLAIN = {FACTORY: "textcat", MULTILABEL_FACTORY: "textcat_multilabel"}
WEIGHT_KEY = "labelkit_weight"
CLASS_WEIGHTS = (None, "balanced")


class _Weighted(TextCategorizer):
    exclusive = True
    # One weight per label, in the order of ``self.labels``; set by ``initialize``.
    class_weights: np.ndarray | None = None

    def _validate_categories(self, examples: Iterable[Example]) -> None:
        for example in examples:
            cats = example.reference.cats
            values = [cats[label] for label in self.labels if label in cats]
            if any(not 0.0 <= value <= 1.0 for value in values):
                raise ValueError(f"textcat targets must lie in [0, 1], got {values}")
            if self.exclusive and values and abs(sum(values) - 1.0) > 1e-3:
                raise ValueError(f"exclusive textcat targets must sum to 1, got {values}")

    def get_loss(self, examples: Iterable[Example], scores: np.ndarray) -> tuple[float, np.ndarray]:
        examples = list(examples)
        _, d_scores = super().get_loss(examples, scores)
        weights = np.array(
            [[_weight(example, label) for label in self.labels] for example in examples], "f"
        )
        if self.class_weights is not None:
            # A soft target weighs as the mix of its classes.
            weights *= (_targets(examples, self.labels) @ self.class_weights)[:, None]
        d_scores = d_scores * self.model.ops.asarray(weights)
        return float((d_scores**2).mean()), d_scores


def _targets(examples: Iterable[Example], labels: Iterable[str]) -> np.ndarray:
    labels = list(labels)
    return np.array(
        [[ex.reference.cats.get(label, 0.0) for label in labels] for ex in examples], "f"
    )


def balanced_weights(totals: np.ndarray) -> np.ndarray:
    """Each class's weight ``n / (k * n_class)`` from its (soft) count of training
    examples: the examples' weights still sum to ``n``, and each class present weighs
    the same in all. A class no example has gets weight 0 (no gradient carries it).

    Examples
    --------
    >>> balanced_weights(np.array([90.0, 10.0, 0.0])).round(3).tolist()
    [0.556, 5.0, 0.0]
    """
    present = totals > 0
    weights = np.zeros(totals.shape)
    weights[present] = totals.sum() / (present.sum() * totals[present])
    return weights


def _weight(example: Example, label: str) -> float:
    weight = example.reference.user_data.get(WEIGHT_KEY, 1.0)
    return float(weight.get(label, 1.0) if isinstance(weight, dict) else weight)


class WeightedTextCategorizer(_Weighted):
    """``textcat`` with probability targets, per-example weights and, with
    ``class_weight="balanced"``, classes weighed by their rarity."""

    def __init__(self, *args: Any, class_weight: str | None = None, **kwargs: Any) -> None:
        if class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"class_weight must be one of {CLASS_WEIGHTS}, got {class_weight!r}")
        super().__init__(*args, **kwargs)
        self.class_weight = class_weight

    def initialize(self, get_examples: Callable[[], Iterable[Example]], **kwargs: Any) -> None:
        super().initialize(get_examples, **kwargs)
        if self.class_weight == "balanced":
            totals = _targets(get_examples(), self.labels).sum(axis=0)
            self.class_weights = balanced_weights(totals)


class WeightedMultilabelTextCategorizer(_Weighted, MultiLabel_TextCategorizer):
    """``textcat_multilabel`` with probability targets and per-example or per-label
    weights; a label missing from ``doc.cats`` is unknown, as in spaCy's own."""

    exclusive = False


@Language.factory(
    FACTORY,
    default_config={
        "threshold": 0.0,
        "scorer": {"@scorers": "spacy.textcat_scorer.v2"},
        "class_weight": None,
    },
)
def make_weighted_textcat(
    nlp: Language,
    name: str,
    model: Model,
    threshold: float,
    scorer: object,
    class_weight: str | None,
) -> WeightedTextCategorizer:
    return WeightedTextCategorizer(
        nlp.vocab, model, name, threshold=threshold, scorer=scorer, class_weight=class_weight
    )


@Language.factory(
    MULTILABEL_FACTORY,
    default_config={
        "threshold": 0.5,
        "scorer": {"@scorers": "spacy.textcat_multilabel_scorer.v2"},
    },
)
def make_weighted_multilabel_textcat(
    nlp: Language, name: str, model: Model, threshold: float, scorer: object
) -> WeightedMultilabelTextCategorizer:
    return WeightedMultilabelTextCategorizer(
        nlp.vocab, model, name, threshold=threshold, scorer=scorer
    )


def plain_textcat(model_dir: Path) -> None:
    """Make a pipeline trained with a labelkit factory load with spaCy's own."""
    path = model_dir / "config.cfg"
    config = Config().from_disk(path, interpolate=False)
    for component in config["components"].values():
        if component.get("factory") in PLAIN:
            component["factory"] = PLAIN[component["factory"]]
            # A setting of training only, that spaCy's own factory does not take.
            component.pop("class_weight", None)
    config.to_disk(path)
