from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import polars as pl
import pytest

from labelkit import Workspace
from tests.review.conftest import ATTACK, TEXTS, Serve


def next_item(client: httpx.Client, reviewer: str, **params: str) -> dict:
    response = client.post("/api/next", json={"reviewer": reviewer, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_items_are_claimed_reloads_show_the_same_one_and_answers_land_in_duckdb(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        first = next_item(client, "ana")["item"]
        assert first["example_id"] == "w01" and first["suggested_label"] == "spam"
        assert (first["candidate"], first["question"]) == ("spam", "Is this spam? (currently ham)")
        assert [(s["start"], s["end"], s["source"]) for s in first["spans"]] == [
            (0, 9, "kw_subscribe")
        ]
        assert first["votes"] == {"kw_subscribe": "spam"}
        assert next_item(client, "ana")["item"]["example_id"] == "w01", "a reload shows it again"
        assert next_item(client, "bo")["item"]["example_id"] == "w02", "never two at once"
        blank = client.post("/api/next", json={"reviewer": "   "})
        assert blank.status_code == 400 and "give your name" in blank.json()["error"]
        # Trial 49b: the page refused names the terminal took; the same rule now.
        assert client.post("/api/undo", json={"reviewer": "ana+qa@example.com (QA)"}).is_success
        control = client.post("/api/next", json={"reviewer": "eve\x1b[2J"})
        assert control.status_code == 400 and "no control character" in control.json()["error"]
        # "a" stores the candidate the page showed, and only that.
        stale = {"reviewer": "ana", "example_id": "w01", "action": "accept", "label": "ham"}
        refused = client.post("/api/answer", json=stale)
        assert refused.status_code == 400
        assert "now asks about 'spam', not 'ham'" in refused.json()["error"]
        saved = client.post(
            "/api/answer",
            json={
                "reviewer": "ana",
                "example_id": "w01",
                "action": "accept",
                "label": "spam",
                "seconds": 2.5,
            },
        ).json()
        assert saved["progress"] == {
            "queued": 12,
            "reviewed": 1,
            "skipped": 0,
            "remaining": 11,
            "errors_found": 1,
            "errors_per_100": 100.0,
        }
        assert next_item(client, "ana")["item"]["example_id"] == "w03"
        client.post(
            "/api/answer",
            json={
                "reviewer": "ana",
                "example_id": "w03",
                "action": "label",
                "label": "ham",
                "comment": "a fan, not spam",
            },
        )
        assert client.post("/api/undo", json={"reviewer": "ana"}).json()["undone"] == "w03"
        assert next_item(client, "ana")["item"]["example_id"] == "w03", "undo shows it again"
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, reviewer, action, label, seconds, comment, undoes "
            "FROM decisions ORDER BY decision_id"
        ).rows()
    assert decisions == [
        ("w01", "ana", "accept", "spam", 2.5, None, None),
        ("w03", "ana", "label", "ham", 0.0, "a fan, not spam", None),
        ("w03", "ana", "undo", None, 0.0, None, 2),
    ]


def test_focus_mode_asks_about_one_label(review_workspace: Path, serve: Serve) -> None:
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        shown = next_item(client, "ana", focus="ham")
        item = shown["item"]
        assert (item["example_id"], item["suggested_label"]) == ("w02", "ham")
        assert item["question"] == "Is this ham? (currently spam)"
        # Progress counts the six items suggested as ham, not the whole queue.
        assert (shown["progress"]["queued"], shown["progress"]["remaining"]) == (6, 6)
        saved = client.post(
            "/api/answer",
            json={"reviewer": "ana", "example_id": "w02", "action": "reject", "focus": "ham"},
        ).json()
        assert saved["progress"] == {
            "queued": 6,
            "reviewed": 1,
            "skipped": 0,
            "remaining": 5,
            "errors_found": 0,
            "errors_per_100": 0.0,
        }
        bad = client.post("/api/next", json={"reviewer": "ana", "focus": "eggs"})
        assert bad.status_code == 400 and "focus label 'eggs'" in bad.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"example_id": "w01", "action": "accept"}', 400, "reviewer: give your name"),
        (b'{"reviewer": "x\\u0007", "example_id": "w01", "action": "accept"}', 400, "reviewer"),
        (b'{"reviewer": "ana", "action": "accept"}', 400, "example_id must be"),
        (b'{"reviewer": "ana", "example_id": "w01", "action": "maybe"}', 400, "unknown action"),
        (
            b'{"reviewer": "ana", "example_id": "nope", "action": "accept"}',
            404,
            "not in the review",
        ),
        (
            b'{"reviewer": "ana", "example_id": "w01", "action": "label", "label": "eggs"}',
            400,
            "review label 'eggs'",
        ),
        (
            b'{"reviewer": "ana", "example_id": "w01", "action": "accept", "seconds": -1}',
            400,
            "seconds must be",
        ),
        (
            b'{"reviewer": "ana", "example_id": "w01", "action": "accept", "seconds": NaN}',
            400,
            "seconds must be a finite number",
        ),
        (b'{"reviewer": "ana", "pad": "' + b"x" * 70_000 + b'"}', 413, "request body over"),
        # Trial 54d: a lone surrogate ended in a 500 from DuckDB.
        (
            b'{"reviewer": "ana", "example_id": "\\ud800", "action": "skip"}',
            400,
            "lone surrogate",
        ),
        (b'{"reviewer": "ana\\u200b", "example_id": "w01", "action": "skip"}', 400, "invisible"),
    ],
)
def test_malformed_requests_get_4xx_with_a_clear_message_and_change_nothing(
    review_workspace: Path, serve: Serve, body: bytes, status: int, message: str
) -> None:
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/api/answer", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == status
        assert message in response.json()["error"]
        assert client.get("/api/nowhere").status_code == 404
        assert client.get("/api/answer").status_code == 405
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT count(*) AS n FROM decisions")["n"][0] == 0


def test_a_token_guards_every_request(review_workspace: Path, serve: Serve) -> None:
    with serve(review_workspace, token="s3cret") as url:
        with httpx.Client(base_url=url) as stranger:
            for path in ("/api/config", "/api/export", "/api/summary"):
                assert stranger.get(path).status_code == 401, path
            assert stranger.post("/api/next", json={"reviewer": "eve"}).status_code == 401
            wrong = stranger.get("/api/config", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            # The page and its scripts hold no data: they open without it, and the
            # page reads the token from its link.
            for path in ("/", "/summary", "/static/app.js"):
                assert stranger.get(path).status_code == 200, path
        with httpx.Client(base_url=url) as reviewer:
            page = reviewer.get("/", params={"token": "s3cret"})
            assert page.status_code == 200 and "labelkit review" in page.text
            # Trial 49b: a cookie went to every port of the host, and any server there
            # could replay it; there is none now.
            assert "set-cookie" not in page.headers and not reviewer.cookies
            assert reviewer.get("/api/config").status_code == 401
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer s3cret"}) as script:
            assert script.get("/api/config").json()["labels"] == ["ham", "spam"]
        # Trial 29: the scheme is case-insensitive (RFC 9110), and "bearer" was refused.
        for scheme in ("bearer", "BEARER"):
            with httpx.Client(base_url=url, headers={"Authorization": f"{scheme} s3cret"}) as c:
                assert c.get("/api/config").status_code == 200, scheme
        basic = httpx.get(f"{url}/api/config", headers={"Authorization": "Basic s3cret"})
        assert basic.status_code == 401
        # The page's header leaves Authorization to a proxy's own login (the second read
        # of trial 68a: a Bearer from the page replaced the proxy's Basic credentials).
        for sent, status in (("s3cret", 200), ("s3cre", 401)):
            page = httpx.get(
                f"{url}/api/config",
                headers={"Authorization": "Basic dXNlcjpwYXNz", "X-Labelkit-Token": sent},
            )
            assert page.status_code == status, sent


def test_pages_forbid_inline_scripts_and_text_comes_back_as_data(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        # Trial 54d: framing refused in browsers without frame-ancestors, and no form
        # of the page may post anywhere.
        assert page.headers["x-frame-options"] == "DENY"
        assert "form-action 'none'" in page.headers["content-security-policy"]
        for escape in ("/static/%2e%2e/web.py", "/static/..%2fweb.py", "/static/%2e%2e%2fqueue.py"):
            assert client.get(escape).status_code == 404, escape
        for example_id, *_ in TEXTS[:10]:
            client.post(
                "/api/answer",
                json={"reviewer": "ana", "example_id": example_id, "action": "skip"},
            )
        attack = next_item(client, "ana")["item"]
        assert attack["example_id"] == "w11" and attack["text"] == ATTACK


def test_summary_counts_every_answer_equal_to_the_suggestion_as_right(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        for example_id, action, label in [
            ("w01", "label", "spam"),  # the suggestion, by number key
            ("w02", "accept", None),
            ("w03", "skip", None),
        ]:
            answer = {"reviewer": "ana", "example_id": example_id, "action": action}
            client.post("/api/answer", json=answer | {"label": label}).raise_for_status()
        stats = client.get("/api/summary").json()["stats"]
    assert (stats["answered"], stats["skipped"], stats["suggested_right"]) == (2, 1, 1.0)


def test_summary_and_export_of_the_cleaned_set(review_workspace: Path, serve: Serve) -> None:
    formula = '=HYPERLINK("http://evil.example","great video")'
    with Workspace(review_workspace) as ws:
        ws.con.execute("UPDATE examples SET text = ? WHERE id = 'w04'", [formula])
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        answers = [
            ("ana", "w01", "accept"),
            ("ana", "w02", "reject"),
            ("bo", "w01", "accept"),
            ("bo", "w02", "accept"),
            ("bo", "w03", "ambiguous"),
        ]
        for reviewer, example_id, action in answers:
            client.post(
                "/api/answer",
                json={"reviewer": reviewer, "example_id": example_id, "action": action},
            )
        summary = client.get("/api/summary").json()
        assert summary["stats"]["reviewed"] == 3 and summary["stats"]["errors_found"] == 2
        assert summary["agreement"] == [
            {"reviewer_a": "ana", "reviewer_b": "bo", "items": 2, "agreement": 0.5, "kappa": 0.0}
        ]
        per_label = {row["label"]: row for row in summary["per_label"]}
        assert per_label["spam"]["reviewed_as"] == 1 and per_label["ham"]["reviewed_as"] == 1
        exported = client.get("/api/export", params={"format": "jsonl"})
        assert exported.headers["content-disposition"] == 'attachment; filename="cleaned.jsonl"'
        rows = {r["id"]: r for r in map(json.loads, exported.text.splitlines())}
        # The CSV is for a spreadsheet, which would run the text as a formula (trial 61d).
        table = pl.read_csv(client.get("/api/export", params={"format": "csv"}).content)
        assert client.get("/api/export", params={"format": "xml"}).status_code == 400
    assert rows["w04"]["text"] == formula, "the JSONL keeps every text as it is"
    assert table.filter(id="w04")["text"].item() == "'" + formula
    assert table.filter(id="w02")["text"].item() == "I love this song so much"
    assert set(rows) == {t[0] for t in TEXTS} - {"w03"}, "ambiguous items leave the cleaned set"
    assert (rows["w01"]["label"], rows["w01"]["origin"]) == ("spam", "review")
    assert (rows["w02"]["label"], rows["w02"]["origin"]) == ("ham", "review"), "bo's came last"
    assert (rows["w04"]["label"], rows["w04"]["origin"]) == ("spam", "label_model")


REVIEWER = """
import sys, httpx
url, name = sys.argv[1], sys.argv[2]
done = []
with httpx.Client(base_url=url, timeout=30) as client:
    while True:
        item = client.post("/api/next", json={"reviewer": name}).json()["item"]
        if item is None:
            break
        client.post("/api/answer", json={"reviewer": name, "example_id": item["example_id"],
                                         "action": "accept"}).raise_for_status()
        done.append(item["example_id"])
print(",".join(done))
"""


def test_reviewers_in_separate_processes_share_one_queue(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace) as url:
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", REVIEWER, url, f"r{i}"], stdout=subprocess.PIPE, text=True
            )
            for i in range(4)
        ]
        outputs = [p.communicate(timeout=120)[0].strip() for p in processes]
    assert all(p.returncode == 0 for p in processes)
    answered = [example_id for out in outputs for example_id in out.split(",") if example_id]
    assert sorted(answered) == sorted(t[0] for t in TEXTS), "each item answered exactly once"
    with Workspace(review_workspace, read_only=True) as ws:
        stored = ws.sql("SELECT example_id, reviewer FROM decisions").rows()
    assert sorted(e for e, _ in stored) == sorted(answered)


def decisions_in(path: Path) -> list[tuple]:
    with Workspace(path, read_only=True) as ws:
        return ws.sql("SELECT reviewer, example_id, action FROM decisions ORDER BY 1, 2").rows()


def test_a_foreign_host_name_is_refused_so_a_rebound_dns_name_reads_nothing(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace, allowed_hosts=["review.lan"]) as url:
        port = url.rsplit(":", 1)[1]
        with httpx.Client(base_url=url) as client:
            for path in ("/api/config", "/api/export", "/"):
                rebound = client.get(path, headers={"Host": f"evil.example:{port}"})
                assert rebound.status_code == 400, path
                assert "evil.example" in rebound.json()["error"]
                assert "--allow-host" in rebound.json()["error"]
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", "review.lan", "[::1]"):
                assert client.get("/api/config", headers={"Host": host}).status_code == 200, host
            # Trial 46: read as a URL, "evil.example@127.0.0.1" is 127.0.0.1.
            for host in (f"evil.example@127.0.0.1:{port}", f"127.0.0.1:{port}/x", "a b"):
                assert client.get("/api/config", headers={"Host": host}).status_code == 400, host
    assert decisions_in(review_workspace) == []
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0, "nothing was claimed"


def test_writes_from_another_origin_or_not_as_json_are_refused(
    review_workspace: Path, serve: Serve
) -> None:
    answer = {"reviewer": "eve", "example_id": "w01", "action": "accept"}
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        own = client.post(
            "/api/answer",
            json={**answer, "reviewer": "ana"},
            headers={
                "Origin": url,
            },
        )
        assert own.status_code == 200, own.text
        refused = [
            ({"Origin": "http://evil.example"}, "json", 403),
            ({"Origin": "null"}, "json", 403),
            ({"Origin": url.replace("127.0.0.1", "127.0.0.1.nip.io")}, "json", 403),
            ({"Referer": "http://evil.example/page"}, "json", 403),
            ({"Content-Type": "text/plain"}, "text", 415),
            ({"Content-Type": "application/x-www-form-urlencoded"}, "text", 415),
            ({"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}, "text", 403),
        ]
        for headers, kind, status in refused:
            for path, body in (("/api/answer", answer), ("/api/undo", {"reviewer": "ana"})):
                if kind == "json":
                    response = client.post(path, json=body, headers=headers)
                else:
                    response = client.post(path, content=json.dumps(body), headers=headers)
                assert response.status_code == status, (path, headers, response.text)
                assert response.json()["error"]
        cross_site = client.post(
            "/api/next", json={"reviewer": "eve"}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross_site.status_code == 403, "another page cannot claim items"
        # Trial 49b: a GET claimed an item, so an <img> in a browser that sends neither
        # Origin nor Sec-Fetch-Site could claim them; a claim is a POST of JSON now.
        assert client.get("/api/next", params={"reviewer": "eve"}).status_code == 405
        plain = client.post("/api/next", content='{"reviewer": "eve"}')
        assert plain.status_code == 415, plain.text
        # Trial 29: without Sec-Fetch-Site (an older browser), a fetch from another
        # origin claimed an item; the Origin it sends is enough to refuse it.
        other_origin = client.post(
            "/api/next", json={"reviewer": "eve"}, headers={"Origin": "http://evil.example"}
        )
        assert other_origin.status_code == 403, other_origin.text
        # Trial 49b: the scheme was not compared: ftp://127.0.0.1:PORT passed.
        for scheme in ("ftp", "file", "chrome-extension"):
            odd = client.post(
                "/api/next",
                json={"reviewer": "eve"},
                headers={"Origin": f"{scheme}://{url.removeprefix('http://')}"},
            )
            assert odd.status_code == 403, scheme
        assert client.get("/api/config", headers={"Origin": url}).status_code == 200
        # A navigation from another site (a link in a chat) still opens the page.
        page = client.get(
            "/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
        )
        assert page.status_code == 200
    assert decisions_in(review_workspace) == [("ana", "w01", "accept")]
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT count(*) AS n FROM claims WHERE reviewer = 'eve'")["n"][0] == 0


def test_a_non_ascii_token_is_compared_as_bytes(review_workspace: Path, serve: Serve) -> None:
    with serve(review_workspace, token="pässwort") as url:
        with httpx.Client(base_url=url) as reviewer:
            sent = {"Authorization": f"Bearer {quote('pässwort', safe='')}"}
            assert reviewer.get("/api/config", headers=sent).status_code == 200
        with httpx.Client(base_url=url) as stranger:
            for given in ("pässwörter", "p\u00e4sswort ", "passwort"):
                sent = {"Authorization": f"Bearer {quote(given, safe='')}"}
                wrong = stranger.get("/api/config", headers=sent)
                assert wrong.status_code == 401, given
            header = {"Authorization": "Bearer pässwort".encode()}
            assert stranger.get("/api/config", headers=header).status_code == 200
            header = {"Authorization": "Bearer pässwörter".encode()}
            assert stranger.get("/api/config", headers=header).status_code == 401


def raw_request(url: str, head: str, body: bytes = b"", timeout: float = 60) -> bytes:
    """Send a request by hand (a body that never ends is the point) and return the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_an_oversized_body_is_refused_before_it_is_read(
    review_workspace: Path, serve: Serve
) -> None:
    with serve(review_workspace) as url:
        headers = "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
        # 600 MB announced, none sent: the answer must come from the header alone.
        announced = raw_request(
            url, f"POST /api/answer HTTP/1.1\r\n{headers}Content-Length: 600000000\r\n"
        )
        assert announced.startswith(b"HTTP/1.1 413"), announced[:200]
        assert b"request body over 65536 bytes" in announced
        # No length given: the server stops reading at the limit, while the body goes on.
        chunk = b"%x\r\n%s\r\n" % (16384, b" " * 16384)
        streamed = raw_request(
            url, f"POST /api/answer HTTP/1.1\r\n{headers}Transfer-Encoding: chunked\r\n", chunk * 6
        )
        assert streamed.startswith(b"HTTP/1.1 413"), streamed[:200]
        with httpx.Client(base_url=url) as client:
            deep = client.post(
                "/api/answer",
                content=b"[" * 20_000 + b"]" * 20_000,
                headers={"Content-Type": "application/json"},
            )
            assert deep.status_code == 400 and "nested too deeply" in deep.json()["error"]
            assert client.get("/api/config").status_code == 200, "the server is still up"
    assert decisions_in(review_workspace) == []


def test_an_aspects_task_is_served_one_attribute_at_a_time(
    aspects_file: Path, serve: Serve
) -> None:
    with serve(aspects_file) as url, httpx.Client(base_url=url) as client:
        config = client.get("/api/config").json()
        assert (config["kind"], config["attributes"]) == ("aspects", ["food", "staff", "price"])
        assert config["answers"] == ["positive", "negative", "neutral", "none"]
        # No attribute asked for: the pass starts with the one with the most items left.
        shown = next_item(client, "ana")
        assert (shown["attribute"], shown["next_attribute"]) == ("staff", "price")
        item = shown["item"]
        assert (item["example_id"], item["attribute"]) == ("r1", "staff")
        assert item["question"] == "Is staff negative? (currently none)"
        assert item["choices"] == ["positive", "negative", "neutral", "none"]
        assert item["keys"] == ["1", "2", "3", "4"]
        assert item["yes_no"] == {"a": "yes, negative", "r": "no, another label"}
        assert item["votes"] == {"kw_waiter": "mentioned"}
        assert shown["progress"]["queued"] == 3
        assert [(p["attribute"], p["remaining"]) for p in shown["progress"]["attributes"]] == [
            ("food", 2),
            ("staff", 3),
            ("price", 1),
        ]
        answer = {"reviewer": "ana", "example_id": "r1", "action": "accept"}
        missing = client.post("/api/answer", json=answer)
        assert missing.status_code == 404 and "not in the review queue" in missing.json()["error"]
        saved = client.post("/api/answer", json=answer | {"attribute": "staff"}).json()
        assert saved["progress"]["reviewed"] == 1
        price = next_item(client, "ana", attribute="price")
        assert price["item"]["question"] == "Is price negative? (currently none)"
        client.post(
            "/api/answer",
            json={"reviewer": "ana", "example_id": "r3", "action": "label", "label": "none"}
            | {"attribute": "price"},
        ).raise_for_status()
        # price is done: the pass moves on to food and says so.
        moved = next_item(client, "ana", attribute="price")
        assert (moved["attribute"], moved["moved_from"]) == ("food", "price")
        assert moved["item"]["attribute"] == "food"
        # Nothing of ana's in the food pass: her latest answer is taken back, in its pass
        # (trial 55b: "Nothing to undo" about the answer given just before).
        undone = client.post("/api/undo", json={"reviewer": "ana", "attribute": "food"}).json()
        assert (undone["undone"], undone["attribute"]) == ("r3", "price")
        bad = client.post("/api/next", json={"reviewer": "ana", "attribute": "decor"})
        assert bad.status_code == 400 and "unknown attribute 'decor'" in bad.json()["error"]
        per_label = client.get("/api/summary").json()["per_label"]
        staff = {row["label"]: row for row in per_label if row["attribute"] == "staff"}
        assert (staff["none"]["queued"], staff["negative"]["reviewed_as"]) == (1, 1)
        # Trial 49a: wide=1 was ignored; it is `export --wide`'s layout.
        wide = client.get("/api/export", params={"format": "csv", "wide": "1"})
        assert wide.text.splitlines()[0] == "id,text,food,staff,price", wide.text
        assert client.get("/api/export", params={"wide": "yes"}).status_code == 400
    with Workspace(aspects_file, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, attribute, action, label FROM decisions ORDER BY decision_id"
        ).rows()
    assert decisions == [
        ("r1", "staff", "accept", "negative"),
        ("r3", "price", "label", "none"),
        ("r3", "price", "undo", None),
    ]


def test_a_page_left_open_counts_an_hour_at_most(review_workspace: Path, serve: Serve) -> None:
    # Trial 46: "seconds": 1e308 was stored as given, and the review's times with it.
    with serve(review_workspace) as url, httpx.Client(base_url=url) as client:
        next_item(client, "ana")
        answer = {"reviewer": "ana", "example_id": "w01", "action": "accept", "seconds": 1e308}
        assert client.post("/api/answer", json=answer).status_code == 200
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT seconds FROM decisions")["seconds"].to_list() == [3600.0]


def test_a_websocket_is_closed_and_a_failure_still_carries_the_headers(
    review_workspace: Path,
) -> None:
    # Trial 54d: a websocket request passed the Host, Origin and token checks unseen,
    # and Starlette's 500 was sent without the security headers.
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from labelkit.review.web import create_app

    with Workspace(review_workspace) as ws:
        client = TestClient(
            create_app(ws), base_url="http://127.0.0.1", raise_server_exceptions=False
        )
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/"):
            pass
        assert closed.value.code == 1008
        ws.con.close()  # every request that reads the workspace now fails
        failed = client.post("/api/next", json={"reviewer": "ana"})
    assert failed.status_code == 500
    assert failed.json() == {"error": "the server failed on this request: its log says why"}
    assert failed.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in failed.headers["content-security-policy"]
