"""Span distillation: does the small NER model beat the span label model that taught it?

On WRENCH's three sequence-tagging sets (LaptopReview, NCBI-Disease, BC5CDR, from
``<data-dir>/spans``) the spans pipeline runs as a user would run it: the texts and
gold of every split are ingested, the shipped LF spans of every split become span
votes, ``aggregate`` fits the default span label model (``auto``) on them, and
``find_label_issues`` queues the spans most likely wrong. Gold then answers the queue
in its order, as a perfect reviewer would (``simulate_review``; a span's answer is the
type of a gold span with exactly its bounds, else ``none``), and the default small
model (``spacy_ner``) is trained on the cleaned spans after 0, 100 and 300 answered
spans, and on the gold train spans (the ceiling). Every NER picks its checkpoint on a
held-out tenth of its own training spans (``train_ner``'s default): no gold dev is
used, so the student is chosen the way a user without gold would choose it.

Scores are entity precision, recall and F1 (exact bounds and type) on the gold test
split, with the dev split's F1 beside them, from ``labelkit.evaluate``, which also
gives the model's size on disk and words per second on one core. Seeds vary the
NER's training; the label model is fitted once (its ties are broken by seed 0).

    python benchmarks/spans_distill.py --data-dir ../shared/data [--seeds 2] [--epochs 10]
    python benchmarks/spans_distill.py --report-only   # the Markdown again from the JSON

Each set can run in its own process (``--sets NCBI-Disease --output-dir part``) and the
parts be merged by ``--report-only --parts <folders>`` (same ``--seeds``, ``--epochs``
and ``--max-train-words``, which the notes name).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import spacy
from _common import WRENCH_SPLITS, load_wrench, parser, write_results

from labelkit import (
    ReviewQueue,
    Workspace,
    aggregate,
    evaluate,
    find_label_issues,
    simulate_review,
)
from labelkit.aggregate.spans import DEFAULT_SPAN_MODEL
from labelkit.evaluation import span_scores
from labelkit.task import span_bounds
from labelkit.train import train_ner, train_ner_on_cleaned
from labelkit.train.ner import predicted_spans

WRENCH_SETS = ("LaptopReview", "NCBI-Disease", "BC5CDR")
REVIEWS = (0, 100, 300)
CEILING = "NER on gold train spans (ceiling)"
SCORES = ("precision", "recall", "f1")


class GoldSpans(Mapping[tuple[str, str], str]):
    """Gold's answer on any span of the train split, keyed as ``simulate_review`` looks
    it up, by (example id, ``"<start>:<end>"``): the type of the gold span with exactly
    those bounds, else ``none``."""

    def __init__(self, gold: pl.DataFrame) -> None:
        self.spans = {
            example_id: {(start, end): label for start, end, label in json.loads(spans)}
            for example_id, spans in gold.iter_rows()
        }

    def __getitem__(self, key: tuple[str, str]) -> str:
        example_id, attribute = key
        return self.spans[example_id].get(span_bounds(attribute), "none")

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return (
            (example_id, f"{start}:{end}")
            for example_id, spans in self.spans.items()
            for start, end in spans
        )

    def __len__(self) -> int:
        return sum(len(spans) for spans in self.spans.values())


def scored(ws: Workspace, model: Path | None, split: str, method: str) -> dict[str, Any]:
    """``method``'s entity scores on ``split`` (the small model's where ``model`` is given),
    with the model's size and speed."""
    summary = evaluate(ws, model, split=split).summary.filter(pl.col("method") == method)
    row = summary.row(0, named=True)
    kept = (*SCORES, "size_mb", "words_per_s") if model is not None else SCORES
    return {key: row[key] for key in kept}


def student(ws: Workspace, model: Path, dev_words: int | None) -> dict[str, Any]:
    """The small model's test scores, size and speed, and its F1 on the dev texts (the
    first ones by id of at most ``dev_words`` words, where given)."""
    test = scored(ws, model, "test", "small model (ner)")
    dev = ws.sql(
        """SELECT text, gold FROM examples WHERE split = 'dev' AND gold IS NOT NULL
           ORDER BY id"""
    )
    if dev_words is not None:
        words = dev["text"].str.count_matches(" ") + 1
        dev = dev.filter(words.cum_sum() <= dev_words)
    nlp = spacy.load(model)
    found = [predicted_spans(doc) for doc in nlp.pipe(dev["text"], batch_size=256)]
    gold = [json.loads(spans) for spans in dev["gold"]]
    return test | {"dev_f1": span_scores(gold, found, ws.task.labels)["micro"]["f1"]}


def capped(folder: Path, root: Path, max_words: int | None) -> Path:
    """``folder``, or a copy of it whose train split keeps a seeded sample of its texts
    of at most ``max_words`` words (the other splits and ``meta.json`` as they are)."""
    if max_words is None:
        return folder
    copy = root / folder.name
    copy.mkdir()
    for path in folder.glob("*.json"):
        (copy / path.name).symlink_to(path.resolve())
    train = json.loads((folder / "train.json").read_text(encoding="utf-8"))
    kept, words = {}, 0
    for key in random.Random(0).sample(sorted(train), len(train)):
        words += len(train[key]["data"]["text"])
        if words > max_words:
            break
        kept[key] = train[key]
    (copy / "train.json").unlink()
    (copy / "train.json").write_text(json.dumps(kept), encoding="utf-8")
    return copy


def run_dataset(
    folder: Path,
    root: Path,
    seeds: int,
    epochs: int,
    max_words: int | None = None,
    reviews: tuple[int, ...] = REVIEWS,
    ceiling: bool = True,
) -> list[dict[str, Any]]:
    """The teacher, the NER after each number of ``reviews`` and (with ``ceiling``) on
    gold, on one set."""
    dataset = folder.name
    folder = capped(folder, root, max_words)
    records = []
    with Workspace(root / f"{dataset}.duckdb") as ws:
        load_wrench(ws, folder, WRENCH_SPLITS)
        aggregate(ws, DEFAULT_SPAN_MODEL)
        teacher = scored(ws, None, "test", DEFAULT_SPAN_MODEL)
        teacher["dev_f1"] = scored(ws, None, "dev", DEFAULT_SPAN_MODEL)["f1"]
        records.append(
            {"dataset": dataset, "method": f"{DEFAULT_SPAN_MODEL} (teacher)", "kind": "label model"}
            | {"reviewed": None, "seed": None, "train_s": None}
            | teacher
        )
        print(records[-1], flush=True)
        if reviews:
            find_label_issues(ws)
        gold = ws.sql("SELECT id, gold FROM examples WHERE split = 'train' AND gold IS NOT NULL")
        answers = GoldSpans(gold)
        reviewed = 0
        for budget in reviews:
            if budget > reviewed:
                queue = ReviewQueue(ws)
                reviewed += simulate_review(
                    queue, answers, limit=budget - reviewed, reviewer="gold"
                )
            for seed in range(seeds):
                started = time.perf_counter()
                model = train_ner_on_cleaned(
                    ws, root / f"{dataset}-{budget}-{seed}", seed=seed, max_epochs=epochs
                )
                trained = time.perf_counter() - started
                records.append(
                    {"dataset": dataset, "method": small_model(budget), "kind": "small model"}
                    | {"reviewed": reviewed, "seed": seed, "train_s": round(trained, 1)}
                    | student(ws, model, max_words)
                )
                print(records[-1], flush=True)
        rows = ws.sql("SELECT text, gold AS spans FROM examples WHERE split = 'train'")
        for seed in range(seeds if ceiling else 0):
            started = time.perf_counter()
            model = train_ner(
                rows,
                ws.task.labels,
                root / f"{dataset}-gold-{seed}",
                seed=seed,
                max_epochs=epochs,
                lang=ws.task.lang,
            )
            trained = time.perf_counter() - started
            records.append(
                {"dataset": dataset, "method": CEILING, "kind": "small model"}
                | {"reviewed": None, "seed": seed, "train_s": round(trained, 1)}
                | student(ws, model, max_words)
            )
            print(records[-1], flush=True)
    return records


def small_model(budget: int) -> str:
    return f"NER after {budget} reviewed spans"


def table(frame: pl.DataFrame) -> str:
    """One row per set and method: mean ± sd over seeds of each score."""
    lines = [
        "| set | method | precision | recall | test F1 | dev F1 | size MB | words/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dataset, method), rows in frame.group_by("dataset", "method", maintain_order=True):
        cells = [spread(rows[column]) for column in ("precision", "recall", "f1", "dev_f1")]
        size = "" if rows["size_mb"][0] is None else f"{rows['size_mb'].mean():.1f}"
        speed = "" if rows["words_per_s"][0] is None else f"{rows['words_per_s'].mean():,.0f}"
        lines.append(f"| {dataset} | {method} | " + " | ".join(cells) + f" | {size} | {speed} |")
    return "\n".join(lines)


def spread(values: pl.Series) -> str:
    if values.is_empty():
        return "not run"
    sd = values.std() if values.len() > 1 else None
    return f"{values.mean():.3f}" + ("" if sd is None else f" ± {sd:.3f}")


def verdicts(frame: pl.DataFrame) -> str:
    """Per set: the unreviewed NER against its teacher, seed by seed, and what review adds."""
    lines, above_on = [], 0
    for dataset in frame["dataset"].unique(maintain_order=True):
        rows = frame.filter(pl.col("dataset") == dataset)
        teacher = rows.filter(pl.col("kind") == "label model")["f1"][0]

        def f1(method: str, rows: pl.DataFrame = rows) -> pl.Series:
            return rows.filter(pl.col("method") == method)["f1"]

        unreviewed = f1(small_model(0))
        if unreviewed.is_empty():
            continue
        above = unreviewed.mean() > teacher
        above_on += above
        after = ", ".join(
            f"{spread(f1(small_model(budget)))} after {budget}" for budget in REVIEWS[1:]
        )
        lines.append(
            f"- {dataset}: NER above its teacher: {'yes' if above else '**no**'} "
            f"({spread(unreviewed)} against `{DEFAULT_SPAN_MODEL}`'s {teacher:.3f}; above it on "
            f"{int((unreviewed > teacher).sum())} of {unreviewed.len()} seeds; {after} "
            f"reviewed spans; ceiling {spread(f1(CEILING))})"
        )
    sets = frame["dataset"].n_unique()
    lines.append(f"- Unreviewed NER above its teacher on {above_on} of {sets} sets.")
    return "\n".join(lines)


def report(records: list[dict[str, Any]], output_dir: Path, notes: str) -> None:
    frame = pl.DataFrame(records, infer_schema_length=None)
    trained = frame.filter(pl.col("train_s").is_not_null())
    body = (
        f"{notes} One training took {trained['train_s'].median():.0f} s (median wall time on "
        "a shared, loaded machine; `train_s` in the JSON). Speed is words per CPU second on "
        "one core (the timed thread's CPU time, so the machine's load does not count), the "
        "median of five passes.\n\n" + verdicts(frame)
    )
    write_results("spans_distill", records, output_dir, body, table=table(frame))
    print(table(frame), body, sep="\n\n")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=2)
    arguments.add_argument("--epochs", type=int, default=10)
    arguments.add_argument("--sets", nargs="+", default=list(WRENCH_SETS))
    arguments.add_argument(
        "--reviews", nargs="*", type=int, default=list(REVIEWS), help="simulated reviews"
    )
    arguments.add_argument("--no-ceiling", action="store_true", help="leave out the gold NER")
    arguments.add_argument(
        "--max-train-words",
        type=int,
        help="keep a seeded sample of each train split's texts of at most this many words",
    )
    arguments.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the saved JSON"
    )
    arguments.add_argument(
        "--parts",
        nargs="+",
        type=Path,
        help="with --report-only: folders of runs of some --sets each, merged in this order",
    )
    options = arguments.parse_args()
    cap = (
        "every train text"
        if options.max_train_words is None
        else f"a seeded sample of the train texts of at most {options.max_train_words:,} words "
        "(the teacher is fitted on the same sample)"
    )
    notes = (
        "Entity precision, recall and F1 (exact bounds and type, micro over types) on the "
        "gold test split; `dev F1` on the gold dev split (WRENCH's valid). Mean ± standard "
        f"deviation over {options.seeds} NER seeds; the teacher is `{DEFAULT_SPAN_MODEL}` "
        f"fitted on the train split's LF spans. Each NER trains for at most {options.epochs} "
        f"epochs on {cap} and keeps the checkpoint best on a held-out tenth of its own "
        "training spans."
        + (
            ""
            if options.max_train_words is None
            else f" The NER's dev F1 is on the first dev texts (by id) of at most "
            f"{options.max_train_words:,} words; the teacher's on the whole dev split."
        )
    )
    if options.report_only:
        saved = [
            record
            for folder in options.parts or [options.output_dir]
            for record in json.loads((folder / "spans_distill.json").read_text(encoding="utf-8"))
        ]
        # Every part scores the teacher: keep it once per set.
        saved = list({(r["dataset"], r["method"], r["seed"]): r for r in saved}.values())
        # Parts that ran the same sets (students in one, the ceiling in another) still
        # make one table, set by set.
        order = {dataset: i for i, dataset in enumerate(dict.fromkeys(r["dataset"] for r in saved))}
        saved.sort(key=lambda r: order[r["dataset"]])
        report(
            saved,
            options.output_dir,
            notes,
        )
        return
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the machine is shared.
    threadpool_limits(1)
    started = time.time()
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for dataset in options.sets:
            records += run_dataset(
                options.data_dir / "spans" / dataset,
                Path(scratch),
                options.seeds,
                options.epochs,
                options.max_train_words,
                tuple(options.reviews),
                not options.no_ceiling,
            )
            report(records, options.output_dir, notes)
    report(records, options.output_dir, notes + f" Whole run: {time.time() - started:.0f} s wall.")


if __name__ == "__main__":
    main()
