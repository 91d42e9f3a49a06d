"""The web reviewer's API on a spans task: one span of a text per item."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from labelkit import Workspace
from tests.review.conftest import Serve, at, bounds


def test_a_span_item_comes_with_its_bounds_other_spans_and_tokens_and_takes_new_bounds(
    spans_file: Path, serve: Serve
) -> None:
    with serve(spans_file) as url, httpx.Client(base_url=url) as client:
        config = client.get("/api/config").json()
        assert config["kind"] == "spans" and config["attributes"] == []
        assert config["answers"] == ["TERM", "BRAND", "none"]
        assert config["actions"][-2:] == ["fix", "missed"]
        answer = client.post("/api/next", json={"reviewer": "ana"}).json()
        item = answer["item"]
        assert item["question"] == 'Is "battery" TERM? (the current label)'
        assert item["span"] == {"start": 10, "end": 17}
        assert item["spans"] == [{"start": 32, "end": 38, "source": "current", "label": "TERM"}]
        assert item["tokens"][5:7] == [[10, 17], [18, 22]]
        assert answer["progress"]["queued"] == 4 and "attributes" not in answer["progress"]
        post = {"reviewer": "ana", "example_id": "s1", "attribute": bounds("s1", "battery")}
        for bad, error in [
            ({"action": "fix", "start": "10", "end": 22}, "start must be a character offset"),
            ({"action": "fix", "start": 10, "end": True}, "end must be a character offset"),
            ({"action": "missed", "start": 18, "end": 22}, "a missed span needs its label"),
            ({"action": "fix", "start": 10, "end": 17}, "are the span's own"),
            ({"action": "fix", "attribute": "17:10", "start": 0, "end": 1}, "start < end"),
        ]:
            refused = client.post("/api/answer", json={**post, **bad})
            assert refused.status_code in (400, 404), refused.text
            assert error in refused.json()["error"]
        fixed = client.post(
            "/api/answer", json={**post, "action": "fix", "start": 10, "end": 22, "seconds": 3}
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["progress"]["reviewed"] == 1
        item = client.post("/api/next", json={"reviewer": "ana"}).json()["item"]
        assert item["example_id"] == "s3"
        missed = client.post(
            "/api/answer",
            json={
                "reviewer": "ana",
                "example_id": "s3",
                "attribute": item["attribute"],
                "action": "missed",
                "label": "TERM",
                "start": at("s3", "dim")[0],
                "end": at("s3", "dim")[1],
            },
        )
        assert missed.status_code == 200, missed.text
        again = client.post("/api/next", json={"reviewer": "ana"}).json()["item"]
        assert again["attribute"] == item["attribute"], "a missed span leaves the item"
        assert {"start": 15, "end": 18, "source": "current", "label": "TERM"} in again["spans"]
        summary = client.get("/api/summary").json()
        # One row per label, not per span: TERM was given 4 times, corrected away once,
        # and given twice by reviewers (the new bounds and the missed span).
        assert summary["per_label"] == [
            {"label": "TERM", "queued": 4, "reviewed": 1, "corrected_away": 1, "reviewed_as": 2},
            {"label": "none", "queued": 0, "reviewed": 0, "corrected_away": 0, "reviewed_as": 1},
        ]
    with Workspace(spans_file, read_only=True) as ws:
        rows = ws.sql(
            "SELECT example_id, attribute, action, label FROM decisions ORDER BY decision_id"
        ).rows()
    assert rows == [
        ("s1", "10:17", "fix", "none"),
        ("s1", "10:22", "fix", "TERM"),
        ("s3", "15:18", "missed", "TERM"),
    ]


def test_the_summary_pages_download_is_the_cleaned_spans(spans_file: Path, serve: Serve) -> None:
    # It answered 409 "use cleaned_spans": the page's download links did nothing on spans.
    with serve(spans_file) as url, httpx.Client(base_url=url) as client:
        post = {"reviewer": "ana", "example_id": "s1", "attribute": bounds("s1", "battery")}
        fixed = client.post("/api/answer", json={**post, "action": "fix", "start": 10, "end": 22})
        assert fixed.status_code == 200, fixed.text
        exported = client.get("/api/export", params={"format": "jsonl"})
        assert exported.status_code == 200, exported.text
        rows = {r["id"]: r for r in map(json.loads, exported.text.splitlines())}
        table = client.get("/api/export", params={"format": "csv"})
        assert table.status_code == 200, table.text
    assert rows["s1"]["spans"] == [[10, 22, "TERM"], [32, 38, "TERM"]], "the fix is applied"
    assert rows["s3"]["spans"] == [[0, 4, "TERM"], [5, 11, "TERM"]]
    assert set(rows) == {"s1", "s2", "s3"}
    assert table.text.splitlines()[0] == "id,text,spans"
