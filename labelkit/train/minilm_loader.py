"""Load and run a MiniLM text classifier fine-tuned by labelkit, with torch and
transformers alone.

This file imports nothing from labelkit: training copies it into the model's folder
(``loader.py``) and ``labelkit package`` makes it the package's code, so that a
shipped model needs only ``pip install torch transformers``. The folder holds
``encoder/`` (the fine-tuned MiniLM and its tokenizer, as transformers saves them),
``head.safetensors`` (the linear layer over the mean of the token vectors) and
``meta.json`` (the labels and the longest input, in tokens).

Examples
--------
>>> model = load("models/spam/minilm_finetune/model-best")
>>> model.labels
['ham', 'spam']
>>> model(["subscribe to my channel"])
[{'ham': 0.02, 'spam': 0.98}]
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

KIND = "minilm_classifier"


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its progress bars and load reports (the sentence-transformers
    checkpoint has a buffer BertModel does not keep, which it reports), as before after.

    Examples
    --------
    >>> with quiet_transformers():
    ...     encoder = AutoModel.from_pretrained(path)
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class MiniLMClassifier(torch.nn.Module):
    """A transformer encoder, its token vectors mean-pooled, and a linear layer.

    Examples
    --------
    >>> MiniLMClassifier(AutoModel.from_pretrained(path), n_labels=2)
    """

    def __init__(self, encoder: torch.nn.Module, n_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        # all-MiniLM-L6-v2 was trained with mean pooling: its [CLS] vector means little.
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(pooled)


class TextClassifier:
    """A saved classifier, ready to score texts: ``labels``, ``pipe`` (one list of
    probabilities per text, in ``labels``' order) and a call that gives dicts.

    Examples
    --------
    >>> TextClassifier("models/spam/model-best").pipe(["lovely song"]).__next__()
    [0.97, 0.03]
    """

    # torch's threads already use every core: labelkit's predict forks no workers for it.
    uses_every_core = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        meta = json.loads((self.path / "meta.json").read_text(encoding="utf-8"))
        settings = meta["labelkit"]
        if settings.get("kind") != KIND:
            raise ValueError(f"{self.path} holds no MiniLM classifier (meta.json labelkit.kind)")
        self.meta = meta
        self.labels: list[str] = list(settings["labels"])
        self.max_length: int = int(settings["max_length"])
        encoder_dir = self.path / "encoder"
        with quiet_transformers():
            self.tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
            self.model = MiniLMClassifier(AutoModel.from_pretrained(encoder_dir), len(self.labels))
        self.model.head.load_state_dict(load_file(self.path / "head.safetensors"))
        self.model.eval()

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> Iterator[list[float]]:
        """Probabilities for each text, in order; texts longer than ``max_length``
        tokens are cut there."""
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == batch_size:
                yield from self._scores(batch)
                batch = []
        if batch:
            yield from self._scores(batch)

    def __call__(self, texts: Iterable[str | None]) -> list[dict[str, float] | None]:
        """A dict of probabilities per text; None for a text with no words (or None, NaN), to
        which ``labelkit predict`` gives null predictions too (trial 48b: a packaged
        model answered its prior for ""). One string is refused: it would be read as
        texts of one character each (trial 49c). ``char_ngram_loader`` has the same: each loader
        is copied alone into its model, to load without labelkit."""
        if isinstance(texts, str):
            raise TypeError(f"give a list of texts, not one text: model([{texts[:20]!r}])")
        # NaN is pandas' missing text, and no text; another non-string is refused by its
        # place (trial 53b: "normalize() argument 2 must be str, not float").
        given = [None if text != text else text for text in texts]
        for at, text in enumerate(given):
            if text is not None and not isinstance(text, str):
                raise TypeError(f"text {at} is {text!r} ({type(text).__name__}), not a string")
        rows = self.pipe(["" if text is None else text for text in given])
        return [
            dict(zip(self.labels, row, strict=True)) if text and text.strip() else None
            for text, row in zip(given, rows, strict=True)
        ]

    def _scores(self, texts: list[str]) -> list[list[float]]:
        # Texts of like length together: padding to a batch's longest costs the most.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        encoded = self.tokenizer(
            [texts[i] for i in order],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            logits = self.model(encoded["input_ids"], encoded["attention_mask"])
        proba = logits.softmax(-1).tolist()
        scores: list[list[float]] = [[] for _ in texts]
        for rank, i in enumerate(order):
            scores[i] = proba[rank]
        return scores


def load(path: str | Path | None = None, **spacy_arguments: object) -> TextClassifier:
    """The classifier saved in ``path`` (in an installed package: the package's own).
    ``spacy.load`` of the package calls this with spaCy's arguments, and is told that
    the model is no spaCy pipeline (trial 59d: "unexpected keyword argument 'vocab'").

    Examples
    --------
    >>> load("models/spam/minilm_finetune/model-best")(["lovely song"])
    [{'ham': 0.97, 'spam': 0.03}]
    """
    if spacy_arguments:
        package = __name__.rpartition(".")[0] or __name__
        raise TypeError(
            f"{package} is no spaCy pipeline, and spacy.load cannot load it: "
            f"`import {package}; model = {package}.load(); model(texts)`"
        )
    return TextClassifier(Path(__file__).parent / "model" if path is None else path)
