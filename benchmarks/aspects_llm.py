"""Asking an LLM about aspects: one request per text (every aspect at once) or one per aspect.

Both layouts are SmolLM2-135M's recorded answers on the first ``--sentences`` sentences
of MAMS-ACSA test (30, what the per-aspect recording covers): ``smollm2_answers.jsonl``
(one request per sentence answering all eight aspects as a JSON object) and
``smollm2_per_attribute_answers.jsonl`` (one request per sentence and aspect), both of
``labelkit/datasets/mams-acsa``, made by
``scripts/record_demo_llm.py`` with the config ``labelkit.demo.RESTAURANTS_LLM``, one
server thread. Each layout is replayed through ``label_with_llm(cached_only=True)`` into
its own workspace holding only those sentences, and scored by ``evaluate`` as
``benchmarks/aspects.py`` scores a source: per aspect and over all, accuracy where it
votes, coverage, and macro-F1 over the aspect's answers (none included; an abstain
counts as wrong). Cost comes from the usage each cached answer recorded (requests,
prompt and completion tokens per sentence, in US dollars at gpt-4o-mini's prices for
scale), time from each answer's recorded latency (one shared core: rough). Nothing is
asked live, so this runs in seconds.

    python benchmarks/aspects_llm.py [--sentences 30]
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from _common import parser, write_results

from labelkit import Workspace, evaluate, import_llm_cache, ingest, label_with_llm
from labelkit.data import bundled_dataset
from labelkit.demo import (
    PER_ATTRIBUTE_ANSWERS,
    RECORDED_ANSWERS,
    RESTAURANTS_INGEST,
    RESTAURANTS_LLM,
    first_mams_sentences,
)
from labelkit.evaluation import ALL
from labelkit.llm import LLMConfig

# US dollars per million prompt and completion tokens (gpt-4o-mini, as docs/llm.md's
# estimate): a scale for the token counts, not what SmolLM2 costs.
PRICES = {"input_price": 0.15, "output_price": 0.60}
LAYOUTS = {
    "per text": (dataclasses.replace(RESTAURANTS_LLM, **PRICES), RECORDED_ANSWERS),
    "per attribute": (
        dataclasses.replace(RESTAURANTS_LLM, per_attribute=True, **PRICES),
        PER_ATTRIBUTE_ANSWERS,
    ),
}
SCORES = ("voted_accuracy", "coverage", "macro_f1")


def replay(layout: str, sentences: Path, root: Path) -> list[dict[str, Any]]:
    """One layout's recorded answers on ``sentences``: a record per aspect and over all."""
    config, answers = LAYOUTS[layout]
    with Workspace(root / f"{layout.replace(' ', '-')}.duckdb") as ws:
        ingest(ws, sentences, **RESTAURANTS_INGEST)
        import_llm_cache(ws, bundled_dataset("mams-acsa") / answers)
        stats = label_with_llm(ws, config, cached_only=True)
        if stats.not_asked:
            raise SystemExit(
                f"{layout}: {stats.not_asked} of {stats.prompts} prompts are not recorded; "
                "ask for fewer --sentences or record more (scripts/record_demo_llm.py)"
            )
        # stats.examples counts (text, attribute) prompts when asked per attribute.
        texts = int(ws.sql("SELECT count(*) AS n FROM examples")["n"][0])
        summary = evaluate(ws).summary.filter(pl.col("method") == stats.source)
        usage = ws.sql(
            """SELECT count(*) AS requests, sum(prompt_tokens)::BIGINT AS prompt_tokens,
                      sum(completion_tokens)::BIGINT AS completion_tokens,
                      sum(latency_s)::DOUBLE AS latency_s
               FROM llm_cache
               WHERE error IS NULL
                 AND json_extract_string(request, '$.messages[1].content')
                     IN (SELECT text FROM examples)"""
        ).row(0, named=True)
    cost = _cost(config, usage)
    overall = {
        "requests": usage["requests"],
        "requests_per_text": usage["requests"] / texts,
        "prompt_tokens_per_text": usage["prompt_tokens"] / texts,
        "completion_tokens_per_text": usage["completion_tokens"] / texts,
        "usd_per_1000_texts": 1000 * cost / texts,
        "parse_failures": stats.unparsed,
        "seconds_per_text": usage["latency_s"] / texts,
    }
    return [
        {
            "dataset": f"mams-acsa test, first {texts} sentences",
            "method": layout,
            "source": stats.source,
            "attribute": row["attribute"],
            **{name: row[name] for name in SCORES},
            **(overall if row["attribute"] == ALL else {}),
        }
        for row in summary.iter_rows(named=True)
    ]


def _cost(config: LLMConfig, usage: dict[str, Any]) -> float:
    cost = config.cost(usage["prompt_tokens"], usage["completion_tokens"])
    assert cost is not None, "LAYOUTS set prices"
    return cost


def tables(frame: pl.DataFrame) -> str:
    """Cost and scores over all aspects per layout, then the scores per aspect."""
    overall = frame.filter(pl.col("attribute") == ALL)
    lines = [
        "| layout | requests per text | prompt tokens per text | completion tokens per text "
        "| $ per 1,000 texts | parse failures | s per text | accuracy where it votes "
        "| coverage | macro-F1 |",
        "| --- |" + " ---: |" * 9,
    ]
    for row in overall.iter_rows(named=True):
        lines.append(
            f"| {row['method']} | {row['requests_per_text']:.0f} "
            f"| {row['prompt_tokens_per_text']:.0f} | {row['completion_tokens_per_text']:.0f} "
            f"| {row['usd_per_1000_texts']:.3f} | {row['parse_failures']} "
            f"| {row['seconds_per_text']:.1f} | {_number(row['voted_accuracy'])} "
            f"| {_number(row['coverage'])} | {_number(row['macro_f1'])} |"
        )
    layouts = list(overall["method"])
    lines += [
        "",
        "| aspect | "
        + " | ".join(f"{layout}: {score}" for layout in layouts for score in SCORES)
        + " |",
        "| --- |" + " ---: |" * (len(layouts) * len(SCORES)),
    ]
    attributes = sorted(set(frame["attribute"]) - {ALL})
    for attribute in attributes:
        cells = []
        for layout in layouts:
            row = frame.filter((pl.col("method") == layout) & (pl.col("attribute") == attribute))
            cells += [_number(row[name][0]) if row.height else "–" for name in SCORES]
        lines.append(f"| {attribute} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(frame: pl.DataFrame) -> str:
    """Which layout is better for accuracy (macro-F1 over all aspects) and which for cost."""
    overall = {
        row["method"]: row for row in frame.filter(pl.col("attribute") == ALL).iter_rows(named=True)
    }
    text, attribute = overall["per text"], overall["per attribute"]
    accurate = max(overall, key=lambda layout: overall[layout]["macro_f1"])
    cheap = min(overall, key=lambda layout: overall[layout]["usd_per_1000_texts"])
    tokens = attribute["prompt_tokens_per_text"] / text["prompt_tokens_per_text"]
    return (
        f"For accuracy, **{accurate}** is better (macro-F1 over all aspects "
        f"{text['macro_f1']:.3f} per text, {attribute['macro_f1']:.3f} per attribute; accuracy "
        f"where it votes {text['voted_accuracy']:.3f} and {attribute['voted_accuracy']:.3f}); "
        f"for cost, **{cheap}** is (${text['usd_per_1000_texts']:.3f} against "
        f"${attribute['usd_per_1000_texts']:.3f} per 1,000 texts at gpt-4o-mini's prices, "
        f"{tokens:.1f} times the prompt tokens per text; {text['seconds_per_text']:.1f} s "
        f"against {attribute['seconds_per_text']:.1f} s per text recorded on one shared core)."
    )


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sentences", type=int, default=30)
    options = arguments.parse_args()
    test = bundled_dataset("mams-acsa") / "test.xml"
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        sentences = first_mams_sentences(test, options.sentences, root)
        records = [r for layout in LAYOUTS for r in replay(layout, sentences, root)]
    frame = pl.DataFrame(records, infer_schema_length=None)
    notes = (
        f"SmolLM2-135M's recorded answers on the first {options.sentences} MAMS-ACSA test "
        "sentences, replayed through `label_with_llm(cached_only=True)`. Accuracy where "
        "it votes and coverage per (sentence, aspect); macro-F1 over each aspect's answers, "
        "none included, an abstain counted as wrong (`(all)`: the mean over aspects). "
        "Tokens and seconds are what each recorded answer's usage and latency say (one "
        "thread of llama-cpp-python's server on a shared 2-core machine, the two layouts "
        "recorded in different runs under different load: the seconds are rough and the "
        "tokens are the fair measure of cost); "
        "dollars at gpt-4o-mini's prices ($0.15 and $0.60 per million prompt and completion "
        "tokens), a scale only.\n\n" + verdict(frame)
    )
    table = tables(frame)
    write_results("aspects_llm", records, options.output_dir, notes, table=table)
    print(table, notes, sep="\n\n")


if __name__ == "__main__":
    main()
