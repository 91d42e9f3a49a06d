"""The whole pipeline on the bundled YouTube comments, from raw CSVs to an honest report."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from xml.etree import ElementTree

import duckdb
import polars as pl
from rich.console import Console

from labelkit.aggregate import aggregate, health_said_elsewhere, load_label_model
from labelkit.aggregate.auto import shown_choice
from labelkit.aggregate.span_workspace import aggregate_spans
from labelkit.data import bundled_dataset, ingest
from labelkit.errors import InputError
from labelkit.evaluation import Evaluation, evaluate
from labelkit.export import export_cleaned
from labelkit.flag import find_label_issues
from labelkit.lf import apply_lfs, load_lfs, summarize_lfs
from labelkit.llm import LLMConfig, LLMRunStats, import_llm_cache, label_with_llm
from labelkit.report import accuracy_with_interval, make_console, one_line, rich_table
from labelkit.review import ReviewQueue, simulate_review
from labelkit.task import NONE
from labelkit.train import train_on_cleaned
from labelkit.votes import source_names
from labelkit.workspace import Workspace

YOUTUBE_INGEST = {
    "text_column": "CONTENT",
    "id_column": "COMMENT_ID",
    "label_column": "CLASS",
    "label_map": {"0": "ham", "1": "spam"},
}

# The recorded answers in datasets/youtube-spam were made with exactly this config;
# change the prompt and rerun scripts/record_demo_llm.py, or the demo has nothing to replay.
YOUTUBE_LLM = LLMConfig(
    model="smollm2",
    instructions=(
        "You classify YouTube comments. spam: the comment promotes a channel, video, "
        "website, product or money-making scheme, or asks people to subscribe, like, share "
        "or click a link. ham: a genuine comment about the video, the song or the artist."
    ),
    concurrency=2,
)
RECORDED_ANSWERS = "smollm2_answers.jsonl"
# MAMS only: RESTAURANTS_LLM's answers asked one request per (sentence, aspect), a sample
# to compare with one request per sentence (benchmarks/aspects_llm.py).
PER_ATTRIBUTE_ANSWERS = "smollm2_per_attribute_answers.jsonl"

# The bundled MAMS sentences: their labels in this order, and the config whose answers
# datasets/mams-acsa holds, recorded by `scripts/record_demo_llm.py mams-acsa` (one
# request per sentence for every aspect; which sentences: its README). Change the
# prompt and record again, or there is nothing to replay.
RESTAURANTS_INGEST = {"labels": ["positive", "negative", "neutral"]}
RESTAURANTS_LLM = LLMConfig(
    model="smollm2",
    instructions=(
        "You read sentences from restaurant reviews and say what each sentence says about "
        "each aspect of the restaurant: positive, negative or neutral, or none when the "
        "sentence does not mention it."
    ),
    concurrency=1,
)

# LaptopReview's sentences (WRENCH, aspect terms as TERM spans) and the config whose
# answers datasets/laptops holds, recorded by `scripts/record_demo_llm.py laptops` (which
# sentences: its README). Change the prompt and record again, or there is nothing to replay.
LAPTOPS_LLM = LLMConfig(
    model="smollm2",
    instructions=(
        "You read sentences from laptop reviews and mark their aspect terms: the parts, "
        "features, software and services of a laptop that a sentence talks about, such as "
        "battery life, screen, keyboard, Windows 7 or customer service. Opinion words "
        "(great, fast) are not aspect terms."
    ),
    max_entities=8,
    concurrency=1,
)

# The reviewer name of the demo's simulated review: gold answers, not a person.
SIMULATED = "simulated-gold"


def run_demo(
    directory: str | Path,
    *,
    review_budget: int = 50,
    base_url: str | None = None,
    llm_model: str | None = None,
    console: Console | None = None,
) -> pl.DataFrame:
    """Run every stage on the bundled YouTube comments into ``directory``; return the report.

    Without an endpoint (``base_url`` or ``OPENAI_BASE_URL``) the LLM votes are replayed
    from answers recorded from a real SmolLM2-135M run. The review step is simulated:
    gold labels answer the ``review_budget`` most doubtful flags, as a reviewer would.

    Examples
    --------
    >>> report = run_demo("demo-workspace")
    >>> report.filter(pl.col("kind") == "small model")["accuracy"][0] > 0.8
    True
    """
    console = console or make_console()
    directory, workspace_path = _fresh_workspace(directory, console)
    data = bundled_dataset("youtube-spam")

    with Workspace(workspace_path) as ws:
        n = ingest(ws, sorted(data.glob("*.csv")), **YOUTUBE_INGEST).added
        splits = dict(ws.sql("SELECT split, count(*) FROM examples GROUP BY 1").iter_rows())
        console.rule("1. ingest")
        console.print(
            f"{n} YouTube comments (UCI YouTube Spam Collection, CC BY 4.0) into {workspace_path}: "
            f"{splits.get('train', 0)} train, {splits.get('dev', 0)} dev, "
            f"{splits.get('test', 0)} test"
        )

        console.rule("2. labeling functions")
        apply_lfs(ws, load_lfs("labeling_functions.youtube"))
        summary = summarize_lfs(ws, split="dev")
        # Overlaps and chance left out so that the table fits 100 columns; `labelkit
        # analyze` has all.
        shown = accuracy_with_interval(summary).drop("overlaps", "chance")
        console.print(rich_table(shown, title="labeling functions on the dev split"))

        console.rule("3. LLM votes")
        llm = _demo_llm(base_url, llm_model)
        if llm.base_url is None:
            imported = import_llm_cache(ws, data / RECORDED_ANSWERS)
            console.print(
                f"no endpoint configured: replaying {imported} answers recorded from a real run of "
                "SmolLM2-135M-Instruct (Q4_1, llama-cpp-python server); nothing is invented"
            )
        stats = label_with_llm(ws, llm)
        console.print(
            f"{stats.source}: {stats.prompts} prompts, {stats.cached} from cache, "
            f"{stats.answered} asked now, {stats.failed} failed, {stats.unparsed} unparseable"
        )

        console.rule("4. label model")
        with health_said_elsewhere():  # what auto dropped is said below
            predictions = aggregate(ws, save_to=directory / "label_model.json")
        fitted = load_label_model(directory / "label_model.json")
        sources = source_names(ws)
        dropped = ", ".join(sources[j] for j in fitted.report["dropped"]) or "none"
        console.print(
            f"default label model (auto) over {len(sources)} sources: "
            f"{predictions['label'].is_not_null().sum()} of {predictions.height} examples "
            f"labeled; {shown_choice(fitted.report, ws.task.labels)}; "
            f"dropped as below chance: {dropped}"
        )

        console.rule("5. flags for review")
        flags = find_label_issues(ws)
        by_cleanlab = flags["reasons"].str.contains("cleanlab").sum()
        console.print(
            f"{flags.height} training labels flagged ({by_cleanlab} by cleanlab), queued by "
            "priority; top 5:"
        )
        top = (
            flags.head(5)
            .join(ws.sql("SELECT id AS example_id, text FROM examples"), on="example_id")
            .sort("rank")
            .select(
                "rank",
                pl.col("given_label").alias("given"),
                pl.col("suggested_label").alias("suggested"),
                "priority",
                "reasons",
                one_line("text"),
            )
        )
        console.print(rich_table(top))

        console.rule("6. review")
        queue = ReviewQueue(ws)
        gold = dict(ws.sql("SELECT id, gold FROM examples WHERE split = 'train'").iter_rows())
        reviewed = simulate_review(queue, gold, limit=review_budget, reviewer=SIMULATED)
        progress = queue.progress()
        console.print(
            f"simulated review: gold labels answered the {reviewed} highest-priority flags "
            f"({progress['corrected']} labels corrected). In a real project people do this "
            "with `labelkit review`."
        )

        console.rule("7. export and train")
        cleaned = export_cleaned(ws, directory / "cleaned.jsonl")
        console.print(f"{cleaned} cleaned training examples in {directory / 'cleaned.jsonl'}")
        # Chosen on a held-out tenth of the cleaned labels, not on dev gold as by
        # default: the demo shows what the pipeline does with no gold label in training.
        model = train_on_cleaned(ws, directory / "model", dev_split=None)

        console.rule("8. evaluate on the gold test split")
        evaluation = evaluate(ws, model)
    report = evaluation.summary
    comparison = evaluation.comparison()
    training = pl.col("kind") == "training labels"
    # Kind, macro-F1 and the split are left out so that the table fits 100 columns;
    # report.md has all.
    on_test = comparison.filter(~training).drop("kind", "split", "macro_f1")
    console.print(rich_table(on_test, title="YouTube spam, gold test split"))
    console.print("training labels against the train split's gold:")
    console.print(
        rich_table(
            comparison.filter(training).select("method", "coverage", "voted_accuracy", "accuracy")
        )
    )
    _write_report(directory, evaluation, llm, stats.cached == stats.prompts)
    console.print(f"report written to {directory / 'report.md'}")
    return report


def _demo_llm(
    base_url: str | None, llm_model: str | None, config: LLMConfig = YOUTUBE_LLM
) -> LLMConfig:
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    return dataclasses.replace(config, base_url=base_url, model=llm_model or config.model)


def _partial_llm_votes(
    ws: Workspace, llm: LLMConfig, recorded: Path, console: Console
) -> LLMRunStats:
    """The LLM's votes: asked where an endpoint is configured, else replayed from the
    ``recorded`` answers, which cover part of the texts (the rest get no LLM vote)."""
    if llm.base_url is None:
        imported = import_llm_cache(ws, recorded)
        console.print(
            f"no endpoint configured: replaying {imported} answers recorded from a real run "
            "of SmolLM2-135M-Instruct; sentences they do not cover get no LLM vote"
        )
    return label_with_llm(ws, llm, cached_only=llm.base_url is None)


def _write_report(directory: Path, evaluation: Evaluation, llm: LLMConfig, replayed: bool) -> None:
    origin = (
        "answers recorded from a real SmolLM2-135M-Instruct run, replayed from the cache"
        if replayed
        else f"live answers from {llm.model} at {llm.base_url}"
    )
    (directory / "report.md").write_text(
        "# labelkit demo: YouTube spam, gold test split\n\n"
        f"LLM votes: {origin}. Training labels are scored on the train split's gold.\n\n"
        + evaluation.markdown(),
        encoding="utf-8",
    )
    (directory / "report.json").write_text(
        json.dumps(evaluation.summary.to_dicts(), indent=2), encoding="utf-8"
    )


def run_restaurants_demo(
    directory: str | Path,
    *,
    review_budget: int = 100,
    base_url: str | None = None,
    llm_model: str | None = None,
    console: Console | None = None,
) -> pl.DataFrame:
    """Run every stage on the bundled MAMS restaurant sentences, one answer per aspect.

    As ``run_demo``, for an aspects task: each sentence gets positive, negative,
    neutral or none for each of eight aspects. Without an endpoint the LLM answers
    are replayed from a recorded SmolLM2-135M run, which covers only some sentences
    (``datasets/mams-acsa/README.md`` says which); the others get no LLM vote. Gold
    answers the ``review_budget`` most doubtful (sentence, aspect) flags.

    Examples
    --------
    >>> report = run_restaurants_demo("restaurants-demo")
    >>> report.filter(pl.col("attribute") == "(all)").select("method", "macro_f1")
    """
    console = console or make_console()
    directory, workspace_path = _fresh_workspace(directory, console)
    data = bundled_dataset("mams-acsa")

    with Workspace(workspace_path) as ws:
        ingest(ws, sorted(data.glob("*.xml")), **RESTAURANTS_INGEST)
        splits = dict(ws.sql("SELECT split, count(*) FROM examples GROUP BY 1").iter_rows())
        task = ws.task
        console.rule("1. ingest")
        console.print(
            f"{sum(splits.values())} restaurant-review sentences (MAMS-ACSA, Apache-2.0) into "
            f"{workspace_path}: {splits.get('train', 0)} train, {splits.get('dev', 0)} dev, "
            f"{splits.get('test', 0)} test; aspects {', '.join(task.attributes)}, each "
            f"{', '.join(task.labels)} or none"
        )

        console.rule("2. labeling functions")
        apply_lfs(ws, load_lfs("labeling_functions.restaurants"))
        summary = summarize_lfs(ws, split="dev")
        per_aspect = (
            summary.group_by("attribute", maintain_order=True)
            .agg(
                pl.len().alias("lfs"),
                pl.col("coverage").max().alias("widest LF coverage"),
                pl.col("accuracy").mean().alias("mean LF accuracy"),
            )
            .sort("attribute")
        )
        console.print(rich_table(per_aspect, title="labeling functions per aspect, dev split"))

        console.rule("3. LLM votes")
        llm = _demo_llm(base_url, llm_model, RESTAURANTS_LLM)
        stats = _partial_llm_votes(ws, llm, data / RECORDED_ANSWERS, console)
        console.print(
            f"{stats.source}: {stats.prompts} prompts, {stats.cached} from cache, "
            f"{stats.answered} asked now, {stats.failed} failed, {stats.unparsed} unparseable"
        )

        console.rule("4. label model")
        predictions = aggregate(ws)
        labeled = predictions.filter(pl.col("label").is_not_null())
        console.print(
            f"auto, per aspect (presence, then polarity): {labeled.height} of "
            f"{predictions.height} (sentence, aspect) pairs answered, "
            f"{labeled.filter(pl.col('label') != 'none').height} of them mentioned"
        )

        console.rule("5. flags for review")
        flags = find_label_issues(ws)
        console.print(
            f"{flags.height} (sentence, aspect) answers flagged, one queue across aspects"
        )

        console.rule("6. review, one aspect at a time")
        queue = ReviewQueue(ws)
        reviewed = simulate_review(
            queue, gold_answers_by_attribute(ws), limit=review_budget, reviewer=SIMULATED
        )
        console.print(
            f"simulated review: gold answered the {reviewed} highest-priority (sentence, "
            "aspect) flags. In a real project people do this with `labelkit review`, one "
            "aspect at a time."
        )

        console.rule("7. export and train")
        cleaned = export_cleaned(ws, directory / "cleaned.jsonl")
        console.print(
            f"{cleaned} cleaned (sentence, aspect) answers in {directory / 'cleaned.jsonl'}"
        )
        model = train_on_cleaned(ws, directory / "model")

        console.rule("8. evaluate on the gold test split")
        evaluation = evaluate(ws, model)
    report = evaluation.summary
    overall = report.filter((pl.col("attribute") == "(all)") & (pl.col("kind") != "lf"))
    console.print(
        rich_table(
            overall.select("method", "kind", "macro_f1", "micro_f1", "exact_match"),
            title="MAMS restaurants, gold test split, over all aspects",
        )
    )
    models = report.filter(pl.col("kind").is_in(["label model", "small model", "llm"]))
    by_aspect = (
        models.filter(pl.col("attribute") != "(all)")
        .pivot("method", index="attribute", values="macro_f1")
        .sort("attribute")
    )
    console.print(rich_table(by_aspect, title="macro-F1 per aspect (none included), test"))
    (directory / "report.md").write_text(
        "# labelkit demo: MAMS restaurant aspects, gold test split\n\n" + evaluation.markdown(),
        encoding="utf-8",
    )
    console.print(f"report written to {directory / 'report.md'}")
    return report


def run_laptops_demo(
    directory: str | Path,
    *,
    review_budget: int = 100,
    base_url: str | None = None,
    llm_model: str | None = None,
    max_epochs: int = 3,
    console: Console | None = None,
) -> pl.DataFrame:
    """Run every stage on the bundled LaptopReview sentences, a spans task: aspect terms.

    As ``run_demo``, for entities: span labeling functions mark aspect terms (type
    ``TERM``), the span label model turns their votes into spans, one queue item is one
    span of one sentence, and a spaCy ``ner`` trained ``max_epochs`` epochs on the
    cleaned spans is scored by entity beside every teacher. Without an endpoint the
    LLM's spans are replayed from a recorded SmolLM2-135M run, which covers only the
    first 180 test sentences (``datasets/laptops/README.md``); the others get no LLM
    vote. Gold answers the ``review_budget`` most doubtful spans: the type of a gold span
    with exactly its bounds, else ``none``.

    Examples
    --------
    >>> report = run_laptops_demo("laptops-demo")
    >>> report.filter(pl.col("kind") == "small model").select("method", "f1")
    """
    console = console or make_console()
    directory, workspace_path = _fresh_workspace(directory, console)
    data = bundled_dataset("laptops")

    with Workspace(workspace_path) as ws:
        ingest(ws, [data / f"{split}.json" for split in ("train", "valid", "test")])
        splits = dict(ws.sql("SELECT split, count(*) FROM examples GROUP BY 1").iter_rows())
        console.rule("1. ingest")
        console.print(
            f"{sum(splits.values())} laptop-review sentences (LaptopReview as WRENCH ships it, "
            f"Apache-2.0) into {workspace_path}: {splits.get('train', 0)} train, "
            f"{splits.get('dev', 0)} dev, {splits.get('test', 0)} test; entity type "
            f"{', '.join(ws.task.labels)} (aspect terms)"
        )

        console.rule("2. span labeling functions")
        apply_lfs(ws, load_lfs("labeling_functions.laptops"))
        summary = summarize_lfs(ws, split="dev").select(
            "lf", "coverage", "spans", "precision", "recall", "f1"
        )
        console.print(rich_table(summary, title="span labeling functions on the dev split"))

        console.rule("3. LLM spans")
        llm = _demo_llm(base_url, llm_model, LAPTOPS_LLM)
        stats = _partial_llm_votes(ws, llm, data / RECORDED_ANSWERS, console)
        console.print(
            f"{stats.source}: {stats.prompts} prompts, {stats.cached} from cache, "
            f"{stats.answered} asked now, {stats.failed} failed; {stats.unparsed} entities "
            "named were not in their sentence (or of another type) and were left out"
        )

        console.rule("4. span label model")
        result = aggregate_spans(ws)
        predictions = result.predictions
        console.print(
            f"auto: {shown_choice(result.report)}; "
            f"{predictions.height} spans in {predictions['example_id'].n_unique()} of "
            f"{len(result.corpus.example_ids)} sentences"
        )
        console.print(
            rich_table(
                result.scores.select("split", "method", "precision", "recall", "f1"),
                title="span label models on gold spans (exact bounds and type)",
            )
        )

        console.rule("5. flags for review")
        flags = find_label_issues(ws)
        console.print(f"{flags.height} spans flagged, one queue item per span of a sentence")

        console.rule("6. review, one span at a time")
        queue = ReviewQueue(ws)
        reviewed = simulate_review(
            queue, gold_answers_of_queued_spans(ws), limit=review_budget, reviewer=SIMULATED
        )
        progress = queue.progress()
        console.print(
            f"simulated review: gold answered the {reviewed} highest-priority spans "
            f"({progress['corrected']} corrected: a type, or none where gold has no span "
            "with those bounds). In a real project people do this with `labelkit review`."
        )

        console.rule("7. export and train")
        cleaned = export_cleaned(ws, directory / "cleaned.jsonl")
        console.print(f"{cleaned} sentences with cleaned spans in {directory / 'cleaned.jsonl'}")
        model = train_on_cleaned(ws, directory / "model", dev_split="dev", max_epochs=max_epochs)
        console.print(
            f"spaCy ner trained {max_epochs} epochs on them, best on dev: {directory / 'model'}"
        )

        console.rule("8. evaluate on the gold test split")
        evaluation = evaluate(ws, model)
    report = evaluation.summary
    console.print(
        rich_table(
            evaluation.comparison().select("method", "kind", "precision", "recall", "f1"),
            title="LaptopReview aspect terms, gold test split, by entity",
        )
    )
    console.print(
        "precision, recall, f1: over entities, a span right only with its exact bounds and type"
    )
    origin = (
        "answers recorded from a real SmolLM2-135M-Instruct run, replayed from the cache "
        "(the first 180 test sentences only)"
        if llm.base_url is None
        else f"live answers from {llm.model} at {llm.base_url}"
    )
    (directory / "report.md").write_text(
        "# labelkit demo: LaptopReview aspect terms, gold test split\n\n"
        f"LLM spans: {origin}.\n\n" + evaluation.markdown(),
        encoding="utf-8",
    )
    (directory / "report.json").write_text(
        json.dumps(report.to_dicts(), indent=2), encoding="utf-8"
    )
    console.print(f"report written to {directory / 'report.md'}")
    return report


def _fresh_workspace(directory: str | Path, console: Console) -> tuple[Path, Path]:
    """The demo's folder, created, and its workspace path, emptied of an earlier demo
    run; a workspace there that people answered in (or no workspace) is refused (trial
    53d: the demo deleted one without a word)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    workspace_path = directory / "workspace.duckdb"
    if workspace_path.exists():
        try:
            with duckdb.connect(str(workspace_path), read_only=True) as con:
                people = [
                    name
                    for (name,) in con.execute(
                        "SELECT DISTINCT reviewer FROM decisions WHERE reviewer <> ? ORDER BY 1",
                        [SIMULATED],
                    ).fetchall()
                ]
        except duckdb.Error:
            people = None
        if people is None or people:
            held = f"answers by {', '.join(people[:3])}" if people else "no demo's workspace"
            raise InputError(
                f"{workspace_path} holds {held}: the demo starts over in its folder, so "
                "give it another one (--workspace)"
            )
        console.print(f"replacing {workspace_path}, an earlier demo run's workspace")
        workspace_path.unlink()
    return directory, workspace_path


def first_mams_sentences(path: Path, n: int, directory: Path) -> Path:
    """A copy of the MAMS file ``path`` with its first ``n`` sentences only (file order),
    written under ``directory``: what the restaurants demo's answers were recorded on.

    Examples
    --------
    >>> first_mams_sentences(Path("mams-acsa/test.xml"), 300, Path("/tmp")).name
    'test.xml'
    """
    tree = ElementTree.parse(path)
    root = tree.getroot()
    for sentence in list(root)[n:]:
        root.remove(sentence)
    copy = directory / path.name
    tree.write(copy, encoding="utf-8", xml_declaration=True)
    return copy


def gold_answers_by_attribute(
    workspace: Workspace, split: str = "train"
) -> dict[tuple[str, str], str]:
    """Gold answers of ``split`` keyed by (example id, attribute), as ``simulate_review``
    takes them for a task with attributes; one polars pass per attribute."""
    task = workspace.task
    gold = workspace.sql("SELECT id, gold FROM examples WHERE split = ?", [split])
    return {
        (example_id, attribute): answer
        for attribute in task.attributes
        for example_id, answer in zip(
            gold["id"], task.gold_answers(gold["gold"], attribute), strict=True
        )
    }


def gold_answers_of_queued_spans(
    workspace: Workspace, split: str = "train"
) -> dict[tuple[str, str], str]:
    """Gold's answer on every queued span of ``split``, keyed by (example id,
    ``"<start>:<end>"``) as ``simulate_review`` takes them: the type of the gold span
    with exactly those bounds, else ``none`` (``Task.gold_answers``'s rule)."""
    queued = workspace.sql(
        """SELECT q.example_id, q.attribute, e.gold FROM queue q
           JOIN examples e ON e.id = q.example_id
           WHERE e.split = ? AND e.gold IS NOT NULL""",
        [split],
    )
    gold_spans = (
        queued.select(
            "example_id",
            pl.col("gold").str.json_decode(pl.List(pl.List(pl.String))).alias("span"),
        )
        .explode("span")
        .drop_nulls("span")
        .select(
            "example_id",
            (pl.col("span").list.get(0) + ":" + pl.col("span").list.get(1)).alias("attribute"),
            pl.col("span").list.get(2).alias("answer"),
        )
        .unique(["example_id", "attribute"], keep="first")
    )
    answers = queued.join(gold_spans, on=["example_id", "attribute"], how="left").select(
        "example_id", "attribute", pl.col("answer").fill_null(NONE)
    )
    return {
        (example_id, attribute): answer for example_id, attribute, answer in answers.iter_rows()
    }
