"""The aspects pipeline through the CLI at 10k and 100k texts (1M on request): seconds
and peak resident memory, one process per stage.

The bundled MAMS-ACSA sentences (``labelkit/datasets/mams-acsa``): the train sentences
drawn with replacement (seed 0) to each size, without their gold, beside the 400 dev
and 400 test sentences with theirs, written to Parquet with the gold as a JSON column.
Each stage runs as ``python -m labelkit ...`` in a fresh process, one after the other
on one workspace, as ``benchmarks/scale.py`` runs the classification stages: ingest,
apply (``labeling_functions.restaurants``), aggregate (the default, ``auto``, whose
command also scores the label models on dev's gold), flag, train (the default small
model of aspects on the default sample), evaluate (on test's gold) and predict. Trial
66a found aggregate and evaluate quadratic in the rows on such a task (11 and 14
minutes at 100k texts, where each took seconds at 10k): this is where that is timed.

    python benchmarks/scale_aspects.py [--sizes 10000 100000]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from _common import parser
from scale import _write, run_stage, stage_record

from labelkit import Workspace, ingest
from labelkit.data import bundled_dataset
from labelkit.demo import RESTAURANTS_INGEST

SIZES = (10_000, 100_000)
STAGES = ("ingest", "apply", "aggregate", "flag", "train", "evaluate", "predict")


def resampled_sentences(n: int, scratch: Path) -> pl.DataFrame:
    """``n`` train sentences drawn with replacement (seed 0), without gold, then dev's
    and test's with theirs: ``id, text, gold, split``."""
    with Workspace(scratch / "mams.duckdb") as ws:
        ingest(ws, sorted(bundled_dataset("mams-acsa").glob("*.xml")), **RESTAURANTS_INGEST)
        sentences = ws.sql("SELECT text, gold, split FROM examples ORDER BY id")
    train = sentences.filter(pl.col("split") == "train")
    picks = np.random.default_rng(0).integers(0, train.height, n)
    drawn = train[picks].with_columns(gold=pl.lit(None, dtype=pl.String))
    frame = pl.concat([drawn, sentences.filter(pl.col("split") != "train")])
    return frame.with_row_index("id").with_columns(pl.col("id").cast(pl.String))


def commands(folder: Path) -> dict[str, list[str]]:
    """The CLI arguments of each stage, on the workspace and files in ``folder``."""
    ws, texts, model = str(folder / "ws.duckdb"), str(folder / "texts.parquet"), folder / "model"
    labels = ",".join(RESTAURANTS_INGEST["labels"])
    return {
        "ingest": [
            "ingest", ws, texts, "--id-column", "id", "--kind", "aspects", "--labels", labels,
            "--label-column", "gold", "--split-column", "split",
        ],
        "apply": ["apply", ws, "--lfs", "labeling_functions.restaurants"],
        "aggregate": ["aggregate", ws],
        "flag": ["flag", ws],
        "train": ["train", ws, str(model)],
        "evaluate": ["evaluate", ws, "--model", str(model / "model-best")],
        "predict": ["predict", str(model / "model-best"), texts, str(folder / "out.parquet")],
    }  # fmt: skip


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = arguments.parse_args()
    records = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            resampled_sentences(n, folder).write_parquet(folder / "texts.parquet")
            steps = commands(folder)
            for stage in STAGES:
                measured = run_stage(steps[stage], folder / "stages.log")
                record = stage_record(f"mams-acsa resampled {n:,}", n, stage, *measured)
                print(record, flush=True)
                records.append(record)
        # Written after every size, so that a run stopped on a larger one keeps the others.
        _write(records, args.output_dir, "scale_aspects")


if __name__ == "__main__":
    main()
