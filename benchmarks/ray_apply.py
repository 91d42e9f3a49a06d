"""Applying the ten YouTube spam LFs into a workspace: the local executor against the
ray executor with 1, 2 and 4 workers on a Ray cluster started on this machine.

Texts are the bundled YouTube comments resampled (seed 0) to 100k and 1M rows,
ingested once per size into a workspace on disk. Each run is a fresh process that
applies ``labeling_functions.youtube`` (nine declarative LFs and one Python LF) with
``force=True``, so every LF is computed and its votes written. For ray, the cluster is
started first (its start-up is timed apart, ``startup_s``), then ``apply_s`` times
``apply_lfs`` alone: export, Ray tasks, shards read back and the one write. Peak
memory is the largest sum of resident memory over the run's whole process tree (the
driver, and for ray the raylet, object store and workers), sampled every 0.2 s from
/proc: pages shared between processes count once per process. Every run's stored votes
are checked against the local run's.

    python benchmarks/ray_apply.py [--sizes 100000 1000000] [--repeats 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import parser, resampled_comments, write_results

from labelkit import Workspace, apply_lfs, ingest
from labelkit.lf import load_lfs

METHODS = {"local": None, "ray, 1 worker": 1, "ray, 2 workers": 2, "ray, 4 workers": 4}


def worker(workspace: Path, workers: int | None) -> dict[str, Any]:
    """One measured run in this process; what it took and a digest of the votes."""
    lfs = load_lfs("labeling_functions.youtube")
    startup = 0.0
    executor: Any = "local"
    if workers is not None:
        import logging

        import ray

        from labelkit.executors.ray_data import RayExecutor

        start = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
        startup = time.perf_counter() - start
        executor = RayExecutor(workers=workers)
    with Workspace(workspace) as ws:
        start = time.perf_counter()
        apply_lfs(ws, lfs, force=True, executor=executor)
        seconds = time.perf_counter() - start
        votes = ws.sql("SELECT example_id, source, label FROM votes ORDER BY ALL")
    digest = hashlib.sha256(votes.write_csv().encode()).hexdigest()
    return {"apply_s": seconds, "startup_s": startup, "votes": votes.height, "digest": digest}


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process below it."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * 4096
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def measure(workspace: Path, workers: int | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", str(workspace), str(workers or 0)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{command} failed ({process.returncode})")
    return {**json.loads(output.strip().splitlines()[-1]), "peak_mb": peak / 2**20}


def save(records: list[dict[str, Any]], output_dir: Path) -> None:
    write_results(
        "ray_apply",
        records,
        output_dir,
        notes=(
            "apply_s: `apply_lfs` with every LF recomputed and its votes written (for ray "
            "with the cluster already up; startup_s is `ray.init`); peak_mb: the largest "
            "summed resident memory of the run's process tree, sampled every 0.2 s. "
            "apply_s_spread: max - min over the repeats."
        ),
    )


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    arguments.add_argument("--repeats", type=int, default=1)
    arguments.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    arguments.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.worker:
        path, workers = args.worker
        print(json.dumps(worker(Path(path), int(workers) or None)))
        return
    records = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.sizes:
            workspace = Path(scratch, f"youtube-{n}.duckdb")
            with Workspace(workspace) as ws:
                ingest(ws, resampled_comments(n), labels=["ham", "spam"])
            expected = None
            for method in args.methods:
                runs = [measure(workspace, METHODS[method]) for _ in range(args.repeats)]
                digests = {run["digest"] for run in runs}
                expected = expected or runs[0]["digest"]
                record = {
                    "dataset": f"youtube resampled, {n:,} rows",
                    "method": method,
                    "rows": n,
                    "repeats": args.repeats,
                    "apply_s": statistics.mean(r["apply_s"] for r in runs),
                    "apply_s_spread": max(r["apply_s"] for r in runs)
                    - min(r["apply_s"] for r in runs),
                    "startup_s": statistics.mean(r["startup_s"] for r in runs),
                    "peak_mb": max(r["peak_mb"] for r in runs),
                    "votes": runs[0]["votes"],
                    "same_votes_as_local": digests == {expected},
                }
                print(record, flush=True)
                records.append(record)
                # Written after every run, so that a run cut short keeps what it measured.
                save(records, args.output_dir)


if __name__ == "__main__":
    main()
