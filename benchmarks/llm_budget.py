"""LLM budget: label-model accuracy against the share of examples sent to the LLM.

On the sets with real LLM answers, the LLM is asked about a share of the examples
(0, 5, 10, 25, 50, 100%) chosen by ``labelkit llm --budget``'s score (``labelkit.llm.
budget.rank_prompts``: no votes, then conflicting votes, then the least confident
label-model prediction, from ``aggregate`` fitted on the other voters) or at random
(five seeds), and abstains on the rest; the default label model (``auto``, no gold) is
fitted on every example's votes and scored on the gold test examples, an undecided
example counting as wrong. Recorded answers are replayed as if asked: nothing is
asked live, so the runs cost label-model fits only.

Sets: the five llms_for_css tasks of Ziems et al. 2023 (``<data-dir>/llm/llms_for_css``,
read in place), where the six open FLAN models (FLAN-T5 small to XXL, FLAN-UL2), which
anyone can run, are the voters and ChatGPT, the model paid per request, is the LLM
under a budget; the other recorded models are left out; every item is fitted on and
scored. And WRENCH YouTube (``<data-dir>/wrench/youtube``): its ten labeling functions
vote, SmolLM2-135M's recorded answers (``labelkit/datasets/youtube-spam``) are the LLM;
the train and test comments are fitted on, the test comments scored.

Target (issue 20): with a quarter of the requests, at least 90% of the gain of asking
about every example, gain = accuracy(all) - accuracy(none).

    nice -n 10 python benchmarks/llm_budget.py --data-dir ../shared/data
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import load_wrench, parser, replay_llm, spread, write_results
from llm_votes import TASKS, read_task

from labelkit import LabelMatrix, Workspace, aggregate
from labelkit.aggregate import make_label_model
from labelkit.aggregate.base import fit_predict
from labelkit.demo import YOUTUBE_LLM
from labelkit.llm.budget import rank_prompts
from labelkit.workspace import registered

SHARES = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)
SEEDS = range(5)
MODEL = "auto"
TARGET_SHARE, TARGET_GAIN = 0.25, 0.9
VOTERS = ("flan-t5-small", "flan-t5-base", "flan-t5-large", "flan-t5-xl", "flan-t5-xxl", "flan-ul2")
ASKED = "chatgpt"


def curve(
    name: str, workspace: Workspace, llm: str, pool: np.ndarray, test: np.ndarray
) -> list[dict[str, Any]]:
    """Accuracy on ``test`` rows at each share of ``pool`` rows asked, budgeted and random.

    ``pool`` and ``test`` are boolean masks over the workspace's examples in id order.
    """
    aggregate(workspace, MODEL, sources=[s for s in _sources(workspace) if s != llm])
    ids = workspace.sql("SELECT id FROM examples ORDER BY id")["id"]
    prompts = pl.DataFrame({"id": ids.filter(pl.Series(pool)), "attribute": ""})
    prompts = prompts.with_columns(key=pl.col("id"))
    with registered(workspace.con, "pool_prompts", prompts):
        ranked_by, _ = rank_prompts(
            workspace, workspace.task, "pool_prompts", llm, per_text=True, into="pool_ranked"
        )
    ranked = workspace.sql("SELECT id FROM pool_ranked ORDER BY rank")
    position = {id_: i for i, id_ in enumerate(ids)}
    order = np.array([position[i] for i in ranked["id"]])
    matrix = LabelMatrix.from_workspace(workspace)
    column = matrix.sources.index(llm)
    gold = matrix.task.encode(workspace.sql("SELECT gold FROM examples ORDER BY id")["gold"])
    n = int(pool.sum())

    def accuracy(asked: np.ndarray) -> float:
        codes = matrix.codes[pool].copy()
        keep = np.zeros(len(matrix.codes), bool)
        keep[asked] = True
        codes[~keep[pool], column] = -1
        _, predicted = fit_predict(
            make_label_model(MODEL), codes, matrix.task.cardinality, np.ones(n, bool)
        )
        scored = test[pool]
        return float((predicted[scored] == gold[pool][scored]).mean())

    records = []
    pooled = np.flatnonzero(pool)
    for share in SHARES:
        k = round(share * n)
        budgeted = accuracy(order[:k])
        random = [
            accuracy(np.random.default_rng(seed).choice(pooled, k, replace=False)) for seed in SEEDS
        ]
        records.append(
            {
                "dataset": name,
                # Both columns are `auto`'s accuracy, the LLM asked by score or at random.
                "method": "auto",
                "share": share,
                "requests": k,
                "budgeted": budgeted,
                "random": float(np.mean(random)),
                "random_sd": spread(random),
                "examples": n,
                "test_examples": int(test.sum()),
                "ranked_by": ranked_by,
            }
        )
        print(records[-1])
    return records


def _sources(workspace: Workspace) -> list[str]:
    return workspace.sql("SELECT DISTINCT source FROM votes ORDER BY source")["source"].to_list()


def css_task(root: Path, task: str, scratch: Path) -> list[dict[str, Any]]:
    with Workspace(scratch / f"{task}.duckdb") as workspace:
        read_task(root / task, workspace)
        keep = [f"llm:{model}" for model in (*VOTERS, ASKED)]
        with workspace.run("benchmark", {"keep": keep}) as run:
            # The other recorded models are neither voters nor the LLM under a budget.
            run.con.execute("DELETE FROM votes WHERE NOT list_contains(?, source)", [keep])
        everything = np.ones(workspace.sql("SELECT count(*) AS n FROM examples")["n"][0], bool)
        return curve(task, workspace, f"llm:{ASKED}", everything, everything)


def youtube(folder: Path, scratch: Path) -> list[dict[str, Any]]:
    with Workspace(scratch / "youtube.duckdb") as workspace:
        load_wrench(workspace, folder, ("train", "test"))
        replay_llm(workspace)
        splits = workspace.sql("SELECT split FROM examples ORDER BY id")["split"]
        pool = splits.is_in(["train", "test"]).to_numpy()
        test = (splits == "test").to_numpy()
        return curve("youtube + SmolLM2", workspace, YOUTUBE_LLM.source_name, pool, test)


def summary(records: list[dict[str, Any]]) -> tuple[str, str]:
    """The curve as one table, and per set whether a quarter of the requests met the target."""
    frame = pl.DataFrame(records)
    header = "| set | method | " + " | ".join(f"{s:.0%}" for s in SHARES) + " |"
    lines = [header, "| --- | --- |" + " --- |" * len(SHARES)]
    notes, met = [], 0
    for name in frame["dataset"].unique(maintain_order=True):
        rows = frame.filter(pl.col("dataset") == name).sort("share")
        random = [
            f"{m:.3f} ± {s:.3f}" for m, s in zip(rows["random"], rows["random_sd"], strict=True)
        ]
        lines.append(
            f"| {name} | budgeted | " + " | ".join(f"{a:.3f}" for a in rows["budgeted"]) + " |"
        )
        lines.append(f"| {name} | random | " + " | ".join(random) + " |")
        none, every = rows["budgeted"][0], rows["budgeted"][-1]
        quarter = rows.filter(pl.col("share") == TARGET_SHARE)
        gain = every - none
        items = round(gain * rows["test_examples"][0])
        got = quarter["budgeted"][0] - none
        rnd = quarter["random"][0] - none
        if gain <= 0:
            verdict = (
                f"asking about everything does not help ({gain:+.3f}), so there is no gain to "
                f"reach; a quarter moves accuracy by {got:+.3f}"
            )
        else:
            ok = got >= TARGET_GAIN * gain
            met += ok
            verdict = (
                f"gain {gain:+.3f} ({items} test examples); a budgeted quarter reaches {got / gain:.0%} of it "
                f"({'meets' if ok else 'misses'} the 90% target), a random quarter {rnd / gain:.0%}"
            )
        notes.append(f"- {name}: {verdict}.")
    notes.append(
        f"\nThe target (a quarter of the requests reaches at least 90% of the gain) is met on "
        f"{met} of {frame['dataset'].n_unique()} sets."
    )
    return "\n".join(lines), "\n".join(notes)


def main() -> None:
    arguments = parser(__doc__.splitlines()[0]).parse_args()
    root = arguments.data_dir / "llm" / "llms_for_css"
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for task in TASKS:
            records += css_task(root, task, Path(scratch))
        records += youtube(arguments.data_dir / "wrench" / "youtube", Path(scratch))
    table, verdicts = summary(records)
    notes = (
        f"Label model `{MODEL}` (no gold), accuracy on the gold test examples at each share of "
        f"the examples sent to the LLM; random: mean ± sample sd over {len(SEEDS)} seeds. "
        "An undecided example counts as wrong.\n\n" + verdicts
    )
    write_results("llm_budget", records, arguments.output_dir, notes=notes, table=table)
    print(table)
    print(notes)


if __name__ == "__main__":
    main()
