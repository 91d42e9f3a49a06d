"""Every stage of the pipeline through the CLI at 10k, 100k and 1M texts: seconds and
peak resident memory, one process per stage.

Texts are the bundled YouTube comments drawn with replacement (seed 0) to each size and
written to Parquet. Each stage runs as ``python -m labelkit ...`` in a fresh process,
one after the other on one workspace, as a user would: ingest, apply (the ten
``labeling_functions.youtube`` LFs), aggregate with Dawid-Skene, Snorkel and majority
vote (the last one's labels are kept), flag, train (the default model on the default
sample of the cleaned set), predict (the
Parquet back through the model) and ``llm --dry-run`` (prompts built and costed,
nothing asked). The peak RSS is the stage process's own, so it includes
Python, polars, DuckDB and spaCy as loaded by that command (GNU time). Records carry
``executor = "local"`` for the executors that run stages elsewhere to be compared.

    python benchmarks/scale.py [--sizes 10000 100000 1000000]
    python benchmarks/scale.py --sizes 10000000 --output-name scale_10m   # outside make bench

With matplotlib installed (``pip install -e ".[bench]"``) it also draws every stage's
seconds and peak memory against the rows, from all the ``scale*.json`` results there are
(the 10M run's beside the others), into ``docs/scale.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from _common import parser, plot_path, resampled_comments, write_results

from labelkit.report import markdown_table

SIZES = (10_000, 100_000, 1_000_000)
STAGES = (
    "ingest",
    "apply",
    "aggregate dawid_skene",
    "aggregate snorkel",
    "aggregate majority_vote",
    "flag",
    "train",
    "predict",
    "llm dry-run",
)
ROOT = Path(__file__).parents[1]
TIME = "/usr/bin/time"
PLOT = ROOT / "docs" / "scale.png"


def commands(folder: Path) -> dict[str, list[str]]:
    """The CLI arguments of each stage, on the workspace and files in ``folder``."""
    ws, texts = str(folder / "ws.duckdb"), str(folder / "texts.parquet")
    model = str(folder / "model")
    return {
        "ingest": ["ingest", ws, texts, "--id-column", "id", "--labels", "ham,spam"],
        "apply": ["apply", ws, "--lfs", "labeling_functions.youtube"],
        "aggregate dawid_skene": ["aggregate", ws, "--model", "dawid_skene"],
        "aggregate snorkel": ["aggregate", ws, "--model", "snorkel"],
        "aggregate majority_vote": ["aggregate", ws, "--model", "majority_vote"],
        "flag": ["flag", ws],
        "train": ["train", ws, model],
        "predict": ["predict", f"{model}/model-best", texts, str(folder / "predicted.parquet")],
        "llm dry-run": ["llm", ws, "--model", "any", "--instructions", "spam?", "--dry-run"],
    }


def run_stage(arguments: list[str], log: Path) -> tuple[float, float]:
    """Run one CLI command, its output appended to ``log``; return its wall seconds and
    its own peak RSS in MB.

    The peak comes from ``/usr/bin/time``: a child forked from this process would
    inherit this process's peak as its own (Linux keeps it across exec).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = str(ROOT)
    peak = log.with_suffix(".rss")
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ labelkit {' '.join(arguments)}\n")
        out.flush()
        done = subprocess.run(
            [TIME, "-f", "%M", "-o", str(peak), sys.executable, "-m", "labelkit", *arguments],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            check=False,
        )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        said = log.read_text(encoding="utf-8")[-3000:]
        raise SystemExit(f"labelkit {arguments[0]} failed ({done.returncode}):\n{said}")
    # GNU time reports the peak in kilobytes, on the file's last line.
    return seconds, int(peak.read_text(encoding="utf-8").split()[-1]) / 1024


def stage_record(
    dataset: str, rows: int, stage: str, seconds: float, rss: float
) -> dict[str, object]:
    """One stage's record: its wall ``seconds`` and peak ``rss`` (MB) on ``rows`` texts."""
    return {
        "dataset": dataset,
        "rows": rows,
        "method": stage,
        "executor": "local",
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(rss),
    }


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    arguments.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    arguments.add_argument("--output-name", default="scale")
    args = arguments.parse_args()
    records = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            resampled_comments(n).write_parquet(folder / "texts.parquet")
            steps = commands(folder)
            log = folder / "stages.log"
            for stage in STAGES:
                if stage not in args.stages:
                    continue
                record = stage_record(
                    f"youtube resampled {n:,}", n, stage, *run_stage(steps[stage], log)
                )
                print(record, flush=True)
                records.append(record)
        # Written after every size, so that a run stopped on a larger one keeps the others.
        _write(records, args.output_dir, args.output_name)
    plot(args.output_dir)


def _write(records: list[dict[str, object]], output_dir: Path, name: str) -> None:
    table = pl.DataFrame(records).pivot(
        on="rows", index="method", values=["seconds", "peak_rss_mb"], aggregate_function="first"
    )
    write_results(
        name,
        records,
        output_dir,
        notes="Seconds and peak RSS (MB) of each stage's own process, one stage after another.",
        table=markdown_table(table),
    )


def plot(output_dir: Path) -> None:
    """Seconds and peak MB of each stage against the rows, log-log, from every
    ``scale*.json`` in ``output_dir``, into ``PLOT``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
        return
    # The YouTube runs only: scale_aspects.json shares some stage names.
    frame = (
        pl.concat(
            [
                pl.read_json(path).select("dataset", "rows", "method", "seconds", "peak_rss_mb")
                for path in sorted(output_dir.glob("scale*.json"))
            ]
        )
        .filter(pl.col("dataset").str.starts_with("youtube"))
        .unique(["rows", "method"], keep="last")
    )
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for stage in STAGES:
        rows = frame.filter(pl.col("method") == stage).sort("rows")
        if rows.height:
            for axis, column in zip(axes, ("seconds", "peak_rss_mb"), strict=True):
                axis.plot(rows["rows"], rows[column], marker="o", label=stage)
    for axis, label in zip(axes, ("wall seconds", "peak resident MB"), strict=True):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("texts")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    axes[1].axhline(24 * 1024, linestyle="--", color="grey")
    axes[1].annotate("24 GB", (frame["rows"].min(), 24 * 1024), fontsize=8, va="bottom")
    axes[0].legend(fontsize=7, loc="upper left")
    figure.suptitle(
        "Each stage through the CLI, one process per stage, on resampled YouTube comments "
        "(2 cores)",
        fontsize=10,
    )
    figure.tight_layout()
    path = plot_path(output_dir, PLOT)
    figure.savefig(path, dpi=110)
    print(f"plot written to {path}")


if __name__ == "__main__":
    main()
