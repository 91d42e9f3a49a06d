"""What every benchmark script shares: arguments, the machine's description, result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
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
# What ``write_results`` adds to every record that has none: the run that measured it.
STAMP = ("machine", "labelkit_version", "commit")


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    arguments = argparse.ArgumentParser(description=description)
    arguments.add_argument(
        "--data-dir",
        type=Path,
        default=Path(__file__).parents[1].parent / "shared" / "data",
        help="where the public data sets live (read in place, never copied)",
    )
    arguments.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS,
        help="where the JSON, the Markdown and any plot go (default: benchmarks/results, "
        "its plot in docs/)",
    )
    return arguments


def plot_path(output_dir: Path, committed: Path) -> Path:
    """Where a script's plot goes: ``committed`` (in docs/) for a run into
    ``benchmarks/results``, else into ``output_dir`` (trial 62c: a rerun into a
    folder of one's own replaced the committed figure)."""
    if output_dir.resolve() == RESULTS.resolve():
        return committed
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir / committed.name


def machine() -> str:
    """The machine in a few words: CPU cores available to this process, their model,
    memory, OS, Python (trial 62c: the timings could not be told apart by machine)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    described = [f"{cores} cores"]
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text(errors="replace").splitlines()
                if line.startswith("model name")
            ),
            None,
        )
        described[0] += f" ({model})" if model else ""
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        described.append(
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB"
        )
    described += [
        f"{platform.system()} {platform.machine()}",
        f"Python {platform.python_version()}",
    ]
    return ", ".join(described)


CODE = ("labelkit", "labeling_functions", "benchmarks", ":!benchmarks/results")


def commit() -> str | None:
    """The git commit of the code that ran, ``-dirty`` where its files differ from it
    (trial 62c: ``labelkit_version`` stayed 0.1.0 across changes that moved numbers)."""
    root = Path(__file__).parents[1]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True
        )
        dirty = subprocess.run(
            # The code, not the results a run writes.
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE],
            cwd=root,
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def write_results(
    script: str,
    records: list[dict[str, Any]],
    output_dir: Path,
    notes: str = "",
    table: str | None = None,
) -> pl.DataFrame:
    """Save ``records`` as ``<script>.json`` and a Markdown table ``<script>.md``: the
    records one per line, or ``table`` (Markdown) where a script arranges them itself."""
    missing = [key for key in ("dataset", "method") for r in records if key not in r][:1]
    if missing:
        # benchmarks/README.md promises both in every record (trial 62c: three lacked them).
        raise ValueError(f"{script}: a record without {missing[0]!r}")
    # A record read back from an earlier run keeps the stamp of the run that measured it
    # (a --report-only rewrite stamped the current commit on old numbers).
    stamp = dict(zip(STAMP, (machine(), labelkit.__version__, commit()), strict=True))
    records = [
        {"commit": None, **record} if "machine" in record else {**stamp, **record}
        for record in records
    ]
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{script}.json").write_text(
        json.dumps(records, indent=1) + "\n", encoding="utf-8"
    )
    frame = pl.DataFrame(records, infer_schema_length=None).drop(*STAMP)
    header = f"# {script}\n\nMeasured on {_stamps(records)}.\n\n"
    body = (markdown_table(frame) if table is None else table) + "\n"
    (output_dir / f"{script}.md").write_text(
        header + body + (f"\n{notes}\n" if notes else ""), encoding="utf-8"
    )
    return frame


def _stamps(records: list[dict[str, Any]]) -> str:
    """The machines, versions and commits the records were measured with, in words."""
    runs = dict.fromkeys((r["machine"], r["labelkit_version"], r.get("commit")) for r in records)
    return "; ".join(
        f"{machine}, labelkit {version}" + (f" (commit {made})" if made else "")
        for machine, version, made in runs
    )


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
