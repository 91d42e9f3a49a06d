"""Training a small text classifier on the cleaned set, through spaCy's config system.

Each registered spaCy small model is a function that returns a full spaCy
``config.cfg``; the trainer writes it next to the model, so that it can be read, edited
and passed back. A model of another library (the default character n-grams, the MiniLM
fine-tune) returns its settings and carries its own trainer, called with the same rows.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import spacy
from spacy.cli.init_config import init_config
from spacy.cli.train import train as spacy_train
from spacy.pipeline.textcat_multilabel import MultiLabel_TextCategorizer
from spacy.tokens import DocBin
from thinc.api import Config

from labelkit.errors import InputError, LabelkitError, LabelkitWarning, check_range
from labelkit.export import cleaned_query, with_texts
from labelkit.registry import configure, resolve, small_models
from labelkit.report import still_running
from labelkit.review.queue import ANSWERS, EFFECTIVE_DECISIONS
from labelkit.train.components import PLAIN, WEIGHT_KEY, plain_textcat
from labelkit.train.sample import DEFAULT_MAX_EXAMPLES, sample_query
from labelkit.train.temper import TEMPER_MIN_ROWS, best_temperature
from labelkit.train.vectors import static_vectors
from labelkit.workspace import (
    AUTO_DEV,
    Workspace,
    chosen_dev_split,
    first_row,
    label_model_run,
    no_gold_in,
    warn_if_out_of_date,
    within_characters,
)

TARGETS = ("hard", "soft", "weighted")
SAVED = ("model-best", "model-last")
# The small model of a task with attributes when none is named (``default_model``).
DEFAULT_ATTRIBUTE_MODEL = "tfidf_char_clauses"
# spaCy (wasabi) colours its training log whatever it is written to.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# What in a config means its model reads static vectors.
VECTOR_MARKERS = ("include_static_vectors = true", '"spacy.StaticVectors.v2"')
# The labelkit factory that trains in place of each of spaCy's.
TRAINING = {plain: factory for factory, plain in PLAIN.items()}


# spaCy's rule-based tokenizer, whose rules come from the language's class: what
# `init_config` writes for English, and what a language of its own replaces.
GENERIC_TOKENIZER = "spacy.Tokenizer.v1"


def _textcat_config(
    *,
    exclusive: bool,
    optimize: str,
    max_epochs: int,
    patience: int,
    seed: int,
    learn_rate: float = 0.001,
    l2: float = 0.01,
    dropout: float = 0.1,
) -> Config:
    pipe = "textcat" if exclusive else "textcat_multilabel"
    config = init_config(lang="en", pipeline=[pipe], optimize=optimize, gpu=False)
    config["training"].update(
        {
            "max_epochs": max_epochs,
            "max_steps": 0,
            "patience": patience,
            "eval_frequency": 50,
            "dropout": dropout,
        }
    )
    config["training"]["optimizer"].update({"learn_rate": learn_rate, "L2": l2})
    config["system"]["seed"] = seed
    config["paths"]["vectors"] = None
    return config


def _textcat(config: Config) -> dict[str, Any]:
    return next(c for name, c in config["components"].items() if name.startswith("textcat"))


@small_models.register("spacy_textcat_bow")
def textcat_bow_config(
    *,
    exclusive: bool = True,
    ngram_size: int = 1,
    length: int = 262_144,
    max_epochs: int = 30,
    patience: int = 600,
    learn_rate: float = 0.001,
    l2: float = 0.01,
    seed: int = 0,
) -> Config:
    """spaCy's bag-of-words textcat: a linear model over hashed n-grams.

    About 1 MB per label at the default ``length`` and well over 100k words per
    second on one core; the model to ship unless another measurably wins.

    Examples
    --------
    >>> textcat_bow_config(ngram_size=2)["components"]["textcat"]["model"]["ngram_size"]
    2
    """
    config = _textcat_config(
        exclusive=exclusive,
        optimize="efficiency",
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
        learn_rate=learn_rate,
        l2=l2,
    )
    _textcat(config)["model"].update({"ngram_size": ngram_size, "length": length})
    return config


@small_models.register("spacy_textcat_ensemble")
def textcat_ensemble_config(
    *,
    exclusive: bool = True,
    width: int = 64,
    depth: int = 2,
    static_vectors: bool = False,
    ngram_size: int = 1,
    max_epochs: int = 30,
    patience: int = 600,
    seed: int = 0,
) -> Config:
    """spaCy's ensemble textcat: the bag of words plus a small CNN tok2vec that sees
    word shapes, affixes and, with ``static_vectors``, pretrained word vectors.

    Examples
    --------
    >>> textcat_ensemble_config()["components"]["tok2vec"]["model"]["encode"]["depth"]
    2
    """
    config = _textcat_config(
        exclusive=exclusive,
        optimize="accuracy",
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
    )
    tok2vec = config["components"]["tok2vec"]["model"]
    tok2vec["encode"].update({"width": width, "depth": depth})
    tok2vec["embed"]["include_static_vectors"] = static_vectors
    _textcat(config)["model"]["linear_model"]["ngram_size"] = ngram_size
    return config


@small_models.register("spacy_textcat_vectors")
def textcat_vectors_config(
    *,
    exclusive: bool = True,
    width: int = 64,
    depth: int = 2,
    ngram_size: int = 1,
    max_epochs: int = 30,
    patience: int = 600,
    seed: int = 0,
) -> Config:
    """The ensemble textcat with static word vectors distilled from MiniLM (see
    ``labelkit.train.vectors``); they are made from the training texts when the config
    names none.

    Examples
    --------
    >>> train_on_cleaned(ws, "models/spam", model="spacy_textcat_vectors")
    """
    return textcat_ensemble_config(
        exclusive=exclusive,
        width=width,
        depth=depth,
        static_vectors=True,
        ngram_size=ngram_size,
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
    )


def _static_tok2vec(width: int) -> dict[str, Any]:
    """Each word's static vector, projected to ``width``: spaCy's own layers only, so the
    saved model loads with spaCy alone."""
    return {
        "@layers": "chain.v1",
        "*": {
            "vectors": {
                "@layers": "spacy.StaticVectors.v2",
                "nO": width,
                "nM": None,
                "dropout": 0.0,
                # Named, or spaCy puts a function into the saved config.
                "init_W": {"@initializers": "glorot_uniform_init.v1"},
            },
            "lists": {"@layers": "ragged2list.v1"},
        },
    }


@small_models.register("spacy_textcat_static")
def textcat_static_config(
    *,
    exclusive: bool = True,
    width: int = 64,
    max_epochs: int = 30,
    patience: int = 600,
    learn_rate: float = 0.001,
    l2: float = 0.01,
    dropout: float = 0.1,
    seed: int = 0,
) -> Config:
    """A linear classifier over the mean of the text's static word vectors, distilled
    from MiniLM (see ``labelkit.train.vectors``): model2vec's embedding plus logistic
    regression, as a spaCy ``TextCatReduce`` that loads with spaCy alone.

    The vectors are made for the words of the training texts (unlabeled ones
    included); a word they lack counts as zero. Nearly all its size is the vectors'
    (2.6 MB for 10,000 words at 64 dimensions).

    Examples
    --------
    >>> textcat_static_config()["components"]["textcat"]["model"]["@architectures"]
    'spacy.TextCatReduce.v1'
    """
    config = _textcat_config(
        exclusive=exclusive,
        optimize="efficiency",
        max_epochs=max_epochs,
        patience=patience,
        seed=seed,
        learn_rate=learn_rate,
        l2=l2,
        dropout=dropout,
    )
    _textcat(config)["model"] = {
        "@architectures": "spacy.TextCatReduce.v1",
        "exclusive_classes": exclusive,
        "use_reduce_first": False,
        "use_reduce_last": False,
        "use_reduce_max": False,
        "use_reduce_mean": True,
        "nO": None,
        "tok2vec": _static_tok2vec(width),
    }
    return config


@small_models.register("spacy_textcat_bow_vectors")
def textcat_bow_vectors_config(
    *,
    exclusive: bool = True,
    width: int = 64,
    ngram_size: int = 1,
    length: int = 262_144,
    max_epochs: int = 30,
    patience: int = 600,
    learn_rate: float = 0.001,
    l2: float = 0.01,
    dropout: float = 0.1,
    seed: int = 0,
) -> Config:
    """The bag of words beside the static word vectors: spaCy's ensemble textcat with
    its CNN tok2vec swapped for the vectors alone (attention-pooled), so that the
    pretrained knowledge costs little speed.

    Examples
    --------
    >>> textcat_bow_vectors_config()["components"]["textcat"]["model"]["@architectures"]
    'spacy.TextCatEnsemble.v2'
    """
    config = textcat_bow_config(
        exclusive=exclusive,
        ngram_size=ngram_size,
        length=length,
        max_epochs=max_epochs,
        patience=patience,
        learn_rate=learn_rate,
        l2=l2,
        seed=seed,
    )
    config["training"]["dropout"] = dropout
    textcat = _textcat(config)
    textcat["model"] = {
        "@architectures": "spacy.TextCatEnsemble.v2",
        "nO": None,
        "linear_model": textcat["model"],
        "tok2vec": _static_tok2vec(width),
    }
    return config


def train_textcat(
    examples: pl.DataFrame,
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    model: str | None = None,
    targets: str = "hard",
    dev: pl.DataFrame | None = None,
    dev_fraction: float = 0.1,
    seed: int = 0,
    config_path: str | Path | None = None,
    vectors: str | Path | None = None,
    lang: str | None = None,
    verbose: bool = False,
    **params: Any,
) -> Path:
    """Train a text classifier on ``text, label`` rows; return the path of the best model.

    ``label`` holds one label per row (exclusive classes) or a list of labels per row
    (multi-label: any subset, none included). ``targets`` says what the model learns:

    - ``hard``: the label;
    - ``soft``: the label model's ``probabilities`` (a list in the order of ``labels``);
    - ``weighted``: the label, each example's gradient scaled by its ``confidence``.

    ``model`` is a registered small model, by default ``default_model``'s choice (the
    character n-grams for one label per row). The best checkpoint is chosen on ``dev``
    (rows with a ``label``, e.g. gold), else on a seeded ``dev_fraction`` of the rows
    held out from training. For a spaCy model, ``output_dir`` receives ``config.cfg``
    (the full spaCy config, paths filled in, ready to edit and pass back as
    ``config_path``), the corpora, and ``model-best`` / ``model-last``.
    A config that wants static vectors but names none gets them distilled from MiniLM
    for the training texts (``vectors`` names a spaCy pipeline with vectors instead).
    ``lang`` is the texts' spaCy language code; without it, the config's ``[nlp] lang``
    holds (English for the registered models). spaCy's training log is printed only
    with ``verbose``. Tasks with attributes train with ``train_attributes``.

    Examples
    --------
    >>> train_textcat(cleaned_labels(ws), ["ham", "spam"], "models/spam", lang="de")
    PosixPath('models/spam/model-best')
    """
    _check_run(seed, dev_fraction)
    exclusive = examples.schema["label"] != pl.List(pl.String)
    if model is None:
        model = default_model(exclusive=exclusive, config_path=config_path)
    factory = resolve(small_models, model)
    if getattr(factory, "kind", None) == "spans":
        raise LabelkitError(f"{model} answers a spans task, not one label per text: use train_ner")
    if getattr(factory, "layout", None) or getattr(factory, "kind", None) == "attributes":
        raise LabelkitError(
            f"{model} answers a task with attributes, not one label per text: "
            "use train_attributes (or train on an aspects or multi-label workspace)"
        )
    _check_examples(examples, labels, targets, exclusive)
    _warn_of_unseen_labels(examples, labels, exclusive)
    rows = examples.sample(fraction=1.0, shuffle=True, seed=seed)
    if dev is not None:
        dev = _check_dev(dev, labels, exclusive)
    else:
        n_dev = max(1, round(rows.height * dev_fraction))
        dev, rows = rows.head(n_dev), rows.slice(n_dev)
    trainer = getattr(factory, "trainer", None)
    if trainer is not None and config_path is None:
        # Not a spaCy pipeline (the n-grams, the MiniLM fine-tune): its own trainer.
        settings = configure(small_models, model, {"exclusive": exclusive, "seed": seed}, **params)
        return trainer(
            rows,
            dev,
            labels,
            output_dir,
            targets=targets,
            settings=settings,
            lang=lang or "en",
            verbose=verbose,
        )
    config = _config(model, config_path, exclusive=exclusive, seed=seed, lang=lang, params=params)
    lang = config["nlp"]["lang"]
    return _fit(
        config,
        Path(output_dir),
        _docbin(rows, labels, targets, lang),
        _docbin(dev, labels, "hard", lang),
        pl.concat([rows["text"], dev["text"]]),
        targets=targets,
        vectors=vectors,
        verbose=verbose,
    )


def _check_run(seed: int, dev_fraction: float) -> None:
    """Refuse a seed or a dev share that the shuffle, spaCy or the split cannot take (a
    seed of -1 ended in polars' OverflowError; a share of 5 held out every row)."""
    check_range("seed", seed, low=0)
    if not 0 < dev_fraction < 1:
        raise InputError(
            f"dev_fraction is the share of rows held out: above 0 and below 1, got {dev_fraction!r}"
        )


def _config(
    model: str,
    config_path: str | Path | None,
    *,
    exclusive: bool,
    seed: int,
    lang: str | None,
    params: dict[str, Any],
) -> Config:
    config = (
        Config().from_disk(config_path, interpolate=False)
        if config_path is not None
        else configure(small_models, model, {"exclusive": exclusive, "seed": seed}, **params)
    )
    if lang is not None:
        set_language(config, lang)
    return config


def set_language(config: Config, lang: str) -> None:
    """Make ``config``'s pipeline one of ``lang``, with that language's own tokenizer
    where the config has spaCy's generic one: Chinese's splits characters, Japanese's
    words (trial 57e: a ner and a textcat for Chinese trained on English's whitespace
    tokens, the ner at 0.21 entity F1 against 0.99 with Chinese's). A tokenizer a
    config names itself is kept.

    Examples
    --------
    >>> set_language(config, "zh")
    >>> config["nlp"]["tokenizer"]
    {'@tokenizers': 'spacy.zh.ChineseTokenizer', 'segmenter': 'char'}
    """
    config["nlp"]["lang"] = lang
    # A config without a tokenizer gets the language's own when spaCy fills it in.
    tokenizer = config["nlp"].get("tokenizer")
    if tokenizer is not None and tokenizer.get("@tokenizers") == GENERIC_TOKENIZER:
        config["nlp"]["tokenizer"] = dict(
            spacy.util.get_lang_class(lang).default_config["nlp"]["tokenizer"]
        )


def _fit(
    config: Config,
    output_dir: Path,
    train: DocBin,
    dev: DocBin,
    texts: pl.Series,
    *,
    targets: str,
    vectors: str | Path | None,
    verbose: bool,
) -> Path:
    """Train ``config`` on the corpora with spaCy; return the best model's path."""
    output = output_dir.resolve()
    output.mkdir(parents=True, exist_ok=True)
    # Everything a training writes (corpora, config, vectors, models) goes into a folder
    # beside the one it replaces, moved into place only once it is done: a training cut
    # short (Ctrl-C, an error) leaves the model and config trained before (trial 51c:
    # an interrupted retrain left its first epoch as model-best, used by predict and
    # evaluate without a word; and, on a second read, a config of the new run beside
    # the old models).
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=output))
    try:
        overrides = _staged_inputs(config, staging, output, train, dev, texts, targets, vectors)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log = io.StringIO()
    # spaCy prints its log to stdout and stderr; a notebook shows it only when asked,
    # and a stream that is not a terminal (a pipe, a file) gets it without colour codes.
    with contextlib.ExitStack() as quiet:
        quiet.callback(shutil.rmtree, staging, ignore_errors=True)
        if not verbose:
            quiet.enter_context(contextlib.redirect_stdout(log))
            quiet.enter_context(contextlib.redirect_stderr(log))
        else:
            # spaCy names the staging folder, which is gone once training ends (trial
            # 54a: "Saved pipeline to output directory .../.training-h7fgy88_").
            moved = (str(staging), str(output))
            for redirect, stream in (
                (contextlib.redirect_stdout, sys.stdout),
                (contextlib.redirect_stderr, sys.stderr),
            ):
                plain = not _is_terminal(stream)
                quiet.enter_context(redirect(PlainText(stream, moved=moved, plain=plain)))
        try:
            spacy_train(staging / "config.cfg", staging, overrides=overrides)
        except SystemExit:
            # spaCy's command exits on a config it cannot use, after printing why.
            said = ANSI_ESCAPE.sub("", log.getvalue())[-2000:]
            raise LabelkitError(
                f"spaCy could not train with {output / 'config.cfg'}: {said}"
            ) from None
        for saved in SAVED:
            plain_textcat(staging / saved)
            # The corpora and vectors as they will lie, not where they were staged.
            saved_config = Config().from_disk(staging / saved / "config.cfg", interpolate=False)
            saved_config["paths"].update(config["paths"])
            saved_config.to_disk(staging / saved / "config.cfg")
        temper_textcat(staging / "model-best", staging / "dev.spacy")
        for name in (*STAGED, *SAVED):
            if (staging / name).exists():
                _remove(output / name)
                (staging / name).rename(output / name)
    return output / "model-best"


# What a training writes beside its models, in the folder it trains into.
STAGED = ("config.cfg", "train.spacy", "dev.spacy", "vectors")
# How often a verbose training says it is still going.
HEARTBEAT_S = 30.0


def _staged_inputs(
    config: Config,
    staging: Path,
    output: Path,
    train: DocBin,
    dev: DocBin,
    texts: pl.Series,
    targets: str,
    vectors: str | Path | None,
) -> dict[str, str]:
    """Write the corpora, the static vectors a config asks for and the config (its
    paths those of ``output``, where they will lie) into ``staging``; return spaCy's
    overrides that train on the staged files."""
    train.to_disk(staging / "train.spacy")
    dev.to_disk(staging / "dev.spacy")
    if targets != "hard":
        textcat = _textcat(config)
        # A config that names a labelkit factory already (class weights) keeps it.
        textcat["factory"] = TRAINING.get(textcat["factory"], textcat["factory"])
    overrides = {"paths.train": staging / "train.spacy", "paths.dev": staging / "dev.spacy"}
    final = {"paths.train": output / "train.spacy", "paths.dev": output / "dev.spacy"}
    if vectors is None and _wants_vectors(config) and not config["paths"].get("vectors"):
        static_vectors(texts, staging / "vectors", lang=config["nlp"]["lang"])
        overrides["paths.vectors"] = staging / "vectors"
        final["paths.vectors"] = output / "vectors"
    elif vectors is not None:
        overrides["paths.vectors"] = final["paths.vectors"] = Path(vectors)
    config["paths"].update({key.split(".")[1]: str(value) for key, value in final.items()})
    config.to_disk(staging / "config.cfg")
    return {key: str(value) for key, value in overrides.items()}


def _remove(path: Path) -> None:
    """Delete a file or a folder, if there is one."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# The layers whose weights and bias make an exclusive textcat's logits: the final
# softmax of an ensemble or of the static vectors' model, or the bag of words' sparse
# linear layer where a softmax without weights follows it.
LOGIT_LAYERS = ("softmax", "sparse_linear")


def temper_textcat(model_dir: Path, dev_path: Path) -> float:
    """Divide the logits of the exclusive ``textcat`` saved in ``model_dir`` by the
    temperature of least log loss on the labels of the dev corpus at ``dev_path``
    (``labelkit.train.temper``), by scaling the weights and bias of the layer that makes
    them; return the temperature (1.0: left as it was, also for a multi-label textcat
    or a layer of another shape). No answer changes; the model stays a plain spaCy
    pipeline. ``meta.json`` records it under ``labelkit.temperature``. The dev scores it
    reads also tell whether the model beats answering the commonest dev label, which is
    warned of where it does not.

    Examples
    --------
    >>> temper_textcat(Path("models/spam/model-best"), Path("models/spam/dev.spacy"))
    0.42
    """
    nlp = spacy.load(model_dir)
    if "textcat" not in nlp.pipe_names:
        return 1.0
    textcat = nlp.get_pipe("textcat")
    if isinstance(textcat, MultiLabel_TextCategorizer):
        # Its labels are yes/no each (a sigmoid apiece), not one softmax.
        return 1.0
    layer = next(
        (
            node
            for part in reversed(textcat.model.layers)
            for node in reversed(list(part.walk()))
            if node.name in LOGIT_LAYERS and node.has_param("W") and node.has_param("b")
        ),
        None,
    )
    if layer is None:
        return 1.0
    labels = list(textcat.labels)
    docs = list(DocBin().from_disk(dev_path).get_docs(nlp.vocab))
    gold = np.array([labels.index(max(doc.cats, key=doc.cats.get)) for doc in docs])
    scores = np.array(
        [[doc.cats[label] for label in labels] for doc in nlp.pipe(doc.text for doc in docs)]
    )
    _warn_if_no_better_than_the_commonest(scores.argmax(axis=1), gold, labels)
    temperature = best_temperature(np.log(np.clip(scores, 1e-12, 1.0)), gold)
    if temperature != 1.0:
        for name in ("W", "b"):
            layer.set_param(name, layer.get_param(name) / temperature)
        nlp.meta.setdefault("labelkit", {})["temperature"] = temperature
        nlp.to_disk(model_dir)
    return temperature


def _warn_if_no_better_than_the_commonest(
    predicted: np.ndarray, gold: np.ndarray, labels: Sequence[str]
) -> None:
    """Warn where the chosen checkpoint is right on its dev labels no more often than
    answering their commonest label always would: it learned nothing usable. Trial 54e:
    spaCy's bag of words on 400 long letters answered two classes for everything (0.048
    test accuracy), and `train` said only "model saved"."""
    if len(gold) < TEMPER_MIN_ROWS:
        return  # too few to tell
    accuracy = float((predicted == gold).mean())
    commonest = np.bincount(gold, minlength=len(labels)).argmax()
    baseline = float((gold == commonest).mean())
    # Answering the commonest label always is what a model that learned nothing does;
    # where every dev label is one, that is every model's answer, right or not.
    if accuracy <= baseline < 1.0:
        warnings.warn(
            f"the model is right on {accuracy:.1%} of its {len(gold):,} dev labels, no more "
            f"than answering {labels[commonest]!r} always ({baseline:.1%}): it learned "
            "nothing usable from these texts; try the default model, or more epochs "
            "(--param max_epochs=...)",
            LabelkitWarning,
            stacklevel=2,
        )


class PlainText(io.TextIOBase):
    r"""A text stream that passes what is written to ``target`` without ANSI escape
    codes (colours, cursor moves) unless ``plain`` is false, and with the path
    ``moved[0]`` written as ``moved[1]``.

    Examples
    --------
    >>> out = io.StringIO()
    >>> PlainText(out, moved=("/tmp/x", "models")).write("\x1b[38;5;2m✔ Saved /tmp/x\x1b[0m\n")
    28
    >>> out.getvalue()
    '✔ Saved models\n'
    """

    def __init__(
        self, target: Any, *, moved: tuple[str, str] | None = None, plain: bool = True
    ) -> None:
        self.target, self.moved, self.plain = target, moved, plain

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        # spaCy and tqdm draw for a terminal where the stream they write to is one.
        return _is_terminal(self.target)

    @property
    def encoding(self) -> str | None:  # type: ignore[override]
        return getattr(self.target, "encoding", None)

    def write(self, text: str) -> int:
        shown = ANSI_ESCAPE.sub("", text) if self.plain else text
        if self.moved is not None:
            shown = shown.replace(*self.moved)
        self.target.write(shown)
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def default_model(
    *, exclusive: bool, config_path: str | Path | None = None, kind: str = "classification"
) -> str:
    """The small model trained when none is named: logistic regression over character
    n-grams (``tfidf_char_logreg``) for one label per text and for a multi-label task,
    the same read clause by clause (``tfidf_char_clauses``) for an aspects task; spaCy's
    bag of words for a list of labels per text or a spaCy ``config_path``, which the
    n-grams cannot take.

    On every data set measured, the n-grams beat the bag of words before and after
    review (``benchmarks/distill.py``: WRENCH YouTube and SMS, the bundled comments,
    MAMS food polarity) and on samples of 300 texts (``small_model_defaults.py``), at
    a quarter of its size and in less training time. For aspects, the clauses beat one
    regression per attribute over the whole text on MAMS, which beat one spaCy textcat
    per attribute (``benchmarks/aspects.py``). A multi-label task's labels have one
    answer each to find ("yes"), so the clauses have nothing to choose between and give
    the whole text's predictions at twice the cost (trial 49a: the same on 9,600 texts).

    Examples
    --------
    >>> default_model(exclusive=True), default_model(exclusive=False)
    ('tfidf_char_logreg', 'spacy_textcat_bow')
    >>> default_model(exclusive=True, kind="aspects")
    'tfidf_char_clauses'
    """
    if not exclusive or config_path is not None:
        return "spacy_textcat_bow"
    return DEFAULT_ATTRIBUTE_MODEL if kind == "aspects" else "tfidf_char_logreg"


def train_on_cleaned(
    workspace: Workspace,
    output_dir: str | Path,
    *,
    model: str | None = None,
    targets: str = "hard",
    dev_split: str | None = AUTO_DEV,
    seed: int = 0,
    config_path: str | Path | None = None,
    verbose: bool = False,
    max_examples: int | None = DEFAULT_MAX_EXAMPLES,
    release: bool = False,
    **params: Any,
) -> Path:
    """Train the small model on the workspace's cleaned set, logged as a ``train`` run.

    A cleaned set of more than ``max_examples`` texts is sampled down to that many
    (``labelkit.train.sample.sample_query``, in DuckDB: stratified by label, weighted by the
    label model's confidence, reviewed texts first; ``None`` trains on all), fewer where
    the texts are long, so that the sample holds about ``MAX_CHARACTERS`` characters
    (``within_characters``). The run's config logs ``cleaned`` (texts in the cleaned
    set) beside ``examples`` (rows trained on) and ``max_examples`` (the limit used; where
    long texts lowered it, with ``asked_max_examples`` and ``mean_characters``).

    Reviewed labels are certain (probability 1) under every ``targets`` setting. With
    ``dev_split``, that split's gold labels choose the best checkpoint; with None, a
    tenth of the cleaned set is held out for it; ``"auto"`` (the default) is the dev
    split where it has the gold to choose on (``chosen_dev_split``). The texts are
    tokenized in the workspace's language; spaCy's training log is printed only with
    ``verbose``.
    ``model`` defaults to ``default_model``: ``tfidf_char_logreg``, for a multi-label
    task too (one yes/no regression per label, trained by ``train_attributes``);
    ``tfidf_char_clauses`` for an aspects task; with a spaCy ``config_path``,
    ``spacy_textcat_bow``, for a task with attributes one per attribute. A spans
    task trains spaCy's ``ner`` on ``cleaned_spans`` (``train_ner_on_cleaned``).
    With ``release``, the workspace is closed while the model trains
    (``Workspace.released``), so that other processes can read it meanwhile, as
    ``labelkit train`` does; its connection is then a new one.

    Examples
    --------
    >>> train_on_cleaned(ws, "models/spam", targets="soft", dev_split="dev")
    PosixPath('models/spam/model-best')
    """
    from labelkit.train.attributes import train_attributes
    from labelkit.train.ner import train_ner_on_cleaned

    # Before the sample of the cleaned set, which the seed draws too.
    check_range("seed", seed, low=0)
    dev_split = chosen_dev_split(workspace, dev_split)
    if dev_split in ("train", "test"):
        # Trial 45: taken without a word, though nothing is meant to be chosen on test.
        why = (
            "evaluate's test scores then measure the choice, not texts the model never met"
            if dev_split == "test"
            else "the model learns from that split's texts, so the choice favours memory"
        )
        warnings.warn(
            f"choosing the model on the {dev_split} split's gold: {why}; choose on dev",
            LabelkitWarning,
            stacklevel=2,
        )
    task = workspace.task
    if task.kind == "spans":
        return train_ner_on_cleaned(
            workspace,
            output_dir,
            model=model,
            targets=targets,
            dev_split=dev_split,
            seed=seed,
            config_path=config_path,
            verbose=verbose,
            max_examples=max_examples,
            release=release,
            **params,
        )
    started = time.time()
    task.require_attributes("train (train_on_cleaned)")
    with_attributes = task.kind != "classification"
    if model is None:
        model = default_model(exclusive=True, config_path=config_path, kind=task.kind)
    workspace.require("predictions", "labelkit aggregate")
    warn_if_out_of_date(workspace)
    # Sampled in DuckDB, with texts read for the sample only: ten million labels need
    # not come into memory to keep fifty thousand.
    limit, mean_characters = within_characters(workspace.con, "train", max_examples)
    labeled = cleaned_query(texts=False, probabilities=True)
    if not with_attributes:
        labeled = f"SELECT * EXCLUDE (attribute) FROM ({labeled})"
    examples, cleaned = sample_query(
        workspace.con,
        labeled,
        ["train"],
        limit,
        order_by="id, attribute" if with_attributes else "id",
        seed=seed,
        one_label=not with_attributes,
    )
    answers = task.answers(task.targets[0]).labels
    certain = pl.concat_list([(pl.col("label") == label).cast(pl.Float64) for label in answers])
    examples = examples.with_columns(
        pl.when(pl.col("origin") == "review")
        .then(certain)
        .otherwise(pl.col("probabilities"))
        .alias("probabilities")
    )
    examples = with_texts(workspace, examples)
    dev = None
    if dev_split is not None:
        dev = workspace.sql(
            "SELECT id, text, gold AS label FROM examples WHERE split = ? AND gold IS NOT NULL",
            [dev_split],
        )
        if dev.height == 0:
            raise no_gold_in(workspace, dev_split, "to choose the model on")
        if with_attributes:
            dev = pl.concat(
                dev.select(
                    "id",
                    "text",
                    pl.lit(attribute).alias("attribute"),
                    task.gold_answers(dev["label"], attribute).alias("label"),
                )
                for attribute in task.targets
            )
    config = {"output_dir": str(Path(output_dir).resolve()), "model": model, "seed": seed}
    config["targets"] = targets
    config |= {"dev_split": dev_split, "config_path": config_path and str(config_path)}
    config |= {"max_examples": limit, "cleaned": cleaned}
    if limit != max_examples:
        config |= {"asked_max_examples": max_examples, "mean_characters": round(mean_characters)}
    learnt = learnt_from(workspace)
    config["label_model"] = learnt["label_model"]
    # What it trains on, not every decision: dev's and test's are never read (the second
    # read), and a sample leaves some out.
    config["reviewed"] = int((examples["origin"] == "review").sum())
    train_args = {
        "model": model,
        "targets": targets,
        "dev": dev,
        "seed": seed,
        "config_path": config_path,
        "verbose": verbose,
    }
    # Trial 61d: a million texts trained 13 minutes without a line.
    # One row per text and attribute: counted as texts (trial 62d: 1,800 reviews of 25
    # attributes read "45,000 texts").
    texts = examples["id"].n_unique() if with_attributes else examples.height
    beating = (
        still_running(f"train: {model} on {texts:,} texts", every_s=HEARTBEAT_S)
        if verbose
        else contextlib.nullcontext()
    )
    with workspace.released() if release else contextlib.nullcontext(), beating:
        if with_attributes:
            path = train_attributes(examples, task, output_dir, **train_args, **params)
        else:
            path = train_textcat(
                examples, task.labels, output_dir, lang=task.lang, **train_args, **params
            )
    with workspace.run(
        "train", {**config, "examples": examples.height, **params}, started=started
    ) as run:
        record_provenance(
            path,
            workspace,
            run.id,
            learnt,
            dev_split=dev_split,
            small_model=None if config_path else model,
        )
    return path


def learnt_from(workspace: Workspace) -> dict[str, Any]:
    """What a model trained now learns from: the label model's ``aggregate`` run and the
    review (the answers that count, and the last decision's id), read before it trains,
    as the workspace may change while it does (``Workspace.released``).

    Examples
    --------
    >>> learnt_from(ws)["reviewed"]
    {'decisions': 50, 'last_decision_id': 50}
    """
    decided, last = first_row(
        workspace.con,
        f"""SELECT (SELECT count(*) FROM ({EFFECTIVE_DECISIONS}) WHERE action IN {ANSWERS}),
                   max(decision_id) FROM decisions""",
    ) or (0, None)
    return {
        "label_model": label_model_run(workspace),
        "reviewed": {"decisions": decided, "last_decision_id": last},
        # Which LFs and LLMs voted, each by its definition's hash: the workspace keeps
        # only a source's newest definition (trial 59d: an audit could not tell which).
        "sources": workspace.sql("SELECT name, kind, hash FROM sources ORDER BY name").to_dicts(),
    }


def record_provenance(
    model_path: Path,
    workspace: Workspace,
    run_id: int,
    learnt: dict[str, Any] | None = None,
    *,
    dev_split: str | None = None,
    small_model: str | None = None,
) -> None:
    """Write into the trained model's ``meta.json`` (``model-best``'s and, beside it,
    ``model-last``'s) what made it, as ``trained_from``: the workspace (its path and
    ``Workspace.identity``), the ``train`` run, the registered ``small_model`` trained
    (None: a config of one's own), the label model it learnt from
    (``label_model_run``), the review it saw (``reviewed``: the answers that count, and
    the last decision's id), the sources that voted (``sources``: name, kind and the
    hash of each one's definition), what its dev scores were measured on (``dev_scores_on``:
    ``dev_split``'s gold, or a held-out tenth of its training labels), the versions of
    labelkit and of the libraries a model loads with, and when. It goes with the model
    when copied or packaged (trial 49c: nothing in a package said which run, label model
    or data made it; trial 50d: two models trained before and after 100 more reviews
    read alike). ``learnt`` is ``learnt_from`` read before training (read now if not
    given).

    Examples
    --------
    >>> record_provenance(Path("models/spam/model-best"), ws, run.id, dev_split="dev")
    """
    learnt = learnt_from(workspace) if learnt is None else learnt
    made = {
        "workspace": str(workspace.path.resolve()),
        "workspace_id": workspace.identity,
        "train_run": run_id,
        # Trial 62b: a small model of one's own was named nowhere in its meta.
        "small_model": small_model,
        "label_model": learnt["label_model"],
        "reviewed": learnt["reviewed"],
        "sources": learnt["sources"],
        # Trial 53b: meta.json's dev_accuracy read as a score on gold where it was not.
        "dev_scores_on": f"{dev_split} gold"
        if dev_split
        else "a held-out tenth of the training labels (not gold)",
        "labelkit_version": metadata.version("labelkit"),
        "versions": {name: metadata.version(name) for name in ("numpy", "scikit-learn", "spacy")},
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for folder in (model_path, model_path.parent / "model-last"):
        meta = folder / "meta.json"
        if meta.is_file():
            stamped = json.loads(meta.read_text(encoding="utf-8")) | {"trained_from": made}
            meta.write_text(json.dumps(stamped, indent=2), encoding="utf-8")


def _check_examples(
    examples: pl.DataFrame, labels: Sequence[str], targets: str, exclusive: bool
) -> None:
    if targets not in TARGETS:
        raise LabelkitError(f"unknown targets {targets!r}; use one of {list(TARGETS)}")
    if examples.height < 10:
        raise LabelkitError(f"too few labeled examples to train on: {examples.height}")
    missing = _labels_given(examples, exclusive) - set(labels)
    if missing:
        raise LabelkitError(f"labels {sorted(missing)} are not among the task's {list(labels)}")
    needs = {"soft": "probabilities", "weighted": "confidence"}.get(targets)
    if needs and not exclusive:
        raise LabelkitError(f"targets={targets!r} needs exclusive classes, not a list of labels")
    if needs and needs not in examples.columns:
        raise LabelkitError(f"targets={targets!r} needs a {needs!r} column")


def _labels_given(rows: pl.DataFrame, exclusive: bool) -> set[str]:
    """The labels ``rows`` give: one per row, or a list per row (multi-label)."""
    given = rows["label"] if exclusive else rows["label"].explode()
    return set(given.drop_nulls().unique())


def _warn_of_unseen_labels(examples: pl.DataFrame, labels: Sequence[str], exclusive: bool) -> None:
    """Warn of a label no training row has: the model can never give it, which
    ``evaluate`` showed only as a recall of 0 (trial 44: rules pruned to four); and of
    labels fewer than ``FEW_TRAINING_ROWS`` rows have (trial 54e: one oncology letter,
    two psychiatry, without a word)."""
    listed = examples["label"] if exclusive else examples["label"].explode()
    counts = dict(listed.drop_nulls().value_counts().iter_rows())
    unseen = [label for label in labels if label not in counts]
    if unseen:
        warnings.warn(
            f"no training row is labelled {', '.join(map(repr, unseen))}: the model will "
            "never predict it; add labeling functions or reviews that give it",
            LabelkitWarning,
            stacklevel=3,
        )
    few = [
        f"{counts[label]} {label!r}"
        for label in labels
        if 0 < counts.get(label, 0) < FEW_TRAINING_ROWS
    ]
    if few:
        warnings.warn(
            f"few training rows are labelled {', '.join(few)}: too few to learn a label "
            "from; add labeling functions or reviews that give it",
            LabelkitWarning,
            stacklevel=3,
        )


# A label fewer training rows have than this is warned of.
FEW_TRAINING_ROWS = 5


def _check_dev(dev: pl.DataFrame, labels: Sequence[str], exclusive: bool) -> pl.DataFrame:
    """``dev``'s rows with a label, refused where none has one or a label is not the
    task's: the n-grams met an empty dev with scikit-learn's "Found array with 0
    sample(s)", and spaCy chose its checkpoint on nothing."""
    missing = [column for column in ("text", "label") if column not in dev.columns]
    if missing:
        raise LabelkitError(f"dev has no column(s) {missing}")
    if (dev.schema["label"] == pl.List(pl.String)) == exclusive:
        shape = "one label per row" if exclusive else "a list of labels per row"
        raise LabelkitError(f"dev's labels must be {shape}, as the training rows' are")
    dev = dev.filter(pl.col("label").is_not_null())
    if dev.height == 0:
        raise LabelkitError(
            "dev has no rows with a label to choose the model on; leave dev out to hold "
            "out dev_fraction of the training rows"
        )
    unknown = _labels_given(dev, exclusive) - set(labels)
    if unknown:
        raise LabelkitError(f"dev labels {sorted(unknown)} are not among the task's {list(labels)}")
    return dev


def _wants_vectors(config: Config) -> bool:
    text = config.to_str(interpolate=False)
    return any(marker in text for marker in VECTOR_MARKERS)


def _docbin(rows: pl.DataFrame, labels: Sequence[str], targets: str, lang: str) -> DocBin:
    nlp = spacy.blank(lang)
    docs = DocBin(store_user_data=targets == "weighted")
    for doc, row in zip(nlp.tokenizer.pipe(rows["text"]), rows.iter_rows(named=True), strict=True):
        given = row["label"]
        if targets == "soft":
            doc.cats = dict(zip(labels, row["probabilities"], strict=True))
        else:
            chosen = set(given) if isinstance(given, list) else {given}
            doc.cats = {name: float(name in chosen) for name in labels}
        if targets == "weighted":
            doc.user_data[WEIGHT_KEY] = float(row["confidence"])
        docs.add(doc)
    return docs
