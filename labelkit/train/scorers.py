"""Small models that are no spaCy pipeline: how their folders are told apart and loaded.

Each kind has a loader module that imports nothing from labelkit (training copies it
into the model's folder as ``loader.py``; ``labelkit package`` makes it the package's
code), so a shipped model needs only its own libraries. A folder's kind is
``labelkit.kind`` in its ``meta.json``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class TextScorer(Protocol):
    """A small model that is no spaCy pipeline (e.g. ``minilm_loader.TextClassifier``):
    its ``labels``, and ``pipe``, one list of probabilities per text in their order."""

    labels: list[str]

    def pipe(self, texts: Iterable[str], batch_size: int = ...) -> Iterator[list[float]]: ...


@dataclass(frozen=True)
class ScorerKind:
    """What a kind of saved scorer needs: its loader module (its ``load(path)`` returns a
    ``TextScorer``), the packages a shipped copy depends on, what its package holds
    beside the loader, a short name for evaluation rows, a description for its
    package, and how many words its speed is timed on (a slow one is timed on fewer)."""

    loader: str
    dependencies: tuple[str, ...]
    package_data: tuple[str, ...]
    short_name: str
    description: str
    timed_words: int | None = None


KINDS = {
    "minilm_classifier": ScorerKind(
        loader="labelkit.train.minilm_loader",
        # Lower bounds the loader's calls need (trial 49c: unbounded, any version went).
        dependencies=("torch>=2.0", "transformers>=4.30", "safetensors>=0.3"),
        package_data=("model/*", "model/encoder/*"),
        short_name="minilm",
        description="A text classifier (MiniLM fine-tuned) distilled with labelkit.",
        # Hundreds of words per second on one core (190-240 on YouTube's test comments)
        # against a bag of words' 100k+: a thousand words a pass keeps timing to seconds.
        timed_words=1_000,
    ),
    "char_ngram_classifier": ScorerKind(
        loader="labelkit.train.char_ngram_loader",
        dependencies=("numpy>=1.23", "scikit-learn>=1.2"),
        package_data=("model/*",),
        short_name="n-grams",
        description="A text classifier (character n-grams) distilled with labelkit.",
    ),
}


def scorer_kind(folder: str | Path) -> ScorerKind | None:
    """The kind of scorer saved in ``folder``, or None (a spaCy pipeline, or nothing).

    Examples
    --------
    >>> scorer_kind("models/spam/spacy_textcat_bow/model-best") is None
    True
    """
    meta = Path(folder) / "meta.json"
    if not meta.is_file():
        return None
    return KINDS.get(json.loads(meta.read_text(encoding="utf-8")).get("labelkit", {}).get("kind"))


def scorer_folder(model: str | Path) -> Path | None:
    """The folder of the scorer that ``model`` names (a model folder, or an installed
    package made by ``package_model``), else None.

    Examples
    --------
    >>> scorer_folder("models/spam/tfidf_char_logreg/model-best")
    PosixPath('models/spam/tfidf_char_logreg/model-best')
    """
    path = Path(model)
    if path.is_dir():
        return path if scorer_kind(path) else None
    if not str(model).isidentifier():
        return None
    spec = importlib.util.find_spec(str(model))
    if spec is None or spec.origin is None:
        return None
    packaged = Path(spec.origin).parent / "model"
    return packaged if scorer_kind(packaged) else None


def load_scorer(folder: Path) -> TextScorer:
    """The scorer saved in ``folder`` (see ``scorer_folder``), by its kind's loader.

    Examples
    --------
    >>> load_scorer(Path("models/spam/tfidf_char_logreg/model-best")).labels
    ['ham', 'spam']
    """
    kind = scorer_kind(folder)
    if kind is None:
        raise ValueError(f"{folder} holds no scorer labelkit knows (meta.json labelkit.kind)")
    return importlib.import_module(kind.loader).load(folder)
