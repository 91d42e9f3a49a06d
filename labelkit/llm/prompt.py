"""The prompt sent for one text, and the JSON schema its answer should follow."""

from __future__ import annotations

from typing import Any

from labelkit.task import Task

SYSTEM_TEMPLATE = (
    "{instructions}\n"
    'Answer with a JSON object of the form {{"label": LABEL}} where LABEL is one of: '
    "{labels}."
)


def build_messages(instructions: str, task: Task, text: str) -> list[dict[str, str]]:
    """The chat messages that ask for ``text``'s label.

    Examples
    --------
    >>> build_messages("Is this comment spam?", Task(("ham", "spam")), "sub to me")[1]
    {'role': 'user', 'content': 'sub to me'}
    """
    system = SYSTEM_TEMPLATE.format(
        instructions=instructions.strip(), labels=", ".join(task.labels)
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


def label_schema(task: Task) -> dict[str, Any]:
    """A JSON schema for ``{"label": <one of the task's labels>}``."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(task.labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }
