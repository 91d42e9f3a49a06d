"""The whole aspects pipeline on MAMS-ACSA, per aspect and over all aspects.

Methods, all scored on the gold test split: each labeling function of
``labeling_functions/restaurants.py`` (where it votes), SmolLM2-135M from its recorded
answers (the first 300 test sentences only: ``labelkit/datasets/mams-acsa/README.md``),
majority vote, each label model, the default label model on the LF votes alone (the
small models' teacher: the train split has no LLM votes), the small model (the default
for aspects, ``tfidf_char_clauses``) trained on that teacher's labels after 0, 100 and 300
simulated reviews (gold answers the most doubtful (sentence, aspect) flags), and the
same small model trained on gold train labels, the ceiling. Label models are fitted on
train without gold; seeds vary the small model's training (mean and standard deviation).

    python benchmarks/aspects.py --data-dir ../shared/data [--seeds 3] [--epochs 5]
    python benchmarks/aspects.py --reviews 0   # the small model after no review only
    python benchmarks/aspects.py --report-only   # the Markdown again from aspects.json
    python benchmarks/aspects.py --report-only --from-progress   # an interrupted run's
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from _common import parser, write_results

from labelkit import Workspace, aggregate, evaluate, ingest, registry, simulate_review
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
from labelkit.registry import resolve
from labelkit.review import ReviewQueue
from labelkit.train import train_on_cleaned
from labelkit.train.attributes import DEFAULT_ATTRIBUTE_MODEL, LAYOUT_BASE
from labelkit.votes import import_votes

LABEL_MODELS = ("majority_vote", "auto", "dawid_skene", "snorkel")
# What ``aggregate`` uses by default, so what the small models learn from.
DEFAULT_LABEL_MODEL = "auto"
CEILING = "small model on gold train labels (ceiling)"
# The label model the small models learn from, fitted and scored on the LF votes alone.
TEACHER = f"{DEFAULT_LABEL_MODEL}, LF votes only (the small models' teacher)"
DATASET = "mams-acsa test"
REVIEWS = (0, 100, 300)
MODELS = {
    "tfidf_char_clauses": "character n-gram logistic regressions: whether each aspect is "
    "mentioned, read from the sentence, and its answer from the clause that mentions it most",
    "tfidf_char_logreg": "one logistic regression over character n-grams per aspect",
    "spacy_textcat_per_attribute": "one spaCy textcat per aspect",
}
SCORES = ("macro_f1", "micro_f1", "exact_match", "accuracy", "coverage", "size_mb", "words_per_s")


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


def teacher(ws: Workspace) -> list[dict[str, Any]]:
    """The default label model fitted on the LF votes alone, scored on test: what the
    small models learn from, with no LLM votes the train split never had."""
    aggregate(ws, DEFAULT_LABEL_MODEL)
    summary = evaluate(ws).summary.filter(pl.col("method") == DEFAULT_LABEL_MODEL)
    return scores(summary.with_columns(method=pl.lit(TEACHER)), seed=None)


def reviewed_copies(path: Path, root: Path, budgets: list[int]) -> dict[str, Path]:
    """The default label model's labels, flagged once and reviewed as many times as each
    of ``budgets`` says by gold; each budget's workspace is copied, to train from, under
    its method name."""
    with Workspace(path) as ws:
        aggregate(ws, DEFAULT_LABEL_MODEL)
        if max(budgets) > 0:
            find_label_issues(ws)
    copies, reviewed = {}, 0
    for budget in sorted(budgets):
        if budget > reviewed:
            with Workspace(path) as ws:
                answers = gold_answers_by_attribute(ws)
                reviewed += simulate_review(
                    ReviewQueue(ws), answers, limit=budget - reviewed, reviewer="gold"
                )
        copies[small_model(budget)] = root / f"reviewed-{budget}.duckdb"
        shutil.copyfile(path, copies[small_model(budget)])
    return copies


def gold_workspace(folder: Path, root: Path) -> Path:
    """A workspace whose one source is the gold train answers: the ceiling's teacher."""
    path = root / "gold.duckdb"
    with Workspace(path) as ws:
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
    return path


def small_models(
    teachers: dict[str, Path],
    root: Path,
    seeds: int,
    epochs: int,
    progress: Path,
    model: str | None = None,
) -> list[dict[str, Any]]:
    """Each teacher workspace's small model, trained once per seed. Seeds are outermost,
    so an interrupted run holds whole seeds, and each training's records are appended
    to ``progress`` (JSON lines) as it finishes (``--report-only`` reads them)."""
    # Epochs are a spaCy model's setting; the n-grams have none.
    chosen = model or DEFAULT_ATTRIBUTE_MODEL
    layout = getattr(resolve(registry.small_models, chosen), "layout", None)
    base = chosen if layout is None else LAYOUT_BASE
    takes_epochs = "max_epochs" in (registry.parameters(registry.small_models, base) or {})
    settings = {"max_epochs": epochs} if takes_epochs else {}
    records = []
    for seed in range(seeds):
        for method, path in teachers.items():
            started = time.perf_counter()
            with Workspace(path) as ws:
                trained_model = train_on_cleaned(
                    ws, root / f"{path.stem}-{seed}", model=model, seed=seed, **settings
                )
                trained = {
                    "method": method,
                    "model": chosen,
                    **timed(started, epochs if settings else None),
                }
                summary = evaluate(ws, trained_model).summary.filter(
                    pl.col("kind") == "small model"
                )
            done = [{"dataset": DATASET, **r} | trained for r in scores(summary, seed=seed)]
            with progress.open("a", encoding="utf-8") as file:
                file.writelines(json.dumps(record) + "\n" for record in done)
            records += done
    return records


def timed(started: float, epochs: int | None) -> dict[str, Any]:
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
    learnt from (on the same votes: the LF votes alone), seed by seed, and what the
    simulated reviews add."""
    overall = frame.filter(pl.col("attribute") == "(all)")

    def seeded(method: str) -> pl.Series:
        return overall.filter(pl.col("method") == method)["macro_f1"]

    label_model = seeded(TEACHER)[0]
    unreviewed = seeded(small_model(0))
    beats = int((unreviewed > label_model).sum())
    lines = [
        f"Over all aspects the small model trained on `{DEFAULT_LABEL_MODEL}`'s labels scores "
        f"{spread(unreviewed)} macro-F1 against {label_model:.3f} for `{DEFAULT_LABEL_MODEL}` "
        f"itself on the same LF votes: "
        f"{'above' if unreviewed.mean() > label_model else 'not above'} it on the "
        f"mean, and above it on {beats} of {unreviewed.len()} seeds."
    ]
    for budget in REVIEWS[1:]:
        reviewed = seeded(small_model(budget))
        if reviewed.len() == 0:
            continue
        lines.append(
            f"After {budget} simulated reviews it scores {spread(reviewed)}, "
            f"{reviewed.mean() - unreviewed.mean():+.3f} on the mean against no review."
        )
    if seeded(CEILING).len():
        lines.append(
            f"The ceiling, trained on gold train labels, scores {spread(seeded(CEILING))}."
        )
    return "\n".join(f"- {line}" for line in lines)


def spread(values: pl.Series) -> str:
    """Mean ± standard deviation (min to max) of per-seed scores."""
    sd = values.std()
    return (
        f"{values.mean():.3f}"
        + ("" if sd is None else f" ± {sd:.3f}")
        + f" (seeds {values.min():.3f} to {values.max():.3f})"
    )


def size_and_speed(trained: pl.DataFrame) -> str:
    """The small model's size and words per second on one core, as ``evaluate`` measures
    them, where the records have them."""
    if "size_mb" not in trained.columns or trained["size_mb"].is_null().all():
        return ""
    return (
        f"; the model is {trained['size_mb'].median():.1f} MB and labels "
        f"{trained['words_per_s'].median():,.0f} words/s on one core (medians)"
    )


def small_model(budget: int) -> str:
    return f"small model after {budget} reviews"


def report(records: list[dict[str, Any]], output_dir: Path) -> None:
    """Write aspects.json and aspects.md: the table, the notes and the verdicts."""
    frame = pl.DataFrame(records, infer_schema_length=None)
    trained = frame.filter(pl.col("train_s").is_not_null()).unique(["method", "seed"])
    seeds, epochs = trained["seed"].n_unique(), trained["epochs"].max()
    model = trained["model"][0] if "model" in trained.columns else "spacy_textcat_per_attribute"
    settings = f"{seeds} seeds" + (f", {epochs} epochs" if epochs is not None else "")
    described = MODELS.get(model, f"`{model}` per aspect")
    notes = (
        "Macro-F1 over each aspect's answers (none included), on the gold test split; "
        "`(all)` is the mean over aspects. Mean ± standard deviation over seeds where a "
        f"method is seeded ({settings}). LFs and the "
        "LLM are scored where they vote (`accuracy` and `coverage` in the JSON); SmolLM2's "
        "recorded answers cover the first 300 test sentences only. The label models are "
        f"fitted on the train split without gold; the small models ({described}, its "
        "answers weighed by their rarity) train on the labels of "
        f"`{DEFAULT_LABEL_MODEL}` fitted on the LF votes alone after the given number of "
        "simulated gold reviews, or on gold train labels (the ceiling), the checkpoint (for "
        "the n-grams, each aspect's C) chosen on a held-out tenth of their training labels. "
        "One training took "
        f"{trained['train_s'].median():.0f} s (median wall time; `train_s` in the JSON)"
        + size_and_speed(trained)
        + ".\n\n"
        "SmolLM2's answers cover test sentences only, so on test the other label-model rows "
        "also weigh votes that the small models' training labels never had (the train split "
        "has none); the verdicts compare the small model with its teacher row, "
        f"`{TEACHER}`, fitted and scored on the same LF votes.\n\n" + verdicts(frame)
    )
    table = summarize(frame)
    write_results("aspects", records, output_dir, notes, table=table)
    print(table, notes, sep="\n\n")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--epochs", type=int, default=5)
    arguments.add_argument(
        "--reviews",
        type=int,
        nargs="+",
        default=list(REVIEWS),
        help="the simulated review budgets to train a small model after (0 is needed)",
    )
    arguments.add_argument(
        "--model", help="the small model to train (default: the library's default for aspects)"
    )
    arguments.add_argument(
        "--no-ceiling", action="store_true", help="skip the small model on gold train labels"
    )
    arguments.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the saved JSON"
    )
    arguments.add_argument(
        "--from-progress",
        action="store_true",
        help="with --report-only: from the records an interrupted run saved as it went",
    )
    options = arguments.parse_args()
    progress = options.output_dir / "aspects.progress.jsonl"
    if options.report_only:
        if options.from_progress:
            saved = [json.loads(line) for line in progress.read_text(encoding="utf-8").splitlines()]
        else:
            saved = json.loads((options.output_dir / "aspects.json").read_text(encoding="utf-8"))
        report(saved, options.output_dir)
        return
    folder = options.data_dir / "aspects" / "mams-acsa"
    recorded = bundled_dataset("mams-acsa") / RECORDED_ANSWERS
    options.output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        with Workspace(root / "lfs.duckdb") as ws:
            ingest(ws, sorted(folder.glob("*.xml")), **RESTAURANTS_INGEST)
            apply_lfs(ws, load_lfs("labeling_functions.restaurants"))
            teacher_records = teacher(ws)
        # The small models learn from the LF votes alone, as the train split has no others.
        shutil.copyfile(root / "lfs.duckdb", root / "teacher.duckdb")
        with Workspace(root / "lfs.duckdb") as ws:
            import_llm_cache(ws, recorded)
            label_with_llm(ws, RESTAURANTS_LLM, cached_only=True)
            records = [
                {"dataset": DATASET, **r} for r in sources_and_label_models(ws) + teacher_records
            ]
        progress.write_text(
            "".join(json.dumps(record) + "\n" for record in records), encoding="utf-8"
        )
        teachers = reviewed_copies(root / "teacher.duckdb", root, options.reviews)
        if not options.no_ceiling:
            teachers[CEILING] = gold_workspace(folder, root)
        records += small_models(
            teachers, root, options.seeds, options.epochs, progress, options.model
        )
    report(records, options.output_dir)
    progress.unlink()


if __name__ == "__main__":
    main()
