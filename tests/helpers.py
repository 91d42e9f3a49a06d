"""Helpers shared by tests."""

from __future__ import annotations

from labelkit import Workspace


def table_counts(ws: Workspace) -> dict[str, int]:
    """Row counts of every table: compared before and after a failing step."""
    names = ws.sql("SELECT table_name FROM information_schema.tables")["table_name"]
    return {name: ws.sql(f"SELECT count(*) AS n FROM {name}")["n"][0] for name in names}
