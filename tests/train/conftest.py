from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest


@pytest.fixture(scope="session")
def minilm_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Path]:
    """A cache of distilled MiniLM models that lives for the session: distilling takes
    20 to 60 s, so the tests that need it share one, and none writes to ~/.cache. The
    test processes of one run share it too, the first to need it distilling while the
    others wait."""
    import fcntl  # POSIX; the suite runs on Linux

    from labelkit.train.vectors import minilm_static_model

    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's folder sits in the run's own.
    cache = (base if worker_id == "master" else base.parent) / "labelkit-cache"
    cache.mkdir(exist_ok=True)
    before = os.environ.get("LABELKIT_CACHE")
    os.environ["LABELKIT_CACHE"] = str(cache)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        minilm_static_model(64)
        fcntl.flock(lock, fcntl.LOCK_UN)
    yield cache
    if before is None:
        del os.environ["LABELKIT_CACHE"]
    else:
        os.environ["LABELKIT_CACHE"] = before


SPAM = ["subscribe to my channel", "free money click here", "check out my page", "visit my site"]
HAM = ["love this song", "her voice is beautiful", "best music video", "this song is great"]


@pytest.fixture
def spam_workspace(tmp_path: Path) -> Path:
    """A workspace of the SPAM and HAM texts five times over, every fifth in test and
    every fifth of the next in dev, labeled by one voter that is always right."""
    from labelkit import Workspace, aggregate, import_votes, ingest

    texts, gold = SPAM + HAM, ["spam"] * len(SPAM) + ["ham"] * len(HAM)
    frame = pl.DataFrame({"text": texts * 5, "gold": gold * 5}).with_row_index("n")
    split = pl.when(pl.col("n") % 5 == 0).then(pl.lit("test"))
    split = split.when(pl.col("n") % 5 == 1).then(pl.lit("dev")).otherwise(pl.lit("train"))
    frame = frame.select(pl.col("n").cast(pl.String).alias("id"), "text", "gold", split=split)
    frame.write_csv(tmp_path / "comments.csv")
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(
            ws, tmp_path / "comments.csv", id_column="id", label_column="gold", split_column="split"
        )
        votes = frame.select(
            pl.col("id").alias("example_id"),
            pl.lit("gold").alias("source"),
            pl.col("gold").alias("label"),
        )
        import_votes(ws, votes)
        aggregate(ws, "majority_vote")
    return path


def run_installed(wheel: Path, site: Path, probe: str) -> Any:
    """Install ``wheel`` into ``site`` alone (no dependencies, no labelkit source on the
    path) and run ``probe``, which prints JSON, in a fresh isolated interpreter that sees
    ``site``; return what it printed."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site, wheel],
        check=True,
    )
    shown = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {probe}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(shown.stdout)


def install_and_score(wheel: Path, site: Path, text: str) -> tuple[dict[str, float], set[str]]:
    """Install a packaged scorer's ``wheel`` into ``site`` alone and score ``text`` in a
    fresh, isolated interpreter; return its scores and the top-level modules that
    interpreter imported."""
    package = wheel.name.split("-")[0]
    probe = (
        f"import json, sys, {package}; scores = {package}.load()([{text!r}]); "
        "print(json.dumps([scores[0], sorted({n.split('.')[0] for n in sys.modules})]))"
    )
    scores, modules = run_installed(wheel, site, probe)
    return scores, set(modules)
