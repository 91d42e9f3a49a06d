"""A small OpenAI-compatible chat server for tests, on 127.0.0.1, speaking real HTTP.

It answers ``spam`` when the user text mentions "subscribe" or "http" and ``ham``
otherwise, so its accuracy is known, or what ``script`` (a function of the request
body) returns as the message; asked for log-probabilities, it is sure of
"subscribe" (0.9) and unsure of a bare "http" (0.6). It can misbehave on purpose:
refuse ``json_schema`` response formats (as llama.cpp's server does), answer in free
text, answer slowly, or meet requests with a scripted list of faults (``faults``, one
per request in arrival order; ``always`` for every request): ``"429"`` with
Retry-After, ``"500"``, ``"malformed"`` (a 200 whose body is not JSON), ``"drop"``
(the connection closes without an answer), ``"slow"`` (longer than any test's
client timeout), ``"drip"`` (headers at once, then the body one byte every
``drip_s``: no read ever times out), ``"error_200"`` (a 200 whose body is an error),
``"null_content"`` (a 200 whose message has no content), ``"empty_choices"`` (a 200
with ``choices: {}``), ``"quota"`` (429 ``insufficient_quota``, as OpenAI answers an
account without credit) and ``"huge"`` (a valid answer of ``huge_bytes``, sent
without a Content-Length) and ``"401"`` (a key refused, as OpenAI refuses a wrong
or missing one); ``"503"`` (an outage), ``"context_length"`` (400, the prompt over the
model's context), ``"429_date"`` (Retry-After as an HTTP date ``retry_after_s`` ahead, where ``"429"``
sends ``retry_after`` seconds)
and ``"401_echo"`` (a key refused by a proxy that repeats it). ``times`` holds each
request's arrival (``time.monotonic``).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "429",
    "500",
    "malformed",
    "drop",
    "slow",
    "drip",
    "error_200",
    "null_content",
    "empty_choices",
    "quota",
    "huge",
    "401",
    "503",
    "context_length",
    "429_date",
    "401_echo",
    "unsupported_parameter",
    "cut",
    "unknown_field",
)


@dataclass
class Behaviour:
    refuse_json_schema: bool = False
    # As OpenAI's reasoning models: max_tokens and a temperature of their own refused.
    reasoning: bool = False
    free_text: bool = False
    delay_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    always: str | None = None
    drip_s: float = 0.3
    huge_bytes: int = 3_000_000
    prompt_tokens: int = 20
    script: Callable[[dict[str, Any]], str] | None = None
    retry_after: str = "0"
    retry_after_s: float = 2.0
    # A word written in place of a label ({"spam": "junk"}), as a model may answer.
    written: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        unknown = {*self.faults, self.always} - {*FAULTS, None}
        assert not unknown, f"unknown faults {unknown}"


def answer_for(text: str) -> str:
    lowered = text.lower()
    return "spam" if "subscribe" in lowered or "http" in lowered else "ham"


def confidence_for(text: str) -> float:
    lowered = text.lower()
    return 0.6 if "http" in lowered and "subscribe" not in lowered else 0.9


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: object) -> None:
        pass

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        # The client may have given up waiting ("slow"); that is the point of the fault.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(status, json.dumps(body).encode(), headers)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.requests.append(body)
            behaviour.times.append(time.monotonic())
            fault = behaviour.faults.pop(0) if behaviour.faults else behaviour.always
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        if fault == "429":
            self._send(
                429, {"error": {"message": "slow down"}}, {"Retry-After": behaviour.retry_after}
            )
            return
        if fault == "500":
            self._send(500, {"error": {"message": "try later"}})
            return
        if fault == "503":
            self._send(503, {"error": {"message": "service unavailable"}})
            return
        if fault == "context_length":
            too_long = {
                "message": "This model's maximum context length is 2048 tokens.",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            }
            self._send(400, {"error": too_long})
            return
        if fault == "unknown_field":
            # As a serde-based server refuses a field of the schema format it lacks.
            refused = "Invalid request: unknown field `strict`, expected one of `name`, `schema`"
            self._send(400, {"error": {"message": refused}})
            return
        if fault == "unsupported_parameter":
            # As OpenAI refuses max_tokens for a reasoning model.
            refused = {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this "
                "model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
            self._send(400, {"error": refused})
            return
        if fault == "429_date":
            when = formatdate(time.time() + behaviour.retry_after_s, usegmt=True)
            self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": when})
            return
        if fault == "401_echo":
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
            return
        if fault == "malformed":
            self._send_bytes(200, b'{"id": "chatcmpl-1", "choices": [{"mess')
            return
        if fault == "cut":
            # A body that ends before its Content-Length, as a dropped stream leaves it.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b'{"id": "chatcmpl-1", "choices": [{"mess')
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        if fault == "drop":
            self.close_connection = True
            self.connection.close()
            return
        if fault == "quota":
            quota = {
                "message": "You exceeded your current quota, please check your plan.",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
            self._send(429, {"error": quota})
            return
        if fault == "401":
            refused = {"message": "Incorrect API key provided", "code": "invalid_api_key"}
            self._send(401, {"error": {**refused, "type": "invalid_request_error"}})
            return
        if fault == "error_200":
            self._send(200, {"error": {"message": "upstream overloaded", "code": 503}})
            return
        if fault == "drip":
            self._drip(json.dumps(self._completion(body, "ham")).encode())
            return
        if fault == "huge":
            self._send_unsized(json.dumps(self._completion(body, "spam " * behaviour.huge_bytes)))
            return
        if fault == "slow":
            time.sleep(2.0)
        time.sleep(behaviour.delay_s)
        if behaviour.reasoning and ("max_tokens" in body or body.get("temperature", 1) != 1):
            param = "max_tokens" if "max_tokens" in body else "temperature"
            refused = {
                "message": f"Unsupported parameter: '{param}' is not supported with this model.",
                "type": "invalid_request_error",
                "param": param,
                "code": "unsupported_parameter",
            }
            self._send(400, {"error": refused})
            return
        response_format = body.get("response_format", {})
        if behaviour.refuse_json_schema and response_format.get("type") == "json_schema":
            self._send(500, {"error": {"message": "json_schema is not supported"}})
            return
        text = body["messages"][-1]["content"]
        label = behaviour.written.get(answer_for(text), answer_for(text))
        content = (
            behaviour.script(body)
            if behaviour.script
            else f"I think this is {label}."
            if behaviour.free_text
            else json.dumps({"label": label})
        )
        completion = self._completion(body, content)
        if body.get("logprobs") and not behaviour.script:
            completion["choices"][0]["logprobs"] = {
                "content": _token_logprobs(content, label, text)
            }
        if fault == "null_content":
            completion["choices"][0]["message"]["content"] = None
        if fault == "empty_choices":
            completion["choices"] = {}
        self._send(200, completion)

    def _completion(self, body: dict[str, Any], content: str) -> dict[str, Any]:
        tokens = self.behaviour.prompt_tokens
        return {
            "id": f"chatcmpl-{len(self.behaviour.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": tokens, "completion_tokens": 5, "total_tokens": tokens + 5},
        }

    def _drip(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.flush()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for byte in data:
                time.sleep(self.behaviour.drip_s)
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

    def _send_unsized(self, text: str) -> None:
        """A body delimited by closing the connection, so its size is known only by reading."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            data = text.encode()
            for start in range(0, len(data), 65536):
                self.wfile.write(data[start : start + 65536])


def _token_logprobs(content: str, label: str, text: str) -> list[dict[str, Any]]:
    """The answer split into tokens around the label; only the label's token is uncertain."""
    start = content.rindex(label)
    pieces = [content[:start], content[start : start + len(label)], content[start + len(label) :]]
    logprobs = [0.0, math.log(confidence_for(text)), 0.0]
    return [
        {"token": piece, "logprob": logprob, "bytes": None, "top_logprobs": []}
        for piece, logprob in zip(pieces, logprobs, strict=True)
        if piece
    ]


class OpenAIServer:
    """Start with ``with OpenAIServer() as server:``; ``server.base_url`` is its /v1 root."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.behaviour.requests
