"""The registries: parts registered in code, and by an installed package's entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from labelkit import Workspace, ingest
from labelkit.votes import import_votes


def test_a_label_model_a_package_registers_is_found_by_the_cli(tmp_path: Path) -> None:
    # Trial 59e: `--model` said "or one a package registers", and no package could.
    site = tmp_path / "site"
    (site / "my_votes-0.1.dist-info").mkdir(parents=True)
    (site / "my_votes.py").write_text(
        "from labelkit.aggregate import MajorityVote\n\n\n"
        "class Named(MajorityVote):\n    name = 'my_vote'\n"
    )
    (site / "my_votes-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-votes\nVersion: 0.1\n"
    )
    (site / "my_votes-0.1.dist-info" / "entry_points.txt").write_text(
        "[labelkit_label_models]\nmy_vote = my_votes:Named\n"
    )
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"]}), labels=["ham", "spam"])
        votes = [("a", "s", "ham"), ("b", "s", "spam")]
        import_votes(
            ws, pl.DataFrame(votes, schema=["example_id", "source", "label"], orient="row")
        )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "labelkit", "aggregate", str(path), "--model", "my_vote"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "my_vote: 2 of 2 examples labeled" in " ".join(done.stdout.split())
    with Workspace(path, read_only=True) as ws:
        assert ws.sql("SELECT label FROM predictions ORDER BY example_id")["label"].to_list() == [
            "ham",
            "spam",
        ]
