"""Write the CLI reference page from the CLI itself: every command, argument and option.

    python scripts/cli_reference.py docs/reference/cli.md

`make docs` runs it before building the site, so the page cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from labelkit.cli import app


def _default(param: Any) -> str:
    if param.required or param.default is None or param.param_type_name == "argument":
        return ""
    if getattr(param, "is_flag", False) and not param.secondary_opts:
        return ""
    value = param.default
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) if value else ""
    return f"`{value}`"


def _row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{param.name.upper()}`"
    else:
        name = " / ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
    text = (getattr(param, "help", None) or "").replace("|", "\\|").replace("\n", " ")
    required = " (required)" if param.required else ""
    return f"| {name}{required} | {text} | {_default(param)} |"


def reference() -> str:
    """The Markdown page: one section per command, in the order `labelkit --help` lists."""
    group = typer.main.get_command(app)
    context = group.make_context("labelkit", [], resilient_parsing=True)
    lines = [
        "# CLI reference",
        "",
        "Generated from `labelkit` itself by `scripts/cli_reference.py`.",
        "Every command takes `--help`.",
        "",
    ]
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        usage = " ".join(command.collect_usage_pieces(context)).replace("{", "").replace("}", "")
        usage = usage.upper()
        lines += [f"## `labelkit {name}`", "", (command.help or "").strip(), ""]
        lines += ["```", f"labelkit {name} {usage}", "```", ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| argument or option | meaning | default |", "| --- | --- | --- |"]
            lines += [_row(param) for param in params]
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(reference(), encoding="utf-8")
