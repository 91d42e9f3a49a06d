"""What every benchmark script shares: arguments, the machine's description, result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import labelkit
from labelkit import (
    Workspace,
    bundled_dataset,
    import_llm_cache,
    import_votes,
    ingest,
    label_with_llm,
)
from labelkit.demo import RECORDED_ANSWERS, YOUTUBE_LLM
from labelkit.report import markdown_table

WRENCH_SPLITS = ("train", "valid", "test")

RESULTS = Path(__file__).parent / "results"


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument(
        "--data-dir",
        type=Path,
        default=Path(__file__).parents[1].parent / "shared" / "data",
        help="where the public data sets live (read in place, never copied)",
    )
    arguments.add_argument("--output-dir", type=Path, default=RESULTS)
    return arguments


def machine() -> str:
    """The machine in a few words: CPU cores available to this process, OS, Python."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def write_results(
    script: str,
    records: list[dict[str, Any]],
    output_dir: Path,
    notes: str = "",
    table: str | None = None,
) -> pl.DataFrame:
    """Save ``records`` as ``<script>.json`` and a Markdown table ``<script>.md``: the
    records one per line, or ``table`` (Markdown) where a script arranges them itself."""
    stamp = {"machine": machine(), "labelkit_version": labelkit.__version__}
    records = [{**record, **stamp} for record in records]
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{script}.json").write_text(
        json.dumps(records, indent=1) + "\n", encoding="utf-8"
    )
    frame = pl.DataFrame(records, infer_schema_length=None).drop("machine", "labelkit_version")
    header = f"# {script}\n\nMeasured on {stamp['machine']}, labelkit {labelkit.__version__}.\n\n"
    body = (markdown_table(frame) if table is None else table) + "\n"
    (output_dir / f"{script}.md").write_text(
        header + body + (f"\n{notes}\n" if notes else ""), encoding="utf-8"
    )
    return frame


def resampled_comments(n: int) -> pl.DataFrame:
    """``n`` comments drawn with replacement (seed 0) from the bundled YouTube set, as
    ``id`` and ``text``: the scale benchmarks' input at any size."""
    comments = pl.concat(
        pl.read_csv(path, columns=["CONTENT"])
        for path in sorted(bundled_dataset("youtube-spam").glob("*.csv"))
    )["CONTENT"]
    picks = np.random.default_rng(0).integers(0, comments.len(), n)
    return pl.DataFrame({"id": np.arange(n).astype(str), "text": comments.gather(picks)})


def load_wrench(workspace: Workspace, folder: Path, vote_splits: tuple[str, ...]) -> None:
    """A WRENCH set's texts and gold (valid becomes dev), and the shipped LF votes of
    ``vote_splits`` as sources ``wrench:<LF name>``."""
    ingest(workspace, [folder / f"{split}.json" for split in WRENCH_SPLITS])
    import_votes(workspace, [folder / f"{split}.json" for split in vote_splits])


def replay_llm(workspace: Workspace) -> None:
    """The demo's recorded SmolLM2-135M answers (they cover every YouTube comment, the
    WRENCH set's included), asked again through the cache: nothing is asked live."""
    import_llm_cache(workspace, bundled_dataset("youtube-spam") / RECORDED_ANSWERS)
    stats = label_with_llm(workspace, YOUTUBE_LLM)
    assert stats.cached == stats.prompts, "every prompt must come from the recorded answers"


def spread(values: Sequence[float]) -> float:
    """The sample standard deviation of ``values`` (``ddof=1``, as polars' ``std`` and
    every paper's "± sd" over seeds), 0.0 for a single value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
