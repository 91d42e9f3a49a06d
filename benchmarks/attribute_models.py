"""The small model of an aspects task: one multi-label textcat over attribute=answer
pairs, or one exclusive textcat per attribute?

On the bundled MAMS-ACSA (3,149 train / 400 dev / 400 test restaurant sentences, 8
aspects, each positive, negative, neutral or none), both layouts of
``train_attributes`` are trained on

- the gold train answers, and
- the majority vote of a few keyword votes per aspect (an aspect word with a
  positive or negative word nearby votes that polarity; an aspect word alone votes
  "mentioned"), through ``cleaned_labels``: the labels a user without gold gets.

Each model picks its best checkpoint on a seeded tenth of its training texts (no gold
dev), so that dev and test are both unseen. The score is the macro-F1 of each aspect
over its answers (none included, labels present in gold or prediction), averaged
over the 8 aspects. Speed is words per second of ``nlp.pipe`` on one core, counted
in the thread's CPU time rather than wall time (median of five passes over at least
50,000 words, after a warm-up pass), so that other processes on a busy machine do
not slow it; size is the model folder on disk.

    python benchmarks/attribute_models.py --seeds 0 --max-epochs 5   # as measured
"""

from __future__ import annotations

import contextlib
import io
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import spacy
from _common import parser, write_results
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from labelkit import (
    Workspace,
    aggregate,
    bundled_dataset,
    cleaned_labels,
    import_votes,
    ingest,
    predict_frame,
    train_attributes,
)
from labelkit.evaluation import TIMED_RUNS, TIMED_WORDS
from labelkit.task import MENTIONED, Task

LAYOUTS = ("spacy_textcat_pairs", "spacy_textcat_per_attribute")
ASPECT_WORDS = {
    "ambience": r"ambien|atmospher|decor|music|noise|noisy|loud|vibe|setting|interior",
    "food": r"food|dish|meal|pizza|sushi|pasta|dessert|taste|flavor|steak|burger|chicken",
    "menu": r"menu|selection|specials|options|variety",
    "miscellaneous": r"experience|night|time|visit|evening|overall",
    "place": r"place|location|restaurant|spot|bar|area|neighborhood",
    "price": r"price|expensive|cheap|cost|pricey|bill|\$|value|worth|overpriced",
    "service": r"service|served|wait|slow|quick|fast|reservation|seated|order",
    "staff": r"staff|waiter|waitress|server|bartender|manager|host|hostess|owner|chef",
}
POSITIVE = r"good|great|excellent|amazing|delicious|friendly|nice|wonderful|best|fantastic|"
POSITIVE += r"lovely|attentive|fresh|perfect|tasty|reasonable|helpful|love|loved|enjoyed"
NEGATIVE = r"bad|terrible|rude|awful|horrible|slow|worst|cold|bland|poor|overpriced|"
NEGATIVE += r"disappoint\w*|mediocre|dirty|noisy|loud|expensive|never|wrong|ignored"


def keyword_votes(examples: pl.DataFrame, task: Task) -> pl.DataFrame:
    """Three votes per aspect: its word with a positive word in the same sentence votes
    positive, with a negative word negative, and alone ``mentioned``."""
    text = pl.col("text").str.to_lowercase()
    positive = text.str.contains(rf"\b({POSITIVE})\b")
    negative = text.str.contains(rf"\b({NEGATIVE})\b")
    votes = []
    for attribute in task.targets:
        mentioned = text.str.contains(rf"\b({ASPECT_WORDS[attribute]})")
        for source, fires, label in (
            ("positive", mentioned & positive, "positive"),
            ("negative", mentioned & negative, "negative"),
            ("word", mentioned, MENTIONED),
        ):
            votes.append(
                examples.select(
                    pl.col("id").alias("example_id"),
                    pl.lit(f"{attribute}_{source}").alias("source"),
                    pl.when(fires).then(pl.lit(label)).alias("label"),
                    pl.lit(attribute).alias("attribute"),
                )
            )
    return pl.concat(votes)


def words_per_cpu_second(nlp: spacy.Language, texts: list[str]) -> float:
    """Words per second of ``nlp.pipe`` in this thread's CPU time, on one core."""
    words = sum(len(text.split()) for text in texts)
    batch = texts * math.ceil(TIMED_WORDS / words)
    timings = []
    with threadpool_limits(limits=1):
        for _ in range(TIMED_RUNS + 1):
            started = time.thread_time()
            for _ in nlp.pipe(batch, batch_size=256):
                pass
            timings.append(time.thread_time() - started)
    return words * (len(batch) // len(texts)) / statistics.median(timings[1:])


def gold_rows(ws: Workspace, split: str) -> pl.DataFrame:
    """One row per example and attribute of ``split``: ``id, text, attribute, label``."""
    examples = ws.sql("SELECT id, text, gold FROM examples WHERE split = ? ORDER BY id", [split])
    return pl.concat(
        examples.select(
            "id",
            "text",
            pl.lit(attribute).alias("attribute"),
            ws.task.gold_answers(examples["gold"], attribute).alias("label"),
        )
        for attribute in ws.task.targets
    )


def macro_f1_over_attributes(model: Path, gold: pl.DataFrame, task: Task) -> float:
    texts = gold.select("id", "text").unique("id", maintain_order=True)
    predicted = predict_frame(model, texts)
    scores = []
    for attribute in task.targets:
        truth = gold.filter(pl.col("attribute") == attribute).join(
            predicted.select("id", pl.col(f"predicted_{attribute}").alias("predicted")), on="id"
        )
        scores.append(f1_score(truth["label"], truth["predicted"], average="macro"))
    return statistics.mean(scores)


def label_model_f1(ws: Workspace, gold: pl.DataFrame, task: Task) -> float:
    stored = ws.sql("SELECT example_id AS id, attribute, label AS predicted FROM predictions")
    joined = gold.join(stored, on=["id", "attribute"]).with_columns(
        pl.col("predicted").fill_null("none")
    )
    return statistics.mean(
        f1_score(part["label"], part["predicted"], average="macro")
        for (attribute,), part in joined.group_by("attribute")
        if attribute in task.targets
    )


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    arguments.add_argument("--max-epochs", type=int, default=10)
    arguments.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    arguments.add_argument("--sources", nargs="+", default=["gold", "keyword votes"])
    arguments.add_argument(
        "--results-name", default="attribute_models", help="name of the result files"
    )
    args = arguments.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="attribute-models-"))
    records: list[dict[str, Any]] = []
    with Workspace(folder / "mams.duckdb") as ws:
        ingest(
            ws,
            sorted(bundled_dataset("mams-acsa").glob("*.xml")),
            labels=["positive", "negative", "neutral"],
        )
        task = ws.task
        import_votes(ws, keyword_votes(ws.sql("SELECT id, text FROM examples"), task))
        aggregate(ws, "majority_vote")
        evaluation = {split: gold_rows(ws, split) for split in ("dev", "test")}
        sources = {"gold": gold_rows(ws, "train"), "keyword votes": cleaned_labels(ws)}
        sources = {name: sources[name] for name in args.sources}
        records.append(
            {
                "dataset": "mams-acsa",
                "method": "majority vote (the label model itself)",
                "labels": "keyword votes",
                "seed": None,
                **{
                    f"{split}_macro_f1": label_model_f1(ws, rows, task)
                    for split, rows in evaluation.items()
                },
            }
        )
        timing_texts = evaluation["test"].unique("id")["text"].to_list()
        for seed in args.seeds:
            for source, rows in sources.items():
                for layout in args.layouts:
                    started = time.perf_counter()
                    with contextlib.redirect_stdout(io.StringIO()):
                        model = train_attributes(
                            rows,
                            task,
                            folder / f"{source.replace(' ', '_')}-{layout}-{seed}",
                            model=layout,
                            seed=seed,
                            max_epochs=args.max_epochs,
                        )
                    record = {
                        "dataset": "mams-acsa",
                        "method": layout,
                        "labels": source,
                        "seed": seed,
                        **{
                            f"{split}_macro_f1": macro_f1_over_attributes(model, gold, task)
                            for split, gold in evaluation.items()
                        },
                        "train_s": time.perf_counter() - started,
                        "size_mb": sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
                        / 1e6,
                        "words_per_s": words_per_cpu_second(spacy.load(model), timing_texts),
                    }
                    print(record, flush=True)
                    records.append(record)
                    write_results(args.results_name, records, args.output_dir)


if __name__ == "__main__":
    main()
