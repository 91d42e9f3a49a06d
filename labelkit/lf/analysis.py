"""How good are the labeling functions? Coverage, overlaps, conflicts, accuracy with
confidence intervals, pairwise agreement, and the examples they miss or dispute.

On a task with attributes each attribute's votes are judged on their own. There a
vote of ``"mentioned"`` (an aspect is present, polarity unknown) agrees with every
answer but ``"none"``: it is right where the gold answer is any polarity, and it does
not conflict with a source that names one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from labelkit.aggregate.attributes import PRESENCE_CLASSES
from labelkit.aggregate.base import vote_patterns
from labelkit.errors import InputError
from labelkit.lf.spans import summarize_span_lfs
from labelkit.report import first_named
from labelkit.task import ABSTAIN, MENTIONED, NONE, Task
from labelkit.votes import LabelMatrix, lf_names, vote_code_matrix
from labelkit.workspace import Workspace, first_row, require_split


def lf_summary(matrix: LabelMatrix, gold: Sequence[str | None] | None = None) -> pl.DataFrame:
    """One row per source: polarity, coverage, overlaps, conflicts, and accuracy against gold.

    ``coverage`` is the share of examples the source votes on; ``overlaps`` the share
    where it and another source both vote; ``conflicts`` the share where another source
    votes a label that disagrees (see the module on ``"mentioned"``). With ``gold``
    (None where unknown; an attribute's answers on an attribute's votes), ``correct``,
    ``incorrect`` and ``accuracy`` count the voted examples that have gold, and
    ``accuracy_low``/``accuracy_high`` bound a 95% Wilson interval, which stays
    honest on the handful of gold examples a narrow LF usually has. ``chance`` is the
    accuracy of voting the source's own label mix at random on the gold rows: a source
    that only ever says "spam" is right by chance as often as gold is spam there, so a
    one-sided LF is held to the share of its label, not to one half.

    Examples
    --------
    >>> dev = LabelMatrix.from_workspace(ws, split="dev")
    >>> gold = dict(ws.sql("SELECT id, gold FROM examples WHERE split = 'dev'").iter_rows())
    >>> lf_summary(dev, gold=[gold[i] for i in dev.example_ids])
    """
    if gold is not None and len(gold) != matrix.codes.shape[0]:
        # Trial 33: numpy's column_stack error, naming neither.
        raise InputError(
            f"gold has {len(gold)} labels and the matrix {matrix.codes.shape[0]} examples: "
            "one gold label (or None) per example, in the matrix's order"
        )
    gold_codes = None if gold is None else matrix.task.encode(gold)
    return _summary(matrix.codes, matrix.sources, matrix.task, gold_codes)


def _summary(
    codes: np.ndarray, sources: Sequence[str], task: Task, gold_codes: np.ndarray | None
) -> pl.DataFrame:
    """``lf_summary`` from the codes (and the gold codes, ``ABSTAIN`` where unknown).

    Every figure is a count over rows, and rows with the same votes and gold count
    alike: it is computed once per distinct row (``vote_patterns``), weighed by how
    many rows share it, so that ten million rows cost what their few thousand patterns
    do (issue 21)."""
    n = max(codes.shape[0], 1)
    # The gold codes in the votes' own (small) integer type: an int64 copy of ten million
    # rows of votes would outweigh them.
    with_gold = (
        codes if gold_codes is None else np.column_stack([codes, gold_codes.astype(codes.dtype)])
    )
    patterns, _, weights = vote_patterns(with_gold)
    votes = patterns[:, : codes.shape[1]]
    voted = votes != ABSTAIN
    n_voting = voted.sum(axis=1, keepdims=True)
    overlaps = voted & (n_voting > 1)
    agree = agreeing_votes(task)
    counts = _vote_counts(votes, task.cardinality)
    conflicts = np.zeros_like(voted)
    for k in range(task.cardinality):
        disagreeing = counts[:, ~agree[k]].sum(axis=1, keepdims=True)
        conflicts |= (votes == k) & (disagreeing > 0)
    summary = pl.DataFrame(
        {
            "lf": list(sources),
            "polarity": [
                sorted({task.labels[c] for c in np.unique(votes[:, j]) if c != ABSTAIN})
                for j in range(votes.shape[1])
            ],
            "coverage": weights @ voted / n,
            "overlaps": weights @ overlaps / n,
            "conflicts": weights @ conflicts / n,
        }
    )
    if gold_codes is None:
        return summary
    gold = patterns[:, -1:]
    judged = voted & (gold != ABSTAIN)
    right = agree[np.where(voted, votes, 0), np.where(gold != ABSTAIN, gold, 0)]
    correct = weights @ (judged & right)
    incorrect = weights @ judged - correct
    judged_n = correct + incorrect
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(judged_n > 0, correct / judged_n, np.nan)
    low, high = wilson_interval(correct, judged_n)
    # How often a vote of each code is right on a gold row drawn at random, and each
    # source's mix of codes over the rows it votes on.
    gold_share = weights @ _vote_counts(gold, task.cardinality)
    right_by_chance = agree @ gold_share / max(gold_share.sum(), 1)
    mix = np.stack([weights @ (votes == k) for k in range(task.cardinality)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        chance = np.where(judged_n > 0, mix @ right_by_chance / mix.sum(axis=1), np.nan)
    return summary.with_columns(
        pl.Series("correct", correct),
        pl.Series("incorrect", incorrect),
        pl.Series("accuracy", accuracy).fill_nan(None),
        pl.Series("accuracy_low", low).fill_nan(None),
        pl.Series("accuracy_high", high).fill_nan(None),
        pl.Series("chance", chance).fill_nan(None),
    )


def agreeing_votes(task: Task) -> np.ndarray:
    """Which votes agree, by code (``k x k`` booleans): a vote agrees with itself only,
    except that on an aspect's votes (``Task.vote_task``, whose last labels are
    ``"none"`` and ``"mentioned"``) ``"mentioned"`` agrees with every answer but
    ``"none"``.

    Examples
    --------
    >>> aspect = Task(("positive", "negative"), kind="aspects", attributes=("food",))
    >>> agreeing_votes(aspect.vote_task("food"))[3].tolist()  # mentioned
    [True, True, False, True]
    """
    agree = np.eye(task.cardinality, dtype=bool)
    if task.labels[-2:] == (NONE, MENTIONED):
        agree[-1, :-2] = agree[:-2, -1] = True
    return agree


def _vote_counts(codes: np.ndarray, cardinality: int) -> np.ndarray:
    """Votes per row of ``codes`` and label code (rows x labels)."""
    return np.stack([(codes == k).sum(axis=1) for k in range(cardinality)], axis=1)


def wilson_interval(
    successes: np.ndarray, trials: np.ndarray, z: float = 1.96
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (95% by default); NaN where ``trials`` is 0.

    Examples
    --------
    >>> wilson_interval(np.array([9]), np.array([10]))
    (array([0.59584...]), array([0.98212...]))
    """
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.asarray(successes) / n
        center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    # At 0 or n successes a bound is 0 or 1 exactly, give or take a rounding error that
    # printed as "-0.000" (trial 50b).
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def lf_agreement(matrix: LabelMatrix) -> pl.DataFrame:
    """Every pair of sources that vote on the same examples: how often, and how often
    they agree (``agreeing_votes``).

    Examples
    --------
    >>> lf_agreement(L).sort("both_voted", descending=True).head(3)
    """
    voted = (matrix.codes != ABSTAIN).astype(np.int64)
    both = voted.T @ voted
    agree = agreeing_votes(matrix.task)
    votes_for = [(matrix.codes == k).astype(np.int64) for k in range(matrix.task.cardinality)]
    same = sum(
        votes_for[k].T @ votes_for[other] for k, other in zip(*np.nonzero(agree), strict=True)
    )
    a, b = np.triu_indices(len(matrix.sources), k=1)
    keep = both[a, b] > 0
    a, b = a[keep], b[keep]
    return pl.DataFrame(
        {
            "lf_a": [matrix.sources[i] for i in a],
            "lf_b": [matrix.sources[i] for i in b],
            "both_voted": both[a, b],
            "agreement": same[a, b] / both[a, b],
        },
        schema={
            "lf_a": pl.String,
            "lf_b": pl.String,
            "both_voted": pl.Int64,
            "agreement": pl.Float64,
        },
    ).sort("agreement", "both_voted", descending=[False, True])


def uncovered_examples(matrix: LabelMatrix) -> pl.Series:
    """The ids of examples no source votes on.

    Examples
    --------
    >>> uncovered_examples(L).len() / len(L.example_ids)  # share with no vote
    0.25...
    """
    silent = (matrix.codes == ABSTAIN).all(axis=1)
    return pl.Series("example_id", np.array(matrix.example_ids, dtype=object)[silent], pl.String)


def most_disputed(matrix: LabelMatrix, top: int = 20) -> pl.DataFrame:
    """The examples whose votes disagree (``agreeing_votes``) most: highest entropy of
    the vote shares, then most votes. ``votes`` spells the tally out, e.g. ``spam 3, ham 2``.

    Examples
    --------
    >>> most_disputed(L, top=5).columns
    ['example_id', 'votes', 'n_votes', 'entropy']
    """
    counts = _vote_counts(matrix.codes, matrix.task.cardinality)
    n_votes = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts / n_votes[:, None]
        entropy = -np.nansum(np.where(shares > 0, shares * np.log2(shares), 0.0), axis=1)
    cast = (counts > 0).astype(np.int64)
    disagreements = ((cast @ ~agreeing_votes(matrix.task)) * cast).sum(axis=1)
    disputed = np.flatnonzero(disagreements > 0)
    order = disputed[np.lexsort((-n_votes[disputed], -entropy[disputed]))][:top]
    labels = matrix.task.labels
    return pl.DataFrame(
        {
            "example_id": [matrix.example_ids[i] for i in order],
            "votes": [
                ", ".join(
                    f"{labels[k]} {counts[i, k]}"
                    for k in np.argsort(-counts[i], kind="stable")
                    if counts[i, k]
                )
                for i in order
            ],
            "n_votes": n_votes[order],
            "entropy": entropy[order],
        },
        schema={
            "example_id": pl.String,
            "votes": pl.String,
            "n_votes": pl.Int64,
            "entropy": pl.Float64,
        },
    )


def summarize_lfs(
    workspace: Workspace, *, split: str | None = None, sources: Sequence[str] | None = None
) -> pl.DataFrame:
    """``lf_summary`` of one split's votes (all splits if None), with accuracy against the
    split's gold labels when it has any.

    On a task with attributes, one row per attribute and source that votes on it
    (anywhere in the workspace), with an ``attribute`` column first, each judged
    against the gold answers on its attribute (``Task.gold_answers``). On a spans
    task, ``summarize_span_lfs``: coverage, spans, overlaps, conflicts, boundary
    disagreements and P/R/F1 against gold spans per LF.

    Examples
    --------
    >>> summarize_lfs(ws, split="dev").select("lf", "coverage", "accuracy")
    >>> summarize_lfs(restaurants, split="dev").filter(pl.col("attribute") == "staff")
    """
    task = workspace.task
    # Trial 33: a misspelt split gave a summary of zero coverage, not an error.
    require_split(workspace, split)
    if task.kind == "spans":
        return summarize_span_lfs(workspace, split=split, sources=sources)
    gold = split_gold(workspace, split)
    if task.kind == "classification":
        codes, names = vote_code_matrix(workspace, split=split, sources=sources)
        return _summary(codes, names, task.vote_task(), _encoded(task, gold, ""))
    return _attribute_summaries(workspace, split, sources, gold)


def summarize_part(
    workspace: Workspace,
    part: str,
    *,
    split: str | None = None,
    sources: Sequence[str] | None = None,
) -> pl.DataFrame:
    """``summarize_lfs`` of a task with attributes, each source judged on one ``part``
    of the attribute's label model, as that part sees its votes: ``"presence"`` (a vote
    of any answer but ``none`` says the attribute is present, and gold says so where its
    answer is not ``none``) or ``"value"`` (only votes that name an answer, on the rows
    whose gold names one). Trial 55c: the health of a presence part showed an LF's
    accuracy on its answers, 0.676, where it was right on presence 37 times in 37.

    Examples
    --------
    >>> summarize_part(restaurants, "presence", split="dev").select("attribute", "lf", "accuracy")
    """
    return _attribute_summaries(workspace, split, sources, split_gold(workspace, split), part)


def _attribute_summaries(
    workspace: Workspace,
    split: str | None,
    sources: Sequence[str] | None,
    gold: pl.Series | None,
    part: str | None = None,
) -> pl.DataFrame:
    """``lf_summary`` per attribute of a task with attributes, an ``attribute`` column
    first: of every vote, or of one ``part`` of the label model (``summarize_part``)."""
    task = workspace.task
    parts = []
    for attribute, voting in _voting_sources(workspace, sources).items():
        codes, names = vote_code_matrix(workspace, split=split, sources=voting, attribute=attribute)
        gold_codes = _encoded(task, gold, attribute)
        if part is not None:
            answers = task.answers(attribute)
            absent = answers.cardinality - 1
            if part == "value" and absent < 2:
                continue  # One answer besides none (a multi-label "yes"): no value part.
            judged = Task(PRESENCE_CLASSES if part == "presence" else answers.labels[:absent])
            codes = _part_codes(codes, part, absent)
            gold_codes = None if gold_codes is None else _part_codes(gold_codes, part, absent)
        else:
            judged = task.vote_task(attribute)
        summary = _summary(codes, names, judged, gold_codes)
        parts.append(summary.insert_column(0, pl.lit(attribute).alias("attribute")))
    if not parts:
        return pl.DataFrame(schema={"attribute": pl.String, "lf": pl.String})
    return pl.concat(parts)


def _part_codes(codes: np.ndarray, part: str, absent: int) -> np.ndarray:
    """An attribute's codes as its label model's ``part`` sees them: present (1) or
    absent (0), or only the codes that name an answer."""
    if part == "presence":
        return np.where(codes == ABSTAIN, ABSTAIN, codes != absent).astype(codes.dtype)
    return np.where(codes < absent, codes, ABSTAIN).astype(codes.dtype)


def attribute_matrices(
    workspace: Workspace, *, split: str | None = None, sources: Sequence[str] | None = None
) -> dict[str, LabelMatrix]:
    """One ``LabelMatrix`` per attribute (``Task.targets``) that ``sources`` (default:
    every LF) vote on anywhere in the workspace, of the sources that do.

    Examples
    --------
    >>> attribute_matrices(restaurants, split="dev")["staff"].sources
    ['staff_mentioned', 'staff_negative', 'staff_positive']
    """
    return {
        attribute: LabelMatrix.from_workspace(
            workspace, split=split, sources=voting, attribute=attribute
        )
        for attribute, voting in _voting_sources(workspace, sources).items()
    }


def _voting_sources(workspace: Workspace, sources: Sequence[str] | None) -> dict[str, list[str]]:
    """Per attribute (``Task.targets``, in order), the ``sources`` (default: every LF)
    that vote on it anywhere in the workspace; attributes none votes on are left out."""
    if sources is None:
        sources = lf_names(workspace)
    voting = workspace.sql(
        "SELECT DISTINCT attribute, source FROM votes WHERE list_contains(?, source)",
        [list(sources)],
    )
    found = {}
    for attribute in workspace.task.targets:
        mine = set(voting.filter(pl.col("attribute") == attribute)["source"])
        if mine:
            found[attribute] = [name for name in sources if name in mine]
    return found


def split_gold(workspace: Workspace, split: str | None) -> pl.Series | None:
    """The gold labels of ``split``'s examples (all splits if None) in id order, the
    order of a label matrix's rows (null where unknown); None when it has none.

    Examples
    --------
    >>> split_gold(ws, "dev").null_count()
    0
    """
    known = first_row(
        workspace.con,
        "SELECT count(gold) FROM examples WHERE ? IS NULL OR split = ?",
        [split, split],
    )
    if not known or not known[0]:
        return None
    return workspace.sql(
        "SELECT gold FROM examples WHERE ? IS NULL OR split = ? ORDER BY id", [split, split]
    )["gold"]


def _encoded(task: Task, gold: pl.Series | None, attribute: str) -> np.ndarray | None:
    """``gold`` as codes of the votes on ``attribute`` (``ABSTAIN`` where unknown)."""
    if gold is None:
        return None
    return task.vote_task(attribute).encode(task.gold_answers(gold, attribute))


ABOVE_GOLD_MARGIN = 0.1
"""How far above the top of its gold accuracy's 95% interval the label model's estimate
of a source may be before ``source_health`` says so: EM's estimates of precise keyword
LFs run a few points high on every set measured (0.98 against an interval topping at
0.94 on YouTube's test gold), while LLMs that err together were put at 0.65-0.94
against 0.35-0.56 on SemEval stance (llms_for_css)."""
MOSTLY_RIGHT = 0.5
"""A source whose gold accuracy's 95% interval tops out below this is *mostly wrong on
gold*: over many labels, a rule right on 0 of 20 gold rows is not below the chance of
1 in 30, yet each of its votes adds a wrong one (trial 56b)."""


def source_health(
    report: dict, sources: Sequence[str], measured: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per source from the ``auto`` label model's report: coverage, estimated
    accuracy, agreement with the other sources' majority beside the level its label mix
    would reach at random (``agreement_chance``), gold accuracy where ``measured`` (an ``lf_summary`` with gold)
    has it, and the status: ``dropped`` or ``below chance`` (kept on request),
    ``dropped on gold``, ``all below chance`` or ``all below chance on gold`` (every
    voting source was, so none was dropped),
    ``unconfirmed`` (weighed zero: the fit rated it above its prior, and the others'
    votes alone put it at chance, so its own votes had vouched for it),
    ``below chance on gold`` (even the top of its gold accuracy's 95% interval is below
    the accuracy of voting its label mix at random on the gold rows, the ``chance`` of
    ``lf_summary``: something the label model cannot see), ``trusted above gold`` (the
    label model's estimate is more than ``ABOVE_GOLD_MARGIN`` above the top of that
    interval: its votes weigh more than gold supports, as sources that err together do
    in EM's eyes), ``trusted below gold`` (more than that margin below the bottom of the
    interval: trial 52a's one-label keyword LFs, right on every dev gold row, were put
    at 0.11 to 0.27 and lost their ties), ``mostly wrong on gold`` (the top of that
    interval is below ``MOSTLY_RIGHT``; checked before the two above), ``never votes`` (on the examples fitted;
    ``no votes where fitted`` where it votes on the gold rows, whose votes then count at
    the starting accuracy: trial 62a's second source of one LLM, asked on dev alone,
    decided dev's labels as "never votes"), or ``ok``. Where ``auto`` fell back to majority vote, which weighs every source alike,
    there is no estimated accuracy: the rejected fit's is not shown as if it were used.

    Examples
    --------
    >>> model = make_label_model("auto").fit(L.codes, 2)
    >>> source_health(model.report, L.sources).columns
    ['source', 'coverage', 'estimated_accuracy', 'agreement', 'agreement_chance', 'status']
    """
    below = set(report["below_chance"])
    dropped = set(report["dropped"])
    on_gold = set(report.get("below_chance_on_gold", ()))
    unconfirmed = set(report.get("unconfirmed", ()))
    all_kept = report.get("all_below_kept", False)
    silent = {j for j, coverage in enumerate(report["coverage"]) if coverage == 0}
    health = pl.DataFrame(
        {
            "source": list(sources),
            "coverage": report["coverage"],
            # A silent source's estimate is its starting value, not anything learned.
            "estimated_accuracy": pl.Series(
                [None if j in silent else a for j, a in enumerate(report["accuracy"])]
                if report.get("chosen") != "majority_vote"
                else [None] * len(sources),
                dtype=pl.Float64,
            ),
            "agreement": report["agreement"],
            # Named apart from lf_summary's chance, which is on gold (trial 31 read one
            # for the other).
            "agreement_chance": report["chance"],
            "status": [
                "never votes"
                if j in silent
                else "dropped on gold"
                if j in dropped and j in on_gold
                else "dropped"
                if j in dropped
                else "all below chance on gold"
                if all_kept and j in on_gold
                else "all below chance"
                if all_kept and j in below
                else "below chance"
                if j in below
                else "unconfirmed"
                if j in unconfirmed
                else "ok"
                for j in range(len(sources))
            ],
        }
    ).with_columns(pl.col("agreement", "agreement_chance").fill_nan(None))
    if measured is not None and "accuracy" in measured.columns:
        columns = health.columns[:-1]
        health = health.join(
            measured.select(
                pl.col("lf").alias("source"),
                pl.col("accuracy").alias("gold_accuracy"),
                pl.col("accuracy_low").alias("gold_low"),
                pl.col("accuracy_high").alias("gold_high"),
                pl.col("chance").alias("gold_chance"),
            ),
            on="source",
            how="left",
            maintain_order="left",
        )
        health = health.select(
            *columns,
            "gold_accuracy",
            status=pl.when(
                (pl.col("status") == "never votes") & pl.col("gold_accuracy").is_not_null()
            )
            .then(pl.lit("no votes where fitted"))
            .when(pl.col("status") != "ok")
            .then("status")
            .when(pl.col("gold_high") < pl.col("gold_chance"))
            .then(pl.lit("below chance on gold"))
            # Before "trusted above gold": a source wrong on most of its gold rows is
            # that first, whatever it is trusted at (trial 56b's rule, right on none of
            # its 20, is held at its prior since no other source backs it).
            .when(pl.col("gold_high") < MOSTLY_RIGHT)
            .then(pl.lit("mostly wrong on gold"))
            .when(pl.col("estimated_accuracy") > pl.col("gold_high") + ABOVE_GOLD_MARGIN)
            .then(pl.lit("trusted above gold"))
            .when(pl.col("estimated_accuracy") < pl.col("gold_low") - ABOVE_GOLD_MARGIN)
            .then(pl.lit("trusted below gold"))
            .otherwise("status"),
        )
    return health


def health_warning(health: pl.DataFrame, fitted_with_gold: bool = False) -> str | None:
    """A one-line warning naming the sources below chance, or None when there are none;
    ``fitted_with_gold``: the label model already learned from gold, so the warning
    does not tell to fit it with gold (trial 34).

    Examples
    --------
    >>> health_warning(source_health(model.report, L.sources))
    'below chance (dropped): llm:tiny'
    """
    flagged = health.filter(pl.col("status").is_in(["dropped", "below chance"]))
    dropped_on_gold = health.filter(pl.col("status") == "dropped on gold")
    on_gold = health.filter(pl.col("status") == "below chance on gold")
    above = health.filter(pl.col("status") == "trusted above gold")
    below_gold = health.filter(pl.col("status") == "trusted below gold")
    wrong = health.filter(pl.col("status") == "mostly wrong on gold")
    unconfirmed = health.filter(pl.col("status") == "unconfirmed")
    unfitted = health.filter(pl.col("status") == "no votes where fitted")
    every = health.filter(pl.col("status") == "all below chance")
    every_on_gold = health.filter(pl.col("status") == "all below chance on gold")
    lines = []
    if not every_on_gold.is_empty():
        lines.append(
            f"all below chance on gold (none dropped): {_with_gold_accuracy(every_on_gold)} "
            "— every source that votes is right on the gold rows less often than voting its "
            "own label mix at random would, and dropping them all would leave no votes: do "
            "the sources and the gold name the labels alike?"
        )
    if not every.is_empty():
        lines.append(
            f"all below chance (none dropped): {_with_gold_accuracy(every)} — every source "
            "that votes agrees with the others' majority less often than voting its own "
            "label mix at random would, and dropping them all would leave no votes: some "
            "vote inverted or swapped labels, which dev gold tells (`aggregate --gold-split "
            "dev`)"
        )
    if not dropped_on_gold.is_empty():
        lines.append(
            f"dropped on gold: {_with_gold_accuracy(dropped_on_gold)} — right on the gold rows "
            "less often than voting their own label mix at random would; "
            "--keep-below-chance keeps them"
        )
    if not flagged.is_empty():
        dropped = (flagged["status"] == "dropped").all()
        # Trial 64c: a negation rule right on dev gold was dropped for disagreeing with
        # the lexicon rules it overrules, and nothing said how to keep it.
        judge = "dev gold judges them on the truth instead (`aggregate --gold-split dev`); "
        remedy = f"; {'' if fitted_with_gold else judge}--keep-below-chance keeps them"
        remedy = remedy if dropped else ""
        lines.append(
            f"below chance ({'dropped' if dropped else 'kept on request'}): "
            f"{_with_gold_accuracy(flagged)} — these agree with the other sources' majority "
            f"less often than voting their own label mix at random would{remedy}"
        )
    if not unconfirmed.is_empty():
        names = ", ".join(unconfirmed["source"])
        remedy = "" if fitted_with_gold else "; gold would tell (`aggregate --gold-split dev`)"
        lines.append(
            f"unconfirmed (weighed zero): {names} — only their own votes rated them above "
            f"chance; the other sources contradict them where both vote{remedy}"
        )
    if not on_gold.is_empty():
        names = ", ".join(on_gold["source"])
        lines.append(
            f"below chance on gold (still voting): {names} — right on the gold rows less "
            "often than voting their own label mix at random would; leave them out with "
            "--exclude"
        )
    if not wrong.is_empty():
        named = [
            f"{source} ({gold:.0%} right)"
            for source, gold in wrong.select("source", "gold_accuracy").rows()
        ]
        lines.append(
            f"mostly wrong on gold (still voting): {first_named(named)}"
            " — wrong on most of the gold rows they vote on, so each of their votes "
            "is more often a wrong one; fix them or leave them out with --exclude"
        )
    if not unfitted.is_empty():
        names = ", ".join(unfitted["source"])
        lines.append(
            f"no votes where fitted: {names} — they vote on the gold rows but not on the "
            "examples the label model learned accuracies from, so their votes count at its "
            "starting accuracy; ask them there too, or leave them out with --exclude"
        )
    fit = "" if fitted_with_gold else "fit with gold (`aggregate --gold-split dev`)"
    if not above.is_empty():
        lines.append(
            f"trusted above gold: {_estimated_and_gold(above)} — the label model weighs "
            # Trial 53a: excluding the two LFs named left a label no source voted.
            "their votes more than the gold rows support; leave them out with --exclude, "
            "unless they alone vote a label" + (f", or {fit}" if fit else "")
        )
    if not below_gold.is_empty():
        lines.append(
            f"trusted below gold: {_estimated_and_gold(below_gold)} — the label model weighs "
            "their votes less than the gold rows support, so they lose the ties they are in"
            + (f"; {fit}" if fit else "")
        )
    return "; ".join(lines) or None


def _with_gold_accuracy(health: pl.DataFrame) -> str:
    """The sources of ``health``, each with its accuracy on gold where it was measured."""
    measured = "gold_accuracy" in health.columns
    with_gold = health.select("source", pl.col("gold_accuracy") if measured else pl.lit(None))
    return first_named(
        [s if g is None else f"{s} ({g:.0%} right on gold)" for s, g in with_gold.rows()]
    )


def _estimated_and_gold(health: pl.DataFrame) -> str:
    """The first three sources of ``health`` with their estimated and gold accuracy."""
    named = [
        f"{source} ({estimated:.3f} estimated, {gold:.3f} on gold)"
        for source, estimated, gold in health.select(
            "source", "estimated_accuracy", "gold_accuracy"
        ).rows()
    ]
    return first_named(named, shown=3)
