"""Text classifiers that learn from the label model's soft labels or confidence weights.

spaCy's own ``textcat`` and ``textcat_multilabel`` accept only 0/1 targets and have
no per-example weight. These subclasses allow probability targets and scale each
example's gradient by the weight stored in ``doc.user_data["labelkit_weight"]``: a
number for the whole example, or a mapping of label to weight (an attribute task's
outputs each carry the confidence of their attribute). They check only their own
labels' targets, so that several classifiers can learn from one set of ``doc.cats``.
They exist only while training: the trained weights are those of a plain classifier,
and ``plain_textcat`` rewrites the saved pipeline's factories so that the shipped
model loads with spaCy alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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


class _Weighted(TextCategorizer):
    exclusive = True

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
        d_scores = d_scores * self.model.ops.asarray(weights)
        return float((d_scores**2).mean()), d_scores


def _weight(example: Example, label: str) -> float:
    weight = example.reference.user_data.get(WEIGHT_KEY, 1.0)
    return float(weight.get(label, 1.0) if isinstance(weight, dict) else weight)


class WeightedTextCategorizer(_Weighted):
    """``textcat`` with probability targets and per-example weights."""


class WeightedMultilabelTextCategorizer(_Weighted, MultiLabel_TextCategorizer):
    """``textcat_multilabel`` with probability targets and per-example or per-label
    weights; a label missing from ``doc.cats`` is unknown, as in spaCy's own."""

    exclusive = False


@Language.factory(
    FACTORY,
    default_config={"threshold": 0.0, "scorer": {"@scorers": "spacy.textcat_scorer.v2"}},
)
def make_weighted_textcat(
    nlp: Language, name: str, model: Model, threshold: float, scorer: object
) -> WeightedTextCategorizer:
    return WeightedTextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer)


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
    config.to_disk(path)
