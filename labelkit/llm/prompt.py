"""The prompt sent for one text: a system message rendered from a template file, optional
few-shot turns, then the text; and the JSON schema its answer should follow.

A template is a Jinja2 file that renders the system message from ``instructions``
(str), ``labels`` (the task's label names, in order), ``definitions`` (label name to a
one-line definition; empty when none were given), ``kind`` (the task's kind),
``attributes`` (the attributes the request answers; empty for classification),
``attribute`` (the one attribute asked for, or ``""``) and ``answers`` (the values each
may take: an aspect's labels and ``"none"``, or ``"yes"`` and ``"no"``; a spans task's
entity types).

The defaults are beside this module: ``templates/classify.jinja`` for classification,
``templates/attributes.jinja`` for every attribute of a text in one request,
``templates/attribute.jinja`` for one attribute per request, and ``templates/spans.jinja``
for the entities of a text (spans); copy one to start your own.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from labelkit.errors import InputError, LabelkitWarning, check_known_labels, outside_labelkit
from labelkit.review.queue import ANSWERS, EFFECTIVE_DECISIONS
from labelkit.task import Task
from labelkit.workspace import Workspace

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = TEMPLATES / "classify.jinja"
ATTRIBUTES_TEMPLATE = TEMPLATES / "attributes.jinja"
ATTRIBUTE_TEMPLATE = TEMPLATES / "attribute.jinja"
SPANS_TEMPLATE = TEMPLATES / "spans.jinja"
DEFAULT_TEMPLATES = (DEFAULT_TEMPLATE, ATTRIBUTES_TEMPLATE, ATTRIBUTE_TEMPLATE, SPANS_TEMPLATE)


def default_template(task: Task, attribute: str = "") -> Path:
    """The bundled template for ``task``: classification, every attribute at once, the
    one ``attribute``, or the entities of a text.

    Examples
    --------
    >>> default_template(Task(("sports", "tech"), kind="multilabel")).name
    'attributes.jinja'
    >>> default_template(Task(("TERM",), kind="spans")).name
    'spans.jinja'
    """
    if task.kind == "classification":
        return DEFAULT_TEMPLATE
    if task.kind == "spans":
        return SPANS_TEMPLATE
    return ATTRIBUTE_TEMPLATE if attribute else ATTRIBUTES_TEMPLATE


def _template(path: Path) -> jinja2.Template:
    try:
        modified = path.stat().st_mtime_ns
    except OSError as error:
        raise InputError(f"{path}: cannot read the prompt template: {error}") from error
    return _compiled(path, modified)


@cache
def _compiled(path: Path, modified: int) -> jinja2.Template:
    """A template compiled once per version of its file (``modified`` keys the cache)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read the prompt template: {error}") from error
    try:
        return jinja2.Environment(
            undefined=jinja2.StrictUndefined, keep_trailing_newline=False
        ).from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise InputError(f"{path} line {error.lineno}: template error: {error.message}") from None


def build_messages(
    instructions: str,
    task: Task,
    text: str,
    *,
    template: str | Path | None = None,
    definitions: Mapping[str, str] | None = None,
    examples: Sequence[tuple[str, str]] = (),
    attribute: str = "",
) -> list[dict[str, str]]:
    """The chat messages that ask for ``text``'s label.

    For a task with attributes (aspects, multi-label) they ask for every attribute at
    once, or with ``attribute`` for that one alone; for a spans task, for the entities
    of the text. ``examples`` are (text, label)
    pairs shown first as user/assistant turns, the assistant answering in the JSON the
    prompt asks for (classification only).

    Examples
    --------
    >>> build_messages("Is this comment spam?", Task(("ham", "spam")), "sub to me")[1]
    {'role': 'user', 'content': 'sub to me'}
    >>> shots = [("great song", "ham")]
    >>> build_messages("Spam?", Task(("ham", "spam")), "sub", examples=shots)[2]["content"]
    '{"label": "ham"}'
    """
    spans = task.kind == "spans"
    if attribute:
        if spans:
            raise InputError("a spans task is asked for the entities of a text, not per attribute")
        task.answers(attribute)
    if examples and task.kind != "classification":
        raise InputError(f"few-shot examples are for classification, not a {task.kind} task")
    path = Path(template) if template is not None else default_template(task, attribute)
    if spans:
        asked: tuple[str, ...] = ()
    else:
        asked = (attribute,) if attribute else tuple(a for a in task.targets if a)
    definitions = dict(definitions or {})
    check_known_labels("definitions", definitions, task.labels)
    try:
        system = _template(path.resolve()).render(
            instructions=instructions.strip(),
            labels=list(task.labels),
            definitions={label: definitions.get(label, "") for label in task.labels}
            if definitions
            else {},
            kind=task.kind,
            attributes=list(asked),
            attribute=attribute,
            answers=list(task.labels if spans else task.answers(asked[0] if asked else "").labels),
        )
    except jinja2.UndefinedError as error:
        raise InputError(f"{path}: template error: {error.message}") from None
    messages = [{"role": "system", "content": system.strip()}]
    for shot_text, label in examples:
        task.code(label)
        messages += [
            {"role": "user", "content": shot_text},
            {"role": "assistant", "content": json.dumps({"label": label})},
        ]
    return [*messages, {"role": "user", "content": text}]


def label_schema(task: Task) -> dict[str, Any]:
    """A JSON schema for ``{"label": <one of the task's labels>}``."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(task.labels)}},
        "required": ["label"],
        "additionalProperties": False,
    }


def attributes_schema(task: Task) -> dict[str, Any]:
    """A JSON schema for an object answering every attribute of ``task``: one enum of
    its answers (an aspect's labels and ``"none"``; ``"yes"``, ``"no"``) per attribute.

    Examples
    --------
    >>> task = Task(("positive", "negative"), kind="aspects", attributes=("food", "staff"))
    >>> attributes_schema(task)["properties"]["staff"]["enum"]
    ['positive', 'negative', 'none']
    """
    return {
        "type": "object",
        "properties": {
            attribute: {"type": "string", "enum": list(task.answers(attribute).labels)}
            for attribute in task.targets
        },
        "required": list(task.targets),
        "additionalProperties": False,
    }


def entities_schema(task: Task, max_entities: int) -> dict[str, Any]:
    """A JSON schema for ``{"entities": [{"text": ..., "label": ...}, ...]}``: the
    entities of a text, each its words as written and one of the task's entity types,
    at most ``max_entities`` of them.

    Examples
    --------
    >>> schema = entities_schema(Task(("TERM",), kind="spans"), 16)["properties"]["entities"]
    >>> schema["maxItems"], schema["items"]["properties"]["label"]
    (16, {'type': 'string', 'enum': ['TERM']})
    """
    return labeled_list_schema("entities", "text", task.labels, max_entities)


def labeled_list_schema(
    key: str, field: str, labels: Sequence[str], max_items: int
) -> dict[str, Any]:
    """A JSON schema for ``{key: [{field: ..., "label": ...}, ...]}``: at most
    ``max_items`` items, each a string ``field`` and one of ``labels``.

    Examples
    --------
    >>> labeled_list_schema("rules", "match", ["ham", "spam"], 5)["required"]
    ['rules']
    """
    item = {
        "type": "object",
        "properties": {
            field: {"type": "string"},
            "label": {"type": "string", "enum": list(labels)},
        },
        "required": [field, "label"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {key: {"type": "array", "items": item, "maxItems": max_items}},
        "required": [key],
        "additionalProperties": False,
    }


def few_shot_examples(
    workspace: Workspace, n: int, *, split: str = "dev", seed: int = 0
) -> list[tuple[str, str]]:
    """``n`` labeled (text, label) pairs for a prompt, taking labels in turn.

    Candidates are the gold examples of ``split`` and every example a reviewer has
    labeled (outside the test split); a reviewer's label wins over gold. The draw is
    fixed by ``seed`` and takes ``split``'s gold examples before reviewed ones, so that
    reviewing more leaves the prompt (and its cache key) as it was wherever that gold
    has enough of each label (trial 34: one review changed the draw, and 83 answers
    already paid for no longer matched).

    Examples
    --------
    >>> [label for _, label in few_shot_examples(ws, 4)]  # the bundled YouTube comments
    ['ham', 'spam', 'ham', 'spam']
    """
    if workspace.task.kind != "classification":
        raise InputError(
            f"few-shot examples are for classification, not a {workspace.task.kind} task"
        )
    if split == "test":
        # Trial 58a: only the docs said so.
        warnings.warn(
            "few-shot examples from the test split show the LLM texts the evaluation then "
            "scores it and every model on, so test is no longer held out: take them from "
            "dev (or reviewed texts)",
            LabelkitWarning,
            stacklevel=outside_labelkit(),
        )
    candidates = workspace.sql(
        f"""
        SELECT e.id, e.text, coalesce(d.label, e.gold) AS label
        FROM examples e
        LEFT JOIN ({EFFECTIVE_DECISIONS}) d
               ON d.example_id = e.id AND d.action IN {ANSWERS}
        WHERE (d.label IS NOT NULL AND e.split <> 'test') OR (e.split = ? AND e.gold IS NOT NULL)
        ORDER BY coalesce(e.split = ? AND e.gold IS NOT NULL, false) DESC,
                 hash(e.id || ?::VARCHAR), e.id
        """,
        [split, split, seed],
    )
    if candidates.height < n:
        raise InputError(
            f"{n} few-shot examples asked for, but only {candidates.height} labeled examples "
            f"exist (gold in split {split!r}, or reviewed)"
        )
    by_label = {
        label: candidates.filter(candidates["label"] == label).rows()
        for label in workspace.task.labels
    }
    chosen: list[tuple[str, str]] = []
    turn = 0
    while len(chosen) < n:
        for rows in by_label.values():
            if turn < len(rows) and len(chosen) < n:
                chosen.append((rows[turn][1], rows[turn][2]))
        turn += 1
    return chosen
