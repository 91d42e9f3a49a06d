"""Which prompts an LLM budget buys first: those whose answer can change the labels most.

The score, in order (documented in docs/llm.md, "Spending a budget"):

1. the group of the prompt: no other source votes on its text at all (``no votes``: the
   label model has nothing to go on), the other sources disagree on what it asks
   (``conflict``: the LLM's vote can break the tie), or neither (``agree``);
2. within a group, the label model's confidence in its current prediction (the
   ``predictions`` table, from the last ``aggregate``), lowest first; without
   predictions this step is skipped and the run says so;
3. then fewer votes first (less evidence), then the example id (a stable order).

"Other sources" are every vote source but the LLM source being asked, so that its own
earlier answers never lower the value of asking it. On a task with attributes, silence
on an attribute is no gap (the label models read it as the attribute's absence), so
``no votes`` is a text no source votes on, for any attribute. A prompt that answers
every attribute of a text (the default) is ranked per text: ``conflict`` when the
sources disagree on any attribute, at its least confident attribute; a prompt per
attribute (``per_attribute``) per (text, attribute). Examples that share a text share
one prompt, ranked at the most valuable of them. Prompts whose answer is cached cost
nothing and are not ranked: they always vote.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelkit.errors import InputError
from labelkit.task import MENTIONED, NONE, Task
from labelkit.workspace import Workspace, first_row

GROUPS = ("no votes", "conflict", "agree")


@dataclass(frozen=True)
class LLMBudgetPlan:
    """What a budgeted run asks: per group (``GROUPS``), the prompts not cached and those
    the budget buys; the estimated cost of what it buys; and what ranked them.

    ``ranked_by`` is ``"<model> confidence"`` when label-model predictions ranked each
    group, else ``"votes only"`` (``note`` says why and what to do).
    """

    budget: int | None
    budget_usd: float | None
    cached: int
    pending: dict[str, int]
    chosen: dict[str, int]
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    ranked_by: str
    note: str | None = None

    @property
    def to_ask(self) -> int:
        """The prompts the budget buys."""
        return sum(self.chosen.values())


def check_budget(budget: int | None, budget_usd: float | None, priced: bool) -> None:
    """Refuse a budget that cannot buy anything, or dollars without prices."""
    if budget is not None and budget <= 0:
        raise InputError(f"the budget must be at least 1 request, got {budget}")
    if budget_usd is not None and budget_usd <= 0:
        raise InputError(f"the budget must be more than $0, got ${budget_usd:g}")
    if budget_usd is not None and not priced:
        raise InputError(
            "a budget in dollars needs prices: give input_price and output_price "
            "(--input-price, --output-price)"
        )


def rank_prompts(
    workspace: Workspace,
    task: Task,
    prompts: str,
    source: str,
    per_text: bool,
    *,
    into: str,
) -> tuple[str, str | None]:
    """Rank the distinct prompts of the table or view ``prompts`` (``id, attribute,
    key``, one row per example and prompt), most valuable first, into the temporary
    table ``into`` (``key, group, confidence, votes, id`` and ``rank``, 0 first); return
    what ranked them, and a note when predictions were missing. DuckDB ranks them
    where they are: nothing per prompt comes into this process.

    Examples
    --------
    >>> with registered(ws.con, "pool", frame):
    ...     by, note = rank_prompts(ws, ws.task, "pool", "llm:gpt-4o-mini", True, into="ranked")
    >>> ws.sql("SELECT \\"group\\" FROM ranked ORDER BY rank LIMIT 2")["group"].to_list()
    ['no votes', 'conflict']
    """
    if task.kind == "spans":
        raise InputError(
            "a budget ranks examples by their votes and label-model predictions; "
            "a spans task has neither per example: leave out the budget"
        )
    units, params = f"SELECT id, attribute, key FROM {prompts}", {}
    if per_text and task.kind != "classification":
        units = f"""SELECT p.id, t.attribute, p.key FROM {prompts} p
                    CROSS JOIN (SELECT unnest($targets::VARCHAR[]) AS attribute) t"""
        params = {"targets": list(task.targets)}
    workspace.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
            WITH units AS ({units}),
            -- "mentioned" disagrees only with the aspect's absence: beside a polarity it
            -- is no conflict (trial 64c: 708 texts "in conflict", 767 in truth).
            counted AS (
                SELECT example_id AS id, attribute, count(*) AS votes,
                       count(DISTINCT label) FILTER (label IS DISTINCT FROM $presence)
                           + coalesce(bool_or(label = $presence) AND bool_or(label = $absent),
                                      false)::INT AS labels
                FROM votes WHERE source <> $source GROUP BY example_id, attribute
            ),
            voted AS (SELECT DISTINCT id FROM counted),
            scored AS (
                SELECT u.key, u.id, coalesce(c.votes, 0) AS votes, p.confidence,
                       CASE WHEN w.id IS NULL THEN 0 WHEN c.labels > 1 THEN 1 ELSE 2 END
                           AS group_index
                FROM units u
                LEFT JOIN counted c ON c.id = u.id AND c.attribute = u.attribute
                LEFT JOIN voted w ON w.id = u.id
                LEFT JOIN predictions p ON p.example_id = u.id AND p.attribute = u.attribute
            ),
            -- A prompt is worth its most valuable unit: a text's best attribute, or
            -- the best of the examples that share its text.
            best AS (
                SELECT key, min(group_index) AS group_index, min(confidence) AS confidence,
                       min(votes) AS votes, min(id) AS id
                FROM scored GROUP BY key
            )
            SELECT key, list_extract($groups::VARCHAR[], group_index + 1) AS "group", confidence, votes, id,
                   row_number() OVER (
                       ORDER BY group_index, confidence NULLS LAST, votes, id, key
                   ) - 1 AS rank
            FROM best""",
        {
            **params,
            "source": source,
            "groups": list(GROUPS),
            "presence": MENTIONED if task.kind == "aspects" else None,
            "absent": NONE,
        },
    )
    model = first_row(
        workspace.con,
        f"""SELECT (SELECT model FROM predictions LIMIT 1)
            WHERE EXISTS (SELECT 1 FROM {into} WHERE confidence IS NOT NULL)""",
    )
    if model is not None:
        return f"{model[0]} confidence", None
    return (
        "votes only",
        "no label-model predictions to rank by: ranked by the votes alone (no votes, then "
        "conflicting votes, then fewest votes); run `labelkit aggregate` first to rank each "
        "group by the label model's confidence",
    )
