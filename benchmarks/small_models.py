"""Small models side by side: what pretrained static vectors buy over the bag of words.

Each registered small model is trained on the gold train labels of WRENCH YouTube and
WRENCH SMS (the labels a perfect labeling pipeline would give, so that the comparison
is of the models alone), once per seed, its checkpoint chosen on the gold dev split.
Test accuracy and macro-F1, size on disk and words per second on one core (median of
five ``nlp.pipe`` passes) come from ``labelkit.evaluate``; the summary gives mean and
sd over the seeds. ``benchmarks/distill.py`` trains the same models on the cleaned
labels after simulated review.

    python benchmarks/small_models.py --data-dir ../shared/data [--seeds 3]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from _common import WRENCH_SPLITS, parser, write_results

from labelkit import Workspace, evaluate, ingest, train_textcat
from labelkit.report import markdown_table

MODELS = (
    "spacy_textcat_bow",
    "spacy_textcat_static",
    "spacy_textcat_bow_vectors",
    "minilm_finetune",
)
DATASETS = ("youtube", "sms")


def run_dataset(name: str, data_dir: Path, scratch: Path, seeds: int) -> list[dict[str, Any]]:
    records = []
    folder = data_dir / "wrench" / name
    with Workspace(scratch / "ws.duckdb") as ws:
        ingest(ws, [folder / f"{split}.json" for split in WRENCH_SPLITS])
        train = ws.sql("SELECT id, text, gold AS label FROM examples WHERE split = 'train'")
        dev = ws.sql("SELECT id, text, gold AS label FROM examples WHERE split = 'dev'")
        for model in MODELS:
            for seed in range(seeds):
                started = time.perf_counter()
                path = train_textcat(
                    train,
                    ws.task.labels,
                    scratch / f"{model}-{seed}",
                    model=model,
                    dev=dev,
                    seed=seed,
                )
                seconds = time.perf_counter() - started
                summary = evaluate(ws, path).summary
                row = summary.filter(pl.col("kind") == "small model").row(0, named=True)
                record = {"dataset": name, "method": model, "seed": seed}
                record |= {k: row[k] for k in ("accuracy", "macro_f1", "size_mb", "words_per_s")}
                records.append(record | {"train_s": seconds})
                print(
                    f"  {model:<28} seed {seed}  acc {row['accuracy']:.3f}  "
                    f"{row['size_mb']:.1f} MB  {row['words_per_s']:,.0f} words/s  {seconds:.0f}s",
                    flush=True,
                )
    return records


def summary(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Mean and sd over the seeds, per data set and model."""
    return (
        pl.DataFrame(records)
        .group_by("dataset", "method", maintain_order=True)
        .agg(
            pl.len().alias("seeds"),
            pl.col("accuracy").mean(),
            pl.col("accuracy").std().alias("accuracy_sd"),
            pl.col("macro_f1").mean(),
            pl.col("size_mb").mean(),
            pl.col("words_per_s").mean(),
            pl.col("words_per_s").std().alias("words_per_s_sd"),
        )
    )


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--datasets", nargs="*", choices=DATASETS, default=list(DATASETS))
    arguments = arguments.parse_args()
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in arguments.datasets:
        print(f"{name}:", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            records += run_dataset(name, arguments.data_dir, Path(scratch), arguments.seeds)
        # Written after each data set, so that a long run keeps what it finished.
        notes = (
            "Trained on the gold train labels, checkpoint chosen on gold dev, scored on gold "
            "test. Speed: words per second on one core, median of five passes (rough where "
            f"the machine was shared). Run so far: {time.perf_counter() - started:.0f} s.\n\n"
            "## Mean and sd over seeds\n\n" + markdown_table(summary(records))
        )
        write_results("small_models", records, arguments.output_dir, notes)


if __name__ == "__main__":
    main()
