"""Shipping the small model: an installable package with its evaluation inside, and
batch prediction over table files."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path, PureWindowsPath
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import spacy
from packaging.version import InvalidVersion, Version
from spacy.cli.package import package as spacy_package
from spacy.language import Language

from labelkit.errors import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    check_range,
    did_you_mean,
    system_error,
)
from labelkit.evaluation import ALL, Evaluation
from labelkit.executors import Executor, executor_for
from labelkit.export import csv_ready, write_spans_jsonl, written_whole
from labelkit.processes import end_with_parent, leave_stops_to_parent
from labelkit.report import progress_bar
from labelkit.spans import spans_json
from labelkit.tables import as_frame, csv_style, read_table, table_format
from labelkit.task import YES, Task
from labelkit.train import char_ngram_loader
from labelkit.train.attributes import absent_answer, output_name
from labelkit.train.ner import predicted_spans
from labelkit.train.scorers import (
    ScorerKind,
    TextScorer,
    load_scorer,
    scorer_folder,
    scorer_kind,
)

# What writing a file fails with where the disk or the folder refuses it.
_WRITE_ERRORS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
)

# Texts one nlp.pipe call (in one worker) labels; rows labeled and written at once; and
# the input size from which predict_file starts a worker per core by default.
PREDICT_BATCH = 2_000
# The score a label of a multi-label model, or an attribute's answer where the model has
# no output for the absent one, must reach to be given.
DEFAULT_THRESHOLD = 0.5
WRITE_BLOCK = 50_000
# predict_frame shows no progress for a frame of fewer rows than this: it is done in
# seconds, and a service calling it per request would print a line each time.
QUIET_BELOW = 10_000
PARALLEL_ROWS = 50_000


SmallModel = Language | TextScorer


# The time a wheel's files are stamped with (1980-01-01, the first a zip file holds).
WHEEL_TIME = 315_532_800


# A text classifier reads at most this many characters of a text: spaCy's limit, as
# ingest's (labelkit.data.MAX_TEXT_CHARS), and a shipped n-gram model's.
CLASSIFIED_CHARS = char_ngram_loader.READ_CHARS


class NoTextWarning(UserWarning):
    """Rows with no text (missing, empty or whitespace only) were given null predictions,
    or the text column holds single words where another holds sentences."""


def load_small_model(model: str | Path | SmallModel) -> SmallModel:
    """A trained small model of any kind, from its folder or installed package: a spaCy
    pipeline, or a scorer of another library (the MiniLM fine-tune, the character n-gram
    classifier; ``labelkit.train.scorers``), whose libraries are imported for it only.
    A loaded model is returned as it is.

    Examples
    --------
    >>> load_small_model("models/spam/minilm_finetune/model-best").labels
    ['ham', 'spam']
    """
    if isinstance(model, Language | TextScorer):
        return model
    folder = scorer_folder(model)
    if folder is not None:
        return load_scorer(folder)
    if not spacy.util.is_package(str(model)):
        _check_model_folder(model)
    return spacy.load(model)


def _check_model_folder(path: str | Path) -> None:
    """Raise ``LabelkitError`` unless ``path`` holds a trained model (its ``meta.json``),
    saying what to give instead: the ``model-best`` inside a training folder.

    Examples
    --------
    >>> _check_model_folder("models/spam")
    Traceback (most recent call last):
    labelkit.errors.LabelkitError: models/spam is the folder `labelkit train` wrote ...
    """
    path = Path(path)
    inner = sorted(found.parent for found in path.glob("*/*/config.cfg"))
    if (path / "meta.json").is_file() and not (path / "config.cfg").is_file() and inner:
        # Trial J: spaCy's E053 traceback, for want of a config.cfg.
        raise LabelkitError(
            f"{path} is the source folder of a model package; give the model inside it: "
            f"{inner[0]}, or install the package's wheel and give its name"
        )
    if (path / "meta.json").is_file():
        return
    if (path / "model-best" / "meta.json").is_file():
        raise LabelkitError(
            f"{path} is the folder `labelkit train` wrote; give the model inside it: "
            f"{path / 'model-best'}"
        )
    trained = sorted(found.parent for found in path.glob("*/model-best/meta.json"))
    if trained:
        # Trial 53b: a demo's folder, one model in it, was said to be a frontier's.
        held = (
            f"holds {len(trained)} trained models (`labelkit train --frontier`); give one of them"
            if len(trained) > 1
            else "holds a trained model in a folder of its own; give it"
        )
        raise LabelkitError(f"{path} {held}: {', '.join(str(model) for model in trained)}")
    if not path.exists():
        # Trial 49c: an uninstalled package's name was told of a missing meta.json.
        raise LabelkitError(
            f"no folder and no installed model package named {str(path)!r}: give the "
            "model-best folder that `labelkit train` wrote, or the name of a package "
            "`labelkit package` made and pip installed"
        )
    raise LabelkitError(
        f"no trained model at {path} (no meta.json there): give the model-best folder "
        "that `labelkit train` wrote, or an installed model package"
    )


def package_model(
    model_path: str | Path,
    output_dir: str | Path,
    *,
    name: str = "labelkit_model",
    version: str = "0.1.0",
    evaluation: Evaluation | None = None,
    wheel: bool = True,
    force: bool = False,
    license: str | None = None,
) -> Path:
    """Make an installable package of a trained model; return the wheel (or, with
    ``wheel=False``, the package's source folder). A package of the same name and
    version already in ``output_dir`` is replaced only with ``force``, as spaCy's
    ``package`` does: a shipped version is not overwritten by accident.

    A spaCy pipeline becomes spaCy's own package (``spacy package``); a scorer of
    another library (the default n-grams, the MiniLM fine-tune) a package whose code is
    its loader (``import en_<name>; en_<name>.load()(texts)``). Either is named
    ``<lang>_<name>`` by the model's language (the workspace's), ``en_<name>`` in
    English. With an
    ``evaluation``, its small-model figures become the package's ``performance`` and
    the whole comparison is kept under ``labelkit`` in ``meta.json``, so the model
    carries the evidence that it beat its teachers. ``license`` (an SPDX name such as
    ``MIT``, or the terms of the data it learnt from) goes into the metadata and the
    package's own. The wheel is built by pip.

    Examples
    --------
    >>> package_model("models/spam/model-best", "dist", name="spam", evaluation=evaluate(ws, m))
    PosixPath('/home/me/dist/en_spam-0.1.0/dist/en_spam-0.1.0-py3-none-any.whl')
    """
    # Absolute: pip builds the wheel from inside the package folder.
    model_path, output = Path(model_path), Path(output_dir).resolve()
    _check_model_folder(model_path)
    if not (name.isascii() and name.isidentifier()):
        # Trial 55a: "clasificación" is an identifier to Python, not a name to pip, which
        # failed on the pyproject.toml it was given, a folder left half-built.
        plain = "".join(
            c
            for c in unicodedata.normalize("NFKD", name)
            if c.isascii() and (c.isalnum() or c == "_")
        )
        raise InputError(
            f"package name {name!r} must be a Python identifier of ASCII letters, digits and "
            f"underscores, as pip's names are: e.g. {plain if plain.isidentifier() else 'spam_model'}"
        )
    try:
        # In pip's own spelling (trial 53b: 1.0-beta made a folder of that name and a
        # wheel of 1.0b0).
        version = str(Version(version))
    except InvalidVersion:
        # Trial 49c: pip refused it after the build, leaving a folder that --force needed.
        raise InputError(
            f"version {version!r} is no Python package version: give one like 0.1.0 or 1.2.3"
        ) from None
    kind = scorer_kind(model_path)
    trained = json.loads((model_path / "meta.json").read_text(encoding="utf-8"))
    # The model's language, the workspace's (trial 50a: a German n-gram model was en_).
    made = output / f"{trained.get('lang', 'en')}_{name}-{version}"
    if made.exists() and not force:
        raise InputError(
            f"{made} exists: a package {name} {version} was made there before; give "
            "another version (--version), or --force to replace it"
        )
    output.mkdir(parents=True, exist_ok=True)
    shipped = {"name": name, "version": version, "license": license or ""}
    try:
        return _build_package(kind, model_path, made, output, trained, shipped, evaluation, wheel)
    except BaseException:
        # Trial 60e: a failed build (a full disk, a read-only HOME) left a folder that
        # the next try took for a package made before.
        shutil.rmtree(made, ignore_errors=True)
        raise


def _build_package(
    kind: ScorerKind | None,
    model_path: Path,
    made: Path,
    output: Path,
    trained: dict[str, Any],
    shipped: dict[str, str],
    evaluation: Evaluation | None,
    wheel: bool,
) -> Path:
    """``package_model``'s package, in the folder ``made`` (under ``output``), and its
    wheel where ``wheel``; the wheel's path, else the folder's."""
    name, version = shipped["name"], shipped["version"]
    if kind is not None:
        return _package_scorer(kind, model_path, made, shipped, evaluation, wheel)
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "model"
        shutil.copytree(model_path, staged)
        ner = "ner" in trained.get("pipeline", [])
        what = "An entity recognizer" if ner else "A text classifier"
        shipped["description"] = f"{what} distilled with labelkit."
        _ship_meta(staged / "meta.json", shipped, evaluation)
        spacy_package(
            staged,
            output,
            name=name,
            version=version,
            create_sdist=False,
            # spaCy's CLI requires spaCy by default, its function not: trial J's wheel
            # installed without it, and failed on import.
            require_parent=True,
            force=True,
            silent=True,
        )
    return _wheel(made) if wheel else made


def _package_scorer(
    kind: ScorerKind,
    model_path: Path,
    source: Path,
    shipped: dict[str, str],
    evaluation: Evaluation | None,
    wheel: bool,
) -> Path:
    """A scorer as a package ``<lang>_<name>`` (``source``'s name, less its version)
    whose code is its loader: ``import en_<name>; en_<name>.load()(texts)`` needs the
    kind's own libraries alone, its source in the folder ``source``."""
    # Found, not imported: importing the MiniLM loader would import torch.
    loader = importlib.util.find_spec(kind.loader).origin
    version = shipped["version"]
    package = source.name.removesuffix(f"-{version}")
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(model_path, source / package / "model", ignore=shutil.ignore_patterns("*.py"))
    shutil.copyfile(loader, source / package / "__init__.py")
    meta_path = source / package / "model" / "meta.json"
    _ship_meta(meta_path, shipped | {"description": kind.description}, evaluation)
    (source / "README.md").write_text(
        model_card(json.loads(meta_path.read_text(encoding="utf-8")), package), encoding="utf-8"
    )
    dependencies = ", ".join(f'"{d}"' for d in kind.dependencies)
    package_data = ", ".join(f'"{p}"' for p in kind.package_data)
    licensed = (
        f"license = {{text = {json.dumps(shipped['license'])}}}\n" if shipped["license"] else ""
    )
    (source / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=69"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{package}"\n'
        f'version = "{version}"\n'
        f'description = "{kind.description}"\n'
        'readme = "README.md"\n'
        # The loaders use Python 3.10's zip(strict=) (trial 49c: a wheel for any Python
        # installed on 3.9 and failed when loaded).
        'requires-python = ">=3.10"\n'
        f"{licensed}"
        f"dependencies = [{dependencies}]\n\n"
        "[tool.setuptools]\n"
        f'packages = ["{package}"]\n\n'
        "[tool.setuptools.package-data]\n"
        f"{package} = [{package_data}]\n",
        encoding="utf-8",
    )
    return _wheel(source) if wheel else source


def model_card(meta: dict[str, Any], package: str) -> str:
    """A shipped scorer's README, from its ``meta.json``: how to use it, its labels,
    what it learnt from, how well it did where it was evaluated, and where it falls
    short (trial 59d: the wheel had no description, and nothing said what the model is
    or is not for).

    Examples
    --------
    >>> print(model_card(json.loads(Path("dist/en_spam-0.1.0/en_spam/model/meta.json")
    ...       .read_text()), "en_spam"))
    """
    made, performance = meta.get("trained_from") or {}, meta.get("performance") or {}
    labelkit = meta.get("labelkit") or {}
    lines = [
        f"# {package} {meta.get('version', '')}",
        "",
        meta.get("description", ""),
        "",
        "## Use",
        "",
        "```python",
        f"import {package}",
        "",
        f"model = {package}.load()",
        'model(["a text to label"])  # one dict of probabilities per text',
        f'model.answers(["a text to label"])  # {_answers_of(labelkit.get("task") or {})}',
        "```",
        "",
        f"Labels: {', '.join(map(str, labelkit.get('labels', [])))}.",
        "",
        "## What it learnt from",
        "",
    ]
    if made:
        taught = made.get("label_model") or {}
        lines.append(
            f"- The labels of the label model `{taught.get('model')}` (aggregate run "
            f"{taught.get('run_id')}) in the labelkit workspace "
            f"`{_file_name(made.get('workspace'))}`, "
            f"with {(made.get('reviewed') or {}).get('decisions', 0)} answers people gave "
            "in review over them."
        )
        if "sources" in made:
            sources = made["sources"]
            kinds = ", ".join(sorted({source["kind"] for source in sources}))
            lines.append(
                f"- {len(sources)} sources voted ({kinds}): "
                + ", ".join(f"`{source['name']}`" for source in sources[:20])
                + (" and others" if len(sources) > 20 else "")
                + "."
            )
        lines.append(
            f"- Trained {made.get('trained_at')} with labelkit {made.get('labelkit_version')}."
        )
    else:
        lines.append("- Not recorded: the model was trained before labelkit recorded it.")
    lines += ["", "## How well it does", ""]
    where = labelkit.get("evaluated_on") or {}
    if performance and where:
        figures = ", ".join(
            f"{name} {performance[key]:.3f}"
            for key, name in _card_figures(labelkit.get("task") or {})
            if isinstance(performance.get(key), int | float)
        )
        lines.append(
            f"On the {where.get('gold_rows')} gold texts of the `{where.get('split')}` split "
            f"of `{_file_name(where.get('workspace'))}` ({where.get('evaluated_at')}): "
            f"{figures}; {performance.get('speed', 0):,.0f} words per second of one core's "
            "time (a busy machine's wall clock gives fewer). `meta.json` "
            "holds the whole comparison with its teachers."
        )
    else:
        lines.append(
            "Not evaluated when packaged: `labelkit package --workspace WS` adds the figures."
        )
    lines += [
        "",
        "## Where it falls short",
        "",
        _read_limit(meta),
        "- A text with no words (empty, or whitespace) gets no answer (None).",
        "- It knows only texts like those it learnt from. Others (another language, "
        "another kind of text, symbols alone) still get an answer, often near the labels' "
        "balance: check its scores on such texts before relying on them.",
        "- Its scores are probabilities; its evaluation's ECE says how far they are from "
        "how often it is right.",
        "",
    ]
    return "\n".join(lines)


def _card_figures(task: dict[str, Any]) -> list[tuple[str, str]]:
    """The card's figures in order, named: for a task with attributes, those over all of
    them first, as accuracy and macro-F1 average each attribute's easy absent answers."""
    every = {"multilabel": "label", "aspects": "aspect"}.get(task.get("kind", ""))
    overall = [
        ("micro_f1", "micro-F1 (over the labels given)"),
        ("exact_match", f"exact match (texts right on every {every})"),
    ]
    plain = [("accuracy", "accuracy"), ("macro_f1", "macro-F1")]
    return [*(overall + plain if every else plain), ("ece", "ECE")]


def _answers_of(task: dict[str, Any]) -> str:
    """What ``answers`` gives per text, as the card's example comments it."""
    if task.get("kind") == "multilabel":
        return 'per text, "yes" or "no" for each label: {"billing": "yes", ...}'
    if task.get("kind") == "aspects":
        return 'per text, each aspect\'s answer: {"staff": "negative", "food": "none", ...}'
    return "the most probable label of each"


def _file_name(path: object) -> str:
    """A workspace's file name, as the card shows it: the card is the wheel's
    description, which a full path (a home folder, a client's name) would publish
    (trial 60b). Windows' paths too, whose parts a path of this system would not split.

    Examples
    --------
    >>> _file_name(r"C:\\Users\\ana\\spam.duckdb"), _file_name("/home/ana/spam.duckdb")
    ('spam.duckdb', 'spam.duckdb')
    """
    return PureWindowsPath(str(path)).name


def _read_limit(meta: dict[str, Any]) -> str:
    """How much of a text the shipped scorer reads: a transformer its first
    ``max_length`` tokens, the n-grams their first ``CLASSIFIED_CHARS`` characters."""
    tokens = (meta.get("labelkit") or {}).get("max_length")
    if tokens:
        return f"- It reads the first {tokens} tokens of a text."
    return f"- It reads the first {CLASSIFIED_CHARS:,} characters of a text."


def _ship_meta(path: Path, shipped: dict[str, str], evaluation: Evaluation | None) -> None:
    """Rewrite the model's ``meta.json`` at ``path`` for its package: ``shipped``'s name,
    version, description and licence and, with an ``evaluation``, its figures."""
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta |= shipped
    trained_in = (meta.get("trained_from") or {}).get("workspace_id")
    evaluated_in = evaluation.provenance.get("workspace_id") if evaluation else None
    if trained_in and evaluated_in and trained_in != evaluated_in:
        warnings.warn(
            f"{path.parent} was trained in {meta['trained_from'].get('workspace')} and is "
            f"evaluated on the gold of another workspace, "
            f"{evaluation.provenance.get('workspace')}: the package's figures are that "
            "workspace's (meta.json says so under labelkit.evaluated_on)",
            LabelkitWarning,
            stacklevel=3,
        )
    if evaluation is not None:
        evaluated = _evaluation_meta(evaluation)
        # Kept beside what training put there (a task with attributes keeps its task).
        evaluated["labelkit"] = {**meta.get("labelkit", {}), **evaluated["labelkit"]}
        meta |= evaluated
    path.write_text(json.dumps(meta, indent=2), encoding="utf-8")


def _wheel(source: Path) -> Path:
    """Build the wheel of the package in ``source`` with pip; return its path. Its files
    are stamped with one fixed time, so that the same package builds the same wheel,
    byte for byte (trial 59d: two builds of one model differed in their zip times)."""
    dist = source / "dist"
    # No cache and no check for a newer pip: nothing written to HOME, nothing asked of
    # the network (trial 60e: a read-only HOME failed the build).
    quiet = ["--quiet", "--no-deps", "--no-cache-dir", "--disable-pip-version-check"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *quiet, "-w", str(dist), "."],
        cwd=source,
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": str(WHEEL_TIME)},
    )
    if built.returncode != 0:
        raise LabelkitError(f"building the wheel in {source} failed:\n{built.stderr[-2000:]}")
    return next(dist.glob("*.whl"))


def _evaluation_meta(evaluation: Evaluation) -> dict[str, object]:
    small = evaluation.summary.filter(pl.col("kind") == "small model")
    if "attribute" in small.columns:
        # Over all attributes, not the first one's.
        small = small.filter(pl.col("attribute") == ALL)
    if small.height == 0:
        raise LabelkitError("the evaluation has no small model row: pass the model to evaluate")
    row = small.row(0, named=True)
    if "f1" in row:
        # A spans task's scores, under the names spaCy gives an entity recognizer's.
        per_type = evaluation.per_class.filter(pl.col("method") == row["method"])
        performance = {
            "ents_p": row["precision"],
            "ents_r": row["recall"],
            "ents_f": row["f1"],
            "ents_per_type": {
                t["label"]: {"p": t["precision"], "r": t["recall"], "f": t["f1"]}
                for t in per_type.iter_rows(named=True)
            },
            "speed": row["words_per_s"],
        }
    else:
        # A task with attributes adds the figures its accuracy and macro-F1 flatter: on
        # multi-label they average yes and no, easy "no"s included (trial 68c).
        keys = ("accuracy", "macro_f1", "micro_f1", "exact_match", "ece")
        performance = {key: row[key] for key in keys if row.get(key) is not None}
        # Under spaCy's name for it: its package README shows every other figure of
        # ``performance`` as a percentage (trial J read 43249514.31 words per second).
        performance["speed"] = row["words_per_s"]
    return {
        "performance": performance,
        "labelkit": {
            # Where the figures were measured (trial 59d: nothing said which workspace's
            # gold, which split, or when).
            "evaluated_on": evaluation.provenance,
            "summary": evaluation.summary.to_dicts(),
            "per_class": evaluation.per_class.filter(pl.col("method") == row["method"]).to_dicts(),
        },
    }


def predict_frame(
    model: str | Path | SmallModel,
    frame: pl.DataFrame,
    *,
    text_column: str = "text",
    threshold: float | None = None,
    n_process: int | None = None,
) -> pl.DataFrame:
    """Label every row of a polars (or pandas) frame; return it with the predictions
    added, as a polars frame (a pandas frame's named index among its columns).

    An entity recognizer (a spans task's model, ``train_ner``) adds one column,
    ``spans``: each text's entities as JSON ``[[start, end, label], ...]``, character
    offsets into the text as given (``[]``: none).

    The columns added are ``predicted`` (for a multi-label textcat: ``predicted_labels``,
    the list of those scoring at least ``threshold``, by default 0.5), ``confidence``
    (the top score) and one ``score_<label>`` column per label. ``model`` is a trained
    model's folder, an installed package, or a loaded spaCy pipeline. ``n_process`` is
    as in ``predict_file``.

    A model of a task with attributes (``train_attributes``) answers every attribute:
    ``predicted_<attribute>`` (e.g. ``positive`` or ``none``; ``yes`` or ``no`` for a
    multi-label task) and ``confidence_<attribute>``, then one ``score_<output>`` per
    output of the model (``score_food=positive``); a multi-label task's model adds
    ``predicted_labels`` first, the list of its labels answered ``yes``. Where the model has no output for
    the absent answer, an attribute is absent when none of its outputs reaches
    ``threshold`` (by default 0.5), with confidence one minus its top score. Where it
    has one (``none``, or ``no`` for a multi-label task: the default n-grams), the
    answer is the most probable one; with ``threshold``, an attribute is present where
    one minus the absent answer's score reaches it, and then gets its most probable
    other answer.

    A row with no text (null, empty or whitespace only) keeps its place and gets null
    in every added column: the model is not asked, since its answer to nothing would be
    its prior. A ``NoTextWarning`` says how many there were. A frame of ``QUIET_BELOW``
    rows or more shows its progress on stderr.

    Examples
    --------
    >>> comments = pl.DataFrame({"text": ["subscribe to my channel", "lovely song"]})
    >>> predict_frame("models/spam/model-best", comments)["predicted"].to_list()
    ['spam', 'ham']
    """
    _check_threshold(threshold)
    table = as_frame(frame)
    if table is None:
        raise InputError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")
    # Trial 53b: a service labeling one request at a time printed a line for each.
    shown = table.height >= QUIET_BELOW
    return label_table(model, table, "frame", text_column, threshold, n_process, progress=shown)


def label_table(
    model: str | Path | SmallModel,
    table: pl.DataFrame,
    name: str,
    text_column: str = "text",
    threshold: float | None = None,
    n_process: int | None = None,
    *,
    progress: bool = True,
) -> pl.DataFrame:
    """``predict_frame`` of a polars ``table`` that progress and errors call ``name``
    (evaluate's ``test split``: trial 45 saw "predicting frame" where it passed none)."""
    blocks = [table.slice(start, WRITE_BLOCK) for start in range(0, table.height, WRITE_BLOCK)]
    predictor = Predictor(model, text_column, threshold, name)
    labeled = list(predictor.stream(blocks or [table], table.height, n_process, progress=progress))
    predictor.warn_without_text()
    return pl.concat(labeled) if len(labeled) > 1 else labeled[0]


def predict_file(
    model: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str = "text",
    threshold: float | None = None,
    file_format: str | None = None,
    n_process: int | None = None,
    batch_size: int = WRITE_BLOCK,
    executor: Executor | None = None,
    encoding: str = "utf-8",
) -> int:
    """Label every row of a CSV, TSV, JSONL or Parquet file; return the row count.

    The output (its format from its suffix) has the input's columns plus those of
    ``predict_frame``; a CSV from a CSV keeps its separator (with decimal commas where
    that is ``;``) and byte-order mark; in CSV, a multi-label model's
    ``predicted_labels`` are joined by ``|``; in JSONL, an entity recognizer's ``spans``
    are JSON arrays ``[[start, end, label], ...]`` (JSON text in CSV and Parquet).
    ``model`` is a trained model's folder or an installed package.

    Rows are labeled and written ``batch_size`` at a time, and a Parquet input is read
    that way too, so memory stays bounded whatever the file's size (a CSV or JSONL input
    is read whole). ``n_process`` worker processes, each with the model loaded, label
    ``PREDICT_BATCH`` texts at a time, in order; by default every core, from
    ``PARALLEL_ROWS`` rows up (below that, starting them costs more than it saves).
    The output is the same whatever ``n_process``. It is written beside the target and
    moved into place at the end, so a bad row leaves no half-written file.
    The output may not be the input file. Rows with no text get null predictions, as
    in ``predict_frame``. ``encoding`` is a CSV, TSV or JSONL input's (e.g. ``"cp1252"``).

    ``executor`` (``labelkit.executors``; default: this machine) labels the blocks
    elsewhere: ``ray`` on a Ray cluster, each worker with the model loaded once (the
    model's folder, or its installed package, must be there on every worker). Rows
    come back in the input's order, so the output is the same as here.

    Examples
    --------
    >>> predict_file("models/spam/model-best", "new_comments.csv", "labeled.parquet")
    10000
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.suffix.lower() not in (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"):
        raise InputError(f"{output_path}: write predictions to .csv, .tsv, .jsonl or .parquet")
    # Moving the output into place would replace the input (a link to it too) for good.
    if input_path.exists() and output_path.exists() and output_path.samefile(input_path):
        raise InputError(
            f"{output_path} is the input file {input_path}: write the predictions to another file"
        )
    output_kind = table_format(output_path)
    check_range("batch_size", batch_size, low=1)
    _check_threshold(threshold)
    rows, header, blocks = _read_blocks(input_path, file_format, batch_size, encoding, text_column)
    predictor = Predictor(model, text_column, threshold, str(input_path))
    # Trial 46: a clash with the columns predictions add was found only once the first
    # block (or, for a CSV, the whole file) had been labeled.
    predictor.labeled(header, [])
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        runner = executor or executor_for("local")
        labeled_blocks = runner.predictions(
            predictor, blocks, rows=rows, n_process=n_process, staging=output_path.parent
        )
        with (
            written_whole(output_path) as partial,
            _BlockWriter(
                partial, output_kind, _csv_style_of(input_path, file_format, encoding)
            ) as writer,
        ):
            for labeled in labeled_blocks:
                writer.write(labeled)
    except OSError as error:
        code, reason = system_error(error)
        if code not in _WRITE_ERRORS:
            raise
        # Trial 49c: a full disk or a read-only folder ended in a traceback, the cause
        # masked by the cleanup's own failure.
        raise InputError(
            f"cannot write the predictions to {output_path}: {reason}; nothing was written"
        ) from None
    predictor.warn_without_text()
    return rows


def _read_blocks(
    path: Path, file_format: str | None, size: int, encoding: str, text_column: str
) -> tuple[int, pl.DataFrame, Iterator[pl.DataFrame]]:
    """The row count of a table file, its columns (an empty frame) and its rows, ``size``
    at a time: a Parquet file streamed, another read whole (``read_table``) and sliced;
    a JSONL record whose ``text_column`` is not a string is refused, naming its line
    (trial 53b: numbers, lists and objects were scored as their JSON text)."""
    if table_format(path, file_format) == "parquet" and path.is_file():
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as error:
            raise InputError(f"{path}: cannot read as parquet: {error}") from error
        header = pl.from_arrow(parquet.schema_arrow.empty_table())
        assert isinstance(header, pl.DataFrame)
        return parquet.metadata.num_rows, header, _parquet_blocks(parquet, size)
    frame = read_table(path, file_format=file_format, encoding=encoding, text_column=text_column)
    starts = range(0, frame.height, size)
    blocks = iter([frame.slice(start, size) for start in starts] or [frame])
    return frame.height, frame.head(0), blocks


def _parquet_blocks(parquet: pq.ParquetFile, size: int) -> Iterator[pl.DataFrame]:
    """A Parquet file's rows ``size`` at a time; an empty file's empty frame."""
    empty = True
    for batch in parquet.iter_batches(batch_size=size):
        empty = False
        yield pl.DataFrame(pl.from_arrow(batch))
    if empty:
        yield pl.DataFrame(pl.from_arrow(parquet.schema_arrow.empty_table()))


def _csv_style_of(path: Path, file_format: str | None, encoding: str) -> tuple[str, bool]:
    """The separator and byte-order mark a CSV of predictions is written with: a CSV
    input's (trial 55a: a `;` file from Excel in Spain came back with commas, its
    confidences with decimal points, which that Excel reads as one column of text),
    else a comma and none."""
    if table_format(path, file_format) == "csv" and path.is_file():
        return csv_style(path, encoding)
    return ",", False


class _BlockWriter:
    """Appends labeled blocks to one CSV, TSV, JSONL or Parquet file; a CSV with
    ``csv_style``'s separator and mark, and decimal commas where the separator is
    ``;``, as the spreadsheets that write such files read numbers."""

    def __init__(self, path: Path, kind: str, style: tuple[str, bool] = (",", False)) -> None:
        self.path, self.kind = path, kind
        self.separator, self.bom = style if kind == "csv" else ("\t", False)
        self.parquet: pq.ParquetWriter | None = None
        self.rows = 0

    def __enter__(self) -> _BlockWriter:
        self.file = self.path.open("wb")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.parquet is not None:
            self.parquet.close()
        self.file.close()

    def write(self, block: pl.DataFrame) -> None:
        if self.kind in ("csv", "tsv"):
            csv_ready(block).write_csv(
                self.file,
                include_header=self.rows == 0,
                include_bom=self.bom and self.rows == 0,
                separator=self.separator,
                decimal_comma=self.separator == ";",
            )
        elif self.kind == "jsonl":
            if "spans" in block.columns and block.height:
                with tempfile.TemporaryDirectory() as scratch:
                    lines = Path(scratch) / "block.jsonl"
                    write_spans_jsonl(block, lines)
                    self.file.write(lines.read_bytes())
            else:
                block.write_ndjson(self.file)
        else:
            table = block.to_arrow()
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.file, table.schema)
            # A block's string columns may come as large or small strings: one schema.
            self.parquet.write_table(table.cast(self.parquet.schema))
        self.rows += block.height


class Predictor:
    """A model's predictions for blocks of rows, in this process or in workers (an
    executor's too: ``checked`` blocks, their ``answers``, the ``labeled`` block)."""

    def __init__(
        self,
        model: str | Path | SmallModel,
        text_column: str,
        threshold: float | None,
        name: str,
    ) -> None:
        self.model, self.text_column, self.threshold, self.name = (
            model,
            text_column,
            threshold,
            name,
        )
        self.without_text = 0
        # Rows whose text a classifier read only the first CLASSIFIED_CHARS of.
        self.cut = 0
        # The longest text the model takes, in characters (None: any).
        self.limit: int | None = None
        self.nlp = nlp = load_small_model(model)
        if not isinstance(nlp, Language):
            # A MiniLM classifier (one label per text, torch's own threads) cuts a text at
            # its max_length in tokens; the n-grams read any.
            self.pipes, self.ner, self.labels = ["textcat"], False, scored_labels(nlp)
            self._check_threshold_applies()
            return
        self.pipes = _textcat_pipes(nlp)
        self.ner = bool({"ner", "spancat"} & set(nlp.pipe_names))
        if not self.pipes and not self.ner:
            raise LabelkitError(
                f"{model} has no text classifier or entity recognizer (pipes: {nlp.pipe_names})"
            )
        self.limit = _length_limit(nlp, loaded=nlp is not model)
        self.labels = scored_labels(nlp)
        self._check_threshold_applies()

    def _check_threshold_applies(self) -> None:
        """Refuse a threshold the model's answers would not read (trial 51b: a
        single-label model's file came out the same at 0.01 and 0.99, without a word)."""
        task = getattr(self.nlp, "meta", {}).get("labelkit", {}).get("task")
        if self.threshold is None or not (self.ner or (task is None and self.pipes == ["textcat"])):
            return
        answers = "spans" if self.ner else "one label per text, the most probable"
        named = f" {self.model}" if isinstance(self.model, str | Path) else ""
        raise InputError(
            f"the model{named} answers {answers}: a threshold (--threshold) only cuts a "
            "multi-label or attribute model's answers"
            + ("" if self.ner else "; to cut at a score, filter its score_<label> columns")
        )

    def stream(
        self,
        blocks: Iterable[pl.DataFrame],
        rows: int,
        n_process: int | None,
        *,
        progress: bool = True,
    ) -> Iterator[pl.DataFrame]:
        """Each block with its predictions, in order, ``PREDICT_BATCH`` texts at a time,
        with a progress bar unless ``progress`` is False."""
        if n_process is None:
            # torch runs a MiniLM classifier on every core already; forking it would not
            # help. spaCy and the n-grams run on one core each.
            forks = not getattr(self.nlp, "uses_every_core", False)
            n_process = _cores() if rows >= PARALLEL_ROWS and forks else 1
        if n_process < 1:
            raise InputError(f"n_process (--jobs) must be at least 1, not {n_process}")
        n_process = _workers_within_open_files(n_process)
        checked = self.checked(blocks)
        with (
            progress_bar(f"predicting {Path(self.name).name}", rows)
            if progress
            else contextlib.nullcontext(lambda done: None)
        ) as advance:
            for block, answers in (
                self._in_process(checked)
                if n_process == 1
                else self._in_workers(checked, n_process)
            ):
                advance(block.height)
                yield self.labeled(block, answers)

    def checked(
        self, blocks: Iterable[pl.DataFrame]
    ) -> Iterator[tuple[pl.DataFrame, list[str | None]]]:
        """Each block and its ``texts``, refused with the file's row number where one is
        too long for the model; the rows without text are counted in ``without_text``."""
        offset, limit = 0, self.limit
        for block in blocks:
            if self.text_column not in block.columns:
                raise InputError(
                    f"{self.name}: no column {self.text_column!r}; columns are {block.columns}"
                    + (
                        did_you_mean(self.text_column, block.columns)
                        or " (choose one with text_column / --text-column)"
                    )
                )
            if (dtype := block.schema[self.text_column]).is_nested() or dtype.is_numeric():
                # Trial 33: a list column failed in a polars cast, naming no column;
                # trial 44: numbers were labelled as their digits, which ingest refuses.
                raise InputError(
                    f"{self.name}: column {self.text_column!r} holds {dtype}, not text "
                    "(choose the text column with text_column / --text-column)"
                )
            if dtype == pl.Binary:
                # Trial 49c: polars' "invalid utf8", or a traceback once written to CSV.
                raise InputError(
                    f"{self.name}: column {self.text_column!r} holds bytes (Binary), not "
                    "text: store it as text, decoded from its encoding (in polars, "
                    "pl.col(...).cast(pl.String) for UTF-8)"
                )
            texts = self.texts(block)
            if offset == 0:
                self._warn_if_not_text(block, texts)
            self.without_text += texts.null_count()
            too_long = (texts.str.len_chars() > limit).arg_true() if limit else []
            if len(too_long):
                raise InputError(
                    f"{self.name} row {offset + too_long[0] + 1}, column {self.text_column!r}: "
                    f"the text is longer than the model's limit of {limit:,} "
                    "characters; split or shorten it"
                )
            if not limit:
                # A classifier reads a text's start: one text of 50 MB took 11.8 GB of
                # memory in the n-grams (trial 58b), and refusing it stopped the file.
                long = texts.str.len_chars() > CLASSIFIED_CHARS
                self.cut += int(long.sum())
                texts = texts.str.slice(0, CLASSIFIED_CHARS) if long.any() else texts
            offset += block.height
            yield block, texts.to_list()

    def texts(self, block: pl.DataFrame) -> pl.Series:
        """The block's texts, null where there is none: missing, empty or whitespace only."""
        texts = block[self.text_column].cast(pl.String)
        return texts.scatter((texts.str.strip_chars() == "").arg_true(), None)

    def _warn_if_not_text(self, block: pl.DataFrame, texts: pl.Series) -> None:
        """Warn when the first block's texts are single words while another column holds
        sentences: the text column is likely the wrong one (trial 32: ``--text-column id``
        gave every row empty spans without a word)."""
        if texts.str.contains(r"\s").any() or texts.null_count() == texts.len():
            return
        wordy = [
            name
            for name, dtype in block.schema.items()
            if name != self.text_column
            and dtype == pl.String
            and (block[name].str.contains(r"\S\s+\S").mean() or 0.0) >= 0.5
        ]
        if wordy:
            warnings.warn(
                f"{self.name}: column {self.text_column!r} holds no text of more than one "
                f"word, and column {wordy[0]!r} does: is it the text column "
                "(text_column / --text-column)?",
                NoTextWarning,
                stacklevel=4,
            )

    def warn_without_text(self) -> None:
        """Say how many rows ``checked`` found without text, if any: their predictions
        are null; and how many texts a classifier read the start of (warnings, which the
        CLI prints as notes)."""
        if self.cut:
            warnings.warn(
                f"{self.name}: {self.cut:,} {'text is' if self.cut == 1 else 'texts are'} "
                f"longer than {CLASSIFIED_CHARS:,} characters; the predictions read the "
                "first that many",
                NoTextWarning,
                stacklevel=3,
            )
        if self.without_text:
            warnings.warn(
                f"{self.name}: {self.without_text:,} "
                f"{'row has' if self.without_text == 1 else 'rows have'} no text (missing, empty or "
                "whitespace only); their predictions are null",
                NoTextWarning,
                stacklevel=3,
            )

    def _in_process(
        self, checked: Iterator[tuple[pl.DataFrame, list[str | None]]]
    ) -> Iterator[tuple[pl.DataFrame, list[Any]]]:
        for block, texts in checked:
            yield block, self.answers(texts)

    def answers(self, texts: list[str | None]) -> list[Any]:
        """The model's answers to ``texts`` in this process, ``PREDICT_BATCH`` at a time:
        for ``labeled``. A missing text's answer is None."""
        answers = []
        for start in range(0, len(texts), PREDICT_BATCH):
            answers += _answers(self.nlp, texts[start : start + PREDICT_BATCH], self.labels)
        return answers

    def _in_workers(
        self, checked: Iterator[tuple[pl.DataFrame, list[str | None]]], n_process: int
    ) -> Iterator[tuple[pl.DataFrame, list[Any]]]:
        """The blocks labeled by ``n_process`` workers, each text batch a task; at most two
        blocks are read ahead of the one being yielded, so memory stays bounded."""
        # fork where there is one, as spaCy's own nlp.pipe(n_process=...) does: a worker
        # starts with the model loaded, and a script without a __main__ guard still works.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        model = self.model if isinstance(self.model, str | Path) else self.nlp
        pool = ProcessPoolExecutor(
            n_process,
            mp_context=context,
            initializer=_load_worker,
            initargs=(model, os.getpid()),
        )
        try:
            pending: deque[tuple[pl.DataFrame, list[Future[list[Any]]]]] = deque()
            for block, texts in checked:
                tasks = [
                    pool.submit(_worker_answers, texts[start : start + PREDICT_BATCH], self.labels)
                    for start in range(0, len(texts), PREDICT_BATCH)
                ]
                pending.append((block, tasks))
                if len(pending) > 2:
                    yield _collected(pending.popleft())
            while pending:
                yield _collected(pending.popleft())
        except BaseException:
            # Ctrl-C, a SIGTERM or an error: the batches not yet handed to a worker are
            # cancelled (left to run, they labeled every block read ahead: a minute after
            # Ctrl-C on 240k rows, trial 46), and the few a worker holds are waited for.
            # Killing the workers instead could cut one off halfway through sending its
            # answers, and the pool then waited forever for the rest of them (trial 54c:
            # predict hung after Ctrl-C, and `kill PID` left its workers running).
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()

    def labeled(self, block: pl.DataFrame, answers: list[Any]) -> pl.DataFrame:
        """``block`` with the columns its ``answers`` make, null in every one where the
        answer is None (no text)."""
        if self.ner:
            added = pl.DataFrame({"spans": answers}, schema={"spans": pl.String})
            return _joined(block, added, self.name)
        unscored = [None] * len(self.labels)
        table = pl.DataFrame(
            [unscored if answer is None else answer for answer in answers],
            schema={f"score_{label}": pl.Float64 for label in self.labels},
            orient="row",
        )
        meta = getattr(self.nlp, "meta", {})
        task = meta.get("labelkit", {}).get("task")
        if task is not None:
            kind = Task.from_json(json.dumps(task))
            chosen = _attribute_answers(kind, table.columns, self.threshold)
            added = table.select(*chosen, pl.all())
            if kind.kind == "multilabel":
                # Gold went in as a list; the answer comes out as one too (trial 33).
                said = [
                    pl.when(pl.col(f"predicted_{label}") == YES).then(pl.lit(label))
                    for label in kind.targets
                ]
                labels = pl.concat_list(said).list.drop_nulls().alias("predicted_labels")
                added = added.select(labels, pl.all())
        elif self.pipes == ["textcat"]:
            added = _exclusive_answers(table, self.labels)
        else:
            top = pl.concat_list(table.columns)
            columns = zip(table.columns, self.labels, strict=True)
            over = [
                pl.when(pl.col(c) >= _cut(self.threshold)).then(pl.lit(label))
                for c, label in columns
            ]
            picked = pl.concat_list(over).list.drop_nulls().alias("predicted_labels")
            added = table.select(picked, top.list.max().alias("confidence"), pl.all())
        # An attribute's absent answer or an empty label list would claim a prediction.
        scored = pl.Series([answer is not None for answer in answers], dtype=pl.Boolean)
        return _joined(block, added.with_columns(pl.when(scored).then(pl.all())), self.name)


def _textcat_pipes(nlp: Language) -> list[str]:
    return [pipe for pipe in nlp.pipe_names if pipe.startswith("textcat")]


def scored_labels(nlp: SmallModel) -> list[str]:
    """The labels a small model scores, in its order: a spaCy pipeline's, over its text
    classifiers in turn; a scorer of another library's, its own.

    Examples
    --------
    >>> scored_labels(spacy.load("models/spam/model-best"))
    ['ham', 'spam']
    """
    if not isinstance(nlp, Language):
        return list(nlp.labels)
    return [label for pipe in _textcat_pipes(nlp) for label in nlp.get_pipe(pipe).labels]


def _answers(nlp: SmallModel, texts: list[str | None], labels: list[str]) -> list[Any]:
    """Each text's spans as JSON (an entity recognizer or span categorizer) or its score
    per label; None for a missing text, which the model never sees (a prediction for
    no text would be the model's prior passed off as an answer)."""
    present = [text for text in texts if text is not None]
    if not isinstance(nlp, Language):
        scored = list(nlp.pipe(present))
    elif {"ner", "spancat"} & set(nlp.pipe_names):
        scored = [spans_json(predicted_spans(doc)) for doc in nlp.pipe(present)]
    else:
        scored = [[doc.cats[label] for label in labels] for doc in nlp.pipe(present)]
    answers = iter(scored)
    return [None if text is None else next(answers) for text in texts]


_WORKER_NLP: list[SmallModel] = []


def _load_worker(model: str | Path | SmallModel, parent: int) -> None:
    end_with_parent(parent)
    # The stops are the parent's to handle, which lets the workers finish the batches
    # they hold: a worker that took Ctrl-C turned it into the answer of its batch and
    # went on; one killed halfway through sending its answers left the pool waiting
    # forever for the rest (trial 54c and the second read of stop 54).
    leave_stops_to_parent()
    nlp = load_small_model(model)
    if isinstance(nlp, Language):
        _length_limit(nlp, loaded=nlp is not model)
    _WORKER_NLP.append(nlp)


def _length_limit(nlp: Language, *, loaded: bool) -> int | None:
    """The longest text, in characters, that ``nlp`` takes (None: any). spaCy's
    ``max_length`` guards the memory of a parser or entity recognizer, which text
    classifiers have not: a pipeline of those alone that labelkit ``loaded`` (not one it
    was handed) has it lifted (trial J: one text of over a million characters stopped
    a file of 60,001 rows that the n-grams labeled whole)."""
    if loaded and all(pipe.startswith("textcat") or pipe == "tok2vec" for pipe in nlp.pipe_names):
        nlp.max_length = sys.maxsize
        return None
    return nlp.max_length


def _worker_answers(texts: list[str | None], labels: list[str]) -> list[Any]:
    return _answers(_WORKER_NLP[0], texts, labels)


def _collected(
    pending: tuple[pl.DataFrame, list[Future[list[Any]]]],
) -> tuple[pl.DataFrame, list[Any]]:
    block, tasks = pending
    return block, [answer for task in tasks for answer in task.result()]


# Open files a worker costs its parent (pipes, a sentinel), with room to spare; and the
# files kept free for everything else.
FILES_PER_WORKER = 3
FILES_SPARE = 16


def _workers_within_open_files(wanted: int) -> int:
    """``wanted`` workers, or as many as the limit on open files allows, with a warning:
    past it, starting the pool failed with "Too many open files" and predict hung
    (trial 60e: ``ulimit -n 64`` and ``--jobs 32``, as a 32-core server's default)."""
    if wanted == 1:
        return wanted
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except ImportError:  # no such limit (Windows)
        return wanted
    if limit == resource.RLIM_INFINITY:
        return wanted
    used = next((len(os.listdir(d)) for d in ("/proc/self/fd", "/dev/fd") if os.path.isdir(d)), 0)
    allowed = max(1, (limit - used - FILES_SPARE) // FILES_PER_WORKER)
    if allowed < wanted:
        warnings.warn(
            f"{wanted} worker processes would pass the limit of {limit} open files "
            f"(ulimit -n); predicting with {allowed}",
            LabelkitWarning,
            stacklevel=4,
        )
    return min(wanted, allowed)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _exclusive_answers(table: pl.DataFrame, labels: list[str]) -> pl.DataFrame:
    """``predicted`` (the top label) and ``confidence`` (its score) before the
    ``score_<label>`` columns of one-label-per-text scores."""
    top = pl.concat_list(table.columns)
    chosen = top.list.arg_max().replace_strict(dict(enumerate(labels)), return_dtype=pl.String)
    return table.select(chosen.alias("predicted"), top.list.max().alias("confidence"), pl.all())


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None:
        check_range("threshold", threshold, low=0, high=1, why=" (a probability)")


def _cut(threshold: float | None) -> float:
    """The score at which a label counts as present where the model scores no absent
    answer: ``threshold``, or ``DEFAULT_THRESHOLD`` when none is given."""
    return DEFAULT_THRESHOLD if threshold is None else threshold


def _attribute_answers(task: Task, columns: list[str], threshold: float | None) -> list[pl.Expr]:
    """``predicted_<attribute>`` and ``confidence_<attribute>`` for every attribute,
    from the ``score_<attribute>=<answer>`` columns (``threshold`` as ``predict_frame``
    takes it)."""
    absent = absent_answer(task)
    answers = []
    for attribute in task.targets:
        named = {f"score_{output_name(attribute, a)}": a for a in task.answers(attribute).labels}
        scored = {column: answer for column, answer in named.items() if column in columns}
        best, top = _most_probable(scored)
        if absent in scored.values() and threshold is not None:
            # One classifier per attribute, over all its answers: present is every answer
            # but the absent one.
            absent_score = pl.col(next(c for c, a in scored.items() if a == absent))
            on = 1 - absent_score >= threshold
            best_present, top_present = _most_probable(
                {column: answer for column, answer in scored.items() if answer != absent}
            )
            predicted = pl.when(on).then(best_present).otherwise(pl.lit(absent))
            confidence = pl.when(on).then(top_present).otherwise(absent_score)
        elif absent in scored.values():
            predicted, confidence = best, top
        else:
            on = top >= _cut(threshold)
            predicted = pl.when(on).then(best).otherwise(pl.lit(absent))
            confidence = pl.when(on).then(top).otherwise(1 - top)
        answers += [
            predicted.alias(f"predicted_{attribute}"),
            confidence.alias(f"confidence_{attribute}"),
        ]
    return answers


def _most_probable(scored: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """The answer whose score column (``scored`` maps column to answer) is highest, and
    that score."""
    scores = pl.concat_list(list(scored))
    best = scores.list.arg_max().replace_strict(
        dict(enumerate(scored.values())), return_dtype=pl.String
    )
    return best, scores.list.max()


def _joined(frame: pl.DataFrame, added: pl.DataFrame, name: str) -> pl.DataFrame:
    clash = sorted(set(added.columns) & set(frame.columns))
    if clash:
        # Trial 48a: a labelled file was refused with no way out said.
        raise InputError(
            f"{name}: already has columns {clash}, which predictions add and never "
            "overwrite: rename or drop them in the input first"
        )
    return pl.concat([frame, added], how="horizontal")
