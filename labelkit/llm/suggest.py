"""LLM-proposed labeling functions: rules a person accepts or rejects, one at a time.

``suggest_lfs`` shows the LLM a sample of the texts the current labeling functions
miss or dispute, grouped by the label the label model gives them, and asks for
keyword, stem and regex rules as JSON (``labelkit.lf.rules``'s forms). Each proposal
is parsed as a rule line and applied at once to every example: coverage, overlap and
conflict with the workspace's LFs, and accuracy with its 95% interval on dev gold.
Malformed proposals and repeats of a rule already in the workspace or the rule file
are kept, marked, never offered. Every proposal is recorded in ``lf_suggestions``
with its scores and the LLM request that proposed it (its ``llm_cache`` key: model,
prompt and answer); ``decide_suggestion`` appends an accepted one to the rule file, a plain
diffable text file, with a comment saying which model proposed it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from labelkit.errors import InputError, LabelkitError
from labelkit.lf.analysis import most_disputed, uncovered_examples, wilson_interval
from labelkit.lf.apply import apply_lfs_to_frame
from labelkit.lf.core import LabelingFunction
from labelkit.lf.rules import ARROW, COMMENT, load_rules, parse_rule, rule_line
from labelkit.llm.cache import CachedAnswer, cached_answers, request_key, store_answer
from labelkit.llm.labeler import LLMConfig
from labelkit.llm.prompt import labeled_list_schema
from labelkit.llm.transport import (
    async_client,
    complete,
    format_arguments,
    format_refusals,
    require_endpoint,
)
from labelkit.task import ABSTAIN
from labelkit.votes import LabelMatrix, lf_names
from labelkit.workspace import Workspace, first_row, registered

# How an LLM is asked for rules: the forms ``labelkit.lf.rules`` reads, and what makes
# a rule worth proposing.
INSTRUCTIONS = """You write labeling rules for a text classifier. The task: {task}
Labels: {labels}.
A rule matches texts and votes one label. Its "match" is one of:
- a keyword or phrase, matched as whole words in any case: "free gift"
- a stem ending in *, matching any word that starts with it: "subscrib*"
- a regular expression between slashes (Rust syntax, any case): "/https?://\\\\S+/"
Propose at most {max_rules} precise rules: each should be right on nearly every text
it matches, and they should cover texts like the ones shown. Answer with JSON only:
{{"rules": [{{"match": "...", "label": "..."}}]}}"""
# A shown text is cut here: rules come from words, and prompts stay cheap.
MAX_TEXT_CHARS = 300


def suggest_lfs(
    workspace: Workspace,
    config: LLMConfig,
    *,
    rules: str | Path | None = None,
    per_label: int = 5,
    max_rules: int = 10,
    split: str = "train",
    seed: int = 0,
) -> pl.DataFrame:
    """Ask the LLM for rules where the LFs are silent or disagree; return each proposal.

    ``config.instructions`` says what the task is. The prompt shows up to ``per_label``
    texts of ``split`` per label, drawn (seeded) from those no LF votes on and those
    whose LFs disagree, grouped by the label model's current label (a sample without
    labels before ``aggregate``). The answer is cached like any LLM answer, so asking
    again with the same sample costs nothing. A proposal that repeats an LF of the
    workspace or a rule of ``rules`` (the rule file) is a ``duplicate``; one that is
    not a rule, or votes a label outside the task, is ``malformed`` with its ``error``.

    Returns one row per proposal: ``id`` (its row in ``lf_suggestions``), ``rule``
    (the line it would add), ``status``, ``error``, ``coverage`` (share of all
    examples it votes on), ``overlaps`` and ``conflicts`` (shares of those where an
    LF of the workspace votes, and votes another label), and on dev gold ``correct``,
    ``incorrect``, ``accuracy`` and its 95% Wilson interval ``accuracy_low`` to
    ``accuracy_high``.

    Examples
    --------
    >>> config = LLMConfig(model="smollm2", instructions="Is this YouTube comment spam?",
    ...                    base_url="http://127.0.0.1:8011/v1", max_tokens=600)
    >>> proposals = suggest_lfs(ws, config, rules="spam.rules")
    >>> proposals.filter(pl.col("status") == "new").select("rule", "coverage", "accuracy")
    """
    task = workspace.task
    if task.kind != "classification":
        raise LabelkitError(
            f"suggest-lfs proposes rules for classification tasks; this one is {task.kind}"
        )
    if per_label < 1 or max_rules < 1:
        raise InputError(
            f"per_label and max_rules must be at least 1, got {per_label}, {max_rules}"
        )
    existing = _existing_rules(workspace, rules)
    shown = _sample(workspace, split, per_label, seed)
    if shown.height == 0:
        raise LabelkitError(
            f"every {split} example has LF votes that agree: there is nothing for rules to add"
        )
    request = _request(config, task.labels, shown, max_rules)
    key = request_key(request)
    response, bought = _answer(
        workspace, config, request, key, rules_schema(task.labels, max_rules)
    )
    proposals = _proposals(response, task.labels, existing)
    scored = _score(workspace, proposals)
    logged = {
        "model": config.model,
        "key": key,
        "cached": bought is None,
        "input_price": config.input_price,
        "output_price": config.output_price,
        # For spend across runs (trial 61c: logged nowhere).
        "cost": _cost(config, request, bought),
    }
    with workspace.run("suggest-lfs", logged) as run:
        first = first_row(run.con, "SELECT coalesce(max(id), 0) + 1 FROM lf_suggestions")
        assert first is not None
        scored = scored.with_row_index("id", offset=int(first[0])).with_columns(
            pl.col("id").cast(pl.Int64)
        )
        # The scores are stored as they are returned: the web reviewer shows these.
        record = scored.with_columns(
            key=pl.lit(key), model=pl.lit(config.model), run_id=pl.lit(run.id)
        )
        columns = ", ".join(f'"{column}"' for column in record.columns)
        with registered(run.con, "new_suggestions", record):
            run.con.execute(
                f"INSERT INTO lf_suggestions ({columns}) SELECT {columns} FROM new_suggestions"
            )
    return scored


def decide_suggestion(
    workspace: Workspace, suggestion: int, accept: bool, rules: str | Path | None
) -> str | None:
    """Accept (append to the rule file ``rules``) or reject one proposal; return the line
    appended, or None. The decision is recorded in ``lf_suggestions`` either way; the
    appended line is preceded by a comment naming the model and the suggestion. Only
    accepting needs ``rules``; if the file cannot be written, nothing is recorded.

    Examples
    --------
    >>> decide_suggestion(ws, 3, True, "spam.rules")
    'subscrib* -> spam'
    """
    row = workspace.sql(
        "SELECT rule, status, model, decision FROM lf_suggestions WHERE id = ?", [suggestion]
    )
    if row.height == 0:
        raise InputError(f"no suggestion {suggestion} in {workspace.path}")
    rule, status, model, decision = row.row(0)
    if status != "new":
        raise InputError(f"suggestion {suggestion} ({rule!r}) is {status}: it cannot be decided")
    if decision is not None:
        raise InputError(f"suggestion {suggestion} ({rule!r}) was {decision} already")
    if accept and rules is None:
        raise InputError(f"accepting suggestion {suggestion} needs a rule file to append it to")
    path = Path(rules) if accept and rules is not None else None
    line = rule_line(rule)
    with workspace.transaction() as con:
        con.execute(
            """UPDATE lf_suggestions SET decision = ?, decided_at = now()::TIMESTAMP, file = ?
               WHERE id = ?""",
            ["accepted" if accept else "rejected", str(path) if path else None, suggestion],
        )
        if path is not None:
            # Written inside the transaction: if the file cannot be written, the
            # decision is not recorded either.
            try:
                text = path.read_text(encoding="utf-8") if path.exists() else ""
                separator = "" if not text or text.endswith("\n") else "\n"
                stamp = datetime.now(UTC).strftime("%Y-%m-%d")
                with path.open("a", encoding="utf-8") as file:
                    file.write(
                        f"{separator}# proposed by {model}, suggestion {suggestion}, {stamp}\n"
                    )
                    file.write(line + "\n")
            except (OSError, UnicodeDecodeError) as error:
                raise InputError(f"cannot append to the rule file {path}: {error}") from None
    return line if accept else None


def _existing_rules(workspace: Workspace, rules: str | Path | None) -> set[str]:
    """The names and definitions of the workspace's LFs and of the rule file's rules."""
    known = workspace.sql("SELECT name, definition FROM sources WHERE kind = 'lf'")
    names = set(known["name"]) | set(known["definition"])
    if rules is not None and Path(rules).is_file():
        names |= {part for lf in load_rules(rules) for part in (lf.name, lf.definition)}
    return names


def _sample(workspace: Workspace, split: str, per_label: int, seed: int) -> pl.DataFrame:
    """``id, text, label``: texts of ``split`` no LF votes on or whose LFs disagree, up to
    ``per_label`` per label the label model gives them (label null before aggregate)."""
    matrix = LabelMatrix.from_workspace(workspace, split=split, sources=lf_names(workspace))
    pool = pl.concat(
        [
            uncovered_examples(matrix),
            most_disputed(matrix, top=len(matrix.example_ids))["example_id"],
        ]
    ).unique(maintain_order=True)
    if not matrix.sources:
        pool = pl.Series("example_id", matrix.example_ids, pl.String)
    candidates = pl.DataFrame({"id": pool}).join(
        workspace.sql(
            """SELECT e.id, e.text, p.label FROM examples e
               LEFT JOIN predictions p ON p.example_id = e.id AND p.attribute = ''
               WHERE e.split = ?""",
            [split],
        ),
        on="id",
    )
    return (
        candidates.sample(fraction=1.0, shuffle=True, seed=seed)
        .filter(pl.int_range(pl.len()).over("label") < per_label)
        .sort("label", "id", nulls_last=True)
    )


def _request(
    config: LLMConfig, labels: tuple[str, ...], shown: pl.DataFrame, max_rules: int
) -> dict[str, Any]:
    system = INSTRUCTIONS.format(
        task=config.instructions.strip(), labels=", ".join(labels), max_rules=max_rules
    )
    groups = []
    for (label,), texts in shown.group_by("label", maintain_order=True):
        heading = f"Texts a model labels {label}" if label else "Texts"
        lines = "\n".join(f"- {' '.join(text.split())[:MAX_TEXT_CHARS]}" for text in texts["text"])
        groups.append(f"{heading} (it may be wrong):\n{lines}")
    user = "The current rules miss or disagree on these texts.\n\n" + "\n\n".join(groups)
    return {
        "model": config.model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        **({} if config.temperature is None else {"temperature": config.temperature}),
        config.token_limit: config.max_tokens,
        "seed": config.seed,
    }


def _answer(
    workspace: Workspace,
    config: LLMConfig,
    request: dict[str, Any],
    key: str,
    schema: dict[str, Any],
) -> tuple[str, CachedAnswer | None]:
    """The cached answer to ``request`` (and None), else the LLM's, cached, and the
    answer bought; an error if none came."""
    cached = cached_answers(workspace, [key], config.max_response_bytes)
    # An answer with no rules in it is asked again: replayed, it stopped every rerun
    # with the same error, whatever the endpoint now said (trial 45).
    if cached.height and _rules_in(cached["response"][0]) is not None:
        return cached["response"][0], None
    require_endpoint(config, 1, 1)
    if config.max_cost is not None:
        chars = sum(len(message["content"]) for message in request["messages"])
        estimate = config.cost(chars / 4, config.max_tokens) or 0.0
        if estimate > config.max_cost:
            raise LabelkitError(
                f"asking for rules could cost about ${estimate:.4f}, more than the limit of "
                f"${config.max_cost:.4f}"
            )
    answer = asyncio.run(_ask(config, request, key, schema))
    store_answer(workspace, answer)
    if answer.error is not None:
        raise LabelkitError(f"the LLM gave no rules: {answer.error}")
    assert answer.response is not None
    return answer.response, answer


def _cost(config: LLMConfig, request: dict[str, Any], bought: CachedAnswer | None) -> float | None:
    """What the answer cost: nothing where it was cached; at its usage where bought, else
    at the most the request could cost (a token per character of its messages and its
    ``max_tokens`` of answer, as ``label_with_llm`` holds it); None without prices."""
    if config.cost(0, 0) is None or bought is None:
        return config.cost(0, 0)
    tokens = (bought.prompt_tokens, bought.completion_tokens or 0)
    if tokens[0] is not None and min(tokens) >= 0:
        return config.cost(*tokens)
    chars = sum(len(message["content"]) for message in request["messages"])
    return config.cost(chars, config.max_tokens)


async def _ask(
    config: LLMConfig, request: dict[str, Any], key: str, schema: dict[str, Any]
) -> CachedAnswer:
    """One chat completion constrained to ``schema``, asked as ``label_with_llm`` asks
    (deadline, retries); an endpoint that refuses ``json_schema`` (llama.cpp's) is asked
    with a ``json_object`` schema instead."""
    client = async_client(config.base_url, config.api_key or "unused")
    started = time.perf_counter()
    async with client:
        for response_format, refusals in (("json_schema", format_refusals()), ("json_object", ())):
            done = await complete(
                client,
                config,
                {**request, **format_arguments(response_format, "rules", schema)},
                retries=config.max_retries,
                refusals=refusals,
            )
            assert done is not None, "nothing limits the requests of one suggestion"
            if not done.refused:
                break
    return CachedAnswer(
        key=key,
        model=config.model,
        request=request,
        response=done.content,
        error=done.error,
        label=None,
        prompt_tokens=done.usage.get("prompt_tokens"),
        completion_tokens=done.usage.get("completion_tokens"),
        latency_s=time.perf_counter() - started,
    )


def rules_schema(labels: tuple[str, ...], max_rules: int) -> dict[str, Any]:
    """The JSON schema of an answer: ``{"rules": [{"match": ..., "label": ...}]}``.

    Examples
    --------
    >>> rules_schema(("ham", "spam"), 5)["properties"]["rules"]["maxItems"]
    5
    """
    return labeled_list_schema("rules", "match", labels, max_rules)


def _rules_in(response: str) -> list[Any] | None:
    """The ``rules`` list of an answer, or its rule lines as a rule file holds them
    (``refund* -> refund``; trial 61c: a model wrote those, and each retry bought the
    same answer again); None where it holds neither."""
    try:
        items = json.loads(response).get("rules")
    except (ValueError, AttributeError):
        items = None
    if isinstance(items, list):
        # Trial 68a: {"rules": ["free -> spam"]} is rule lines in the JSON asked for.
        return [(_rule_line(item) or item) if isinstance(item, str) else item for item in items]
    lines = [rule for line in response.splitlines() if (rule := _rule_line(line)) is not None]
    return lines or None


def _rule_line(line: str) -> dict[str, str] | None:
    """A line of a rule file as ``{"match", "label"}``, or None for a comment or a line
    of no rule; a list's bullet or number, and code quotes, go first."""
    line = re.sub(r"^(?:[-*]\s+|\d+[.)]\s+)", "", line.strip()).strip("`").strip()
    regex = re.match(rf"(/.+?/)\s*{ARROW}(.*)$", line) if line.startswith("/") else None
    match, arrow, label = (regex[1], ARROW, regex[2]) if regex else line.partition(ARROW)
    if not arrow or line.startswith(COMMENT) or not match.strip():
        return None
    return {"match": match.strip(), "label": label.partition(COMMENT)[0].strip()}


def _hidden_character(text: str) -> str | None:
    """The first control, format, surrogate or private-use character of ``text``, named
    (``"U+200B (ZERO WIDTH SPACE)"``), or None."""
    for character in text:
        if unicodedata.category(character) in ("Cc", "Cf", "Cs", "Co"):
            name = unicodedata.name(character, "a control character")
            return f"U+{ord(character):04X} ({name})"
    return None


def _proposals(response: str, labels: tuple[str, ...], existing: set[str]) -> pl.DataFrame:
    """``rule, status, error, lf`` per proposal of the answer, in its order."""
    items = _rules_in(response)
    if items is None:
        raise LabelkitError(
            f'the LLM\'s answer holds no {{"rules": [...]}} list: {response[:200]!r}'
        )
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in items:
        match = item.get("match") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        line = f"{match} {ARROW} {label}" if isinstance(match, str) else json.dumps(item)
        row: dict[str, Any] = {"rule": line, "status": "malformed", "error": None, "lf": None}
        if not isinstance(match, str) or not isinstance(label, str):
            row["error"] = 'not {"match": "...", "label": "..."}'
        elif label not in labels:
            row["error"] = f"label {label!r} is not one of {list(labels)}"
        elif len(line.splitlines()) != 1:
            # A regex's `.` takes \r and the like: parsed as one rule, the rule file
            # would read it as two lines, the second one never shown as such.
            row["error"] = "the rule holds a line break"
        elif (hidden := _hidden_character(line)) is not None:
            # Trial 54d: NUL, U+202E and U+200B went into the rule file, where git sees
            # a binary file and an editor shows another rule than the one that runs.
            row["error"] = f"the rule holds {hidden}, which a reader of the rule file cannot see"
        else:
            try:
                lf = parse_rule(line)
            except InputError as error:
                row["error"] = str(error)
            else:
                voted = lf.name.rpartition(f" {ARROW} ")[2]
                if voted != label:
                    # An arrow inside the match (`/x/ -> ham #/`) ends the regex early.
                    row["error"] = f"it reads as {lf.name!r}, voting {voted!r}, not {label!r}"
                else:
                    row["rule"] = lf.name
                    duplicate = {lf.name, lf.definition} & (existing | seen)
                    row |= {"status": "duplicate" if duplicate else "new", "lf": lf}
                    seen |= {lf.name, lf.definition}
        rows.append(row)
    return pl.DataFrame(
        {
            "rule": [row["rule"] for row in rows],
            "status": [row["status"] for row in rows],
            "error": [row["error"] for row in rows],
        },
        schema={"rule": pl.String, "status": pl.String, "error": pl.String},
    ).with_columns(pl.Series("lf", [row["lf"] for row in rows], dtype=pl.Object))


def _score(workspace: Workspace, proposals: pl.DataFrame) -> pl.DataFrame:
    """The proposals with coverage, overlap and conflict over every example, and
    accuracy on dev gold, of the new ones (null for the others)."""
    proposals = proposals.with_row_index("i")
    new = proposals.filter(pl.col("status") == "new")
    lfs: list[LabelingFunction] = list(new["lf"])
    scores = pl.DataFrame(
        schema={
            "i": pl.UInt32,
            "coverage": pl.Float64,
            "overlaps": pl.Float64,
            "conflicts": pl.Float64,
            "correct": pl.Int64,
            "incorrect": pl.Int64,
            "accuracy": pl.Float64,
            "accuracy_low": pl.Float64,
            "accuracy_high": pl.Float64,
        }
    )
    if lfs:
        examples = workspace.sql("SELECT id, text, split, gold FROM examples ORDER BY id")
        task = workspace.task
        proposed = apply_lfs_to_frame(
            lfs, examples.select("id", "text"), labels=task, id_column="id"
        ).matrix.codes
        current = LabelMatrix.from_workspace(workspace, sources=lf_names(workspace))
        codes = (
            current.codes
            if current.sources
            else np.full((examples.height, 0), ABSTAIN, dtype=np.int16)
        )
        voted = proposed != ABSTAIN
        others = codes != ABSTAIN
        any_other = others.any(axis=1, keepdims=True)
        disagree = np.zeros_like(voted)
        for j in range(codes.shape[1]):
            disagree |= others[:, [j]] & (codes[:, [j]] != proposed) & voted
        gold = task.encode(
            examples.select(pl.when(pl.col("split") == "dev").then(pl.col("gold"))).to_series()
        )[:, None]
        judged = voted & (gold != ABSTAIN)
        correct = (judged & (proposed == gold)).sum(axis=0)
        trials = judged.sum(axis=0)
        low, high = wilson_interval(correct, trials)
        n = max(examples.height, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = np.where(trials > 0, correct / trials, np.nan)
        scores = pl.DataFrame(
            {
                "i": new["i"],
                "coverage": voted.sum(axis=0) / n,
                "overlaps": (voted & any_other).sum(axis=0) / n,
                "conflicts": disagree.sum(axis=0) / n,
                "correct": correct.astype(np.int64),
                "incorrect": (trials - correct).astype(np.int64),
                "accuracy": accuracy,
                "accuracy_low": low,
                "accuracy_high": high,
            }
        ).with_columns(pl.col("^accuracy.*$").fill_nan(None))
    return proposals.drop("lf").join(scores, on="i", how="left", maintain_order="left").drop("i")
