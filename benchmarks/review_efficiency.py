"""How many wrong aggregated labels a reviewer finds in the first 50, 100 and 200 items,
by review order: labelkit's queue priority, the priority it had before (the mean of
cleanlab's label quality and the label model's confidence), cleanlab's flags alone,
label-model confidence alone, and random; and, on the WRENCH sets, the queue priority
when cleanlab reads another flagger's cross-validated probabilities (MiniLM
embeddings, spaCy's textcat) in place of the default TF-IDF with logistic regression.

For each WRENCH set (YouTube, SMS), the train texts go into a workspace with the
shipped LF votes, Snorkel's label model labels them, and ``find_label_issues`` flags
and queues the likely errors. For the five llms_for_css tasks (a few hundred texts
each, 12-14 recorded LLMs as the sources, ``benchmarks/llm_votes.py``), the label
model is ``auto``, labelkit's default, fitted without gold. Gold stands in for the
reviewer. For each order and budget: the wrong labels among the items reviewed, and
the accuracy of the cleaned training set (reviewed labels corrected) on the train
examples the label model labeled.

    python benchmarks/review_efficiency.py --data-dir ../shared/data

With matplotlib installed (``pip install -e ".[bench]"``) it also draws the curves
into ``docs/review_efficiency.png``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import load_wrench, parser, plot_path, write_results
from llm_votes import TASKS, read_task

from labelkit import Workspace, aggregate, find_label_issues

BUDGETS = (50, 100, 200)
CURVE_STEP = 10
PLOT = Path(__file__).parents[1] / "docs" / "review_efficiency.png"
RANDOM_SEEDS = 10
RANDOM = f"random (mean of {RANDOM_SEEDS} seeds)"
OTHER_FLAGGERS = {"minilm_logreg": {}, "spacy_textcat": {}}
MEAN = "mean of quality and confidence (the priority before)"


def orders(workspace: Workspace, flags: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, list]]:
    labeled = workspace.sql(
        """SELECT e.id AS example_id, e.gold, p.label, p.confidence
           FROM examples e JOIN predictions p ON p.example_id = e.id
           WHERE e.split = 'train' AND p.label IS NOT NULL ORDER BY e.id"""
    )
    by_confidence = labeled.sort("confidence", "example_id")["example_id"].to_list()
    cleanlab = flags.filter(pl.col("reasons").str.contains("cleanlab")).sort("quality")
    mean = pl.coalesce(1 - (pl.col("quality") + pl.col("confidence")) / 2, "priority")
    ranked = {
        "queue priority (labelkit)": flags.sort("rank")["example_id"].to_list(),
        MEAN: flags.sort(mean, "example_id", descending=[True, False])["example_id"].to_list(),
        "cleanlab flags alone": cleanlab["example_id"].to_list(),
        "label-model confidence alone": by_confidence,
    }
    for seed in range(RANDOM_SEEDS):
        shuffled = labeled["example_id"].sample(fraction=1.0, shuffle=True, seed=seed).to_list()
        ranked[f"random {seed}"] = shuffled
    return labeled, ranked


def hits_in_order(labeled: pl.DataFrame, ranked: dict[str, list]) -> dict[str, list[np.ndarray]]:
    """Per method (random seeds pooled), per order: 1 where the n-th reviewed label is wrong.

    An uncovered example (queued without a label) costs a review and finds no wrong label.
    """
    wrong = dict(zip(labeled["example_id"], labeled["gold"] != labeled["label"], strict=True))
    hits: dict[str, list[np.ndarray]] = {}
    for method, order in ranked.items():
        name = RANDOM if method.startswith("random") else method
        hits.setdefault(name, []).append(np.array([wrong.get(i, 0) for i in order], dtype=int))
    return hits


def measure(
    dataset: str, labeled: pl.DataFrame, hits: dict[str, list[np.ndarray]]
) -> list[dict[str, Any]]:
    total_wrong = int((labeled["gold"] != labeled["label"]).sum())
    base_accuracy = 1 - total_wrong / labeled.height
    rows = []
    for method, runs in hits.items():
        for budget in BUDGETS:
            found = float(np.mean([run[:budget].sum() for run in runs]))
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "budget": budget,
                    "reviewed": float(np.mean([len(run[:budget]) for run in runs])),
                    "wrong_found": found,
                    "wrong_in_train": float(total_wrong),
                    "train_accuracy_before": base_accuracy,
                    "train_accuracy_after": base_accuracy + found / labeled.height,
                }
            )
    return rows


def curves(hits: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Wrong labels found after every ``CURVE_STEP`` reviewed items, per method (up to 400)."""
    return {
        method: np.mean(
            [np.cumsum(run[:400])[CURVE_STEP - 1 :: CURVE_STEP] for run in runs], axis=0
        )
        for method, runs in hits.items()
    }


def plot(per_dataset: dict[str, dict[str, np.ndarray]], output_dir: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
        return
    figure, axes = plt.subplots(1, len(per_dataset), figsize=(10, 4))
    for axis, (dataset, found) in zip(axes, per_dataset.items(), strict=True):
        for method, counts in found.items():
            if method.startswith("cleanlab flags alone,"):
                continue  # the queue-priority curve of the same flagger is drawn
            reviewed = np.arange(1, len(counts) + 1) * CURVE_STEP
            axis.plot(reviewed, counts, label=method)
        axis.set_title(f"WRENCH {dataset}")
        axis.set_xlabel("items reviewed")
        axis.set_ylabel("wrong labels found")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    path = plot_path(output_dir, PLOT)
    figure.savefig(path, dpi=110)
    print(f"curves written to {path}")


def main() -> None:
    options = parser(__doc__.splitlines()[0]).parse_args()
    records: list[dict[str, Any]] = []
    per_dataset = {}
    for name in ("youtube", "sms"):
        with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "ws.duckdb") as ws:
            load_wrench(ws, options.data_dir / "wrench" / name, ("train",))
            aggregate(ws, "snorkel")
            flags = find_label_issues(ws)
            labeled, ranked = orders(ws, flags)
            for flagger, params in OTHER_FLAGGERS.items():
                started = time.perf_counter()
                other = find_label_issues(ws, flagger=flagger, **params)
                print(f"{name}: {flagger} flagged in {time.perf_counter() - started:.0f} s")
                cleanlab = other.filter(pl.col("reasons").str.contains("cleanlab"))
                ranked[f"queue priority, {flagger} flagger"] = other.sort("rank")[
                    "example_id"
                ].to_list()
                ranked[f"cleanlab flags alone, {flagger} flagger"] = cleanlab.sort("quality")[
                    "example_id"
                ].to_list()
        hits = hits_in_order(labeled, ranked)
        results = measure(name, labeled, hits)
        per_dataset[name] = curves(hits)
        for record in results:
            print(record)
        records += results
    for task in TASKS:
        with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "ws.duckdb") as ws:
            read_task(options.data_dir / "llm" / "llms_for_css" / task, ws)
            aggregate(ws)
            labeled, ranked = orders(ws, find_label_issues(ws))
        results = measure(task, labeled, hits_in_order(labeled, ranked))
        for record in results:
            print(record)
        records += results
    notes = (
        "`wrong_found`: reviewed items whose aggregated label was wrong (gold as the "
        "reviewer); the flags can run out before the budget (`reviewed`). The queue "
        "priority ranks cleanlab's label quality and the label model's confidence among "
        "the flagged items, the greater rank leading; the priority before was `1 - "
        "(quality + confidence) / 2`, over the same flags. Accuracies are over the "
        "train examples the label model labeled (WRENCH: Snorkel, 500 epochs; "
        "llms_for_css: `auto`; fitted on train without gold). Rows without a flagger "
        "named use the default, `tfidf_logreg`."
    )
    write_results("review_efficiency", records, options.output_dir, notes)
    plot(per_dataset, options.output_dir)


if __name__ == "__main__":
    main()
