"""Distillation: does the small model beat the teachers it learned from, on gold test data?

For WRENCH YouTube, WRENCH SMS and the bundled demo data (the UCI YouTube comments
with labelkit's own LFs), the pipeline runs as a user would run it: labeling
functions vote, the LLM votes where the data has answers, Snorkel's label model
(labelkit's default) combines them, ``find_label_issues`` queues likely errors, and
gold answers stand in for a reviewer who works through the queue. spaCy's
bag-of-words textcat (the default small model) is trained on:

- the LLM's answers alone (where the data has them);
- the label model's soft labels (its probabilities);
- the gold train labels, as a ceiling no labeling pipeline gets for free;

and the learning curves: the default and each of ``--architectures`` (the mean of
static word vectors distilled from MiniLM with a linear layer, ``spacy_textcat_static``,
the bag of words beside those vectors, ``spacy_textcat_bow_vectors``, and logistic
regression over character n-grams, ``tfidf_char_logreg``) trained on
the cleaned set after 0, 100 and 300 reviewed examples, ``--seeds`` seeds each (mean
and sd in the summary). Every model picks its best checkpoint on the gold dev split
(WRENCH's valid split), as the WRENCH protocol does. Test accuracy, macro-F1, size on
disk and words per second on one core (median of five ``nlp.pipe`` passes) come from
``labelkit.evaluate``.

The multi-class set, ``mams-food``: the MAMS-ACSA restaurant sentences that speak of
the food, labeled with the polarity toward it (positive, negative, neutral), the votes
of the restaurants demo's labeling functions on the food aspect as its sources.

LLM answers: the demo's recorded SmolLM2-135M answers cover every YouTube comment
(WRENCH YouTube holds the same 1,956 texts), so the YouTube sets replay them from the
cache; SMS has no LLM answers. WRENCH SMS's shipped valid/test votes do not belong
to their texts (see ``label_models.py``), so its 73 rules are re-applied by labelkit.

    python benchmarks/distill.py --data-dir ../shared/data [--datasets youtube sms] [--seeds 3]
        [--max-epochs 10]   # caps every training, to bound the run

With ``--datasets``, the rows of the other data sets are kept from the last results.

With matplotlib installed it also draws ``docs/distill_learning_curves.png``.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from _common import WRENCH_SPLITS, load_wrench, parser, plot_path, replay_llm, write_results
from label_models import sms_rules

from labelkit import (
    ReviewQueue,
    Workspace,
    aggregate,
    apply_lfs,
    bundled_dataset,
    cleaned_labels,
    evaluate,
    find_label_issues,
    import_votes,
    ingest,
    load_lfs,
    simulate_review,
    train_on_cleaned,
    train_textcat,
)
from labelkit.demo import RESTAURANTS_INGEST, YOUTUBE_INGEST
from labelkit.lf import regex_lf
from labelkit.report import markdown_table

REVIEWED = (0, 100, 300)
# The rows named "small model" are the bag of words, labelkit's default until the
# character n-grams (an architecture here) beat it on every set of this benchmark.
DEFAULT_MODEL = "spacy_textcat_bow"
# The ensembles with a CNN (7 MB, 26k-31k words/s) are left out by default to keep the
# run short: pass --architectures to add them.
ARCHITECTURES = ("spacy_textcat_static", "spacy_textcat_bow_vectors", "tfidf_char_logreg")
MAMS_ASPECT = "food"
PLOT = Path(__file__).parents[1] / "docs" / "distill_learning_curves.png"
LABEL_MODEL = "snorkel"


def load_wrench_youtube(ws: Workspace, data_dir: Path) -> None:
    load_wrench(ws, data_dir / "wrench" / "youtube", WRENCH_SPLITS)
    replay_llm(ws)


def load_wrench_sms(ws: Workspace, data_dir: Path) -> None:
    folder = data_dir / "wrench" / "sms"
    ingest(ws, [folder / f"{split}.json" for split in WRENCH_SPLITS])
    rules = sms_rules(folder / "readme.txt")
    apply_lfs(
        ws, [regex_lf(f"rule_{j}", pattern, label) for j, (label, pattern) in enumerate(rules)]
    )


def load_demo(ws: Workspace, data_dir: Path) -> None:
    ingest(ws, sorted(bundled_dataset("youtube-spam").glob("*.csv")), **YOUTUBE_INGEST)
    apply_lfs(ws, load_lfs("labeling_functions.youtube"))
    replay_llm(ws)


def load_mams_food(ws: Workspace, data_dir: Path) -> None:
    """The MAMS-ACSA sentences that mention the food, their gold polarity toward it as
    the label, and the restaurant LFs' polarity votes on the food aspect as sources."""
    with tempfile.TemporaryDirectory() as scratch:
        with Workspace(Path(scratch) / "aspects.duckdb") as aspects:
            ingest(
                aspects,
                sorted((data_dir / "aspects" / "mams-acsa").glob("*.xml")),
                **RESTAURANTS_INGEST,
            )
            apply_lfs(aspects, load_lfs("labeling_functions.restaurants"))
            rows = aspects.sql("SELECT id, text, split, gold FROM examples")
            rows = rows.with_columns(
                aspects.task.gold_answers(rows["gold"], MAMS_ASPECT).alias("label")
            ).filter(pl.col("label").is_in(RESTAURANTS_INGEST["labels"]))
            votes = aspects.sql(
                "SELECT example_id, source, label FROM votes WHERE attribute = ?", [MAMS_ASPECT]
            )
        rows.select("id", "text", "label", "split").write_csv(Path(scratch) / "food.csv")
        ingest(
            ws,
            Path(scratch) / "food.csv",
            id_column="id",
            label_column="label",
            split_column="split",
            labels=RESTAURANTS_INGEST["labels"],
        )
    # "mentioned" says the food is spoken of, not how: no vote on the polarity.
    import_votes(
        ws,
        votes.filter(
            pl.col("label").is_in(RESTAURANTS_INGEST["labels"])
            & pl.col("example_id").is_in(rows["id"].implode())
        ),
    )


DATASETS: dict[str, Callable[[Workspace, Path], None]] = {
    "youtube": load_wrench_youtube,
    "sms": load_wrench_sms,
    "demo (bundled)": load_demo,
    "mams-food": load_mams_food,
}


def quietly(train: Callable[[], Path]) -> tuple[Path, float]:
    """Train with spaCy's per-epoch table kept off the screen; return the model and seconds."""
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        path = train()
    return path, time.perf_counter() - started


def label_quality(ws: Workspace, labels: pl.DataFrame) -> dict[str, float]:
    """How many train examples the training labels cover, and how many of those are right."""
    train = ws.sql("SELECT id, gold FROM examples WHERE split = 'train'")
    joined = train.join(labels.select("id", "label"), on="id", how="left")
    covered = joined.filter(pl.col("label").is_not_null())
    return {
        "train_labels": float(covered.height),
        "train_label_accuracy": float((covered["label"] == covered["gold"]).mean()),
    }


def small_model_row(ws: Workspace, model: Path) -> dict[str, Any]:
    summary = evaluate(ws, model).summary
    row = summary.filter(pl.col("kind") == "small model").row(0, named=True)
    return {key: row[key] for key in ("accuracy", "macro_f1", "ece", "size_mb", "words_per_s")}


def teacher(dataset: str, ws: Workspace, kind: str, shown: str) -> dict[str, Any]:
    """The test scores of the stored label model (``kind`` label model) or an LLM source.

    ``accuracy`` counts an abstain as wrong; ``accuracy_abstain_as_majority`` counts it
    as the commonest training label (WRENCH's argmax does this for ham), which is the
    fairer figure for a label model whose LFs leave much of the data uncovered.
    """
    summary = evaluate(ws).summary.filter(
        (pl.col("kind") == kind) & (pl.col("method") != "majority_vote")
    )
    row = summary.row(0, named=True)
    fallback = None
    if kind == "label model":
        fallback = ws.sql(
            """WITH commonest AS (
                   SELECT p.label FROM predictions p JOIN examples e ON e.id = p.example_id
                   WHERE e.split = 'train' AND p.label IS NOT NULL
                   GROUP BY 1 ORDER BY count(*) DESC LIMIT 1)
               SELECT avg((coalesce(p.label, (SELECT label FROM commonest)) = e.gold)::INT) AS a
               FROM predictions p JOIN examples e ON e.id = p.example_id
               WHERE e.split = 'test' AND e.gold IS NOT NULL"""
        )["a"][0]
    return {
        "dataset": dataset,
        "method": f"teacher: {shown}",
        **{key: row[key] for key in ("coverage", "accuracy", "macro_f1", "ece")},
        "accuracy_abstain_as_majority": fallback,
    }


def dev_accuracy(ws: Workspace) -> float:
    """The stored label model's accuracy on the gold dev split, an abstain counting as wrong."""
    return ws.sql(
        """SELECT avg((p.label IS NOT DISTINCT FROM e.gold)::INT) AS a
           FROM predictions p JOIN examples e ON e.id = p.example_id
           WHERE e.split = 'dev' AND e.gold IS NOT NULL"""
    )["a"][0]


def run_dataset(
    name: str,
    data_dir: Path,
    scratch: Path,
    architectures: list[str],
    seeds: int,
    max_epochs: int | None,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with Workspace(scratch / "ws.duckdb") as ws:
        DATASETS[name](ws, data_dir)
        kinds = dict(ws.sql("SELECT name, kind FROM sources").iter_rows())
        lfs = [source for source, kind in kinds.items() if kind == "lf"]
        llm = [source for source, kind in kinds.items() if kind == "llm"]
        # The label model's sources are chosen on the gold dev split: with the LLM's
        # votes or without them. SmolLM2 is worse than chance on WRENCH YouTube's train
        # split, and a label model that trusts it flips its classes.
        choices = {f"{LABEL_MODEL} (LFs + LLM)": None, f"{LABEL_MODEL} (LFs)": lfs}
        if not llm:
            del choices[f"{LABEL_MODEL} (LFs + LLM)"]
        on_dev = {}
        for shown, sources in choices.items():
            aggregate(ws, LABEL_MODEL, sources=sources)
            on_dev[shown] = dev_accuracy(ws)
            records.append(teacher(name, ws, "label model", shown))
        chosen = max(on_dev, key=on_dev.get)
        for record in records:
            if record["method"] != f"teacher: {chosen}":
                record["method"] += " (not chosen on dev)"
        if list(choices)[-1] != chosen:
            aggregate(ws, LABEL_MODEL, sources=choices[chosen])
        if llm:
            records.append(teacher(name, ws, "llm", llm[0]))
        labels = ws.task.labels
        dev = ws.sql("SELECT id, text, gold AS label FROM examples WHERE split = 'dev'")
        gold = dict(ws.sql("SELECT id, gold FROM examples WHERE split = 'train'").iter_rows())

        def add(
            method: str,
            reviewed: int,
            train: Callable[[], Path],
            used: pl.DataFrame,
            **extra: Any,
        ) -> None:
            model, seconds = quietly(train)
            record = {"dataset": name, "method": method, "reviewed": reviewed, **extra}
            record |= label_quality(ws, used) | small_model_row(ws, model) | {"train_s": seconds}
            records.append(record)
            print(
                f"  {method:<46} acc {record['accuracy']:.3f}  labels {record['train_labels']:.0f}"
                f" @ {record['train_label_accuracy']:.3f}  {seconds:.0f}s",
                flush=True,
            )

        capped = {} if max_epochs is None else {"max_epochs": max_epochs}

        def fit(frame: pl.DataFrame, folder: str) -> Callable[[], Path]:
            return lambda: train_textcat(
                frame, labels, scratch / folder, model=DEFAULT_MODEL, dev=dev, **capped
            )

        def cleaned(folder: str, **options: Any) -> Callable[[], Path]:
            options = {"model": DEFAULT_MODEL, **options}
            return lambda: train_on_cleaned(
                ws, scratch / folder, dev_split="dev", **capped, **options
            )

        if llm:
            answers = ws.sql(
                """SELECT e.id, e.text, v.label FROM votes v JOIN examples e ON e.id = v.example_id
                   WHERE v.source = ? AND e.split = 'train' AND v.label IS NOT NULL""",
                [llm[0]],
            )
            add("small model <- LLM answers alone", 0, fit(answers, "llm"), answers)
        add(
            "small model <- label model (soft targets)",
            0,
            cleaned("soft", targets="soft"),
            cleaned_labels(ws),
        )
        find_label_issues(ws)
        queue = ReviewQueue(ws)
        done = 0
        for reviewed in REVIEWED:
            done += simulate_review(queue, gold, limit=reviewed - done, reviewer="gold")
            for architecture in [DEFAULT_MODEL, *architectures]:
                for seed in range(seeds):
                    add(
                        f"{architecture} <- cleaned, {reviewed} reviewed",
                        done,
                        cleaned(f"{architecture}-{reviewed}-{seed}", model=architecture, seed=seed),
                        cleaned_labels(ws),
                        model=architecture,
                        seed=seed,
                    )
        train_gold = ws.sql("SELECT id, text, gold AS label FROM examples WHERE split = 'train'")
        add("small model <- gold train labels (ceiling)", 0, fit(train_gold, "gold"), train_gold)
    return records


def model_summary(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Per data set, small model and review point: test accuracy, size and speed as
    mean and sd over the seeds."""
    frame = pl.DataFrame(records, infer_schema_length=None)
    if "model" not in frame.columns:
        return pl.DataFrame()
    measures = ("accuracy", "macro_f1", "size_mb", "words_per_s")
    return (
        frame.filter(pl.col("model").is_not_null())
        .group_by("dataset", "model", "reviewed", maintain_order=True)
        .agg(
            pl.len().alias("seeds"),
            *(pl.col(m).mean().alias(m) for m in measures),
            *(pl.col(m).std().alias(f"{m}_sd") for m in ("accuracy", "words_per_s")),
        )
    )


def kept(output_dir: Path, run: list[str]) -> list[dict[str, Any]]:
    """The last results' rows of the data sets not run this time."""
    path = output_dir / "distill.json"
    if not path.is_file():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    return [row for row in old if row["dataset"] not in run]


def named(rows: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """The rows whose method starts with ``prefix``, leaving out teachers not chosen."""
    return rows.filter(
        pl.col("method").str.starts_with(prefix) & ~pl.col("method").str.contains("not chosen")
    )


def draw(axis: Any, rows: pl.DataFrame) -> None:
    """One data set's learning curves (mean and sd over seeds), with its teachers and
    ceiling as lines."""
    curves = (
        rows.filter(pl.col("model").is_not_null())
        .group_by("model", "reviewed", maintain_order=True)
        .agg(pl.col("accuracy").mean().alias("mean"), pl.col("accuracy").std().alias("sd"))
        .sort("reviewed")
    )
    for (model,), curve in curves.group_by("model", maintain_order=True):
        axis.errorbar(
            curve["reviewed"],
            curve["mean"],
            yerr=curve["sd"].fill_null(0),
            marker="o",
            capsize=3,
            label=model.removeprefix("spacy_textcat_"),
        )
    lines = (
        (named(rows, f"teacher: {LABEL_MODEL}"), "accuracy_abstain_as_majority", "--", "grey"),
        (named(rows, "teacher: llm"), "accuracy", "-.", "tab:red"),
        (named(rows, "small model <- gold"), "accuracy", ":", "green"),
    )
    texts = ("label model (abstain: majority)", "LLM answers", "BOW on gold labels")
    for (found, column, style, color), text in zip(lines, texts, strict=True):
        if found.height:
            value = found[column][0]
            axis.axhline(value, linestyle=style, color=color)
            axis.annotate(f"{text} {value:.3f}", (0, value), fontsize=7, va="bottom")


def plot(records: list[dict[str, Any]], output_dir: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
        return
    frame = pl.DataFrame(records)
    datasets = [d for d in DATASETS if d in set(frame["dataset"])]
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False)
    axes = axes[0]
    for axis, dataset in zip(axes, datasets, strict=True):
        draw(axis, frame.filter(pl.col("dataset") == dataset))
        axis.set_title(dataset)
        axis.set_xlabel("examples reviewed")
        axis.set_ylabel("test accuracy")
    axes[0].legend(loc="lower right", fontsize=8)
    figure.suptitle(
        "Small models trained on cleaned labels (mean and sd over seeds); "
        "the reviewer is simulated: gold answers stand in for a person",
        fontsize=10,
    )
    figure.tight_layout()
    path = plot_path(output_dir, PLOT)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"plot written to {path}")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--architectures",
        nargs="*",
        default=list(ARCHITECTURES),
        help="registered small models trained beside the default at every review point",
    )
    arguments.add_argument("--datasets", nargs="*", choices=list(DATASETS), default=list(DATASETS))
    arguments.add_argument(
        "--seeds", type=int, default=3, help="seeds per small model and review point"
    )
    arguments.add_argument(
        "--max-epochs", type=int, default=None, help="cap on every training's epochs"
    )
    arguments = arguments.parse_args()
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in arguments.datasets:
        print(f"{name}:", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            records += run_dataset(
                name,
                arguments.data_dir,
                Path(scratch),
                arguments.architectures,
                arguments.seeds,
                arguments.max_epochs,
            )
    seconds = time.perf_counter() - started
    records += kept(arguments.output_dir, arguments.datasets)
    records.sort(key=lambda r: list(DATASETS).index(r["dataset"]))
    notes = (
        "Small models are spaCy's bag-of-words textcat unless named; each picks its best "
        "checkpoint on the gold dev split"
        + ("" if arguments.max_epochs is None else f", after at most {arguments.max_epochs} epochs")
        + ". `reviewed`: queue items answered by gold "
        "(a simulated reviewer). `train_label_accuracy`: accuracy of the training labels on "
        "the train examples they cover. Speed: words per second on one core, median of five "
        f"passes. Run of {', '.join(arguments.datasets)}: {seconds:.0f} s.\n\n"
        "## Small models by review point (mean and sd over seeds)\n\n"
        + markdown_table(model_summary(records))
    )
    write_results("distill", records, arguments.output_dir, notes)
    plot(records, arguments.output_dir)


if __name__ == "__main__":
    main()
