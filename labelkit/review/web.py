"""The web reviewer: a local server that owns the workspace and hands its queue to browsers.

DuckDB lets one process write a file, so the server is that process: every
reviewer's browser talks to it over HTTP, and it serialises their requests on the
queue under one lock. A reviewer names themselves on the page; with a token set at
start, every request must carry it (``?token=`` once, then a cookie, or an
``Authorization: Bearer`` header).

The page is plain HTML, CSS and a little JavaScript shipped in ``static/``; example
text only ever reaches it as JSON and is inserted as text, never as HTML, and a
Content-Security-Policy forbids inline scripts besides.
"""

from __future__ import annotations

import hmac
import json
import math
import re
import threading
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from labelkit.errors import LabelkitError
from labelkit.export import cleaned_labels
from labelkit.review.highlight import lf_spans
from labelkit.review.queue import ACTIONS, EFFECTIVE_DECISIONS, ReviewItem, ReviewQueue
from labelkit.workspace import Workspace

STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "labelkit_token"
_REVIEWER = re.compile(r"^[\w .@'-]{1,64}$")
_MAX_BODY = 64 * 1024
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class RequestError(LabelkitError):
    """A request the server refuses, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def create_app(
    workspace: Workspace, *, token: str | None = None, claim_seconds: float = 600.0
) -> Starlette:
    """The reviewer web app over an open (read-write) workspace; serve it with uvicorn.

    Examples
    --------
    >>> with Workspace("spam.duckdb") as ws:
    ...     uvicorn.run(create_app(ws, token="s3cret"), host="127.0.0.1", port=8080)
    """
    if workspace.read_only:
        raise LabelkitError(f"{workspace.path}: the web reviewer needs a writable workspace")
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

    def config(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "labels": list(queue.labels),
            "workspace": workspace.path.name,
            "actions": list(ACTIONS),
        }

    def next_item(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        reviewer = _reviewer(request.query_params.get("reviewer"))
        focus = _focus(request.query_params.get("focus"))
        item = queue.next(reviewer=reviewer, focus=focus)
        return {
            "item": _item_json(workspace, item) if item else None,
            "progress": _progress(focus),
        }

    def answer(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        reviewer = _reviewer(body.get("reviewer"))
        focus = _focus(body.get("focus"))
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
        if action not in ACTIONS:
            raise RequestError(f"unknown action {action!r}; use one of {list(ACTIONS)}")
        if not workspace.sql("SELECT 1 FROM queue WHERE example_id = ?", [example_id]).height:
            raise RequestError(f"example {example_id!r} is not in the review queue", 404)
        decision = queue.answer(
            example_id,
            action,
            reviewer=reviewer,
            label=label,
            seconds=float(seconds),
            comment=comment or None,
        )
        return {"decision_id": decision, "progress": _progress(focus)}

    def undo(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        focus = _focus(body.get("focus"))
        undone = queue.undo(reviewer=_reviewer(body.get("reviewer")))
        return {"undone": undone, "progress": _progress(focus)}

    def summary(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        stats = queue.stats()
        per_label = workspace.sql(
            f"""WITH d AS ({EFFECTIVE_DECISIONS}),
                    given AS (
                        SELECT q.given_label AS label, count(*) AS queued,
                               count(d.example_id) AS reviewed,
                               count(*) FILTER (WHERE d.action IN ('accept', 'reject', 'label')
                                                AND q.given_label IS NOT NULL
                                                AND d.label IS DISTINCT FROM q.given_label)
                                 AS corrected_away
                        FROM queue q LEFT JOIN d USING (example_id) GROUP BY 1),
                    chosen AS (SELECT label, count(*) AS reviewed_as FROM d
                               WHERE label IS NOT NULL GROUP BY 1)
               SELECT label, coalesce(queued, 0) AS queued, coalesce(reviewed, 0) AS reviewed,
                      coalesce(corrected_away, 0) AS corrected_away,
                      coalesce(reviewed_as, 0) AS reviewed_as
               FROM given FULL JOIN chosen USING (label) ORDER BY label"""
        )
        return {
            "stats": stats,
            "per_label": per_label.to_dicts(),
            "agreement": queue.reviewer_agreement().to_dicts(),
        }

    def _focus(value: Any) -> str | None:
        """The focus label a request names (none when empty): its counts are that label's."""
        if value in (None, ""):
            return None
        if value not in queue.labels:
            raise RequestError(f"focus label {value!r} is not one of {list(queue.labels)}")
        return str(value)

    def _progress(focus: str | None) -> dict[str, Any]:
        stats = queue.stats(focus)
        return {
            key: stats[key]
            for key in ("queued", "reviewed", "remaining", "errors_found", "errors_per_100")
        }

    async def export(request: Request) -> Response:
        kind = request.query_params.get("format", "jsonl")
        if kind not in ("jsonl", "csv"):
            return JSONResponse({"error": "format must be jsonl or csv"}, status_code=400)
        try:
            frame = await run_in_threadpool(locked, cleaned_labels, workspace)
        except LabelkitError as error:
            return JSONResponse({"error": str(error)}, status_code=409)
        data = frame.write_ndjson() if kind == "jsonl" else frame.write_csv()
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
        Route("/api/config", api(config)),
        Route("/api/next", api(next_item)),
        Route("/api/answer", api(answer), methods=["POST"]),
        Route("/api/undo", api(undo), methods=["POST"]),
        Route("/api/summary", api(summary)),
        Route("/api/export", export),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(_Guard, token=token)]
    return Starlette(routes=routes, middleware=middleware)


class _Guard(BaseHTTPMiddleware):
    """The token check (when a token is set) and the security headers on every answer."""

    def __init__(self, app: Any, token: str | None) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = (
            request.query_params.get("token")
            or request.cookies.get(TOKEN_COOKIE)
            or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        )
        if self.token is not None and not hmac.compare_digest(given or "", self.token):
            response: Response = JSONResponse(
                {"error": "a valid token is required: open the link the server printed"},
                status_code=401,
            )
        else:
            response = await call_next(request)
            if self.token is not None and request.query_params.get("token"):
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        response.headers.update(_HEADERS)
        return response


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise RequestError(f"request body over {_MAX_BODY} bytes", 413)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


def _reviewer(value: Any) -> str:
    if not isinstance(value, str) or not _REVIEWER.match(value):
        raise RequestError("reviewer: give your name (1-64 letters, digits, spaces or . @ ' - _)")
    return value


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key} must be a non-empty string")
    return value


def _item_json(workspace: Workspace, item: ReviewItem) -> dict[str, Any]:
    return {
        "example_id": item.example_id,
        "text": item.text,
        "given_label": item.given_label,
        "suggested_label": item.suggested_label,
        "candidate": item.candidate,
        "ruled_out": list(item.ruled_out),
        "question": item.question,
        "reasons": item.reasons,
        "priority": item.priority,
        "votes": item.votes,
        "spans": [
            {"start": s.start, "end": s.end, "source": s.source, "label": s.label}
            for s in lf_spans(workspace, item.example_id, item.text)
        ],
    }
