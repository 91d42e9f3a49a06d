"""Properties of the package's source that no one test of behaviour covers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_every_text_file_is_read_and_written_with_its_encoding() -> None:
    # Trial 60e: under an ISO-8859-1 locale a model's n-grams were written and read in
    # the locale's encoding; its predictions changed unsaid. ruff's PLW1514 misses
    # `(folder / "features.json").write_text(...)`, the very call of that bug.
    missing = []
    for path in sorted((ROOT / "labelkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(
                node.func, ast.Attribute | ast.Name
            ):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if any(keyword.arg == "encoding" for keyword in node.keywords):
                continue
            if name in ("read_text", "write_text") and isinstance(node.func, ast.Attribute):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif name == "open" and (isinstance(node.func, ast.Name) or _path_open(node.func)):
                mode = node.args[1 if isinstance(node.func, ast.Name) else 0 :][:1]
                mode += [k.value for k in node.keywords if k.arg == "mode"]
                if not (mode and isinstance(mode[0], ast.Constant) and "b" in str(mode[0].value)):
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert missing == []


def _path_open(function: ast.Attribute) -> bool:
    """Whether ``x.open(...)`` is a path's (not ``os.open``, ``tarfile.open``, ...)."""
    owner = ast.unparse(function.value).split(".")[0]
    return owner not in {"os", "tarfile", "zipfile", "gzip", "io", "webbrowser", "duckdb", "sys"}
