"""Rules an LLM proposed, decided through the web reviewer's API: a real server on
127.0.0.1, real HTTP, the proposals made by suggest_lfs against the test server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from labelkit import LabelkitError, Workspace
from labelkit.lf import load_lfs
from labelkit.review.web import create_app
from tests.review.conftest import ATTACK_RULE, PROPOSER, Serve


def pending(client: httpx.Client) -> dict:
    response = client.get("/api/suggestions/next")
    assert response.status_code == 200, response.text
    return response.json()


def decide(client: httpx.Client, suggestion: object, decision: str, **headers: str):
    return client.post(
        "/api/suggestions/decide", json={"id": suggestion, "decision": decision}, headers=headers
    )


def decisions(path: Path) -> list[tuple]:
    with Workspace(path, read_only=True) as ws:
        return ws.sql(
            "SELECT id, decision, file FROM lf_suggestions WHERE decision IS NOT NULL ORDER BY id"
        ).rows()


def test_proposals_come_one_at_a_time_with_their_stored_scores_and_are_decided(
    suggestions_file: Path, serve: Serve, tmp_path: Path
) -> None:
    rules = tmp_path / "spam.rules"
    with serve(suggestions_file, rules=rules) as url, httpx.Client(base_url=url) as client:
        first = pending(client)
        assert first["rules_file"] == "spam.rules"
        assert first["progress"] == {"total": 3, "decided": 0}
        shown = first["suggestion"]
        # subscrib* votes on 4 of 8 texts, d2 also voted ham by kw_song; right on d1 only.
        assert shown["rule"] == "subscrib* -> spam" and shown["model"] == PROPOSER
        assert (shown["coverage"], shown["overlaps"], shown["conflicts"]) == (0.5, 0.125, 0.125)
        assert (shown["correct"], shown["incorrect"], shown["accuracy"]) == (1, 1, 0.5)
        assert shown["accuracy_low"] < 0.5 < shown["accuracy_high"]

        accepted = decide(client, shown["id"], "accept")
        assert accepted.json() == {"appended": "subscrib* -> spam", "rules_file": "spam.rules"}
        again = decide(client, shown["id"], "reject")
        assert again.status_code == 400 and "accepted already" in again.json()["error"]

        second = pending(client)
        assert second["progress"] == {"total": 3, "decided": 1}
        assert second["suggestion"]["rule"] == "check out -> spam"
        assert decide(client, second["suggestion"]["id"], "reject").json()["appended"] is None

        # The hostile rule comes back as the very text the LLM sent, and goes to the file so.
        third = pending(client)["suggestion"]
        assert (third["rule"], third["coverage"], third["accuracy"]) == (ATTACK_RULE, 0.0, None)
        assert decide(client, third["id"], "accept").status_code == 200
        done = pending(client)
        assert done["suggestion"] is None and done["progress"] == {"total": 0, "decided": 0}
    lines = rules.read_text().splitlines()
    assert [line for line in lines if not line.startswith("#")] == [
        "subscrib* -> spam",
        ATTACK_RULE,
    ]
    assert lines[0].startswith(f"# proposed by {PROPOSER}, suggestion {shown['id']}, ")
    assert [lf.name for lf in load_lfs(str(rules))] == ["subscrib* -> spam", ATTACK_RULE]
    assert decisions(suggestions_file) == [
        (shown["id"], "accepted", str(rules)),
        (second["suggestion"]["id"], "rejected", None),
        (third["id"], "accepted", str(rules)),
    ]


def test_without_a_rule_file_proposals_can_be_rejected_not_accepted(
    suggestions_file: Path, serve: Serve
) -> None:
    with serve(suggestions_file) as url, httpx.Client(base_url=url) as client:
        shown = pending(client)
        assert shown["rules_file"] is None
        refused = decide(client, shown["suggestion"]["id"], "accept")
        assert refused.status_code == 409 and "--rules PATH" in refused.json()["error"]
        assert decide(client, shown["suggestion"]["id"], "reject").status_code == 200
    assert decisions(suggestions_file) == [(shown["suggestion"]["id"], "rejected", None)]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"id": 1, "decision": "accept"}, {"Origin": "http://evil.example"}, 403, "refused"),
        ({"id": 1, "decision": "accept"}, {"Sec-Fetch-Site": "cross-site"}, 403, "other web"),
        ({"id": "1", "decision": "accept"}, {}, 400, "id must be"),
        ({"id": True, "decision": "accept"}, {}, 400, "id must be"),
        ({"id": 10**30, "decision": "accept"}, {}, 400, "id must be"),
        ({"id": 1, "decision": "yes"}, {}, 400, "accept or reject"),
        ({"id": 4, "decision": "accept"}, {}, 400, "is malformed: it cannot be decided"),
        ({"id": 99, "decision": "reject"}, {}, 400, "no suggestion 99"),
        ({"id": 1, "decision": "accept", "pad": "x" * 70_000}, {}, 413, "over 65536 bytes"),
    ],
)
def test_refused_decisions_change_nothing(
    suggestions_file: Path,
    serve: Serve,
    tmp_path: Path,
    body: dict,
    headers: dict,
    status: int,
    message: str,
) -> None:
    rules = tmp_path / "spam.rules"
    with serve(suggestions_file, rules=rules) as url, httpx.Client(base_url=url) as client:
        refused = client.post("/api/suggestions/decide", json=body, headers=headers)
        assert refused.status_code == status and message in refused.json()["error"]
        form = client.post("/api/suggestions/decide", data={"id": "1", "decision": "accept"})
        assert form.status_code == 415
    assert decisions(suggestions_file) == [] and not rules.exists()


def test_the_token_guards_the_proposals_too(suggestions_file: Path, serve: Serve) -> None:
    with serve(suggestions_file, token="s3cret") as url, httpx.Client(base_url=url) as client:
        assert client.get("/api/suggestions/next").status_code == 401
        assert decide(client, 1, "reject").status_code == 401
        bearer = {"Authorization": "Bearer s3cret"}
        assert decide(client, 1, "reject", **bearer).status_code == 200
    assert decisions(suggestions_file) == [(1, "rejected", None)]


def test_a_rule_file_in_a_missing_folder_is_refused_at_start(
    suggestions_file: Path, tmp_path: Path
) -> None:
    with Workspace(suggestions_file) as ws, pytest.raises(LabelkitError, match="its folder"):
        create_app(ws, rules=tmp_path / "nowhere" / "spam.rules")
