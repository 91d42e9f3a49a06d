"""Shipping the small model: an installable package with its evaluation inside, and
batch prediction over table files."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl
import spacy
from rich.progress import Progress
from spacy.cli.package import package as spacy_package
from spacy.language import Language

from labelkit.data import as_frame, read_table, table_format
from labelkit.errors import InputError, LabelkitError
from labelkit.evaluation import Evaluation
from labelkit.export import write_spans_jsonl
from labelkit.spans import spans_json
from labelkit.task import Task
from labelkit.train.attributes import absent_answer, output_name
from labelkit.train.ner import predicted_spans

PREDICT_BATCH = 2_000


@runtime_checkable
class TextScorer(Protocol):
    """A small model that is no spaCy pipeline (the MiniLM fine-tune's
    ``minilm_loader.TextClassifier``): its ``labels``, and ``pipe``, one list of
    probabilities per text in their order."""

    labels: list[str]

    def pipe(self, texts: Iterable[str], batch_size: int = ...) -> Iterator[list[float]]: ...


SmallModel = Language | TextScorer


def load_small_model(model: str | Path | SmallModel) -> SmallModel:
    """A trained small model of either kind, from its folder or installed package: a
    spaCy pipeline, or a MiniLM classifier (torch and transformers are imported for
    that one only). A loaded model is returned as it is.

    Examples
    --------
    >>> load_small_model("models/spam/minilm_finetune/model-best").labels
    ['ham', 'spam']
    """
    if isinstance(model, Language | TextScorer):
        return model
    folder = minilm_folder(model)
    if folder is not None:
        from labelkit.train.minilm_loader import TextClassifier
        from labelkit.train.transformer import quiet_transformers

        with quiet_transformers():
            return TextClassifier(folder)
    return spacy.load(model)


def minilm_folder(model: str | Path) -> Path | None:
    """The folder of the MiniLM classifier that ``model`` names (a model folder, or an
    installed package made by ``package_model``), else None.

    Examples
    --------
    >>> minilm_folder("models/spam/spacy_textcat_bow/model-best") is None
    True
    """
    from labelkit.train.transformer import is_minilm_folder

    path = Path(model)
    if path.is_dir():
        return path if is_minilm_folder(path) else None
    if not str(model).isidentifier():
        return None
    spec = importlib.util.find_spec(str(model))
    if spec is None or spec.origin is None:
        return None
    packaged = Path(spec.origin).parent / "model"
    return packaged if is_minilm_folder(packaged) else None


def package_model(
    model_path: str | Path,
    output_dir: str | Path,
    *,
    name: str = "labelkit_model",
    version: str = "0.1.0",
    evaluation: Evaluation | None = None,
    wheel: bool = True,
) -> Path:
    """Make an installable spaCy package of a trained model; return the wheel (or, with
    ``wheel=False``, the package's source folder).

    The package is spaCy's own (``spacy package``), named ``en_<name>``. With an
    ``evaluation``, its small-model figures become the package's ``performance`` and
    the whole comparison is kept under ``labelkit`` in ``meta.json``, so the model
    carries the evidence that it beat its teachers. The wheel is built by pip.

    Examples
    --------
    >>> package_model("models/spam/model-best", "dist", name="spam", evaluation=evaluate(ws, m))
    PosixPath('/home/me/dist/en_spam-0.1.0/dist/en_spam-0.1.0-py3-none-any.whl')
    """
    # Absolute: pip builds the wheel from inside the package folder.
    model_path, output = Path(model_path), Path(output_dir).resolve()
    if not (model_path / "meta.json").is_file():
        raise LabelkitError(f"no trained model at {model_path}: run `labelkit train` first")
    if not name.isidentifier():
        raise InputError(f"package name {name!r} must be a Python identifier, e.g. spam_model")
    output.mkdir(parents=True, exist_ok=True)
    if minilm_folder(model_path) is not None:
        return _package_minilm(model_path, output, name, version, evaluation, wheel)
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / "model"
        shutil.copytree(model_path, staged)
        meta = json.loads((staged / "meta.json").read_text())
        meta |= {"name": name, "version": version}
        ner = "ner" in meta.get("pipeline", [])
        what = "An entity recognizer" if ner else "A text classifier"
        meta["description"] = f"{what} distilled with labelkit."
        if evaluation is not None:
            evaluated = _evaluation_meta(evaluation)
            # Kept beside what training put there (a task with attributes keeps its task).
            evaluated["labelkit"] = {**meta.get("labelkit", {}), **evaluated["labelkit"]}
            meta |= evaluated
        (staged / "meta.json").write_text(json.dumps(meta, indent=2))
        spacy_package(
            staged,
            output,
            name=name,
            version=version,
            create_sdist=False,
            force=True,
            silent=True,
        )
    source = output / f"{meta['lang']}_{name}-{version}"
    return _wheel(source) if wheel else source


def _package_minilm(
    model_path: Path,
    output: Path,
    name: str,
    version: str,
    evaluation: Evaluation | None,
    wheel: bool,
) -> Path:
    """The MiniLM classifier as a package ``en_<name>`` whose code is its loader:
    ``import en_<name>; en_<name>.load()(texts)`` needs torch and transformers alone."""
    # Found, not imported: importing it would import torch.
    loader = importlib.util.find_spec("labelkit.train.minilm_loader").origin
    package = f"en_{name}"
    source = output / f"{package}-{version}"
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(model_path, source / package / "model", ignore=shutil.ignore_patterns("*.py"))
    shutil.copyfile(loader, source / package / "__init__.py")
    meta_path = source / package / "model" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta |= {"name": name, "version": version}
    meta["description"] = "A text classifier (MiniLM fine-tuned) distilled with labelkit."
    if evaluation is not None:
        evaluated = _evaluation_meta(evaluation)
        evaluated["labelkit"] = {**meta["labelkit"], **evaluated["labelkit"]}
        meta |= evaluated
    meta_path.write_text(json.dumps(meta, indent=2))
    (source / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=69"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        f'name = "{package}"\n'
        f'version = "{version}"\n'
        f'description = "{meta["description"]}"\n'
        'dependencies = ["torch", "transformers", "safetensors"]\n\n'
        "[tool.setuptools]\n"
        f'packages = ["{package}"]\n\n'
        "[tool.setuptools.package-data]\n"
        f'{package} = ["model/*", "model/encoder/*"]\n'
    )
    return _wheel(source) if wheel else source


def _wheel(source: Path) -> Path:
    """Build the wheel of the package in ``source`` with pip; return its path."""
    dist = source / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise LabelkitError(f"building the wheel in {source} failed:\n{built.stderr[-2000:]}")
    return next(dist.glob("*.whl"))


def _evaluation_meta(evaluation: Evaluation) -> dict[str, object]:
    small = evaluation.summary.filter(pl.col("kind") == "small model")
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
            "words_per_s": row["words_per_s"],
        }
    else:
        performance = {
            key: row[key] for key in ("accuracy", "macro_f1", "ece", "words_per_s") if row[key]
        }
    return {
        "performance": performance,
        "labelkit": {
            "summary": evaluation.summary.to_dicts(),
            "per_class": evaluation.per_class.filter(pl.col("method") == row["method"]).to_dicts(),
        },
    }


def predict_frame(
    model: str | Path | Language,
    frame: pl.DataFrame,
    *,
    text_column: str = "text",
    threshold: float = 0.5,
) -> pl.DataFrame:
    """Label every row of a polars (or pandas) frame; return it with the predictions added.

    An entity recognizer (a spans task's model, ``train_ner``) adds one column,
    ``spans``: each text's entities as JSON ``[[start, end, label], ...]``, character
    offsets into the text as given (``[]``: none).

    The columns added are ``predicted`` (for a multi-label model: ``predicted_labels``,
    the list of those scoring at least ``threshold``), ``confidence`` (the top score) and
    one ``score_<label>`` column per label. ``model`` is a trained model's folder, an
    installed package, or a loaded spaCy pipeline.

    A model of a task with attributes (``train_attributes``) answers every attribute:
    ``predicted_<attribute>`` (e.g. ``positive`` or ``none``; ``yes`` or ``no`` for a
    multi-label task) and ``confidence_<attribute>``, then one ``score_<output>`` per
    output of the model (``score_food=positive``). Where the model has no output for
    the absent answer, an attribute is absent when none of its outputs reaches
    ``threshold``, with confidence one minus its top score.

    Examples
    --------
    >>> comments = pl.DataFrame({"text": ["subscribe to my channel", "lovely song"]})
    >>> predict_frame("models/spam/model-best", comments)["predicted"].to_list()
    ['spam', 'ham']
    """
    table = as_frame(frame)
    if table is None:
        raise InputError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")
    return _predict(model, table, text_column, threshold, "frame")


def predict_file(
    model: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    text_column: str = "text",
    threshold: float = 0.5,
    file_format: str | None = None,
) -> int:
    """Label every row of a CSV, TSV, JSONL or Parquet file; return the row count.

    The output (its format from its suffix) has the input's columns plus those of
    ``predict_frame``; in CSV, a multi-label model's ``predicted_labels`` are joined by
    ``|``; in JSONL, an entity recognizer's ``spans`` are JSON arrays ``[[start, end,
    label], ...]`` (JSON text in CSV and Parquet). ``model`` is a trained model's folder
    or an installed package.

    Examples
    --------
    >>> predict_file("models/spam/model-best", "new_comments.csv", "labeled.parquet")
    10000
    """
    input_path, output_path = Path(input_path), Path(output_path)
    output_kind = table_format(output_path)
    if output_kind not in ("csv", "jsonl", "parquet"):
        raise InputError(f"{output_path}: write predictions to .csv, .jsonl or .parquet")
    frame = read_table(input_path, file_format=file_format)
    result = _predict(model, frame, text_column, threshold, str(input_path))
    if output_kind == "csv" and "predicted_labels" in result.columns:
        result = result.with_columns(pl.col("predicted_labels").list.join("|"))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_kind == "jsonl" and "spans" in result.columns and "spans" not in frame.columns:
        write_spans_jsonl(result, output_path)
        return result.height
    {"csv": result.write_csv, "jsonl": result.write_ndjson, "parquet": result.write_parquet}[
        output_kind
    ](output_path)
    return result.height


def _predict(
    model: str | Path | Language,
    frame: pl.DataFrame,
    text_column: str,
    threshold: float,
    name: str,
) -> pl.DataFrame:
    if text_column not in frame.columns:
        raise InputError(
            f"{name}: no column {text_column!r}; columns are {frame.columns} "
            "(choose one with text_column / --text-column)"
        )
    texts = frame[text_column].cast(pl.String)
    if texts.null_count():
        row = texts.is_null().arg_true()[0] + 1
        raise InputError(f"{name} row {row}, column {text_column!r}: no text")
    nlp = load_small_model(model)
    if not isinstance(nlp, Language):
        scores = _scored(nlp.pipe, texts, name)
        table = pl.DataFrame(
            scores, schema=[f"score_{label}" for label in nlp.labels], orient="row"
        )
        return _joined(frame, _exclusive_answers(table, nlp.labels), name)
    too_long = (texts.str.len_chars() > nlp.max_length).arg_true()
    if too_long.len():
        raise InputError(
            f"{name} row {too_long[0] + 1}, column {text_column!r}: the text is longer than "
            f"the model's limit of {nlp.max_length:,} characters; split or shorten it"
        )
    pipes = [name for name in nlp.pipe_names if name.startswith("textcat")]
    ner = bool({"ner", "spancat"} & set(nlp.pipe_names))
    if not pipes and not ner:
        raise LabelkitError(
            f"{model} has no text classifier or entity recognizer (pipes: {nlp.pipe_names})"
        )
    labels = [label for pipe in pipes for label in nlp.get_pipe(pipe).labels]

    def answer(chunk: list[str]) -> Iterator[Any]:
        for doc in nlp.pipe(chunk):
            if ner:
                yield spans_json(predicted_spans(doc))
            else:
                yield [doc.cats[label] for label in labels]

    answers = _scored(answer, texts, name)
    if ner:
        return _joined(frame, pl.DataFrame({"spans": answers}, schema={"spans": pl.String}), name)
    table = pl.DataFrame(answers, schema=[f"score_{label}" for label in labels], orient="row")
    task = nlp.meta.get("labelkit", {}).get("task")
    if task is not None:
        answers = _attribute_answers(Task.from_json(json.dumps(task)), table.columns, threshold)
        added = table.select(*answers, pl.all())
        return _joined(frame, added, name)
    top = pl.concat_list(table.columns)
    if pipes == ["textcat"]:
        return _joined(frame, _exclusive_answers(table, labels), name)
    columns = zip(table.columns, labels, strict=True)
    picked = [pl.when(pl.col(c) >= threshold).then(pl.lit(label)) for c, label in columns]
    chosen = pl.concat_list(picked).list.drop_nulls().alias("predicted_labels")
    added = table.select(chosen, top.list.max().alias("confidence"), pl.all())
    return _joined(frame, added, name)


def _scored(pipe: Any, texts: pl.Series, name: str) -> list[Any]:
    """``pipe``'s answer for every text, in batches, with a progress bar."""
    answers: list[Any] = []
    with Progress(transient=True) as progress:
        bar = progress.add_task(f"predicting {Path(name).name}", total=texts.len())
        for start in range(0, texts.len(), PREDICT_BATCH):
            chunk = texts.slice(start, PREDICT_BATCH).to_list()
            answers += list(pipe(chunk))
            progress.update(bar, advance=len(chunk))
    return answers


def _exclusive_answers(table: pl.DataFrame, labels: list[str]) -> pl.DataFrame:
    """``predicted`` (the top label) and ``confidence`` (its score) before the
    ``score_<label>`` columns of one-label-per-text scores."""
    top = pl.concat_list(table.columns)
    chosen = top.list.arg_max().replace_strict(dict(enumerate(labels)), return_dtype=pl.String)
    return table.select(chosen.alias("predicted"), top.list.max().alias("confidence"), pl.all())


def _attribute_answers(task: Task, columns: list[str], threshold: float) -> list[pl.Expr]:
    """``predicted_<attribute>`` and ``confidence_<attribute>`` for every attribute,
    from the ``score_<attribute>=<answer>`` columns."""
    absent = absent_answer(task)
    answers = []
    for attribute in task.targets:
        named = {f"score_{output_name(attribute, a)}": a for a in task.answers(attribute).labels}
        scored = {column: answer for column, answer in named.items() if column in columns}
        scores = pl.concat_list(list(scored))
        best = scores.list.arg_max().replace_strict(
            dict(enumerate(scored.values())), return_dtype=pl.String
        )
        top = scores.list.max()
        if absent in scored.values():
            # One classifier per attribute, over all its answers.
            predicted, confidence = best, top
        else:
            on = top >= threshold
            predicted = pl.when(on).then(best).otherwise(pl.lit(absent))
            confidence = pl.when(on).then(top).otherwise(1 - top)
        answers += [
            predicted.alias(f"predicted_{attribute}"),
            confidence.alias(f"confidence_{attribute}"),
        ]
    return answers


def _joined(frame: pl.DataFrame, added: pl.DataFrame, name: str) -> pl.DataFrame:
    clash = sorted(set(added.columns) & set(frame.columns))
    if clash:
        raise InputError(f"{name}: already has columns {clash}, which predictions add")
    return pl.concat([frame, added], how="horizontal")
