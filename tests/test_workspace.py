from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from labelkit import Workspace, WorkspaceError
from labelkit.workspace import SCHEMA_VERSION


def test_new_workspace_has_every_table_and_the_schema_version(tmp_path: Path) -> None:
    with Workspace(tmp_path / "new.duckdb") as ws:
        tables = set(ws.sql("SELECT table_name FROM information_schema.tables")["table_name"])
        assert {"examples", "votes", "llm_cache", "predictions", "flags", "queue"} <= tables
        assert {"decisions", "runs", "sources", "meta"} <= tables
        assert ws.schema_version() == SCHEMA_VERSION
    # Reopening applies no migration twice.
    with Workspace(tmp_path / "new.duckdb") as ws:
        assert ws.schema_version() == SCHEMA_VERSION


def test_a_failing_run_leaves_no_trace(workspace: Workspace) -> None:
    before = workspace.sql("SELECT count(*) AS n FROM runs")["n"][0]
    with pytest.raises(RuntimeError), workspace.run("apply", {}) as run:
        run.con.execute("DELETE FROM examples")
        raise RuntimeError("boom")
    assert workspace.sql("SELECT count(*) AS n FROM examples")["n"][0] == 6
    assert workspace.sql("SELECT count(*) AS n FROM runs")["n"][0] == before


def test_a_run_is_logged_with_config_and_versions(workspace: Workspace) -> None:
    with workspace.run("apply", {"lfs": ["x"]}):
        pass
    last = workspace.sql("SELECT * FROM runs ORDER BY run_id DESC LIMIT 1").row(0, named=True)
    assert last["step"] == "apply"
    assert '"lfs": ["x"]' in last["config"]
    assert '"duckdb"' in last["versions"]


def test_a_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    with Workspace(path):
        script = (
            "import sys\nfrom labelkit import Workspace, WorkspaceError\n"
            f"try:\n    Workspace({str(path)!r})\nexcept WorkspaceError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 3
    assert "open for writing in another process" in result.stdout
    assert str(path) in result.stdout


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    with Workspace(path) as ws:
        ws.con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(WorkspaceError, match="newer than this labelkit"):
        Workspace(path)


def test_missing_step_is_named(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="run `labelkit aggregate` first"):
        workspace.require("predictions", "labelkit aggregate")


def test_file_is_plain_duckdb(workspace: Workspace, tmp_path: Path) -> None:
    workspace.close()
    con = duckdb.connect(str(tmp_path / "ws.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM examples").fetchall() == [(6,)]
    con.close()


def test_a_workspace_from_before_languages_is_english(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with Workspace(path) as ws:
        # The task as the first ingest stored it before the language was kept.
        ws.con.execute(
            """INSERT INTO meta VALUES ('task', '{"kind": "classification", "labels": ["b", "a"]}')"""
        )
        ws.con.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    with Workspace(path) as ws:
        assert ws.schema_version() == SCHEMA_VERSION
        stored = json.loads(ws.sql("SELECT value FROM meta WHERE key = 'task'")["value"][0])
        assert stored == {"kind": "classification", "labels": ["b", "a"], "lang": "en"}
        assert ws.task.lang == "en" and ws.task.labels == ("b", "a")
