"""The spans task's small model with the precise phrase-list LFs shipped in front of its
ner (``rules``), and spaCy's spancat for spans that overlap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import spacy
from spacy.tokens import DocBin

from labelkit import InputError, Workspace, apply_lfs, evaluate, ingest, predict_file, span_scores
from labelkit.aggregate import aggregate
from labelkit.lf.spans import (
    SpanExample,
    phrase_span_lf,
    regex_span_lf,
    span_labeling_function,
    token_span_lf,
)
from labelkit.train import train_ner, train_on_cleaned
from labelkit.train.ner import RULERS, predicted_spans, rule_patterns
from tests.train.conftest import run_installed
from tests.train.test_ner import labelkit

BRANDS = ["Dell", "Lenovo", "Asus"]
ITEMS = ["battery", "screen", "keyboard"]


@span_labeling_function(label="BRAND")
def lenovo(x: SpanExample) -> list[tuple[int, int]]:
    start = x.text.find("Lenovo")
    return [] if start < 0 else [(start, start + len("Lenovo"))]


LFS = [
    # Acer is in the list but in no text: only the shipped rules can find it.
    phrase_span_lf("brands", "BRAND", [*BRANDS, "Acer"]),
    phrase_span_lf("brands_again", "BRAND", BRANDS),
    phrase_span_lf("parts", "TERM", ["battery", "screen"]),
    token_span_lf("keyboards", "TERM", [[{"LOWER": "keyboard"}]]),
    # Outvoted on every span it marks: the label model calls Dell a BRAND.
    phrase_span_lf("sloppy", "TERM", ["Dell"]),
    # Not shipped: a regex and Python (trial 47: a Python LF stopped rules=true with a
    # JSONDecodeError, its definition being its source code).
    regex_span_lf("asus_regex", r"\bAsus\b", "BRAND"),
    lenovo,
]


def review(i: int) -> tuple[str, list[list[object]]]:
    brand, item = BRANDS[i % 3], ITEMS[(i // 3) % 3]
    start = 4 + len(brand)
    return f"my {brand} {item} is fine", [
        [3, 3 + len(brand), "BRAND"],
        [start, start + len(item), "TERM"],
    ]


@pytest.fixture(scope="module")
def ruled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """36 train, 9 dev and 9 test reviews, the LFs applied, majority vote's spans, and
    the ner trained on them with the rules (2 epochs)."""
    folder = tmp_path_factory.mktemp("rules")
    rows = []
    for i in range(54):
        text, gold = review(i)
        split = "train" if i < 36 else "dev" if i < 45 else "test"
        rows.append({"id": f"r{i:02d}", "text": text, "split": split, "gold": json.dumps(gold)})
    ws_path = folder / "ws.duckdb"
    with Workspace(ws_path) as ws:
        ingest(
            ws,
            pl.DataFrame(rows),
            kind="spans",
            labels=["TERM", "BRAND"],
            split_column="split",
            label_column="gold",
        )
        apply_lfs(ws, LFS)
        aggregate(ws, "majority_vote")
        model = train_on_cleaned(
            ws,
            folder / "model",
            dev_split="dev",
            rules=True,
            max_epochs=2,
            batch_words=20,
        )
    yield ws_path, model


def test_only_the_lfs_the_cleaned_set_keeps_ship_as_rules(ruled: tuple[Path, Path]) -> None:
    ws_path, _ = ruled
    with Workspace(ws_path, read_only=True) as ws:
        patterns, names = rule_patterns(ws, 0.9)
        run = json.loads(ws.sql("SELECT config FROM runs WHERE step = 'train'")["config"][0])
        assert rule_patterns(ws, 0.0)[1] == [
            "brands",
            "brands_again",
            "keyboards",
            "parts",
            "sloppy",
        ]
    assert names == ["brands", "brands_again", "keyboards", "parts"]
    assert (run["rules"], run["rule_precision"]) == (names, 0.9)
    assert {"label": "BRAND", "pattern": "Acer"} in patterns["LOWER"]
    assert {"label": "TERM", "pattern": [{"LOWER": "keyboard"}]} in patterns["LOWER"]
    assert {"label": "TERM", "pattern": "Dell"} not in patterns["LOWER"]
    assert set(patterns) == {"LOWER"}


def test_the_rules_sit_in_front_of_the_ner(ruled: tuple[Path, Path]) -> None:
    _, model = ruled
    nlp = spacy.load(model)
    assert nlp.pipe_names == ["tok2vec", "rules_lower", "ner"]
    assert spacy.load(model, exclude=RULERS).pipe_names == ["tok2vec", "ner"]
    # Acer and keyboard come from the rules whatever the ner makes of them.
    doc = nlp("an Acer keyboard")
    assert predicted_spans(doc) == [(3, 7, "BRAND"), (8, 16, "TERM")]
    assert {e.label_ for e in nlp.get_pipe("rules_lower")(nlp.make_doc("Acer")).ents} == {"BRAND"}


def test_the_ruled_model_predicts_and_packages(ruled: tuple[Path, Path], tmp_path: Path) -> None:
    ws_path, model = ruled
    source = tmp_path / "new.csv"
    pl.DataFrame({"text": ["my Acer battery is fine", "nothing"]}).write_csv(source)
    assert predict_file(model, source, tmp_path / "out.jsonl") == 2
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [3, 7, "BRAND"] in lines[0]["spans"]
    labelkit("package", model, tmp_path / "dist", "--name", "ruled", "--workspace", ws_path)
    wheel = next((tmp_path / "dist").glob("en_ruled-0.1.0/dist/*.whl"))
    site = tmp_path / "site"
    probe = (
        "import json, spacy; nlp = spacy.load('en_ruled'); doc = nlp('an Acer'); "
        "print(json.dumps([nlp.pipe_names, [(e.start_char, e.end_char, e.label_) "
        "for e in doc.ents]]))"
    )
    assert run_installed(wheel, site, probe) == [
        ["tok2vec", "rules_lower", "ner"],
        [[3, 7, "BRAND"]],
    ]


def test_spancat_keeps_and_finds_overlapping_spans(tmp_path: Path) -> None:
    # A product ("Dell battery") holds a brand ("Dell"): ner could keep one of the two.
    texts, spans = [], []
    for i in range(40):
        text, (brand, item) = review(i)
        texts.append(text)
        spans.append(json.dumps([brand, [brand[0], item[1], "TERM"]]))
    rows = pl.DataFrame({"text": texts, "spans": spans})
    model = train_ner(
        rows,
        ["TERM", "BRAND"],
        tmp_path / "m",
        model="spacy_spancat",
        dev=rows.head(6),
        max_epochs=12,
        batch_words=50,
        max_span_tokens=3,
        rules={"LOWER": [{"label": "BRAND", "pattern": "acer"}]},
    )
    nlp = spacy.load(model)
    # The rules add to spancat's spans, after it: spancat replaces the spans it finds.
    assert nlp.pipe_names == ["tok2vec", "spancat", "rules_lower"]
    assert (3, 7, "BRAND") in predicted_spans(nlp("my Acer screen is fine"))
    nlp = spacy.load(model, exclude=RULERS)
    docs = list(DocBin().from_disk(model.parent / "train.spacy").get_docs(nlp.vocab))
    assert len(docs[0].spans["sc"]) == 2 and not docs[0].ents
    found = predicted_spans(nlp("my Lenovo screen is fine"))
    assert found == [(3, 9, "BRAND"), (3, 16, "TERM")]
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": ["a", "b"], "text": texts[:2], "gold": spans[:2]}).with_columns(
                split=pl.lit("test")
            ),
            kind="spans",
            labels=["TERM", "BRAND"],
            split_column="split",
            label_column="gold",
        )
        row = evaluate(ws, model).summary.row(0, named=True)
    by_hand = span_scores(
        [json.loads(s) for s in spans[:2]],
        [predicted_spans(doc) for doc in nlp.pipe(texts[:2])],
        ["TERM", "BRAND"],
    )
    assert row["method"] == "small model (spancat)"
    assert row["f1"] == pytest.approx(by_hand["micro"]["f1"])


def test_rules_on_another_attribute_are_refused_before_training(tmp_path: Path) -> None:
    rows = pl.DataFrame({"text": ["my Dell screen"] * 12, "spans": ['[[3, 7, "BRAND"]]'] * 12})
    with pytest.raises(InputError, match=r"rules match on LOWER or ORTH, not \['NORM'\]"):
        train_ner(rows, ["BRAND"], tmp_path / "m", rules={"NORM": [{"label": "BRAND"}]})
    assert not (tmp_path / "m").exists()
