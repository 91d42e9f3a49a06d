"""`labelkit serve` as a user starts it: its own process, its link, its note next to the file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from labelkit.cli import _lan_address
from tests.helpers import free_port

LABELKIT = [sys.executable, "-m", "labelkit"]


@contextmanager
def serving(
    workspace: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str, int]]:
    """Run `labelkit serve` on a free port; yield the process, the link it printed, the port."""
    port = free_port()
    base = {k: v for k, v in os.environ.items() if k != "LABELKIT_TOKEN"}
    server = subprocess.Popen(
        [*LABELKIT, "serve", str(workspace), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**base, "COLUMNS": "200", **(env or {})},
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "reviewing" in line, (line, server.stderr and server.stderr.read())
        link = line.split(" at ", 1)[1].split(" (Ctrl-C", 1)[0]
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/static/app.js")
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        yield server, link, port
    finally:
        server.terminate()
        server.wait(timeout=20)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LABELKIT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "400"},
    )


def ingested(tmp_path: Path) -> Path:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("text,label\nhello there,ham\nbuy now,spam\n")
    assert run("ingest", ws, csv, "--label-column", "label").returncode == 0
    return ws


def test_every_interface_without_a_token_gets_a_made_up_one_and_a_warning(
    tmp_path: Path,
) -> None:
    ws = ingested(tmp_path)
    with serving(ws, "--host", "0.0.0.0") as (server, link, port):
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert len(token) >= 20
        assert urlsplit(link).hostname == socket.gethostname()
        assert httpx.get(f"http://127.0.0.1:{port}/api/config").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        config = httpx.get(f"http://127.0.0.1:{port}/api/config", headers=bearer)
        assert config.json()["labels"] == ["ham", "spam"]
        named = httpx.get(
            f"http://127.0.0.1:{port}/api/config",
            headers={**bearer, "Host": f"{socket.gethostname()}:{port}"},
        )
        assert named.status_code == 200, "the name in the link is allowed"
        # Trial 59f: the office's other machines could not resolve the bare name: the
        # link by this machine's address too, where it has one.
        lan = _lan_address()
        if lan is not None:
            assert server.stdout is not None
            also = server.stdout.readline()
            shown = link.replace(socket.gethostname(), lan, 1)
            assert also.strip() == f"or, by this machine's address: {shown}"
            by_address = httpx.get(f"http://{lan}:{port}/api/config", headers=bearer)
            assert by_address.status_code == 200
    stderr = server.stderr.read() if server.stderr else ""
    assert "a token was made" in stderr and "the link is a secret" in stderr
    assert "TLS reverse proxy" in stderr
    # Trial 59f: refused requests left no trace for whoever watched the server.
    assert "refused GET '/api/config' from 127.0.0.1 (401): a valid token is required" in stderr
    # Trial 68a: "0" binds every interface too, and the link read http://0:PORT/.
    with serving(ws, "--host", "0") as (server, link, port):
        assert urlsplit(link).hostname == socket.gethostname()
        assert "token" in parse_qs(urlsplit(link).query)


def test_while_serve_holds_the_workspace_other_commands_say_where_it_is(
    tmp_path: Path,
) -> None:
    ws = ingested(tmp_path)
    note = tmp_path / "ws.duckdb.serve.json"
    with serving(ws) as (server, _, port):
        assert note.exists()
        for command in (("review-stats", ws), ("export", ws, tmp_path / "out.csv")):
            refused = run(*command)
            assert refused.returncode == 75, "held: worth a later try (trial 54c)"
            message = " ".join(refused.stderr.split())
            assert f"held by `labelkit serve` (pid {server.pid}) at http://127.0.0.1:{port}/" in (
                message
            ), message
            assert f"http://127.0.0.1:{port}/summary" in message
            assert "for writing" not in message
    assert server.returncode != 0 and not note.exists(), "stopping the server removes its note"
    assert run("review-stats", ws).returncode == 0


def test_the_token_from_the_environment_or_a_file_may_be_any_text(tmp_path: Path) -> None:
    ws = ingested(tmp_path)
    with serving(ws, env={"LABELKIT_TOKEN": "pässwort"}) as (server, link, port):
        assert link == f"http://127.0.0.1:{port}/?token=p%C3%A4sswort"
        api = f"http://127.0.0.1:{port}/api/config"
        assert httpx.get(link).status_code == 200
        # As the page sends it: percent-encoded (a header holds Latin-1 alone).
        assert httpx.get(api, headers={"Authorization": "Bearer p%C3%A4sswort"}).status_code == 200
        assert httpx.get(api, headers={"Authorization": "Bearer p%C3%B6sswort"}).status_code == 401
    said = server.stderr.read() if server.stderr else ""
    assert "shows in `ps`" not in said
    # Trial 54d: a guessable token started without a word.
    assert "warning: the token is 8 characters long, few enough to guess: use 16" in said
    secret = tmp_path / "token"
    secret.write_text("from-a-file\n")
    secret.chmod(0o600)
    with serving(ws, "--token-file", str(secret)) as (server, link, port):
        assert link.endswith("/?token=from-a-file")
        api = f"http://127.0.0.1:{port}/api/config"
        assert httpx.get(api, headers={"Authorization": "Bearer from-a-file"}).status_code == 200
        assert httpx.get(api).status_code == 401
        # Trial 68a: in the address, proxies' and shells' logs keep it.
        in_address = httpx.get(api, params={"token": "from-a-file"})
        assert in_address.status_code == 401
        assert "goes in an Authorization: Bearer header" in in_address.json()["error"]
    assert "can be read by other users" not in (server.stderr.read() if server.stderr else "")
    secret.chmod(0o644)
    with serving(ws, "--token-file", str(secret)) as (server, link, port):
        pass
    said = " ".join((server.stderr.read() if server.stderr else "").split())
    assert f"warning: token file {secret} can be read by other users of this machine: " in said
    with serving(ws, "--token", "on-the-command-line") as (server, link, port):
        assert httpx.get(link).status_code == 200
    assert "shows in `ps`" in (server.stderr.read() if server.stderr else "")


def test_allowed_host_names_are_answered_and_others_refused(tmp_path: Path) -> None:
    ws = ingested(tmp_path)
    with serving(ws, "--allow-host", "review.lan") as (server, link, port):
        # Trial 68a: a proxy for other machines served everyone who reached it, as no
        # token was made on 127.0.0.1.
        token = parse_qs(urlsplit(link).query)["token"][0]
        assert len(token) >= 20
        # Trial 63a: the link to share through the proxy was left to rebuild by hand.
        assert server.stdout is not None
        assert server.stdout.readline().startswith(
            f"  or, through your proxy for review.lan: https://review.lan/?token={token} (with "
        )
        url = f"http://127.0.0.1:{port}/api/config"
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(url, headers={"Host": f"review.lan:{port}"}).status_code == 401
        assert httpx.get(url, headers={**bearer, "Host": f"review.lan:{port}"}).status_code == 200
        assert httpx.get(url, headers={**bearer, "Host": f"evil.example:{port}"}).status_code == 400
        assert httpx.get(url, headers={**bearer, "Host": f"localhost:{port}"}).status_code == 200
    assert "--allow-host names a way other machines reach the server" in (
        server.stderr.read() if server.stderr else ""
    )
    # Trial 68a: a wildcard or a URL was taken, and every request then got 400.
    for given in ("*", "", "http://review.lan/", "review.lan:443"):
        refused = run("serve", ws, "--allow-host", given)
        assert refused.returncode == 1
        assert f"--allow-host {given!r} is not a host name: give the name alone" in refused.stderr
    # Trial 68a: a token file with a NUL made a link no browser can open.
    nul = tmp_path / "nul-token"
    nul.write_bytes(b"0123456789\x00abcdef\n")
    nul.chmod(0o600)
    refused = run("serve", ws, "--token-file", nul)
    assert refused.returncode == 1 and "the token holds a control character" in refused.stderr
    # The second read: beyond loopback the name reaches the server itself, on its port.
    with serving(ws, "--host", "0.0.0.0", "--allow-host", "review.lan") as (server, link, port):
        assert server.stdout is not None
        token = parse_qs(urlsplit(link).query)["token"][0]
        lines = [server.stdout.readline() for _ in range(1 if _lan_address() is None else 2)]
        assert f"  or, by review.lan: http://review.lan:{port}/?token={token}\n" in lines


def test_serve_rules_is_the_file_accepted_proposals_go_to(
    suggestions_file: Path, tmp_path: Path
) -> None:
    refused = run("serve", suggestions_file, "--rules", tmp_path / "nowhere" / "spam.rules")
    assert refused.returncode == 1 and "its folder does not exist" in refused.stderr
    rules = tmp_path / "spam.rules"
    with serving(suggestions_file, "--rules", str(rules)) as (_, _, port):
        accepted = httpx.post(
            f"http://127.0.0.1:{port}/api/suggestions/decide", json={"id": 1, "decision": "accept"}
        )
        assert accepted.json() == {"appended": "subscrib* -> spam", "rules_file": "spam.rules"}
    assert rules.read_text().splitlines()[1:] == ["subscrib* -> spam"]


def test_a_port_in_use_or_out_of_range_is_one_clear_error_and_no_link(tmp_path: Path) -> None:
    # Trial 29: the link was printed, then uvicorn's own error, exit status 3; and
    # --port 99999 ended in a traceback.
    ws = ingested(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run("serve", ws, "--port", str(port))
    assert busy.returncode == 1 and "reviewing" not in busy.stdout
    assert busy.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port}:")
    assert "choose one with --port" in busy.stderr and "Traceback" not in busy.stderr
    assert not (tmp_path / "ws.duckdb.serve.json").exists()
    # Trial 49b: an empty host bound every interface and printed http://:8640/.
    empty = run("serve", ws, "--host", "")
    assert empty.returncode == 1 and "reviewing" not in empty.stdout
    assert empty.stderr.strip().startswith("error: --host is empty")
    wrong = run("serve", ws, "--port", "99999")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "Invalid value for '--port': Input should be less than or equal to 65535" in (
        " ".join(wrong.stderr.split())
    )
