"""The small model for tasks with attributes: one answer per attribute and text.

The default is ``tfidf_char_clauses`` (``char_ngrams.train_clause_ngrams_by_attribute``):
logistic regressions over one vocabulary of character n-grams, per attribute whether
the text mentions it, and its answer read from the clause that mentions it most, saved
as one numpy-and-scikit-learn model. ``tfidf_char_logreg`` gives each attribute one
softmax over its answers, the absent one included, read from the whole text; on
MAMS-ACSA it beat a spaCy textcat per attribute by 0.06 macro-F1 over aspects (0.420
against 0.358 on the label model's labels, 0.560 against 0.505 on gold), at a ninth of
the size and twice the speed, and the clauses beat it (``benchmarks/aspects.py``).

Two spaCy layouts are registered as small models too, so that either can be chosen:

- ``spacy_textcat_pairs``: one ``textcat_multilabel`` with an output per attribute
  and present answer (``food=positive``; for a multi-label task ``sports=yes``). An
  attribute whose outputs all score under the threshold gets its absent answer
  (``"none"`` / ``"no"``). An attribute a training text has no label for is missing
  from its targets, so it teaches nothing about that attribute.
- ``spacy_textcat_per_attribute``: one exclusive ``textcat`` per attribute over all
  its answers, the absent one included (``food=none``), each trained and checkpointed
  on its own, then put into one pipeline. Its answers are weighed by their rarity
  (``class_weight="balanced"``, ``labelkit.train.components``): most texts leave
  most attributes out, and unweighted, an attribute that nine texts in ten lack is
  learnt as "always none", which its macro-F1 scores at a quarter. Any other spaCy small
  model named for a task with attributes is trained inside this layout (the n-grams
  above train with their own trainers).

Of the two, the second scores the higher macro-F1 over aspects on MAMS-ACSA and the
first is the faster (``benchmarks/attribute_models.py``, docs/distillation.md).

Every model names its outputs ``<attribute>=<answer>`` (in ``doc.cats`` for spaCy)
and keeps the task in its ``meta.json`` (under ``labelkit``), so the saved model loads
with its own library alone and ``predict_frame`` can turn scores into answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import spacy
from spacy.tokens import DocBin
from thinc.api import Config

from labelkit.errors import LabelkitError
from labelkit.registry import configure, resolve, small_models
from labelkit.task import NO, NONE, Task
from labelkit.train.components import CLASS_WEIGHTS, FACTORY, WEIGHT_KEY
from labelkit.train.textcat import (
    DEFAULT_ATTRIBUTE_MODEL,
    SAVED,
    TARGETS,
    TRAINING,
    _check_run,
    _config,
    _fit,
    _textcat,
    _wants_vectors,
    default_model,
    train_textcat,
)
from labelkit.train.vectors import static_vectors

PAIRS = "spacy_textcat_pairs"
# The small model inside a layout named without ``base``.
LAYOUT_BASE = "spacy_textcat_bow"
PER_ATTRIBUTE = "spacy_textcat_per_attribute"
# A small model named without a layout goes into this one.
DEFAULT_LAYOUT = PER_ATTRIBUTE
SEPARATOR = "="
# Characters kept out of the folder names of the per-attribute classifiers.
UNSAFE = re.compile(r"[^\w.-]+")


def _layout(name: str) -> Callable[[Callable[..., Config]], Callable[..., Config]]:
    def mark(function: Callable[..., Config]) -> Callable[..., Config]:
        function.layout = name  # type: ignore[attr-defined]
        return small_models.register(name)(function)

    return mark


@_layout(PAIRS)
def textcat_pairs_config(*, base: str = LAYOUT_BASE, **params: Any) -> Config:
    """One multi-label textcat over ``attribute=answer`` outputs, of the registered
    small model ``base``; an attribute with no output on is absent.

    Examples
    --------
    >>> list(textcat_pairs_config()["components"])
    ['textcat_multilabel']
    """
    return configure(small_models, base, _passed_on(params, exclusive=False), **params)


@_layout(PER_ATTRIBUTE)
def textcat_per_attribute_config(
    *, base: str = LAYOUT_BASE, class_weight: str | None = "balanced", **params: Any
) -> Config:
    """One exclusive textcat of the registered small model ``base`` per attribute, over
    its answers, the absent one included, its answers weighed by ``class_weight``
    (``"balanced"``: by their rarity; ``None``: alike); this is the config of each.

    Examples
    --------
    >>> textcat_per_attribute_config()["components"]["textcat"]["class_weight"]
    'balanced'
    """
    config = configure(small_models, base, _passed_on(params, exclusive=True), **params)
    return _weigh_classes(config, class_weight)


def _passed_on(params: dict[str, Any], exclusive: bool) -> dict[str, Any]:
    """What labelkit passes the layout's base, taken out of ``params``: the layout's
    own ``exclusive``, and the seed it was passed."""
    params.pop("exclusive", None)
    return {"exclusive": exclusive} | ({"seed": params.pop("seed")} if "seed" in params else {})


def _weigh_classes(config: Config, class_weight: str | None) -> Config:
    """``config`` with its textcat trained by labelkit's factory with ``class_weight``."""
    if class_weight not in CLASS_WEIGHTS:
        raise LabelkitError(
            f"unknown class_weight {class_weight!r}; use one of {list(CLASS_WEIGHTS)}"
        )
    if class_weight is not None:
        textcat = _textcat(config)
        textcat["factory"] = TRAINING.get(textcat["factory"], textcat["factory"])
        if textcat["factory"] != FACTORY:
            raise LabelkitError(
                f"class_weight needs an exclusive textcat, not {textcat['factory']}"
            )
        textcat["class_weight"] = class_weight
    return config


def absent_answer(task: Task) -> str:
    """The answer of an attribute that a text does not have: ``"none"`` or ``"no"``."""
    return NONE if task.kind == "aspects" else NO


def output_name(attribute: str, answer: str) -> str:
    """The ``doc.cats`` key of one answer of one attribute, e.g. ``food=positive``."""
    return f"{attribute}{SEPARATOR}{answer}"


def train_attributes(
    examples: pl.DataFrame,
    task: Task,
    output_dir: str | Path,
    *,
    model: str | None = None,
    targets: str = "hard",
    dev: pl.DataFrame | None = None,
    dev_fraction: float = 0.1,
    seed: int = 0,
    config_path: str | Path | None = None,
    vectors: str | Path | None = None,
    verbose: bool = False,
    **params: Any,
) -> Path:
    """Train the small model of an aspects or multi-label ``task``; return the path of
    the best model.

    ``examples`` has one row per text and attribute: ``text, attribute, label`` (the
    answer, e.g. ``positive`` or ``none``; ``yes`` / ``no`` for a multi-label task),
    as ``cleaned_labels`` returns them, with ``id`` to group a text's rows (else the
    text does), and ``probabilities`` (over ``task.answers(attribute).labels``) or
    ``confidence`` for soft or weighted ``targets`` (see ``train_textcat``). A text
    that lacks a row for an attribute teaches nothing about it.

    ``model`` is a layout (``spacy_textcat_pairs``, ``spacy_textcat_per_attribute``;
    ``--param base=`` names the small model inside it), a spaCy small model (trained
    inside the per-attribute layout), or one of the n-grams, which train with their own
    trainer and take no spaCy ``config_path`` or ``vectors``: ``tfidf_char_clauses``,
    which reads each attribute's answer from the clause that mentions it (the default
    for aspects), or ``tfidf_char_logreg``, one regression per attribute over the whole
    text (the default for multi-label: see ``default_model``). ``dev`` has the same columns (e.g. gold); without it, a seeded
    ``dev_fraction`` of the texts is held out.

    Examples
    --------
    >>> train_attributes(cleaned_labels(ws), ws.task, "models/restaurants")
    PosixPath('models/restaurants/model-best')
    """
    if not isinstance(task, Task):
        # Trial 33: None gave "'NoneType' object has no attribute 'kind'".
        raise LabelkitError(f"train_attributes needs the task (workspace.task), got {task!r}")
    if task.kind == "classification":
        raise LabelkitError("a classification task trains with train_textcat")
    _check_run(seed, dev_fraction)
    if model is None:
        model = default_model(exclusive=True, config_path=config_path, kind=task.kind)
    layout = getattr(resolve(small_models, model), "layout", None)
    if layout is None:
        layout, params = DEFAULT_LAYOUT, {"base": model, **params}
    base = params.get("base", LAYOUT_BASE)
    factory = resolve(small_models, base)
    if getattr(factory, "kind", None) == "spans":
        # Trial 49a: "takes no parameter 'exclusive'", for a parameter nobody gave.
        raise LabelkitError(
            f"{base} finds entities in a spans task; an aspects or multi-label task trains "
            f"{DEFAULT_ATTRIBUTE_MODEL}, tfidf_char_logreg or a spaCy textcat "
            "(`labelkit train --help` lists them)"
        )
    by_attribute = getattr(factory, "attribute_trainer", None)
    if getattr(factory, "trainer", None) is not None and by_attribute is None:
        raise LabelkitError(
            f"{base} gives one label per text and trains no spaCy textcat, so it cannot "
            f"serve a layout; train a task with attributes with {DEFAULT_ATTRIBUTE_MODEL} "
            "or a spaCy model"
        )
    if by_attribute is not None and layout == PAIRS:
        raise LabelkitError(
            f"{base} trains one classifier per attribute, not the one multi-label spaCy "
            f"textcat of {PAIRS}: train it alone (--model {base})"
        )
    if by_attribute is not None and config_path is not None:
        raise LabelkitError(f"{base} takes no spaCy config; pass its settings as params")
    key = "id" if "id" in examples.columns else "text"
    _check_attribute_examples(examples, task, targets, key)
    examples = examples.filter(pl.col("label").is_not_null())
    texts = examples[key].unique(maintain_order=True).sample(fraction=1.0, shuffle=True, seed=seed)
    if dev is not None:
        _check_known(dev, task, "dev")
        dev = dev.filter(pl.col("label").is_not_null())
        if dev.height == 0:
            # The n-grams met it with scikit-learn's "Found array with 0 sample(s)".
            raise LabelkitError(
                "dev has no rows with a label to choose the model on; leave dev out to "
                "hold out dev_fraction of the texts"
            )
    else:
        held_out = texts.head(max(1, round(texts.len() * dev_fraction)))
        dev = examples.filter(pl.col(key).is_in(held_out.implode()))
        examples = examples.filter(~pl.col(key).is_in(held_out.implode()))
    output = Path(output_dir).resolve()
    if by_attribute is not None:
        settings = configure(
            small_models, base, {"seed": seed}, **{k: v for k, v in params.items() if k != "base"}
        )
        return by_attribute(
            examples,
            dev,
            task,
            output,
            key=key,
            targets=targets,
            settings=settings,
            verbose=verbose,
        )
    train = _train_pairs if layout == PAIRS else _train_per_attribute
    train(
        examples,
        dev,
        task,
        output,
        key=key,
        targets=targets,
        seed=seed,
        config_path=config_path,
        vectors=vectors,
        verbose=verbose,
        params=params,
    )
    for saved in SAVED:
        meta_path = output / saved / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["labelkit"] = {"task": json.loads(task.to_json()), "layout": layout}
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return output / "model-best"


def _train_pairs(
    examples: pl.DataFrame,
    dev: pl.DataFrame,
    task: Task,
    output: Path,
    *,
    key: str,
    targets: str,
    seed: int,
    config_path: str | Path | None,
    vectors: str | Path | None,
    verbose: bool,
    params: dict[str, Any],
) -> None:
    config = _config(PAIRS, config_path, exclusive=False, seed=seed, lang=task.lang, params=params)
    lang = config["nlp"]["lang"]
    _fit(
        config,
        output,
        _pairs_docbin(examples, task, key, targets, lang),
        _pairs_docbin(dev, task, key, "hard", lang),
        pl.concat([examples["text"], dev["text"]]).unique(),
        targets=targets,
        vectors=vectors,
        verbose=verbose,
    )


def _pairs_docbin(rows: pl.DataFrame, task: Task, key: str, targets: str, lang: str) -> DocBin:
    """One doc per text, its cats the present answers of the attributes it has a row
    for: 1/0 (or the probabilities, for soft targets), weighted by the attribute's
    confidence for weighted targets."""
    present = {
        a: [x for x in task.answers(a).labels if x != absent_answer(task)] for a in task.targets
    }
    columns = [c for c in ("probabilities", "confidence") if c in rows.columns]
    texts = rows.group_by(key, maintain_order=True).agg(
        pl.col("text").first(), pl.col("attribute", "label", *columns)
    )
    nlp = spacy.blank(lang)
    docs = DocBin(store_user_data=targets == "weighted")
    for doc, row in zip(
        nlp.tokenizer.pipe(texts["text"]), texts.iter_rows(named=True), strict=True
    ):
        cats: dict[str, float] = {}
        weights: dict[str, float] = {}
        for i, attribute in enumerate(row["attribute"]):
            answers = task.answers(attribute).labels
            for answer in present[attribute]:
                name = output_name(attribute, answer)
                if targets == "soft":
                    cats[name] = row["probabilities"][i][answers.index(answer)]
                else:
                    cats[name] = float(row["label"][i] == answer)
                if targets == "weighted":
                    weights[name] = float(row["confidence"][i])
        doc.cats = cats
        if targets == "weighted":
            doc.user_data[WEIGHT_KEY] = weights
        docs.add(doc)
    return docs


def _train_per_attribute(
    examples: pl.DataFrame,
    dev: pl.DataFrame,
    task: Task,
    output: Path,
    *,
    key: str,
    targets: str,
    seed: int,
    config_path: str | Path | None,
    vectors: str | Path | None,
    verbose: bool,
    params: dict[str, Any],
) -> None:
    base = params.pop("base", LAYOUT_BASE)
    class_weight = params.pop("class_weight", "balanced")
    config = _config(base, config_path, exclusive=True, seed=seed, lang=task.lang, params=params)
    config = _weigh_classes(config, class_weight)
    # Each attribute's classifier is trained from this one config, written down once.
    config_path = output / "by_attribute" / "config.cfg"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config.to_disk(config_path)
    if vectors is None and _wants_vectors(config) and not config["paths"].get("vectors"):
        # Distilled once for every attribute's classifier: they share the pipeline's vocab.
        texts = pl.concat([examples["text"], dev["text"]]).unique()
        vectors = static_vectors(texts, output / "vectors", lang=config["nlp"]["lang"])
    named = pl.col("attribute") + SEPARATOR + pl.col("label")
    folders = {}
    for i, attribute in enumerate(task.targets):
        answers = [output_name(attribute, answer) for answer in task.answers(attribute).labels]
        folder = output / "by_attribute" / f"{i:02d}_{UNSAFE.sub('_', attribute)}"
        folders[attribute] = train_textcat(
            examples.filter(pl.col("attribute") == attribute).with_columns(named.alias("label")),
            answers,
            folder,
            model=base,
            targets=targets,
            dev=dev.filter(pl.col("attribute") == attribute).with_columns(named.alias("label")),
            seed=seed,
            config_path=config_path,
            vectors=vectors,
            lang=task.lang,
            verbose=verbose,
            **params,
        ).parent
    for saved in SAVED:
        _assemble({a: folder / saved for a, folder in folders.items()}, task.lang).to_disk(
            output / saved
        )


def _assemble(parts: dict[str, Path], lang: str) -> spacy.language.Language:
    """One pipeline of every attribute's textcat, named ``textcat_<attribute>``."""
    loaded = {attribute: spacy.load(path) for attribute, path in parts.items()}
    nlp = spacy.blank(lang)
    nlp.vocab.vectors = next(iter(loaded.values())).vocab.vectors
    for attribute, part in loaded.items():
        if "tok2vec" in part.pipe_names:
            # Each classifier keeps its own copy of the tok2vec it was trained with.
            part.replace_listeners("tok2vec", "textcat", ["model.tok2vec"])
        nlp.add_pipe("textcat", name=f"textcat_{attribute}", source=part)
    return nlp


def _check_known(rows: pl.DataFrame, task: Task, what: str) -> None:
    """Refuse ``rows`` (``what`` names them) that lack a column or name an attribute or
    answer the task does not have."""
    missing = [c for c in ("text", "attribute", "label") if c not in rows.columns]
    if missing:
        raise LabelkitError(f"{what} have no column(s) {missing}")
    unknown = rows.filter(~pl.col("attribute").is_in(task.targets))
    if unknown.height:
        raise LabelkitError(
            f"attribute {unknown['attribute'][0]!r} in {what} is not among the task's "
            f"{list(task.targets)}"
        )
    answers = task.answers(task.targets[0]).labels
    wrong = rows.filter(pl.col("label").is_not_null() & ~pl.col("label").is_in(answers))
    if wrong.height:
        raise LabelkitError(
            f"answer {wrong['label'][0]!r} (attribute {wrong['attribute'][0]!r}) in {what} "
            f"is not among the task's {list(answers)}"
        )


def _check_attribute_examples(examples: pl.DataFrame, task: Task, targets: str, key: str) -> None:
    if targets not in TARGETS:
        raise LabelkitError(f"unknown targets {targets!r}; use one of {list(TARGETS)}")
    _check_known(examples, task, "the training rows")
    repeated = examples.filter(pl.struct(key, "attribute").is_duplicated())
    if repeated.height:
        raise LabelkitError(
            f"{key} {repeated[key][0]!r} has more than one row for attribute "
            f"{repeated['attribute'][0]!r}"
        )
    if examples[key].n_unique() < 10:
        raise LabelkitError(f"too few labeled examples to train on: {examples[key].n_unique()}")
    needs = {"soft": "probabilities", "weighted": "confidence"}.get(targets)
    if needs and needs not in examples.columns:
        raise LabelkitError(f"targets={targets!r} needs a {needs!r} column")
