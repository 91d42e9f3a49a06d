"""The web reviewer: a local server that owns the workspace and hands its queue to browsers.

DuckDB lets one process write a file, so the server is that process: every
reviewer's browser talks to it over HTTP, and it serialises their requests on the
queue under one lock. A reviewer names themselves on the page; with a token set at
start, every API request must carry it: a script's in ``Authorization: Bearer``, the
page's in its own header (``X-Labelkit-Token``, leaving ``Authorization`` to a proxy's
login), never in the address, which proxies, shells and histories keep (trial 68a).
The page and its static files are the app alone, no data, and open without it: the
page takes the token from the link it was opened by (``/?token=``), keeps it in the
tab's ``sessionStorage``, which is this origin's, port included, and drops it from the
address bar. Never a cookie: a browser sends a host's cookies to every port of it, and
so to any other server there (trial 49b collected one and exported the cleaned set).

Other web pages the reviewers' browsers open must not reach the queue through
them. So the server answers only requests addressed to it by an IP address,
``localhost`` or a name it was told (a DNS-rebinding page sends its own name),
takes writes only from its own origin and only as JSON (which a form or a
``no-cors`` fetch cannot send), and refuses API calls a browser marks as made by
another site. Bodies are capped while they are read.

The page is plain HTML, CSS and a little JavaScript shipped in ``static/``; example
text only ever reaches it as JSON and is inserted as text, never as HTML, and a
Content-Security-Policy forbids inline scripts besides. On a spans task an item is one
span of a text: its bounds, the text's other current spans and its word tokens come
as character (code point) offsets, which the page converts to its UTF-16 string
indices.

Rules an LLM proposed (``labelkit suggest-lfs``) are decided on a second page, one at
a time, with the scores ``suggest_lfs`` stored; an accepted one is appended to the rule
file the server was given. A rule is the LLM's text: it too is only ever shown as text.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import polars as pl
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelkit.errors import InputError, LabelkitError, LabelkitWarning
from labelkit.export import export_cleaned
from labelkit.llm.suggest import decide_suggestion
from labelkit.review.highlight import lf_spans
from labelkit.review.queue import (
    ACTIONS,
    ANSWERS,
    EFFECTIVE_DECISIONS,
    FIX,
    MAX_REVIEWER,
    MISSED,
    ReviewItem,
    ReviewQueue,
    not_queued,
    reviewer_name,
)
from labelkit.review.spans import word_tokens
from labelkit.task import span_bounds
from labelkit.workspace import Workspace

_log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_MAX_BODY = 64 * 1024
# A Host header is a name or an address and a port, nothing else: "evil.com@127.0.0.1"
# parsed as a URL is 127.0.0.1 (trial 46).
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[\w.-]+)(:\d{1,5})?")
# Past an hour on one item the page was left open: the review's times count it as an hour
# (trial 46 stored 1e308 seconds).
_MAX_SECONDS = 3600.0
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    # frame-ancestors' older form, for browsers that predate it.
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# What the page shows of a proposed rule: its text, who proposed it, its scores.
_SUGGESTION_FIELDS = (
    "id",
    "rule",
    "model",
    "coverage",
    "overlaps",
    "conflicts",
    "correct",
    "incorrect",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
)


class RequestError(LabelkitError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    workspace: Workspace,
    *,
    token: str | None = None,
    claim_seconds: float = 600.0,
    allowed_hosts: Iterable[str] = (),
    rules: str | Path | None = None,
) -> Starlette:
    """The reviewer web app over an open (read-write) workspace; serve it with uvicorn.

    Parameters
    ----------
    token
        When set, every API request must carry it (any text; compared as UTF-8 bytes);
        the page and its static files, which hold no data, do not need it.
    allowed_hosts
        Host names reviewers reach the server by, besides IP addresses and
        ``localhost`` (which are always accepted); requests naming another host are
        refused.
    rules
        The rule file accepted LLM-proposed rules are appended to; without one,
        proposals can be rejected but not accepted.

    Examples
    --------
    >>> with Workspace("spam.duckdb") as ws:
    ...     uvicorn.run(create_app(ws, token="s3cret"), host="127.0.0.1", port=8080)
    """
    if workspace.read_only:
        raise LabelkitError(f"{workspace.path}: the web reviewer needs a writable workspace")
    if token is not None and not token.strip():
        raise LabelkitError("the token is empty: give a secret, or no token on a private address")
    if rules is not None and not Path(rules).parent.is_dir():
        raise LabelkitError(f"the rule file {rules}: its folder does not exist")
    if rules is not None and Path(rules).exists() and not Path(rules).is_file():
        raise LabelkitError(f"the rule file {rules} is not a file")
    rules_file = Path(rules).name if rules is not None else None
    queue = ReviewQueue(workspace, claim_seconds=claim_seconds)
    lock = threading.Lock()

    def locked(work: Any, *args: Any) -> Any:
        with lock:
            return work(*args)

    def api(handler: Any) -> Any:
        """Run ``handler`` under the lock in a worker thread (DuckDB calls block); turn
        refusals into JSON errors."""

        async def endpoint(request: Request) -> Response:
            try:
                body = await _json_body(request) if request.method == "POST" else {}
                return JSONResponse(await run_in_threadpool(locked, handler, request, body))
            except RequestError as error:
                return JSONResponse({"error": str(error)}, status_code=error.status)
            except LabelkitError as error:
                return JSONResponse({"error": str(error)}, status_code=400)

        return endpoint

    # On a task with attributes (aspects, multi-label) the page works through one
    # attribute at a time; a request naming none gets the one with the most left. A
    # spans task's attributes are its texts' spans: one item after another.
    passes = workspace.task.kind in ("aspects", "multilabel")
    spans = workspace.task.kind == "spans"
    # A span's bounds are fixed, and spans no source caught marked, on a spans task.
    actions = [*ACTIONS, *((FIX, MISSED) if spans else ())]
    if spans:
        # spaCy's tokenizer takes seconds to load: at start, not on a reviewer's first item.
        word_tokens("", workspace.task.lang)

    def config(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "labels": list(queue.labels),
            "workspace": workspace.path.name,
            "actions": actions,
            "kind": workspace.task.kind,
            "attributes": list(queue.attributes) if passes else [],
            "answers": list(queue.answers()),
            "lang": workspace.task.lang,
        }

    def next_item(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        # A POST: it claims the item (trial 49b: as a GET, an <img> could claim items).
        reviewer = _reviewer(body.get("reviewer"))
        attribute = _attribute(body.get("attribute"))
        focus = _focus(body.get("focus"), attribute)
        if not passes:
            item = queue.next(reviewer=reviewer, focus=focus)
            return {
                "item": _item_json(workspace, item, focus) if item else None,
                "progress": _progress(focus, None),
            }
        asked = attribute
        attribute = attribute or queue.next_attribute(focus=focus)
        item = queue.next(reviewer=reviewer, focus=focus, attribute=attribute)
        following = queue.next_attribute(after=attribute, focus=focus)
        if item is None and following is not None:
            attribute = following
            item = queue.next(reviewer=reviewer, focus=focus, attribute=attribute)
            following = queue.next_attribute(after=attribute, focus=focus)
        return {
            "item": _item_json(workspace, item, focus) if item else None,
            "progress": _progress(focus, attribute),
            "attribute": attribute,
            "next_attribute": following if following != attribute else None,
            "moved_from": asked if asked and asked != attribute else None,
        }

    def answer(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        reviewer = _reviewer(body.get("reviewer"))
        attribute = _attribute(body.get("attribute")) or ""
        focus = _focus(body.get("focus"), attribute or None)
        example_id = _string(body, "example_id")
        action = _string(body, "action")
        label = body.get("label")
        comment = body.get("comment")
        seconds = body.get("seconds", 0.0)
        if label is not None and not isinstance(label, str):
            raise RequestError("label must be a string")
        if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
            raise RequestError("comment must be a string of at most 2000 characters")
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not number or not math.isfinite(seconds) or seconds < 0:
            raise RequestError("seconds must be a finite number of at least 0")
        seconds = min(seconds, _MAX_SECONDS)
        if action not in actions:
            raise RequestError(f"unknown action {action!r}; use one of {actions}")
        # A missed span is marked on a queued text, whichever of its spans is shown.
        queued = "SELECT 1 FROM queue WHERE example_id = ? AND (? OR attribute = ?)"
        if not workspace.sql(queued, [example_id, action == MISSED, attribute]).height:
            asked = "" if action == MISSED else attribute
            raise RequestError(not_queued(workspace.con, example_id, asked), 404)
        if action in (FIX, MISSED):
            start, end = _offset(body, "start"), _offset(body, "end")
            if action == MISSED:
                if label is None:
                    raise RequestError("a missed span needs its label")
                decision = queue.mark_span(
                    example_id,
                    start,
                    end,
                    label,
                    reviewer=reviewer,
                    seconds=float(seconds),
                    comment=comment or None,
                )
            else:
                decision = queue.fix_span(
                    example_id,
                    attribute,
                    start,
                    end,
                    reviewer=reviewer,
                    label=label,
                    seconds=float(seconds),
                    comment=comment or None,
                )
            return {"decision_id": decision, "progress": _progress(focus, None)}
        decision = queue.answer(
            example_id,
            action,
            reviewer=reviewer,
            label=label,
            seconds=float(seconds),
            comment=comment or None,
            attribute=attribute,
        )
        return {"decision_id": decision, "progress": _progress(focus, pass_of(attribute))}

    def undo(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        attribute = _attribute(body.get("attribute"))
        focus = _focus(body.get("focus"), attribute)
        reviewer = _reviewer(body.get("reviewer"))
        if passes:
            # Where the pass holds none of the reviewer's answers, their latest is taken
            # back, and the page moves to its attribute.
            undone, moved_to = queue.undo_in_pass(reviewer=reviewer, attribute=attribute)
        else:
            undone, moved_to = queue.undo(reviewer=reviewer, attribute=attribute), None
        shown = moved_to or attribute
        return {
            "undone": undone,
            "attribute": moved_to,
            "progress": _progress(focus, pass_of(shown)),
        }

    def summary(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        stats = queue.stats()
        per_label = workspace.sql(
            f"""WITH d AS ({EFFECTIVE_DECISIONS}),
                    given AS (
                        SELECT q.attribute, q.given_label AS label, count(*) AS queued,
                               count(d.example_id) AS reviewed,
                               count(*) FILTER (WHERE d.action IN {ANSWERS}
                                                AND q.given_label IS NOT NULL
                                                AND d.label IS DISTINCT FROM q.given_label)
                                 AS corrected_away
                        FROM queue q LEFT JOIN d USING (example_id, attribute) GROUP BY 1, 2),
                    chosen AS (SELECT attribute, label, count(*) AS reviewed_as FROM d
                               WHERE label IS NOT NULL GROUP BY 1, 2)
               SELECT attribute, label, coalesce(queued, 0) AS queued,
                      coalesce(reviewed, 0) AS reviewed,
                      coalesce(corrected_away, 0) AS corrected_away,
                      coalesce(reviewed_as, 0) AS reviewed_as
               FROM given FULL JOIN chosen USING (attribute, label) ORDER BY attribute, label"""
        )
        if not passes:
            # One row per label: a spans task's attributes are its spans.
            per_label = per_label.group_by("label").agg(pl.exclude("attribute").sum()).sort("label")
        return {
            "stats": stats,
            "per_label": per_label.to_dicts(),
            "agreement": queue.reviewer_agreement().to_dicts(),
        }

    def next_suggestion(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        """The first proposal nobody decided (in the order the LLM gave them), and how
        far the person is through the runs that still have some."""
        pending = workspace.sql(
            f"""SELECT {", ".join(f'"{column}"' for column in _SUGGESTION_FIELDS)}
                FROM lf_suggestions WHERE status = 'new' AND decision IS NULL
                ORDER BY id LIMIT 1"""
        )
        progress = workspace.sql(
            """SELECT count(*) AS total, count(decision) AS decided FROM lf_suggestions
               WHERE status = 'new' AND run_id IN (
                   SELECT run_id FROM lf_suggestions
                   WHERE status = 'new' AND decision IS NULL)"""
        )
        return {
            "suggestion": pending.to_dicts()[0] if pending.height else None,
            "progress": progress.to_dicts()[0],
            "rules_file": rules_file,
            "workspace": workspace.path.name,
        }

    def decide(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        suggestion = body.get("id")
        decision = body.get("decision")
        if not (
            isinstance(suggestion, int)
            and not isinstance(suggestion, bool)
            and 0 <= suggestion < 2**31  # an INTEGER id
        ):
            raise RequestError("id must be the suggestion's id (a whole number)")
        if decision not in ("accept", "reject"):
            raise RequestError(f"decision must be accept or reject, not {decision!r}")
        if decision == "accept" and rules is None:
            raise RequestError(
                "accepting a rule needs a rule file: start labelkit serve with --rules PATH", 409
            )
        appended = decide_suggestion(workspace, suggestion, decision == "accept", rules)
        return {"appended": appended, "rules_file": rules_file if appended else None}

    def pass_of(attribute: str | None) -> str | None:
        """The attribute whose counts a progress line shows: the pass's (none without
        passes: a spans item's attribute is one span)."""
        return (attribute or None) if passes else None

    def _attribute(value: Any) -> str | None:
        """The attribute a request names (none when empty: any, or the task's only one)."""
        if value in (None, ""):
            return None
        if spans and isinstance(value, str):
            span_bounds(value)
            return value
        if not isinstance(value, str) or value not in queue.attributes:
            noun = queue.task.target_noun
            raise RequestError(
                f"unknown {noun} {value!r}; this task's {noun}s are {list(queue.attributes)}"
            )
        return value

    def _focus(value: Any, attribute: str | None) -> str | None:
        """The focus label a request names (none when empty): its counts are that label's."""
        if value in (None, ""):
            return None
        if value not in queue.answers(attribute):
            raise RequestError(
                f"focus label {value!r} is not one of {list(queue.answers(attribute))}"
            )
        return str(value)

    def _progress(focus: str | None, attribute: str | None) -> dict[str, Any]:
        stats = queue.stats(focus, attribute=attribute)
        progress: dict[str, Any] = {
            key: stats[key]
            for key in (
                "queued",
                "reviewed",
                "skipped",
                "remaining",
                "errors_found",
                "errors_per_100",
            )
        }
        if passes:
            progress["attributes"] = queue.progress_by_attribute(focus).to_dicts()
        return progress

    def cleaned_file(kind: str, wide: bool) -> bytes:
        # The file `labelkit export` writes, so that the page's download and the command's
        # agree for every task kind (a spans task's cleaned set is its texts' spans). The
        # CSV is for a spreadsheet (code reads the JSONL): its formulas are escaped, but
        # in a spans task's texts, which the offsets count in. A warning of the export's
        # has no one to read it here.
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore", LabelkitWarning)
            path = Path(folder) / f"cleaned.{kind}"
            export_cleaned(workspace, path, wide=wide, escape_formulas=kind == "csv")
            return path.read_bytes()

    async def export(request: Request) -> Response:
        kind = request.query_params.get("format", "jsonl")
        if kind not in ("jsonl", "csv"):
            return JSONResponse({"error": "format must be jsonl or csv"}, status_code=400)
        # `export --wide`'s layout (trial 49a: the parameter was ignored).
        wide = request.query_params.get("wide", "0")
        if wide not in ("0", "1"):
            return JSONResponse({"error": "wide must be 0 or 1"}, status_code=400)
        try:
            data = await run_in_threadpool(locked, cleaned_file, kind, wide == "1")
        except LabelkitError as error:
            return JSONResponse({"error": str(error)}, status_code=409)
        return Response(
            data,
            media_type="application/x-ndjson" if kind == "jsonl" else "text/csv",
            headers={"Content-Disposition": f'attachment; filename="cleaned.{kind}"'},
        )

    def page(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            return FileResponse(STATIC / name)

        return endpoint

    routes = [
        Route("/", page("index.html")),
        Route("/summary", page("summary.html")),
        Route("/suggestions", page("suggestions.html")),
        Route("/api/config", api(config)),
        Route("/api/next", api(next_item), methods=["POST"]),
        Route("/api/answer", api(answer), methods=["POST"]),
        Route("/api/undo", api(undo), methods=["POST"]),
        Route("/api/summary", api(summary)),
        Route("/api/suggestions/next", api(next_suggestion)),
        Route("/api/suggestions/decide", api(decide), methods=["POST"]),
        Route("/api/export", export),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_Guard, token=token, allowed_hosts=allowed_hosts)]
    return Starlette(routes=routes, middleware=middleware)


class _Guard:
    """Refuses requests not meant for this server (foreign Host, another origin, another
    site, no token when one is set); adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.names = {"localhost", *(name.lower().rstrip(".") for name in allowed_hosts)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # No route takes one, and none of the checks below would see it (trial 54d).
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            self._check(request)
        except RequestError as error:
            # Trial 59f: a wrong token, a foreign Origin or a rebinding name left no trace
            # for whoever watches the server. Every value as its repr: they are the sender's.
            _log.warning(
                "refused %s %r from %s (%d): %s",
                request.method,
                request.url.path,
                request.client.host if request.client else "?",
                error.status,
                error,
            )
            refusal = JSONResponse({"error": str(error)}, status_code=error.status)
            refusal.headers.update(_HEADERS)
            await refusal(scope, receive, send)
            return

        started = False

        async def send_secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).update(_HEADERS)
            await send(message)

        try:
            await self.app(scope, receive, send_secured)
        except Exception:
            if started:
                raise
            # Starlette's own 500 is sent past this middleware, without the headers
            # (trial 54d); the traceback goes to the server's log, not to the page.
            _log.exception("%s %s failed", request.method, request.url.path)
            failure = JSONResponse(
                {"error": "the server failed on this request: its log says why"}, status_code=500
            )
            failure.headers.update(_HEADERS)
            await failure(scope, receive, send)

    def _check(self, request: Request) -> None:
        host = request.headers.get("host", "")
        if not self._known_host(host):
            raise RequestError(
                f"this server does not answer to host {host!r}: open it by its IP address "
                "or localhost, or start it with --allow-host NAME",
                400,
            )
        api = request.url.path.startswith("/api/")
        # Browsers send Origin with every write and every cross-origin fetch; scripts
        # (curl, httpx) send neither.
        source = request.headers.get("origin")
        if request.method not in _SAFE_METHODS:
            source = source or request.headers.get("referer")
        elif not api:
            source = None
        if source is not None:
            origin = urlsplit(source)
            # http, or https through a proxy that ends TLS; no other scheme is a page of ours.
            if origin.scheme not in ("http", "https") or origin.netloc.lower() != host.lower():
                raise RequestError(f"calls from {source!r} are refused: use the reviewer page", 403)
        site = request.headers.get("sec-fetch-site", "same-origin")
        if api and site not in ("same-origin", "none"):
            raise RequestError("calls from other web pages are refused: use the reviewer page", 403)
        if api and self.token is not None and "token" in request.query_params:
            raise RequestError(
                "the token goes in an Authorization: Bearer header, not in the address, "
                "which proxies' and shells' logs keep",
                401,
            )
        if api and self.token is not None and not self._has_token(request):
            raise RequestError("a valid token is required: open the link the server printed", 401)

    def _known_host(self, host: str) -> bool:
        name = urlsplit(f"//{host}").hostname if _HOST.fullmatch(host) else None
        if not name:
            return False
        try:
            # DNS rebinding needs a name the attacker controls; an address is never one.
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return name.rstrip(".") in self.names

    def _has_token(self, request: Request) -> bool:
        assert self.token is not None
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        # The page's own header leaves Authorization to a proxy's login (Basic), which
        # a Bearer token from the page would replace.
        page = request.headers.get(PAGE_TOKEN_HEADER)
        if page is not None:
            sent = page.strip()
        elif scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110)
            sent = credentials.strip()
        else:
            return False
        # Headers decode as Latin-1: back to the bytes a script sent. The page sends the
        # token percent-encoded, as a browser's header holds Latin-1 alone (an accented
        # token went as other bytes, and a Cyrillic one not at all).
        given = (sent.encode("latin-1"), unquote_to_bytes(sent))
        return any(hmac.compare_digest(value, self.token) for value in given)


# The header the page sends its token in, percent-encoded.
PAGE_TOKEN_HEADER = "x-labelkit-token"


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read no further than the size limit."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        # Forms and no-cors fetches cannot send this type: it keeps other pages out.
        raise RequestError("send the body as JSON (Content-Type: application/json)", 415)
    too_big = RequestError(f"request body over {_MAX_BODY} bytes", 413)
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > _MAX_BODY):
        raise too_big
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > _MAX_BODY:
            raise too_big
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON") from None
    except RecursionError:
        raise RequestError("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    try:
        # JSON's "\ud800" is a lone surrogate, which no text can hold (trial 54d: 500).
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise RequestError("the request body holds a lone surrogate (\\ud800-\\udfff)") from None
    return body


def _reviewer(value: Any) -> str:
    # The terminal's rule (trial 49b: the page refused "ana+qa@example.com" and the
    # terminal took control characters).
    try:
        return reviewer_name(value)
    except InputError:
        raise RequestError(
            f"reviewer: give your name (1 to {MAX_REVIEWER} characters, no control "
            "character, direction mark or invisible one)"
        ) from None


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key} must be a non-empty string")
    return value


def _offset(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RequestError(f"{key} must be a character offset (a whole number of at least 0)")
    return value


def _item_json(workspace: Workspace, item: ReviewItem, focus: str | None) -> dict[str, Any]:
    if item.bounds is not None:
        # A span under review: the text's other current spans and its word tokens.
        shown = [
            {"start": s.start, "end": s.end, "source": "current", "label": s.label}
            for s in item.spans
        ]
        extra: dict[str, Any] = {
            "span": {"start": item.bounds[0], "end": item.bounds[1]},
            "tokens": [list(token) for token in item.tokens],
        }
    else:
        shown = [
            {"start": s.start, "end": s.end, "source": s.source, "label": s.label}
            for s in lf_spans(workspace, item.example_id, item.text, attribute=item.attribute)
        ]
        extra = {}
    return {
        "example_id": item.example_id,
        "attribute": item.attribute,
        "choices": list(item.choices),
        "keys": list(item.keys),
        "yes_no": item.yes_no(focus=focus is not None),
        "text": item.text,
        "given_label": item.given_label,
        "suggested_label": item.suggested_label,
        "candidate": item.candidate,
        "ruled_out": list(item.ruled_out),
        "question": item.question,
        "reasons": item.reasons,
        "priority": item.priority,
        "votes": item.votes,
        "fields": item.fields,
        "spans": shown,
        **extra,
    }
