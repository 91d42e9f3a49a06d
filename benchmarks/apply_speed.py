"""Applying ten YouTube spam LFs: labelkit's applier against Snorkel's PandasLFApplier.

The LFs are ``labeling_functions.youtube`` (eight keyword/regex LFs, a length LF and
one Python function) and the same ten written as Snorkel LFs with Python's ``re``.
Texts are the bundled YouTube comments resampled to 10k, 100k and 1M rows. Each run
happens in a fresh process that reports its wall time and how far applying raised
its peak resident memory; both appliers' votes are checked to be identical.

A second shape is many declarative LFs over few rows, as in issue #16: 164
``column_lf``s, each reading a metadata column of its own (another model's verdict),
over 2,527 rows, applied with ``apply_lfs`` into a workspace on disk (votes written).

    python benchmarks/apply_speed.py [--sizes 10000 100000 1000000] [--shapes many-columns]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import parser, resampled_comments, write_results

from labelkit import Workspace, apply_lfs, ingest
from labelkit.lf import DeclarativeLF, PythonLF, column_lf, compute_votes, load_lfs
from labelkit.lf.core import whole_words
from labelkit.task import Task

TASK = Task(labels=("ham", "spam"))
LF_SETS = {"declarative (9 LFs)": False, "all ten (9 + 1 Python)": True}
# Snorkel needs about 4 minutes per million rows here; running it on a second LF set
# at 1M would break the 10-minute budget, so that one stops at 100k rows.
SNORKEL_MAX_ROWS = {"declarative (9 LFs)": None, "all ten (9 + 1 Python)": 100_000}
# Rows and column LFs of the many-LF shape: the case reported in issue #16.
MANY_COLUMNS = (2_527, 164)
SHAPES = ("youtube", "many-columns")


def labelkit_lfs(with_python: bool) -> list[Any]:
    lfs = load_lfs("labeling_functions.youtube")
    return [lf for lf in lfs if with_python or isinstance(lf, DeclarativeLF)]


def snorkel_lfs(with_python: bool) -> list[Any]:
    """The same LFs for Snorkel: each declarative one as a regex search per row."""
    from snorkel.labeling import LabelingFunction

    codes = {label: k for k, label in enumerate(TASK.labels)}
    lfs = []
    for lf in labelkit_lfs(with_python):
        if isinstance(lf, PythonLF):
            lfs.append(_snorkel_python(lf, codes))
            continue
        params = dict(lf.params)
        vote = codes[lf.labels[0]]
        if lf.kind == "length":
            limit = params["max_words"]
            function = _length(limit, vote)
        else:
            if lf.kind == "keywords":
                pattern = whole_words(params["keywords"])
            else:
                pattern = params["pattern"]
            function = _search(re.compile(pattern, re.IGNORECASE), vote)
        lfs.append(LabelingFunction(lf.name, f=function))
    return lfs


def _search(regex: re.Pattern[str], vote: int) -> Any:
    return lambda x: vote if regex.search(x.text) else -1


def _length(limit: int, vote: int) -> Any:
    return lambda x: vote if len(x.text.split()) <= limit else -1


def _snorkel_python(lf: PythonLF, codes: dict[str, int]) -> Any:
    from snorkel.labeling import LabelingFunction

    from labelkit.lf import Example

    def function(x: Any) -> int:
        label = lf(Example(id=x.id, text=x.text))
        return -1 if label is None else codes[label]

    return LabelingFunction(lf.name, f=function)


def worker(method: str, n: int, with_python: bool, votes_path: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    frame = resampled_comments(n)
    if method == "snorkel":
        from snorkel.labeling import PandasLFApplier

        lfs = snorkel_lfs(with_python)
        data = frame.to_pandas()
    else:
        lfs = labelkit_lfs(with_python)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "snorkel":
        codes = PandasLFApplier(lfs).apply(data, progress_bar=False)
    else:
        codes = compute_votes(lfs, frame, TASK).matrix.codes
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(votes_path, np.asarray(codes, dtype=np.int16))
    return {"seconds": seconds, "peak_mb_added": max(after - before, 0) / 1024}


def many_column_lfs(rows: int, n_lfs: int) -> tuple[pl.DataFrame, list[DeclarativeLF]]:
    """``rows`` texts with ``n_lfs`` metadata columns of verdicts (seed 0), and a
    ``column_lf`` per column mapping them to labels."""
    verdicts = np.random.default_rng(0).choice(["blocked", "ok", "unsure"], (n_lfs, rows))
    frame = pl.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "text": [f"comment number {i}" for i in range(rows)],
            **{f"model_{j}": verdicts[j] for j in range(n_lfs)},
        }
    )
    mapping = {"blocked": "spam", "ok": "ham"}
    return frame, [column_lf(f"model_{j}", f"model_{j}", mapping) for j in range(n_lfs)]


def many_columns_worker(workspace: Path) -> dict[str, Any]:
    """Apply the many column LFs into a fresh workspace, in this (fresh) process."""
    frame, lfs = many_column_lfs(*MANY_COLUMNS)
    with Workspace(workspace) as ws:
        ingest(ws, frame, labels=TASK.labels)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        apply_lfs(ws, lfs)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mb_added": max(after - before, 0) / 1024}


def many_columns_record(scratch: Path) -> dict[str, Any]:
    workspace = scratch / "many_columns.duckdb"
    workspace.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--many-columns-worker", str(workspace)]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(output.stdout.strip().splitlines()[-1])
    workspace.unlink()
    rows, n_lfs = MANY_COLUMNS
    return {
        "dataset": f"{n_lfs} metadata columns x{rows:,}",
        "method": "labelkit (apply_lfs, votes written)",
        "lfs": f"{n_lfs} column_lf",
        "rows": rows,
        "seconds": result["seconds"],
        "rows_per_s": rows / result["seconds"],
        "peak_mb_added": result["peak_mb_added"],
        "speedup_vs_snorkel": None,
        "votes_identical": None,
    }


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    # One measurement in this process: method, rows, with_python (0/1), votes file.
    arguments.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    arguments.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    arguments.add_argument("--many-columns-worker", type=Path, help=argparse.SUPPRESS)
    options = arguments.parse_args()
    if options.many_columns_worker:
        print(json.dumps(many_columns_worker(options.many_columns_worker)))
        return
    if options.worker:
        method, n, with_python, votes_path = options.worker
        result = worker(method, int(n), with_python == "1", Path(votes_path))
        print(json.dumps(result))
        return
    records = []
    scratch = options.output_dir / "apply_speed_votes"
    scratch.mkdir(parents=True, exist_ok=True)
    for lf_set, with_python in LF_SETS.items() if "youtube" in options.shapes else ():
        for n in options.sizes:
            measured = {}
            limit = SNORKEL_MAX_ROWS[lf_set]
            methods = ("labelkit", "snorkel") if limit is None or n <= limit else ("labelkit",)
            for method in methods:
                votes_path = scratch / f"{method}.npy"
                command = [sys.executable, __file__, "--worker", method, str(n)]
                command += ["1" if with_python else "0", str(votes_path)]
                output = subprocess.run(command, capture_output=True, text=True, check=True)
                measured[method] = json.loads(output.stdout.strip().splitlines()[-1])
                measured[method]["votes"] = np.load(votes_path)
            snorkel = measured.get("snorkel")
            identical = (
                bool((measured["labelkit"]["votes"] == snorkel["votes"]).all()) if snorkel else None
            )
            for method in methods:
                result = measured[method]
                records.append(
                    {
                        "dataset": f"youtube comments x{n:,}",
                        "method": method,
                        "lfs": lf_set,
                        "rows": n,
                        "seconds": result["seconds"],
                        "rows_per_s": n / result["seconds"],
                        "peak_mb_added": result["peak_mb_added"],
                        "speedup_vs_snorkel": (
                            snorkel["seconds"] / result["seconds"] if snorkel else None
                        ),
                        "votes_identical": identical,
                    }
                )
                print(records[-1], flush=True)
    if "many-columns" in options.shapes:
        records.append(many_columns_record(scratch))
        print(records[-1], flush=True)
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    notes = (
        "`seconds`: wall time of applying alone (data already in memory), in a fresh "
        "process per run; `peak_mb_added`: how far that raised the process's peak RSS. "
        "labelkit runs declarative LFs as one polars pass and the Python LF on every "
        "core; Snorkel's PandasLFApplier runs every LF per row. `votes_identical`: both "
        "gave the same vote on every row. Snorkel is not run on the ten LFs at 1M rows (it takes "
        "about 4 minutes per million rows and per LF set here). The many-columns row times "
        "`apply_lfs` into a workspace on disk, votes written (about 100 s before labelkit "
        "read all metadata fields in one pass)."
    )
    frame = write_results("apply_speed", records, options.output_dir, notes)
    print(frame)


if __name__ == "__main__":
    main()
