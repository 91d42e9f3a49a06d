from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl

from labelkit import Workspace, bundled_dataset

ROOT = Path(__file__).parents[2]


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file, dedented (README nests some in lists)."""
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", path.read_text(), re.M | re.S)
    return [textwrap.dedent(body) for _, body in blocks]


def test_readme_python_examples_run(tmp_path: Path) -> None:
    """The README's labeling-function file and its Python API example, run as written on
    a comments.csv made from the bundled data; the reviewer's keys come from stdin."""
    lf_file, api = python_blocks(ROOT / "README.md")
    assert "@labeling_function" in lf_file and "import labelkit as lk" in api
    (tmp_path / "my_lfs.py").write_text(lf_file)
    frames = [pl.read_csv(path, infer_schema=False) for path in bundled_dataset().glob("*.csv")]
    comments = pl.concat(frames).select(
        pl.col("CONTENT").alias("text"),
        pl.col("CLASS").replace_strict({"0": "ham", "1": "spam"}).alias("label"),
    )
    comments.write_csv(tmp_path / "comments.csv")
    result = subprocess.run(
        [sys.executable, "-c", api],
        cwd=tmp_path,
        input="aar",  # accept, accept, reject; the end of input quits the review
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "small model" in result.stdout
    assert (tmp_path / "models" / "spam" / "model-best" / "meta.json").is_file()
    with Workspace(tmp_path / "spam.duckdb", read_only=True) as ws:
        actions = ws.sql("SELECT action FROM decisions ORDER BY decision_id")["action"]
    assert actions.to_list() == ["accept", "accept", "reject"]
