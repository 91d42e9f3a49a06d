"""Small-model defaults that fit small data: a sweep of learning rate, L2, n-gram size,
epochs and dropout for the registered small models, scored on dev, never on test.

Sets (each a train / dev pair; the test split is scored too, for the record only):

- ``youtube``, ``sms``: WRENCH's gold train labels (SMS subsampled to 1,000), gold dev;
- ``youtube-300``, ``sms-300``: 300 train examples drawn per seed, to see underfitting;
- ``demo``: the bundled UCI YouTube comments, Snorkel's labels from labelkit's own LFs
  (as the demo trains), gold dev; ``demo-300`` its 300-example draw;
- ``topic``: the tutorial's topic step (ham comments, three LFs, Snorkel's labels); its
  120 hand labels are split in two by a fixed hash: 60 dev, 60 test.

``char`` (``tfidf_char_logreg``) is run beside them with one setting, its own: it
chooses its regularisation on dev as it trains.

Each model and setting is trained with ``train_textcat`` (checkpoint chosen on dev) once
per seed. The rule that picks the defaults: per model, the setting with the best mean
rank of dev accuracy over the sets (ties by mean dev accuracy), among the settings run
with every seed asked for. ``--grid`` names the settings to run (``all`` or a list of
labels); results of earlier runs are kept, so the wide grid runs with one seed and the
shortlist with three.

    python benchmarks/small_model_defaults.py --data-dir ../shared/data --seeds 1
    python benchmarks/small_model_defaults.py --seeds 3 --grid bow:lr=0.01,ng=2 ...
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from _common import WRENCH_SPLITS, parser, write_results

import labelkit as lk
from labelkit.demo import YOUTUBE_INGEST
from labelkit.report import markdown_table
from labelkit.train import predict_frame

MODELS = {
    "bow": "spacy_textcat_bow",
    "static": "spacy_textcat_static",
    "bow_vectors": "spacy_textcat_bow_vectors",
    # No setting to sweep: it chooses its regularisation on dev itself.
    "char": "tfidf_char_logreg",
}
# spaCy's own defaults, named in full so that a label means the same after labelkit's
# defaults change: a setting's label says only where it differs from these.
BASELINE = {"learn_rate": 0.001, "l2": 0.01, "ngram_size": 1, "max_epochs": 30, "dropout": 0.1}
TAKES = {
    "bow": ("learn_rate", "l2", "ngram_size", "max_epochs"),
    "static": ("learn_rate", "l2", "max_epochs", "dropout"),
    "bow_vectors": tuple(BASELINE),
    "char": (),
}
SHORT = {"lr": "learn_rate", "l2": "l2", "ng": "ngram_size", "ep": "max_epochs", "do": "dropout"}
SMALL = 300
SMS_TRAIN = 1_000
TUTORIAL = Path(__file__).parents[1] / "docs" / "tutorial"


def setting(label: str) -> tuple[str, dict[str, Any]]:
    """``bow:lr=0.01,ng=2`` -> the registered model and its parameters (``BASELINE``
    where the label names none).

    Examples
    --------
    >>> setting("bow:lr=0.01,ng=2")
    ('spacy_textcat_bow', {'learn_rate': 0.01, 'l2': 0.01, 'ngram_size': 2, 'max_epochs': 30})
    """
    short, _, rest = label.partition(":")
    params: dict[str, Any] = {key: BASELINE[key] for key in TAKES[short]}
    for pair in filter(None, rest.split(",")):
        key, value = pair.split("=")
        params[SHORT[key]] = int(value) if key in ("ng", "ep") else float(value)
    return MODELS[short], params


def grid(models: tuple[str, ...] = tuple(MODELS)) -> list[str]:
    """The wide grid: learning rate and epochs first (the issue's underfitting), then
    n-grams and L2 for the bag of words, dropout for the vector models.

    Examples
    --------
    >>> grid(("bow",))[:3]
    ['bow:', 'bow:lr=0.003', 'bow:lr=0.01']
    """
    labels = {
        "bow": [
            *("", "lr=0.003", "lr=0.01", "lr=0.03", "ep=10", "lr=0.01,ep=10"),
            *("lr=0.003,ng=2", "lr=0.01,ng=2", "lr=0.01,ng=3", "lr=0.01,l2=0", "lr=0.01,l2=0.1"),
        ],
        "static": ["", "lr=0.01"],
        "bow_vectors": ["", "lr=0.01", "lr=0.01,do=0"],
        "char": [""],
    }
    return [f"{short}:{label}" for short in models for label in labels[short]]


def wrench(name: str, limit: int | None) -> Callable[[Path, Path, int], tuple[Any, ...]]:
    def load(data_dir: Path, scratch: Path, seed: int) -> tuple[Any, ...]:
        folder = data_dir / "wrench" / name
        with lk.Workspace(scratch / f"{name}.duckdb") as ws:
            lk.ingest(ws, [folder / f"{split}.json" for split in WRENCH_SPLITS])
            frames = [
                ws.sql(f"SELECT id, text, gold AS label FROM examples WHERE split = '{split}'")
                for split in ("train", "dev", "test")
            ]
            labels = ws.task.labels
        if limit is not None:
            frames[0] = frames[0].sample(min(limit, frames[0].height), seed=seed)
        return (*frames, labels)

    return load


def demo(limit: int | None) -> Callable[[Path, Path, int], tuple[Any, ...]]:
    def load(data_dir: Path, scratch: Path, seed: int) -> tuple[Any, ...]:
        with lk.Workspace(scratch / "demo.duckdb") as ws:
            lk.ingest(
                ws, sorted(lk.bundled_dataset("youtube-spam").glob("*.csv")), **YOUTUBE_INGEST
            )
            lk.apply_lfs(ws, lk.load_lfs("labeling_functions.youtube"))
            lk.aggregate(ws, "snorkel")
            train = lk.cleaned_labels(ws).select("id", "text", "label")
            dev, test = (
                ws.sql(f"SELECT id, text, gold AS label FROM examples WHERE split = '{split}'")
                for split in ("dev", "test")
            )
            labels = ws.task.labels
        if limit is not None:
            train = train.sample(min(limit, train.height), seed=seed)
        return train, dev, test, labels

    return load


def topic(data_dir: Path, scratch: Path, seed: int) -> tuple[Any, ...]:
    """The tutorial's topic step as it runs (its own functions), its hand labels split
    into dev and test by a hash of the comment id."""
    spec = importlib.util.spec_from_file_location("moderation", TUTORIAL / "moderation.py")
    tutorial = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tutorial)
    with lk.Workspace(scratch / "spam.duckdb") as ws:
        ham = tutorial.label_spam(ws).filter(pl.col("label") == "ham").select("id", "text")
    hand = pl.read_csv(TUTORIAL / "music_labels.csv")
    half = [int(hashlib.sha1(i.encode()).hexdigest(), 16) % 2 for i in hand["id"]]
    hand = hand.with_columns(pl.Series("split", ["dev" if h else "test" for h in half]))
    texts = pl.concat(
        pl.read_csv(path, infer_schema=False)
        for path in lk.bundled_dataset("youtube-spam").glob("*.csv")
    ).select(pl.col("COMMENT_ID").alias("id"), pl.col("CONTENT").alias("text"))
    judged = texts.unique("id", keep="first").join(hand, on="id")
    rows = pl.concat(
        [
            ham.filter(~pl.col("id").is_in(hand["id"])).with_columns(
                pl.lit(None, pl.String).alias("topic"), pl.lit("train").alias("split")
            ),
            judged.select("id", "text", "topic", "split"),
        ]
    )
    rows.write_csv(scratch / "topic.csv")
    with lk.Workspace(scratch / "topic.duckdb") as ws:
        lk.ingest(
            ws,
            scratch / "topic.csv",
            id_column="id",
            label_column="topic",
            split_column="split",
            labels=["music", "other"],
        )
        lk.apply_lfs(
            ws,
            [
                lk.keyword_lf("music_words", tutorial.MUSIC_WORDS, "music"),
                lk.keyword_lf("views", ["views", "billion", "million", "video"], "other"),
                tutorial.no_music_words,
            ],
        )
        lk.aggregate(ws, "snorkel")
        train = lk.cleaned_labels(ws).select("id", "text", "label")
        dev, test = (
            ws.sql(f"SELECT id, text, gold AS label FROM examples WHERE split = '{split}'")
            for split in ("dev", "test")
        )
    return train, dev, test, ["music", "other"]


SETS: dict[str, Callable[[Path, Path, int], tuple[Any, ...]]] = {
    "youtube": wrench("youtube", None),
    "youtube-300": wrench("youtube", SMALL),
    "sms": wrench("sms", SMS_TRAIN),
    "sms-300": wrench("sms", SMALL),
    "demo": demo(None),
    "demo-300": demo(SMALL),
    "topic": topic,
}


def scores(model: Path, frame: pl.DataFrame, labels: list[str]) -> dict[str, float]:
    """Accuracy and macro-F1 of the model's top class against ``frame``'s labels."""
    predicted = predict_frame(model, frame.select("text"))["predicted"]
    pairs = pl.DataFrame({"gold": frame["label"], "predicted": predicted})
    f1 = []
    for label in labels:
        tp = pairs.filter((pl.col("gold") == label) & (pl.col("predicted") == label)).height
        both = (pairs["gold"] == label).sum() + (pairs["predicted"] == label).sum()
        f1.append(2 * tp / both if both else 0.0)
    accuracy = float((pairs["gold"] == pairs["predicted"]).mean())
    return {"accuracy": accuracy, "macro_f1": sum(f1) / len(f1)}


def run(
    labels: list[str], sets: list[str], seeds: int, data_dir: Path, records: list[dict[str, Any]]
) -> None:
    done = {(r["dataset"], r["setting"], r["seed"]) for r in records}
    for name in sets:
        for seed in range(seeds):
            todo = [label for label in labels if (name, label, seed) not in done]
            if not todo:
                continue
            with tempfile.TemporaryDirectory() as scratch_dir:
                scratch = Path(scratch_dir)
                with contextlib.redirect_stdout(io.StringIO()):
                    train, dev, test, classes = SETS[name](data_dir, scratch, seed)
                for label in todo:
                    model, params = setting(label)
                    started = time.perf_counter()
                    path = lk.train_textcat(
                        train, classes, scratch / "model", model=model, dev=dev, seed=seed, **params
                    )
                    seconds = time.perf_counter() - started
                    dev_scores, test_scores = (
                        scores(path, dev, classes),
                        scores(path, test, classes),
                    )
                    record = {"dataset": name, "method": label, "setting": label, "seed": seed}
                    record |= {"train": train.height, "train_s": seconds}
                    record |= {f"dev_{k}": v for k, v in dev_scores.items()}
                    record |= {f"test_{k}": v for k, v in test_scores.items()}
                    records.append(record)
                    print(
                        f"{name:<12} {label:<32} seed {seed}  dev {dev_scores['accuracy']:.3f}"
                        f"  test {test_scores['accuracy']:.3f}  {seconds:.0f}s",
                        flush=True,
                    )


def ranking(records: list[dict[str, Any]], seeds: int) -> pl.DataFrame:
    """Per model, its settings by mean rank of mean dev accuracy over the sets; only the
    settings run on every set with ``seeds`` seeds compete."""
    frame = pl.DataFrame(records, infer_schema_length=None)
    per_set = frame.group_by("dataset", "setting").agg(
        pl.len().alias("seeds"),
        pl.col("dev_accuracy").mean(),
        pl.col("dev_accuracy").std().alias("dev_sd"),
        pl.col("test_accuracy").mean(),
    )
    sets = per_set["dataset"].n_unique()
    complete = (
        per_set.filter(pl.col("seeds") >= seeds)
        .group_by("setting")
        .agg(pl.len().alias("n"))
        .filter(pl.col("n") == sets)["setting"]
    )
    per_set = per_set.filter(pl.col("setting").is_in(complete.implode())).with_columns(
        pl.col("setting").str.split(":").list.first().alias("model")
    )
    ranked = per_set.with_columns(
        pl.col("dev_accuracy")
        .rank("average", descending=True)
        .over("dataset", "model")
        .alias("rank")
    )
    wide = ranked.pivot("dataset", index=["model", "setting"], values="dev_accuracy")
    return (
        ranked.group_by("model", "setting")
        .agg(
            pl.col("rank").mean().alias("mean_rank"),
            pl.col("dev_accuracy").mean().alias("mean_dev"),
            pl.col("dev_sd").mean().alias("mean_dev_sd"),
            pl.col("test_accuracy").mean().alias("mean_test"),
        )
        .join(wide, on=["model", "setting"])
        .sort("model", "mean_rank", pl.col("mean_dev"), descending=[False, False, True])
    )


def finalists(records: list[dict[str, Any]], labels: list[str], n: int) -> list[str]:
    """The ``n`` best of ``labels`` per model by the one-seed ranking, with each model's
    spaCy defaults (``bow:``) to compare with."""
    ranked = ranking(records, 1).filter(pl.col("setting").is_in(labels))
    best = ranked.group_by("model", maintain_order=True).head(n)["setting"].to_list()
    models = dict.fromkeys(label.split(":")[0] for label in labels)
    return [*dict.fromkeys([f"{model}:" for model in models] + best)]


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=1)
    arguments.add_argument("--sets", nargs="*", choices=list(SETS), default=list(SETS))
    arguments.add_argument(
        "--grid", nargs="*", default=["all"], help="settings, or all, or a model's short name"
    )
    arguments.add_argument(
        "--finalists",
        type=int,
        default=0,
        help="instead: the best N settings per model of --grid by the one-seed ranking, "
        "and spaCy's defaults, run with --seeds",
    )
    arguments = arguments.parse_args()
    labels = [
        label
        for given in arguments.grid
        for label in (grid() if given == "all" else grid((given,)) if given in MODELS else [given])
    ]
    path = arguments.output_dir / "small_model_defaults.json"
    records = []
    if path.is_file():
        records = [record for record in json.loads(path.read_text(encoding="utf-8"))]
    if arguments.finalists:
        labels = finalists(records, labels, arguments.finalists)
        print("finalists:", " ".join(labels), flush=True)
    started = time.perf_counter()
    for name in arguments.sets:
        run(labels, [name], arguments.seeds, arguments.data_dir, records)
        # Written after each set, so that a long run keeps what it finished.
        tables = "\n\n".join(
            f"## Ranked on dev, settings with {n} seed(s) on every set\n\n"
            + markdown_table(ranking(records, n))
            for n in sorted({1, arguments.seeds}, reverse=True)
        )
        notes = (
            "Dev accuracy per set (mean over seeds), ranked per model; `mean_test` is for "
            "the record and chose nothing. Settings: lr = learn rate (Adam), l2 = weight "
            "decay, ng = n-gram size, ep = max epochs, do = dropout; unnamed ones are "
            "spaCy's defaults (lr 0.001, l2 0.01, ng 1, ep 30, do 0.1). "
            f"This run: {time.perf_counter() - started:.0f} s."
        )
        write_results(
            "small_model_defaults",
            records,
            arguments.output_dir,
            notes,
            table=tables,
        )


if __name__ == "__main__":
    main()
