"""LLM answers as votes: each model alone, and models combined by label models, against gold.

Reads the recorded answers of 12 to 14 real models (ChatGPT, FLAN-T5 small to XXL,
FLAN-UL2, GPT-3 ada to davinci-003, a RoBERTa baseline) on five tasks of Ziems et
al. 2023, "Can Large Language Models Transform Computational Social Science?", from
``<data-dir>/llm/llms_for_css`` (never copied: the data has no licence). For each task
the script builds a labelkit workspace in a temporary directory, imports every
model's answer file with ``import_answers(..., letters=options)``, the options in the
order the prompt lists them (so "B" maps to the prompt's second option whatever the
task's label order), and reads back one label matrix: one column per model.

Protocol. Each task's ~500 items are split at random into 100 dev items, whose gold
labels may be used to choose or weight models, and ~400 evaluation items; everything
is scored on the evaluation items and averaged over five random splits. An answer
that does not parse (or a label model that cannot decide) counts as wrong.

Methods: each model alone; the best LLM chosen on dev (a user's honest choice) and
the best on the evaluation items (an oracle no user has); majority vote over all
LLMs and over the three best on dev; weighted majority, Snorkel and Dawid-Skene,
without gold and with the dev gold. Two tasks also ship a RoBERTa classifier
fine-tuned on the task's training data; it is shown as a reference and never
combined (on persuasion its gold column disagrees with test.json, so it is left out).

Live mode (``--live``, needs ``make test-llm``'s installs): SmolLM2-135M behind
llama-cpp-python's server labels the 250 WRENCH YouTube test comments through
``label_with_llm``, zero-shot and with four few-shot examples drawn from the valid
split's gold; reported are its parse rate, accuracy, seconds per comment, and what
its votes add to WRENCH's ten labeling functions under each label model (fitted
without gold on the test votes; an undecided comment counts as ham, WRENCH's argmax).

    python benchmarks/llm_votes.py --data-dir ../shared/data [--live]
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import parser, write_results

from labelkit import LabelMatrix, Workspace, ingest, label_with_llm
from labelkit.aggregate import make_label_model
from labelkit.demo import YOUTUBE_LLM
from labelkit.llm import LLMConfig, few_shot_examples, import_answers
from labelkit.task import ABSTAIN

TASKS = ("semeval_stance", "ibc", "emotion", "wiki_politeness", "persuasion")
# Gold values that are neither an option letter nor an option name, per task: the
# politeness corpus scores -1/0/1, the persuasion corpus marks success as 1.0.
GOLD_NAMES: dict[str, dict[str, str]] = {
    "wiki_politeness": {"1": "Polite", "0": "Neutral", "-1": "Impolite"},
    "persuasion": {"1.0": "True", "0.0": "False"},
}
# A RoBERTa classifier fine-tuned on each task's own training data, shipped beside the
# LLMs as the paper's supervised reference: reported, never combined or chosen.
REFERENCE = "roberta"
DEV_SIZE = 100
SEEDS = range(5)
TOP_K = 3
# The combination a user would pick without peeking: the semi-supervised label model.
FIXED = "dawid_skene + dev gold"
COMBINATIONS = (
    "majority_vote (all LLMs)",
    f"majority_vote (top {TOP_K} on dev)",
    "weighted_majority",
    "weighted_majority + dev gold",
    "snorkel",
    "dawid_skene",
    FIXED,
)
_OPTION = re.compile(r"^([A-Z]{1,2}): (.+?)\s*$", re.MULTILINE)


def options(prompt: str) -> list[str]:
    """The answer options a prompt lists: lettered lines, or the True/False pair."""
    lettered = _OPTION.findall(prompt)
    if lettered:
        return [name for _, name in lettered]
    return [line for line in prompt.splitlines() if line.strip() in ("True", "False")]


def read_task(directory: Path, workspace: Workspace) -> tuple[LabelMatrix, np.ndarray]:
    """Ingest a task's items and import every model's answers; return votes and gold codes."""
    test = json.loads((directory / "test.json").read_text(encoding="utf-8"))
    keys = list(test["context"])
    labels = options(test["prompts"][keys[0]])
    by_letter = {chr(ord("A") + i): label for i, label in enumerate(labels)}
    mapping = GOLD_NAMES.get(directory.name, {})

    def name(gold: Any) -> str:
        value = str(gold)
        return mapping.get(value) or by_letter.get(value) or value

    gold = [name(test["labels"][key]) for key in keys]
    unknown = set(gold) - set(labels)
    if unknown:
        raise ValueError(f"{directory.name}: gold labels {unknown} are not options {labels}")
    items = Path(workspace.path).with_suffix(".parquet")
    pl.DataFrame(
        {
            "id": [str(i) for i in range(len(keys))],
            "text": [test["context"][key] for key in keys],
            "label": gold,
        }
    ).write_parquet(items)
    ingest(workspace, items, id_column="id", label_column="label", labels=labels)
    for answers in sorted(directory.glob("answer-*")):
        if answers.stat().st_size == 0:
            print(f"{answers}: empty, left out")
            continue
        recorded = pl.read_csv(
            answers, separator="\t", has_header=False, quote_char=None, infer_schema=False
        )
        mismatched = sum(
            name(value) != gold[int(index)]
            for index, value in zip(recorded[:, 0], recorded[:, 1], strict=True)
        )
        if mismatched:
            print(f"{answers}: gold differs from test.json on {mismatched} rows, left out")
            continue
        import_answers(
            workspace,
            answers,
            answers.name.removeprefix("answer-"),
            has_header=False,
            file_format="tsv",
            letters=labels,
        )
    matrix = LabelMatrix.from_workspace(workspace)
    ordered = np.argsort(np.array(matrix.example_ids, dtype=int))
    codes = matrix.codes[ordered]
    return (
        LabelMatrix(codes, [matrix.example_ids[i] for i in ordered], matrix.sources, matrix.task),
        matrix.task.encode(gold),
    )


def accuracy(predicted: np.ndarray, gold: np.ndarray) -> float:
    return float((predicted == gold).mean())


def combined(
    name: str, codes: np.ndarray, cardinality: int, dev: np.ndarray, gold: np.ndarray | None
) -> np.ndarray:
    """A label model's predictions for all items; ``gold`` (dev rows only) if it may use it."""
    model = make_label_model(name)
    if gold is None:
        model.fit(codes, cardinality)
    else:
        masked = np.full(len(codes), ABSTAIN)
        masked[dev] = gold[dev]
        model.fit(codes, cardinality, gold=masked)
    return model.predict(codes)


def evaluate(task: str, matrix: LabelMatrix, gold: np.ndarray) -> list[dict[str, Any]]:
    k = matrix.task.cardinality
    names = [source.removeprefix("llm:") for source in matrix.sources]
    llms = [j for j, name in enumerate(names) if name != REFERENCE]
    codes, models = matrix.codes[:, llms], [names[j] for j in llms]
    scores: dict[str, list[float]] = {}
    n = len(gold)
    for seed in SEEDS:
        order = np.random.default_rng(seed).permutation(n)
        dev, held_out = order[:DEV_SIZE], order[DEV_SIZE:]
        if REFERENCE in names:
            reference = matrix.codes[held_out, names.index(REFERENCE)]
            scores.setdefault(f"reference: {REFERENCE} (fine-tuned)", []).append(
                accuracy(reference, gold[held_out])
            )
        single_dev = [accuracy(codes[dev, j], gold[dev]) for j in range(len(models))]
        single = [accuracy(codes[held_out, j], gold[held_out]) for j in range(len(models))]
        results = {f"model: {m}": s for m, s in zip(models, single, strict=True)}
        results["best LLM chosen on dev"] = single[int(np.argmax(single_dev))]
        results["best LLM (oracle)"] = max(single)
        top = np.argsort(single_dev)[::-1][:TOP_K]
        for label, columns in (("all LLMs", slice(None)), (f"top {TOP_K} on dev", top)):
            predicted = combined("majority_vote", codes[:, columns], k, dev, None)
            results[f"majority_vote ({label})"] = accuracy(predicted[held_out], gold[held_out])
        for model in ("weighted_majority", "snorkel", "dawid_skene"):
            for suffix, given in (("", None), (" + dev gold", gold)):
                if model == "snorkel" and given is not None:
                    continue
                predicted = combined(model, codes, k, dev, given)
                results[model + suffix] = accuracy(predicted[held_out], gold[held_out])
        for method, score in results.items():
            scores.setdefault(method, []).append(score)
    parse_rate = dict(zip(names, (matrix.codes != ABSTAIN).mean(axis=0), strict=True))
    records = []
    for method, values in scores.items():
        model = method.removeprefix("model: ").removeprefix("reference: ").split(" ")[0]
        records.append(
            {
                "dataset": task,
                "method": method,
                "accuracy": float(np.mean(values)),
                "accuracy_sd": float(np.std(values)),
                "parse_rate": float(parse_rate[model]) if model in parse_rate else None,
            }
        )
    return records


def live_youtube(wrench: Path, scratch: Path) -> list[dict[str, Any]]:
    """SmolLM2 on WRENCH YouTube test, alone and beside the ten WRENCH labeling functions."""
    from labelkit.llm.local import local_llm_server, smollm2_path

    # WRENCH's valid split is labelkit's dev split; ids sort in file order.
    splits = {
        ours: sorted(
            json.loads((wrench / f"{theirs}.json").read_text(encoding="utf-8")).items(),
            key=lambda kv: int(kv[0]),
        )
        for ours, theirs in (("dev", "valid"), ("test", "test"))
    }
    rows = [
        (f"{split}-{int(key):04d}", row["data"]["text"], ("ham", "spam")[row["label"]], split)
        for split, items in splits.items()
        for key, row in items
    ]
    items = scratch / "youtube.parquet"
    pl.DataFrame(rows, schema=["id", "text", "label", "split"], orient="row").write_parquet(items)
    test = [row for _, row in splits["test"]]
    gold = np.array([row["label"] for row in test])
    lf_votes = np.array([row["weak_labels"] for row in test], dtype=np.int16)
    dataset = "youtube (WRENCH test, live SmolLM2)"
    records: list[dict[str, Any]] = []
    with Workspace(scratch / "youtube.duckdb") as ws:
        ingest(ws, items, id_column="id", label_column="label", split_column="split")
        shots = tuple(few_shot_examples(ws, 4, split="dev"))
        with local_llm_server(smollm2_path(), alias=YOUTUBE_LLM.model) as base_url:
            zero_shot = dataclasses.replace(YOUTUBE_LLM, base_url=base_url, api_key="local")
            configs: dict[str, LLMConfig] = {
                "zero-shot": zero_shot,
                "4-shot": dataclasses.replace(zero_shot, examples=shots),
            }
            llm_votes = {}
            for name, config in configs.items():
                start = time.perf_counter()
                stats = label_with_llm(ws, config, split="test")
                seconds = time.perf_counter() - start
                column = LabelMatrix.from_workspace(ws, split="test", sources=[config.source_name])
                llm_votes[name] = column.codes[:, 0]
                records.append(
                    {
                        "dataset": dataset,
                        "method": f"SmolLM2-135M {name}",
                        "accuracy": accuracy(llm_votes[name], gold),
                        "accuracy_sd": 0.0,
                        "parse_rate": 1 - stats.unparsed / stats.prompts,
                        "seconds_per_text": seconds / stats.prompts,
                        "spam_share": float((llm_votes[name] == 1).mean()),
                    }
                )
                print(records[-1])
    records.append({"dataset": dataset, "method": "gold labels", "spam_share": float(gold.mean())})
    for model in ("majority_vote", "snorkel", "dawid_skene"):
        for with_llm in (None, *llm_votes):
            columns = [lf_votes] + ([llm_votes[with_llm][:, None]] if with_llm else [])
            codes = np.hstack(columns)
            fitted = make_label_model(model).fit(codes, 2)
            predicted = fitted.predict_proba(codes).argmax(axis=1)
            records.append(
                {
                    "dataset": dataset,
                    "method": f"{model}: 10 LFs" + (f" + SmolLM2 {with_llm}" if with_llm else ""),
                    "accuracy": accuracy(predicted, gold),
                    "accuracy_sd": 0.0,
                }
            )
    return records


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--live", action="store_true", help="also label WRENCH YouTube with a local SmolLM2"
    )
    arguments = arguments.parse_args()
    root = arguments.data_dir / "llm" / "llms_for_css"
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        if arguments.live:
            records += live_youtube(arguments.data_dir / "wrench" / "youtube", Path(scratch))
        for task in TASKS:
            with Workspace(Path(scratch) / f"{task}.duckdb") as workspace:
                matrix, gold = read_task(root / task, workspace)
            task_records = evaluate(task, matrix, gold)
            records += task_records
            print(f"{task}: {len(gold)} items, {len(matrix.sources)} answer files")
    notes = summary(records)
    if arguments.live:
        notes += (
            "\n\nLive rows: WRENCH YouTube test (250 comments), SmolLM2-135M Q4_1 on 2 threads "
            "behind llama-cpp-python's server, 2 requests in flight; `seconds_per_text` is wall "
            "time over prompts, `spam_share` the share of spam answers (gold's is on the `gold labels` row). Label "
            "models are fitted without gold on the test votes; undecided counts as ham."
        )
    write_results("llm_votes", records, arguments.output_dir, notes=notes)
    print(notes)


def summary(records: list[dict[str, Any]]) -> str:
    """Per task: the best single model (chosen on dev) beside the best combination."""
    frame = pl.DataFrame(records)
    lines = [
        "Accuracy on the ~400 items outside each random 100-item dev split, mean of "
        f"{len(SEEDS)} splits; an unparsed answer or an undecided combination counts as wrong. "
        "`parse_rate`: share of a model's answers that parse into an option, over all items.",
        "",
        f"| task | best LLM chosen on dev | oracle best LLM | {FIXED} | best combination | method |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    wins = fixed_wins = 0
    for task in TASKS:
        rows = frame.filter(pl.col("dataset") == task)
        chosen = rows.filter(pl.col("method") == "best LLM chosen on dev")["accuracy"][0]
        oracle = rows.filter(pl.col("method") == "best LLM (oracle)")["accuracy"][0]
        combos = rows.filter(pl.col("method").is_in(COMBINATIONS)).sort("accuracy", descending=True)
        fixed = rows.filter(pl.col("method") == FIXED)["accuracy"][0]
        wins += combos["accuracy"][0] > chosen
        fixed_wins += fixed > chosen
        lines.append(
            f"| {task} | {chosen:.3f} | {oracle:.3f} | {fixed:.3f} | {combos['accuracy'][0]:.3f} | "
            f"{combos['method'][0]} |"
        )
    lines += [
        "",
        f"`{FIXED}` (one method fixed in advance) beats the best LLM chosen on dev on "
        f"{fixed_wins} of {len(TASKS)} tasks; the best of the {len(COMBINATIONS)} combinations "
        f"(a choice made on the evaluation items, so optimistic) on {wins} of {len(TASKS)}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
