"""`labelkit apply` as a user runs it: a subprocess, a workspace file, an LF file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labelkit import Workspace


def run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("id,text,label\nc1,hello there,ham\nc2,buy now,spam\nc3,nice song,ham\n")
    ingested = run("ingest", path, csv, "--id-column", "id", "--label-column", "label")
    assert ingested.returncode == 0, ingested.stderr
    return path


def lf_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lfs.py"
    path.write_text("import sys\nfrom labelkit import labeling_function, keyword_lf\n" + body)
    return path


def stored(ws: Path) -> list[tuple[str, str]]:
    with Workspace(ws, read_only=True) as workspace:
        return workspace.sql("SELECT source, example_id FROM votes ORDER BY 1, 2").rows()


def test_an_lf_file_with_a_syntax_error_is_one_line_naming_file_and_line(
    tmp_path: Path, ws: Path
) -> None:
    lfs = lf_file(tmp_path, "\n@labeling_function\ndef oops(x)\n    return None\n")
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {lfs}:5: cannot load labeling functions: SyntaxError: expected ':'"
    )


def test_sys_exit_inside_an_lf_is_reported_as_that_lfs_failure(tmp_path: Path, ws: Path) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def quitter(x):\n"
        "    if 'buy' in x.text:\n"
        "        sys.exit(0)\n"
        "    return 'ham'\n",
    )
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 0, result.stderr
    assert "1 failed rows abstained (quitter: 1)" in result.stderr
    assert "SystemExit: the LF called sys.exit(0)" in result.stderr
    assert "quitter" in result.stdout and "buy" in result.stdout
    assert stored(ws) == [("buy", "c2"), ("quitter", "c1"), ("quitter", "c3")]


def test_an_lf_failing_on_every_row_exits_1_unless_allowed(tmp_path: Path, ws: Path) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def typo(x):\n"
        "    return x.txt\n",
    )
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 1
    assert "labeling function 'typo' failed on example 'c1'" in result.stderr
    assert "on all 3 examples" in result.stderr and "--allow-failing-lfs" in result.stderr
    assert stored(ws) == []
    allowed = run("apply", ws, "--lfs", lfs, "--allow-failing-lfs")
    assert allowed.returncode == 0, allowed.stderr
    assert "3 failed rows abstained (typo: 3)" in allowed.stderr
    assert stored(ws) == [("buy", "c2")]


def test_a_hanging_lf_is_stopped_by_lf_timeout_and_nothing_is_written(
    tmp_path: Path, ws: Path
) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def spin(x):\n"
        "    while x.id == 'c3':\n"
        "        pass\n"
        "    return None\n",
    )
    started = time.monotonic()
    result = run("apply", ws, "--lfs", lfs, "--lf-timeout", "2", timeout=120)
    assert time.monotonic() - started < 100
    assert result.returncode == 1
    assert "labeling function 'spin' failed on example 'c3'" in result.stderr
    assert "still running after 2 s" in result.stderr
    assert stored(ws) == []
    # The write lock is released: the next step runs.
    assert run("apply", ws, "--lfs", "labeling_functions.youtube").returncode == 0
