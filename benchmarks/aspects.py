"""The whole aspects pipeline on MAMS-ACSA, per aspect and over all aspects.

Methods, all scored on the gold test split: each labeling function of
``labeling_functions/restaurants.py`` (where it votes), SmolLM2-135M from its recorded
answers (the first 300 test sentences only: ``labelkit/datasets/mams-acsa/README.md``),
majority vote, each label model, the small model (the default layout, one textcat per
aspect) trained on the default label model's labels after 0, 100 and 300 simulated
reviews (gold answers the most doubtful (sentence, aspect) flags), and the same small
model trained on gold train labels, the ceiling. Label models are fitted on train
without gold; seeds vary the small model's training (mean and standard deviation).

    python benchmarks/aspects.py --data-dir ../shared/data [--seeds 3] [--epochs 5]
    python benchmarks/aspects.py --report-only   # the Markdown again from aspects.json
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from _common import parser, write_results

from labelkit import Workspace, aggregate, evaluate, ingest, simulate_review
from labelkit.data import bundled_dataset
from labelkit.demo import (
    RECORDED_ANSWERS,
    RESTAURANTS_INGEST,
    RESTAURANTS_LLM,
    gold_answers_by_attribute,
)
from labelkit.flag import find_label_issues
from labelkit.lf import apply_lfs, load_lfs
from labelkit.llm import import_llm_cache, label_with_llm
from labelkit.review import ReviewQueue
from labelkit.train import train_on_cleaned
from labelkit.votes import import_votes

LABEL_MODELS = ("majority_vote", "auto", "dawid_skene", "snorkel")
# What ``aggregate`` uses by default, so what the small models learn from.
DEFAULT_LABEL_MODEL = "auto"
CEILING = "small model on gold train labels (ceiling)"
REVIEWS = (0, 100, 300)
SCORES = ("macro_f1", "micro_f1", "exact_match", "accuracy", "coverage")


def scores(summary: pl.DataFrame, **labels: Any) -> list[dict[str, Any]]:
    """One record per method and attribute ("(all)" over all) of an evaluation."""
    kept = [column for column in SCORES if column in summary.columns]
    return [
        {**labels, "method": row["method"], "kind": row["kind"], "attribute": row["attribute"]}
        | {column: row[column] for column in kept}
        for row in summary.select("method", "kind", "attribute", *kept).iter_rows(named=True)
    ]


def sources_and_label_models(ws: Workspace) -> list[dict[str, Any]]:
    """Every LF, the LLM, majority vote and each label model on test."""
    records = []
    for model in LABEL_MODELS:
        aggregate(ws, model)
        summary = evaluate(ws).summary
        if model != LABEL_MODELS[0]:
            summary = summary.filter(pl.col("method") == model)
        records += scores(summary, seed=None)
    return records


def small_models(ws: Workspace, root: Path, seeds: int, epochs: int) -> list[dict[str, Any]]:
    """The default label model's labels, flagged once, reviewed 0/100/300 times by gold,
    each training the small model once per seed."""
    aggregate(ws, DEFAULT_LABEL_MODEL)
    find_label_issues(ws)
    answers = gold_answers_by_attribute(ws)
    records, reviewed = [], 0
    for budget in REVIEWS:
        if budget > reviewed:
            queue = ReviewQueue(ws)
            reviewed += simulate_review(queue, answers, limit=budget - reviewed, reviewer="gold")
        for seed in range(seeds):
            started = time.perf_counter()
            model = train_on_cleaned(
                ws, root / f"reviewed-{budget}-{seed}", seed=seed, max_epochs=epochs
            )
            trained = {"method": small_model(budget), **timed(started, epochs)}
            summary = evaluate(ws, model).summary.filter(pl.col("kind") == "small model")
            records += [r | trained for r in scores(summary, seed=seed)]
    return records


def ceiling(folder: Path, root: Path, seeds: int, epochs: int) -> list[dict[str, Any]]:
    """The small model trained on gold train answers: gold as the only source."""
    records = []
    with Workspace(root / "gold.duckdb") as ws:
        ingest(ws, sorted(folder.glob("*.xml")), **RESTAURANTS_INGEST)
        task = ws.task
        train = ws.sql("SELECT id, gold FROM examples WHERE split = 'train'")
        votes = pl.concat(
            train.select(
                pl.col("id").alias("example_id"),
                pl.lit("gold").alias("source"),
                pl.lit(attribute).alias("attribute"),
                task.gold_answers(train["gold"], attribute).alias("label"),
            )
            for attribute in task.attributes
        )
        import_votes(ws, votes)
        aggregate(ws, "majority_vote")
        for seed in range(seeds):
            started = time.perf_counter()
            model = train_on_cleaned(ws, root / f"gold-{seed}", seed=seed, max_epochs=epochs)
            trained = {"method": CEILING, **timed(started, epochs)}
            summary = evaluate(ws, model).summary.filter(pl.col("kind") == "small model")
            records += [r | trained for r in scores(summary, seed=seed)]
    return records


def timed(started: float, epochs: int) -> dict[str, Any]:
    """A training's epochs and wall seconds since ``started``."""
    return {"epochs": epochs, "train_s": round(time.perf_counter() - started, 1)}


def summarize(frame: pl.DataFrame) -> str:
    """Macro-F1 per method (mean ± sd over seeds) per aspect and over all of them."""
    stats = frame.group_by("method", "attribute", maintain_order=True).agg(
        pl.col("macro_f1").mean().alias("mean"), pl.col("macro_f1").std().alias("sd")
    )
    attributes = ["(all)", *sorted(set(frame["attribute"]) - {"(all)"})]
    lines = [
        "| method | " + " | ".join(attributes) + " |",
        "| --- |" + " --- |" * len(attributes),
    ]
    for method in frame["method"].unique(maintain_order=True):
        cells = []
        for attribute in attributes:
            row = stats.filter((pl.col("method") == method) & (pl.col("attribute") == attribute))
            if row.height == 0 or row["mean"][0] is None:
                cells.append("–")
                continue
            sd = row["sd"][0]
            cells.append(f"{row['mean'][0]:.3f}" + (f" ± {sd:.3f}" if sd is not None else ""))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(frame: pl.DataFrame) -> str:
    """What the table says over all aspects: the small model against the label model it
    learnt from, seed by seed, and what the simulated reviews add."""
    overall = frame.filter(pl.col("attribute") == "(all)")

    def seeded(method: str) -> pl.Series:
        return overall.filter(pl.col("method") == method)["macro_f1"]

    label_model = overall.filter(pl.col("method") == DEFAULT_LABEL_MODEL)["macro_f1"][0]
    unreviewed = seeded(small_model(0))
    beats = int((unreviewed > label_model).sum())
    lines = [
        f"Over all aspects the small model trained on `{DEFAULT_LABEL_MODEL}`'s labels scores "
        f"{spread(unreviewed)} macro-F1 against {label_model:.3f} for `{DEFAULT_LABEL_MODEL}` "
        f"itself: {'above' if unreviewed.mean() > label_model else 'not above'} it on the "
        f"mean, and above it on {beats} of {unreviewed.len()} seeds."
    ]
    for budget in REVIEWS[1:]:
        reviewed = seeded(small_model(budget))
        lines.append(
            f"After {budget} simulated reviews it scores {spread(reviewed)}, "
            f"{reviewed.mean() - unreviewed.mean():+.3f} on the mean against no review."
        )
    lines.append(f"The ceiling, trained on gold train labels, scores {spread(seeded(CEILING))}.")
    return "\n".join(f"- {line}" for line in lines)


def spread(values: pl.Series) -> str:
    """Mean ± standard deviation (min to max) of per-seed scores."""
    sd = values.std()
    return (
        f"{values.mean():.3f}"
        + ("" if sd is None else f" ± {sd:.3f}")
        + f" (seeds {values.min():.3f} to {values.max():.3f})"
    )


def small_model(budget: int) -> str:
    return f"small model after {budget} reviews"


def report(records: list[dict[str, Any]], output_dir: Path) -> None:
    """Write aspects.json and aspects.md: the table, the notes and the verdicts."""
    frame = pl.DataFrame(records, infer_schema_length=None)
    trained = frame.filter(pl.col("train_s").is_not_null()).unique(["method", "seed"])
    seeds, epochs = trained["seed"].n_unique(), trained["epochs"].max()
    notes = (
        "Macro-F1 over each aspect's answers (none included), on the gold test split; "
        "`(all)` is the mean over aspects. Mean ± standard deviation over seeds where a "
        f"method is seeded ({seeds} seeds, {epochs} epoch{'s' * (epochs != 1)}). LFs and the "
        "LLM are scored where they vote (`accuracy` and `coverage` in the JSON); SmolLM2's "
        "recorded answers cover the first 300 test sentences only. The label models are "
        "fitted on the train split without gold; the small models (one textcat per aspect) "
        f"train on `{DEFAULT_LABEL_MODEL}`'s labels after the given number of simulated gold "
        "reviews, or on gold train labels (the ceiling), the checkpoint chosen on a held-out "
        f"tenth of their training labels. One training took {trained['train_s'].median():.0f} s "
        "(median wall time; `train_s` in the JSON).\n\n" + verdicts(frame)
    )
    table = summarize(frame)
    write_results("aspects", records, output_dir, notes, table=table)
    print(table, notes, sep="\n\n")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--epochs", type=int, default=5)
    arguments.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the saved JSON"
    )
    options = arguments.parse_args()
    if options.report_only:
        saved = json.loads((options.output_dir / "aspects.json").read_text())
        stamp = ("machine", "labelkit_version")
        report([{k: v for k, v in r.items() if k not in stamp} for r in saved], options.output_dir)
        return
    folder = options.data_dir / "aspects" / "mams-acsa"
    recorded = bundled_dataset("mams-acsa") / RECORDED_ANSWERS
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with Workspace(root / "lfs.duckdb") as ws:
            ingest(ws, sorted(folder.glob("*.xml")), **RESTAURANTS_INGEST)
            apply_lfs(ws, load_lfs("labeling_functions.restaurants"))
            import_llm_cache(ws, recorded)
            label_with_llm(ws, RESTAURANTS_LLM, cached_only=True)
            records = sources_and_label_models(ws)
            records += small_models(ws, root, options.seeds, options.epochs)
        records += ceiling(folder, root, options.seeds, options.epochs)
    report([{"dataset": "mams-acsa test", **record} for record in records], options.output_dir)


if __name__ == "__main__":
    main()
