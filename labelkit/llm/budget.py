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

import polars as pl

from labelkit.errors import InputError
from labelkit.task import Task
from labelkit.workspace import Workspace

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
    prompts: pl.DataFrame,
    source: str,
    per_text: bool,
) -> tuple[pl.DataFrame, str, str | None]:
    """The distinct prompts (``prompts``: ``id, attribute, key``, one row per example
    and prompt) most valuable first, with ``group``, ``confidence`` and ``votes``;
    what ranked them, and a note when predictions were missing.

    Examples
    --------
    >>> ranked, by, note = rank_prompts(ws, ws.task, frame, "llm:gpt-4o-mini", per_text=True)
    >>> ranked["group"].to_list()[:2]
    ['no votes', 'conflict']
    """
    if task.kind == "spans":
        raise InputError(
            "a budget ranks examples by their votes and label-model predictions; "
            "a spans task has neither per example: leave out the budget"
        )
    units = prompts.select("id", "attribute", "key")
    if per_text and task.kind != "classification":
        units = units.drop("attribute").join(
            pl.DataFrame({"attribute": list(task.targets)}), how="cross"
        )
    votes = workspace.sql(
        """SELECT example_id AS id, attribute, count(*) AS votes,
                  count(DISTINCT label) AS labels,
                  sum(count(*)) OVER (PARTITION BY example_id) AS text_votes
           FROM votes WHERE source <> ? GROUP BY example_id, attribute""",
        [source],
    )
    voted = votes.select("id", "text_votes").unique("id")
    predictions = workspace.sql(
        "SELECT example_id AS id, attribute, confidence, model FROM predictions"
    )
    scored = (
        units.join(votes.drop("text_votes"), on=["id", "attribute"], how="left")
        .join(voted, on="id", how="left")
        .join(predictions.drop("model"), on=["id", "attribute"], how="left")
        .with_columns(
            group=pl.when(pl.col("text_votes").is_null())
            .then(0)
            .when(pl.col("labels") > 1)
            .then(1)
            .otherwise(2),
            votes=pl.col("votes").fill_null(0),
        )
    )
    # A prompt is worth its most valuable unit: a text's best attribute, or the
    # best of the examples that share its text.
    ranked = (
        scored.group_by("key")
        .agg(
            pl.col("group").min(),
            pl.col("confidence").min(),
            pl.col("votes").min(),
            pl.col("id").min(),
        )
        .sort(["group", "confidence", "votes", "id"], nulls_last=True)
        .with_columns(pl.col("group").replace_strict(dict(enumerate(GROUPS))))
    )
    if predictions.height and ranked["confidence"].is_not_null().any():
        return ranked, f"{predictions['model'][0]} confidence", None
    return (
        ranked,
        "votes only",
        "no label-model predictions to rank by: ranked by the votes alone (no votes, then "
        "conflicting votes, then fewest votes); run `labelkit aggregate` first to rank each "
        "group by the label model's confidence",
    )
