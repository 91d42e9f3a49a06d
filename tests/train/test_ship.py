from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import spacy

from labelkit import (
    InputError,
    LabelkitError,
    LabelkitWarning,
    Task,
    Workspace,
    aggregate,
    apply_lfs,
    bundled_dataset,
    evaluate,
    ingest,
    load_lfs,
    package_model,
    predict_file,
    predict_frame,
    train_attributes,
    train_on_cleaned,
)
from labelkit.errors import system_error
from labelkit.evaluation import ALL, Evaluation
from labelkit.train import NoTextWarning
from labelkit.train.ship import _evaluation_meta, model_card
from tests.train.conftest import run_installed


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """Two of the bundled YouTube files, labeled by the shipped LFs and majority vote,
    and a small model trained on them."""
    folder = tmp_path_factory.mktemp("trained")
    with Workspace(folder / "ws.duckdb") as ws:
        ingest(
            ws,
            sorted(bundled_dataset().glob("*.csv"))[:2],
            text_column="CONTENT",
            id_column="COMMENT_ID",
            label_column="CLASS",
            label_map={"0": "ham", "1": "spam"},
        )
        apply_lfs(ws, load_lfs("labeling_functions.youtube"))
        aggregate(ws, "majority_vote")
        model = train_on_cleaned(
            ws, folder / "model", model="spacy_textcat_bow", dev_split="dev", max_epochs=5
        )
        yield ws, model


def test_small_model_is_scored_beside_its_teachers(trained: tuple[Workspace, Path]) -> None:
    ws, model = trained
    evaluation = evaluate(ws, model)
    row = evaluation.summary.filter(pl.col("kind") == "small model").row(0, named=True)
    test = ws.sql("SELECT text, gold FROM examples WHERE split = 'test' ORDER BY id")
    nlp = spacy.load(model)
    cats = [doc.cats for doc in nlp.pipe(test["text"])]
    predicted = [max(scores, key=scores.get) for scores in cats]
    accuracy = sum(p == g for p, g in zip(predicted, test["gold"], strict=True)) / test.height
    assert row["accuracy"] == pytest.approx(accuracy)
    # Trial 53b: what a confidence threshold keeps, and how right that is.
    at = evaluation.thresholds.filter(
        (pl.col("method") == row["method"]) & (pl.col("threshold") == 0.7)
    ).row(0, named=True)
    sure = [max(scores.values()) >= 0.7 for scores in cats]
    right = [p == g for p, g, k in zip(predicted, test["gold"], sure, strict=True) if k]
    assert at["kept"] == pytest.approx(sum(sure) / test.height)
    assert at["accuracy_kept"] == pytest.approx(sum(right) / len(right))
    # Trial 58c: no way to find the score of one label that holds a precision.
    label = ws.task.labels[0]
    cut = evaluation.label_thresholds.filter(
        (pl.col("method") == row["method"])
        & (pl.col("label") == label)
        & (pl.col("threshold") == 0.3)
    ).row(0, named=True)
    chosen = [scores[label] >= 0.3 for scores in cats]
    hits = sum(c and g == label for c, g in zip(chosen, test["gold"], strict=True))
    assert cut["flagged"] == sum(chosen)
    assert cut["precision"] == pytest.approx(hits / sum(chosen))
    assert cut["recall"] == pytest.approx(hits / (test["gold"] == label).sum())
    assert row["coverage"] == 1.0 and 0 <= row["ece"] <= 1
    size = sum(f.stat().st_size for f in model.rglob("*") if f.is_file())
    assert row["size_mb"] == size / 1e6
    assert row["words_per_s"] > 1000
    confusion = evaluation.confusion_matrix(row["method"])
    assert confusion.select(pl.exclude("gold")).sum_horizontal().sum() == test.height
    assert f"## Confusion: {row['method']}" in evaluation.markdown()
    train_runs = ws.sql("SELECT config FROM runs WHERE step = 'train'")["config"].to_list()
    assert json.loads(train_runs[0])["dev_split"] == "dev"


def test_package_installs_and_carries_its_evaluation(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    ws, model = trained
    wheel = package_model(
        model, tmp_path / "dist", name="spam_test", evaluation=evaluate(ws, model)
    )
    assert wheel.name == "en_spam_test-0.1.0-py3-none-any.whl"
    site = tmp_path / "site"
    # A fresh interpreter that cannot see labelkit's source: the package stands alone.
    probe = (
        "import json, sys, spacy; nlp = spacy.load('en_spam_test'); "
        "print(json.dumps([nlp('subscribe to my channel').cats, nlp.meta]))"
    )
    cats, meta = run_installed(wheel, site, probe)
    assert cats == spacy.load(model)("subscribe to my channel").cats
    small = evaluate(ws, model).summary.filter(pl.col("kind") == "small model")
    assert meta["performance"]["accuracy"] == pytest.approx(small["accuracy"][0], abs=1e-9)
    # Trial J: the wheel did not require spaCy, and its README showed the words per
    # second as a percentage (x 100).
    shipped = next(r for r in meta["labelkit"]["summary"] if r["kind"] == "small model")
    assert meta["performance"]["speed"] == shipped["words_per_s"] > 0
    # Trial 59d: where the figures were measured, and which sources taught it.
    evaluated_on = meta["labelkit"]["evaluated_on"]
    assert (evaluated_on["workspace_id"], evaluated_on["split"]) == (ws.identity, "test")
    assert (
        evaluated_on["gold_rows"]
        == ws.sql("SELECT count(*) AS n FROM examples WHERE split = 'test' AND gold IS NOT NULL")[
            "n"
        ][0]
    )
    assert (
        meta["trained_from"]["sources"]
        == ws.sql("SELECT name, kind, hash FROM sources ORDER BY name").to_dicts()
    )
    # Evaluated on another workspace's gold, the package says so.
    elsewhere = dataclasses.replace(
        evaluate(ws, model),
        provenance={"workspace": "/there/ws.duckdb", "workspace_id": "another"},
    )
    with pytest.warns(LabelkitWarning, match=r"is evaluated on the gold of another workspace"):
        package_model(
            model, tmp_path / "other", name="spam_test", evaluation=elsewhere, wheel=False
        )
    with zipfile.ZipFile(wheel) as files:
        metadata = files.read("en_spam_test-0.1.0.dist-info/METADATA").decode()
    assert meta["requirements"] == [f"spacy{meta['spacy_version']}"]
    assert "\nRequires-Dist: spacy<" in metadata
    readme = (wheel.parents[1] / "README.md").read_text()
    assert "ACCURACY" in readme and "WORDS_PER_S" not in readme
    methods = {row["method"] for row in meta["labelkit"]["summary"]}
    assert {"majority_vote", "keyword_subscribe", small["method"][0]} <= methods


def test_predict_labels_a_table(trained: tuple[Workspace, Path], tmp_path: Path) -> None:
    _, model = trained
    texts = ["subscribe to my channel http://x.io", "I love this song", "check out my video"]
    source = tmp_path / "new.csv"
    pl.DataFrame({"id": [1, 2, 3], "body": texts}).write_csv(source)
    assert predict_file(model, source, tmp_path / "out.parquet", text_column="body") == 3
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.columns == ["id", "body", "predicted", "confidence", "score_ham", "score_spam"]
    nlp = spacy.load(model)
    for row, doc in zip(out.iter_rows(named=True), nlp.pipe(texts), strict=True):
        assert row["predicted"] == max(doc.cats, key=doc.cats.get)
        assert row["score_spam"] == pytest.approx(doc.cats["spam"])
        assert row["confidence"] == pytest.approx(max(doc.cats.values()))
    # Trial J: one text over spaCy's 1,000,000 characters stopped the whole file; a text
    # classifier has no parser's memory to guard.
    long = "subscribe to my channel " * 45_000
    assert len(long) > nlp.max_length
    for n_process in (1, 2):  # The workers load the model themselves.
        # Trial 58b: one text of 50 MB took 11.8 GB; a classifier reads a text's start.
        with pytest.warns(NoTextWarning, match="1 text is longer than 1,000,000 characters"):
            labeled = predict_frame(
                model, pl.DataFrame({"text": [texts[0], long]}), n_process=n_process
            )
        assert labeled["predicted"].to_list() == [out["predicted"][0], "spam"]
        assert labeled["text"][1] == long, "the row keeps its whole text"

    with pytest.raises(
        InputError,
        match=r"new.csv: no column 'text'; columns are \['id', 'body'\] \(choose one with",
    ):
        predict_file(model, source, tmp_path / "out.csv")
    # Trial J: a column named in the wrong case got no hint.
    with pytest.raises(InputError, match=r"\['id', 'body'\] \(did you mean 'body'\?\)$"):
        predict_file(model, source, tmp_path / "out.csv", text_column="Body")
    clash = tmp_path / "clash.csv"
    pl.DataFrame({"text": ["a"], "predicted": ["b"]}).write_csv(clash)
    with pytest.raises(InputError, match=r"already has columns \['predicted'\]"):
        predict_file(model, clash, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists(), "nothing is written for bad input"
    # Trial 46: the clash was found only once a block (a whole CSV) had been labeled; it
    # is found in the header, before any row is read (this one's texts are numbers).
    header_clash = tmp_path / "clash.parquet"
    pl.DataFrame({"text": [1], "predicted": ["b"]}).write_parquet(header_clash)
    with pytest.raises(InputError, match=r"already has columns \['predicted'\]"):
        predict_file(model, header_clash, tmp_path / "out.csv")
    with pytest.raises(InputError, match=r"out.txt: write predictions to .csv, .tsv, .jsonl or"):
        predict_file(model, source, tmp_path / "out.txt", text_column="body")
    # Trial J: TSV was read but could not be written.
    assert predict_file(model, source, tmp_path / "out.tsv", text_column="body") == 3
    written = pl.read_csv(tmp_path / "out.tsv", separator="\t", infer_schema=False)
    assert written.select("id", "predicted").rows() == out.select("id", "predicted").rows()
    # The training folder, not the model in it: say which folder to give.
    with pytest.raises(LabelkitError, match=r"is the folder `labelkit train` wrote; give the"):
        predict_file(model.parent, source, tmp_path / "out.csv", text_column="body")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LabelkitError, match=r"no trained model at .*empty \(no meta.json"):
        predict_file(empty, source, tmp_path / "out.csv", text_column="body")
    # Trial 49c: a package name never installed was told of a missing meta.json.
    with pytest.raises(LabelkitError, match=r"no folder and no installed model package named"):
        predict_file("en_nothing", source, tmp_path / "out.csv", text_column="body")
    # Trial J: the folder --frontier wrote said only "no meta.json there", and a package's
    # source folder (a meta.json, no config.cfg) was spaCy's E053 traceback.
    frontier = tmp_path / "frontier"
    for name in ("bow", "ngrams"):
        shutil.copytree(model, frontier / name / "model-best")
    with pytest.raises(
        LabelkitError,
        match=r"frontier holds 2 trained models \(`labelkit train --frontier`\); give one of "
        r"them: .*frontier/bow/model-best, .*frontier/ngrams/model-best$",
    ):
        predict_file(frontier, source, tmp_path / "out.csv", text_column="body")
    # Trial 53b: a demo's folder, with one model in it, was called a frontier's.
    demo = tmp_path / "demo"
    shutil.copytree(model, demo / "model" / "model-best")
    with pytest.raises(
        LabelkitError, match=r"demo holds a trained model in a folder of its own; give it: "
    ):
        predict_file(demo, source, tmp_path / "out.csv", text_column="body")
    packaged = package_model(model, tmp_path / "dist", name="spam_src", wheel=False)
    with pytest.raises(
        LabelkitError,
        match=r"en_spam_src-0.1.0 is the source folder of a model package; give the model "
        r"inside it: .*en_spam_src/en_spam_src-0.1.0, or install",
    ):
        predict_file(packaged, source, tmp_path / "out.csv", text_column="body")


def test_a_package_made_before_is_replaced_only_when_asked(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    _, model = trained
    dist = tmp_path / "dist"
    first = package_model(model, dist, name="spam", wheel=False)
    (first / "shipped.txt").write_text("the version users installed")
    with pytest.raises(
        InputError,
        match=r"en_spam-0.1.0 exists: a package spam 0.1.0 was made there before; give "
        r"another version \(--version\), or --force to replace it",
    ):
        package_model(model, dist, name="spam", wheel=False)
    assert (first / "shipped.txt").read_text() == "the version users installed"
    assert package_model(model, dist, name="spam", version="0.2.0", wheel=False).is_dir()
    # Trial 53b: 1.0-beta named the folder so and the wheel 1.0b0.
    assert package_model(model, dist, name="spam", version="1.0-beta", wheel=False).name == (
        "en_spam-1.0b0"
    )
    # Trial 55a: an identifier to Python, not a name to pip, which failed mid-build.
    with pytest.raises(InputError, match=r"of ASCII letters, .* e\.g\. clasificacion_soporte"):
        package_model(model, dist, name="clasificación_soporte", wheel=False)
    assert not list(dist.glob("en_clasif*"))
    command = [sys.executable, "-m", "labelkit", "package", model, dist, "--name", "spam"]
    refused = subprocess.run([*command, "--no-wheel"], capture_output=True, text=True)
    assert refused.returncode != 0 and "--force to replace it" in refused.stderr
    replaced = subprocess.run([*command, "--no-wheel", "--force"], capture_output=True, text=True)
    assert replaced.returncode == 0, replaced.stderr
    assert f"package: {first}" in " ".join(replaced.stdout.split())


def test_predict_gives_rows_without_text_null_predictions_in_their_place(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    _, model = trained
    holes = tmp_path / "holes.jsonl"
    holes.write_text(
        '{"id": 1, "text": "subscribe to my channel"}\n{"id": 2, "text": null}\n'
        '{"id": 3, "text": ""}\n{"id": 4, "text": " \\t\\n"}\n{"id": 5, "text": "great song"}\n'
    )
    with pytest.warns(NoTextWarning, match=r"holes.jsonl: 3 rows have no text"):
        assert predict_file(model, holes, tmp_path / "out.parquet") == 5
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out["id"].to_list() == [1, 2, 3, 4, 5]
    added = ["predicted", "confidence", "score_ham", "score_spam"]
    assert out.filter(pl.col("id").is_in([2, 3, 4])).select(added).null_count().row(0) == (3,) * 4
    expected = predict_frame(
        model, pl.DataFrame({"text": ["subscribe to my channel", "great song"]})
    )
    assert (
        out.filter(pl.col("predicted").is_not_null()).select(added).equals(expected.select(added))
    )
    # In CSV the missing and the empty text read alike: both get empty predictions.
    pl.read_ndjson(holes).write_csv(tmp_path / "holes.csv")
    labeled = subprocess.run(
        [sys.executable, "-m", "labelkit", "predict", model, "holes.csv", "out.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert labeled.returncode == 0, labeled.stderr
    assert "note: holes.csv: 3 rows have no text" in labeled.stderr
    assert "5 rows labeled into out.csv" in labeled.stdout
    # Trial J: piped, the progress bar drew nothing and left a blank line.
    assert "predicting holes.csv: 5 of 5 (100%)" in labeled.stderr.splitlines()
    assert "" not in labeled.stderr.splitlines() + labeled.stdout.splitlines()
    # Trial 53b: a pipe was refused ("/dev/stdin: no such file").
    streamed = subprocess.run(
        [sys.executable, "-m", "labelkit", "predict", model, "-", "-"],
        input=holes.read_text(),
        capture_output=True,
        text=True,
    )
    assert streamed.returncode == 0, streamed.stderr
    lines = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert [line["predicted"] for line in lines] == out["predicted"].to_list()
    assert "5 rows labeled into stdout" in streamed.stderr
    # Trial 53e: plain lines on stdin named a temporary file.
    plain = subprocess.run(
        [sys.executable, "-m", "labelkit", "predict", model, "-", "-"],
        input="great song\n",
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 1
    assert plain.stderr.startswith("error: stdin line 1: malformed JSON")
    assert "one object with a 'text' field per line" in plain.stderr
    written = pl.read_csv(tmp_path / "out.csv")
    assert written["predicted"].to_list() == [
        expected["predicted"][0],
        None,
        None,
        None,
        expected["predicted"][1],
    ]


def test_predict_writes_an_input_s_nested_columns_to_csv(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    # Trial 45: a Parquet input with its gold as a list of labels was labeled whole, then
    # lost to polars' "CSV format does not support nested data".
    _, model = trained
    source = tmp_path / "new.parquet"
    pl.DataFrame(
        {
            "text": ["subscribe to my channel", "I love this song"],
            "labels": [["spam", "promo"], []],
            "meta": [{"user": "a", "likes": 3}, {"user": "b", "likes": None}],
            "pairs": [[[1, 2]], None],
            "days": [[date(2024, 1, 1)], []],
        }
    ).write_parquet(source)
    assert predict_file(model, source, tmp_path / "out.csv") == 2
    out = pl.read_csv(tmp_path / "out.csv")
    # As JSON, as ingest reads a set of labels (trial 49a: "spam|promo" it refused).
    assert out["labels"].to_list() == ['["spam", "promo"]', "[]"]
    assert [json.loads(m) for m in out["meta"]] == [
        {"user": "a", "likes": 3},
        {"user": "b", "likes": None},
    ]
    assert out["pairs"].to_list() == ["[[1, 2]]", None]
    # A list of dates failed "not JSON serializable" (the second read of this stop).
    assert out["days"].to_list() == ['["2024-01-01"]', "[]"]
    assert (
        out["predicted"].to_list()
        == predict_frame(model, pl.read_parquet(source))["predicted"].to_list()
    )


def test_predictions_from_a_semicolon_csv_keep_its_separator_mark_and_decimal_commas(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    # Trial 55a: a `;` file from Excel in Spain came back with commas and decimal points,
    # which that Excel shows as one column of text.
    _, model = trained
    source = tmp_path / "nuevos.csv"
    source.write_bytes(
        '\ufeffid;texto;importe\n1;subscribe to my channel;12,50\n2;"great song; really";3,00\n'.encode()
    )
    assert predict_file(model, source, tmp_path / "out.csv", text_column="texto") == 2
    written = (tmp_path / "out.csv").read_bytes()
    assert written.startswith("\ufeffid;texto;importe;predicted;confidence;".encode())
    assert written.count("\ufeff".encode()) == 1
    out = pl.read_csv(tmp_path / "out.csv", separator=";", decimal_comma=True)
    expected = predict_frame(
        model, pl.DataFrame({"text": ["subscribe to my channel", "great song; really"]})
    )
    assert out["texto"].to_list() == ["subscribe to my channel", "great song; really"]
    assert out["importe"].to_list() == [12.5, 3.0]
    assert b";12,50;" in written
    assert out["predicted"].to_list() == expected["predicted"].to_list()
    assert out["confidence"].to_list() == pytest.approx(expected["confidence"].to_list())
    # Trial 59c: a Windows code page file came back as UTF-8 with no mark, which the
    # Excel that wrote it read as its code page ("KÃ¼che"): now it gets a mark.
    (tmp_path / "cp1252.csv").write_bytes("id;text\n1;Küche zu laut\n".encode("cp1252"))
    predict_file(model, tmp_path / "cp1252.csv", tmp_path / "back.csv", encoding="cp1252")
    assert (tmp_path / "back.csv").read_bytes().startswith("\ufeffid;text;".encode())
    assert "Küche zu laut" in (tmp_path / "back.csv").read_text(encoding="utf-8-sig")
    # A comma CSV, and a CSV from another format, keep commas, points and no mark.
    pl.DataFrame({"text": ["great song"]}).write_csv(tmp_path / "plain.csv")
    pl.DataFrame({"text": ["great song"]}).write_parquet(tmp_path / "plain.parquet")
    for name in ("plain.csv", "plain.parquet"):
        predict_file(model, tmp_path / name, tmp_path / "plain_out.csv")
        text = (tmp_path / "plain_out.csv").read_text(encoding="utf-8")
        assert text.startswith("text,predicted,confidence,")
        assert "." in text.splitlines()[1].split(",")[2]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm", "sigterm to the group"])
def test_ctrl_c_or_sigterm_stops_predict_s_workers_at_once(tmp_path: Path, stop: str) -> None:
    # Trial 46: after Ctrl-C the workers labeled every block read ahead first, a minute
    # on 240k rows, before predict ended. Trial 54c: killed mid-send, a worker left the
    # pool waiting forever after Ctrl-C; and `kill PID` left both workers running.
    reviews = ["the food was great", "the staff was rude", "slow service", "fine wine"] * 25
    rows = pl.DataFrame(
        {
            "id": [str(i) for i in range(100)],
            "text": reviews,
            "attribute": "food",
            "label": ["positive", "none", "none", "positive"] * 25,
        }
    )
    task = Task(("positive", "negative"), kind="aspects", attributes=("food",))
    model = train_attributes(rows, task, tmp_path / "model")
    texts = [" ".join(reviews[:4] * 5)] * 300_000
    pl.DataFrame({"text": texts}).write_parquet(tmp_path / "in.parquet")
    command = [
        sys.executable,
        "-m",
        "labelkit",
        "predict",
        str(model),
        str(tmp_path / "in.parquet"),
    ]
    command += [str(tmp_path / "out.csv"), "--jobs", "2"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        started = time.monotonic()
        while len(_children(process.pid)) < 2 and time.monotonic() - started < 120:
            time.sleep(0.2)
        workers = _children(process.pid)
        assert len(workers) == 2, "the two workers never started"
        time.sleep(3)  # at work on the first block
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # as a terminal does: every process
        elif stop == "sigterm":
            process.send_signal(signal.SIGTERM)  # as `kill PID` does: the main one
        else:
            # As systemd and Docker do. The second read of stop 54: the workers had the
            # parent's handler, and each printed a traceback.
            os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == (130 if stop == "ctrl-c" else 143), stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not [pid for pid in workers if _running(pid)], "a worker outlived predict"
    # Trial 49c: predict was told that "no step had finished" and of LLM answers.
    assert "interrupted: nothing was written to" in " ".join(stderr.split())
    assert "no step had finished" not in stderr
    assert not (tmp_path / "out.csv").exists()


def _children(pid: int) -> list[str]:
    found = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return found.stdout.split()


def _running(pid: str) -> bool:
    """Whether process ``pid`` exists and is no zombie (an exited child left unreaped)."""
    state = subprocess.run(["ps", "-p", pid, "-o", "stat="], capture_output=True, text=True)
    return bool(state.stdout.strip()) and not state.stdout.strip().startswith("Z")


def test_predict_refuses_to_write_over_its_input(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    _, model = trained
    source = tmp_path / "new.csv"
    source.write_text("text\nsubscribe to my channel\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(source)
    for output in (source, tmp_path / "sub" / ".." / "new.csv", tmp_path / "link.csv"):
        with pytest.raises(
            InputError, match=r"is the input file .*new.csv: write the predictions to another"
        ):
            predict_file(model, source, output)
    assert source.read_text() == "text\nsubscribe to my channel\n"
    refused = subprocess.run(
        [sys.executable, "-m", "labelkit", "predict", model, "new.csv", "./new.csv"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert "error: new.csv is the input file new.csv" in refused.stderr
    assert source.read_text() == "text\nsubscribe to my channel\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["link.csv", "new.csv", "sub"]


def test_predict_labels_a_frame(
    trained: tuple[Workspace, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, model = trained
    texts = ["subscribe to my channel http://x.io", "I love this song", "check out my video"]
    frame = pl.DataFrame({"id": [1, 2, 3], "body": texts})
    capsys.readouterr()
    predicted = predict_frame(model, frame, text_column="body")
    # Trial 53b: a service labeling a request at a time printed a progress line each.
    assert capsys.readouterr().err == ""
    frame.write_csv(tmp_path / "new.csv")
    predict_file(model, tmp_path / "new.csv", tmp_path / "out.parquet", text_column="body")
    # The CSV reads the ids back as strings; the rest is the same.
    assert predicted.drop("id").equals(pl.read_parquet(tmp_path / "out.parquet").drop("id"))
    nlp = spacy.load(model)
    from_pandas = predict_frame(nlp, frame.to_pandas(), text_column="body")
    # Trial 45: a pandas frame indexed by its ids came back without them.
    indexed = predict_frame(nlp, frame.to_pandas().set_index("id"), text_column="body")
    assert indexed.drop("id").equals(from_pandas.drop("id"))
    assert indexed["id"].to_list() == [1, 2, 3]
    sliced = predict_frame(nlp, frame.to_pandas().iloc[1:], text_column="body")
    assert sliced.columns == from_pandas.columns, "a slice's unnamed index is no column"
    assert from_pandas["predicted"].to_list() == predicted["predicted"].to_list()
    assert predicted["predicted"].to_list()[1] == "ham"
    # A threshold of 5 ran on, and no label reached it.
    for bad in (-0.1, 5.0):
        with pytest.raises(InputError, match=rf"threshold must be from 0 to 1 .*, got {bad}"):
            predict_frame(nlp, frame, text_column="body", threshold=bad)
        with pytest.raises(InputError, match=rf"threshold must be from 0 to 1 .*, got {bad}"):
            predict_file(model, tmp_path / "new.csv", tmp_path / "x.csv", threshold=bad)
    assert not (tmp_path / "x.csv").exists()
    # Trial 51b: a single-label model's file came out the same at 0.01 and 0.99.
    with pytest.raises(InputError, match="answers one label per text, the most probable: a "):
        predict_frame(nlp, frame, text_column="body", threshold=0.9)
    long = pl.DataFrame({"text": ["fine", "x" * (nlp.max_length + 1)]})
    with pytest.raises(InputError, match=r"frame row 2, column 'text': the text is longer"):
        predict_frame(nlp, long)
    # Trial 53b: a file's numbers were scored as their digits, confidently; a pandas
    # column of texts and numbers failed in pyarrow, naming no column.
    (tmp_path / "numbers.jsonl").write_text('{"text": "fine song"}\n{"text": 12345}\n')
    with pytest.raises(InputError, match=r"numbers.jsonl line 2: 'text' is 12345, not a string"):
        predict_file(model, tmp_path / "numbers.jsonl", tmp_path / "y.csv")
    mixed = pd.DataFrame({"text": ["fine song", 12345]})
    with pytest.raises(InputError, match=r"column 'text' of the pandas frame mixes types"):
        predict_frame(nlp, mixed)


def test_predict_in_worker_processes_writes_what_one_process_does(
    trained: tuple[Workspace, Path], tmp_path: Path
) -> None:
    """Rows streamed from Parquet in blocks of 400, labeled in two workers and in this
    process: the same files, row for row."""
    _, model = trained
    comments = pl.read_csv(sorted(bundled_dataset().glob("*.csv"))[2], columns=["CONTENT"])
    n = 1_234
    texts = comments["CONTENT"].gather([i % comments.height for i in range(n)])
    pl.DataFrame({"id": range(n), "text": texts}).write_parquet(tmp_path / "in.parquet")
    written = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.parquet"
        rows = predict_file(model, tmp_path / "in.parquet", out, n_process=workers, batch_size=400)
        assert rows == n
        written[workers] = out.read_bytes()
    assert written[1] == written[2]
    labeled = pl.read_parquet(tmp_path / "out2.parquet")
    assert labeled["id"].to_list() == list(range(n))
    expected = predict_frame(model, pl.DataFrame({"text": texts[:50]}), n_process=1)
    assert labeled.head(50).drop("id").equals(expected)
    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.jsonl", batch_size=400)
    assert pl.read_ndjson(tmp_path / "out.jsonl").equals(labeled)
    with pytest.raises(InputError, match=r"n_process \(--jobs\) must be at least 1"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "x.csv", n_process=0)
    assert not (tmp_path / "x.csv").exists()
    # Trial 49c: a folder that refuses files (sysfs refuses even root) ended in a
    # traceback whose cause the cleanup's own failure masked.
    refused = Path("/sys/labelkit-test/out.csv")
    with pytest.raises(InputError, match=f"cannot write the predictions to {refused}: "):
        predict_file(model, tmp_path / "in.parquet", refused)


def test_a_polars_write_error_is_read_for_its_errno() -> None:
    # Trial 68b: a full disk under predict said "No space left on device (os error 28)",
    # without the path: polars' errors carry no errno, so it was not known for a write
    # error.
    assert system_error(OSError("No space left on device (os error 28)")) == (
        errno.ENOSPC,
        "No space left on device",
    )
    assert system_error(OSError(errno.EROFS, "Read-only file system")) == (
        errno.EROFS,
        "Read-only file system",
    )
    assert system_error(OSError("the network went away")) == (None, "the network went away")


def test_a_multilabel_models_card_gives_its_answers_and_the_figures_over_all_labels() -> None:
    # Trial 68c: the card of a tagger said "A text classifier" whose answers() give "the
    # most probable label of each", and only the accuracy and macro-F1 over yes and no
    # (0.889, 0.878) of a model right on every tag of 40% of the texts.
    summary = pl.DataFrame(
        {
            "method": ["small model (n-grams)"] * 3,
            "kind": ["small model"] * 3,
            "attribute": ["billing", ALL, "bug"],
            "accuracy": [0.95, 0.889, 0.83],
            "macro_f1": [0.9, 0.878, 0.8],
            "micro_f1": [None, 0.775, None],
            "exact_match": [None, 0.403, None],
            "ece": [0.05, 0.04, 0.03],
            "words_per_s": [50_000.0] * 3,
        }
    )
    evaluation = Evaluation(summary, pl.DataFrame({"method": []}), pl.DataFrame())
    performance = _evaluation_meta(evaluation)["performance"]
    assert performance == {
        "accuracy": 0.889,
        "macro_f1": 0.878,
        "micro_f1": 0.775,
        "exact_match": 0.403,
        "ece": 0.04,
        "speed": 50_000.0,
    }
    card = model_card(
        {
            "performance": performance,
            "labelkit": {
                "task": {"kind": "multilabel", "labels": ["billing", "bug"]},
                "labels": ["billing", "bug"],
                "evaluated_on": {"split": "test", "gold_rows": 300, "workspace": "t.duckdb"},
            },
        },
        "en_tags",
    )
    assert 'model.answers(["a text to label"])  # per text, "yes" or "no" for each label' in card
    assert (
        "micro-F1 (over the labels given) 0.775, exact match (texts right on every label) "
        "0.403, accuracy 0.889, macro-F1 0.878, ECE 0.040"
    ) in card
