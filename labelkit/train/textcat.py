"""Training a small spaCy text classifier on the cleaned set, through spaCy's config system."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import spacy
from spacy.cli.init_config import init_config
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from thinc.api import Config

from labelkit.errors import LabelkitError
from labelkit.export import cleaned_labels
from labelkit.registry import resolve, small_models
from labelkit.workspace import Workspace


@small_models.register("spacy_textcat_bow")
def textcat_bow_config(max_epochs: int = 30, patience: int = 600, seed: int = 0) -> Config:
    """spaCy's efficiency textcat (bag of words): tiny on disk and very fast on one core."""
    config = init_config(lang="en", pipeline=["textcat"], optimize="efficiency", gpu=False)
    training = config["training"]
    training.update(
        {"max_epochs": max_epochs, "max_steps": 0, "patience": patience, "eval_frequency": 50}
    )
    config["system"]["seed"] = seed
    return config


def train_textcat(
    examples: pl.DataFrame,
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    model: str = "spacy_textcat_bow",
    dev_fraction: float = 0.1,
    seed: int = 0,
    config_path: str | Path | None = None,
    **params: Any,
) -> Path:
    """Train a text classifier on ``text, label`` rows; return the path of the best model.

    ``output_dir`` receives ``config.cfg`` (the full spaCy config, ready to edit and
    pass back as ``config_path``), the corpora, and ``model-best`` / ``model-last``. A
    seeded ``dev_fraction`` of the rows is held out to pick the best checkpoint, so no
    gold label is used in training.

    Examples
    --------
    >>> train_textcat(cleaned_labels(ws), ["ham", "spam"], "models/spam")
    PosixPath('models/spam/model-best')
    """
    if examples.height < 10:
        raise LabelkitError(f"too few labeled examples to train on: {examples.height}")
    missing = set(examples["label"].unique()) - set(labels)
    if missing:
        raise LabelkitError(f"labels {sorted(missing)} are not among the task's {list(labels)}")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows = list(zip(examples["text"], examples["label"], strict=True))
    random.Random(seed).shuffle(rows)
    n_dev = max(1, round(len(rows) * dev_fraction))
    _write_docbin(rows[n_dev:], labels, output / "train.spacy")
    _write_docbin(rows[:n_dev], labels, output / "dev.spacy")

    if config_path is None:
        config = resolve(small_models, model)(seed=seed, **params)
        config_path = output / "config.cfg"
        config.to_disk(config_path)
    spacy_train(
        Path(config_path),
        output,
        overrides={
            "paths.train": str(output / "train.spacy"),
            "paths.dev": str(output / "dev.spacy"),
        },
    )
    return output / "model-best"


def train_on_cleaned(
    workspace: Workspace,
    output_dir: str | Path,
    *,
    model: str = "spacy_textcat_bow",
    seed: int = 0,
    config_path: str | Path | None = None,
    **params: Any,
) -> Path:
    """Train the small model on the workspace's cleaned set, logged as a ``train`` run.

    Examples
    --------
    >>> train_on_cleaned(ws, "models/spam")
    PosixPath('models/spam/model-best')
    """
    examples = cleaned_labels(workspace)
    config = {"output_dir": str(output_dir), "model": model, "seed": seed}
    config |= {"config_path": config_path, "examples": examples.height, **params}
    with workspace.run("train", config):
        return train_textcat(
            examples,
            workspace.task.labels,
            output_dir,
            model=model,
            seed=seed,
            config_path=config_path,
            **params,
        )


def _write_docbin(rows: list[tuple[str, str]], labels: Sequence[str], path: Path) -> None:
    nlp = spacy.blank("en")
    docs = DocBin()
    for doc, (_, label) in zip(nlp.tokenizer.pipe(text for text, _ in rows), rows, strict=True):
        doc.cats = {name: float(name == label) for name in labels}
        docs.add(doc)
    docs.to_disk(path)
