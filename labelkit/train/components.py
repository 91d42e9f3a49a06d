"""A textcat that learns from the label model's soft labels or confidence weights.

spaCy's own ``textcat`` accepts only 0/1 targets and has no per-example weight. This
subclass allows probability targets and scales each example's gradient by the weight
stored in ``doc.user_data["labelkit_weight"]``. It exists only while training: the
trained weights are those of a plain ``textcat``, and ``plain_textcat`` rewrites the
saved pipeline's factory so that the shipped model loads with spaCy alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.training import Example
from thinc.api import Config, Model

FACTORY = "labelkit_textcat"
WEIGHT_KEY = "labelkit_weight"


class WeightedTextCategorizer(TextCategorizer):
    """``textcat`` with probability targets and per-example weights."""

    def _validate_categories(self, examples: Iterable[Example]) -> None:
        for example in examples:
            values = list(example.reference.cats.values())
            if any(not 0.0 <= value <= 1.0 for value in values):
                raise ValueError(f"textcat targets must lie in [0, 1], got {values}")
            if values and abs(sum(values) - 1.0) > 1e-3:
                raise ValueError(f"exclusive textcat targets must sum to 1, got {values}")

    def get_loss(self, examples: Iterable[Example], scores: np.ndarray) -> tuple[float, np.ndarray]:
        examples = list(examples)
        _, d_scores = super().get_loss(examples, scores)
        weights = np.array(
            [example.reference.user_data.get(WEIGHT_KEY, 1.0) for example in examples], "f"
        )
        d_scores = d_scores * self.model.ops.asarray(weights)[:, None]
        return float((d_scores**2).mean()), d_scores


@Language.factory(
    FACTORY,
    default_config={"threshold": 0.0, "scorer": {"@scorers": "spacy.textcat_scorer.v2"}},
)
def make_weighted_textcat(
    nlp: Language, name: str, model: Model, threshold: float, scorer: object
) -> WeightedTextCategorizer:
    return WeightedTextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer)


def plain_textcat(model_dir: Path) -> None:
    """Make a pipeline trained with ``labelkit_textcat`` load as spaCy's ``textcat``."""
    path = model_dir / "config.cfg"
    config = Config().from_disk(path, interpolate=False)
    for component in config["components"].values():
        if component.get("factory") == FACTORY:
            component["factory"] = "textcat"
    config.to_disk(path)
