"""A small OpenAI-compatible chat server for tests, on 127.0.0.1, speaking real HTTP.

It answers ``spam`` when the user text mentions "subscribe" or "http" and ``ham``
otherwise, so its accuracy is known. Switches make it misbehave on purpose: refuse
``json_schema`` response formats (as llama.cpp's server does), answer in free text,
or fail the first requests with 429 or 500.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Behaviour:
    refuse_json_schema: bool = False
    free_text: bool = False
    fail_first: int = 0
    fail_status: int = 429
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def answer_for(text: str) -> str:
    lowered = text.lower()
    return "spam" if "subscribe" in lowered or "http" in lowered else "ham"


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, *args: object) -> None:
        pass

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        behaviour = self.behaviour
        with behaviour.lock:
            behaviour.requests.append(body)
            failing = len(behaviour.requests) <= behaviour.fail_first
        if self.path != "/v1/chat/completions":
            self._send(404, {"error": {"message": "not found"}})
            return
        if failing:
            self._send(
                behaviour.fail_status, {"error": {"message": "try later"}}, {"Retry-After": "0"}
            )
            return
        response_format = body.get("response_format", {})
        if behaviour.refuse_json_schema and response_format.get("type") == "json_schema":
            self._send(500, {"error": {"message": "json_schema is not supported"}})
            return
        label = answer_for(body["messages"][-1]["content"])
        content = (
            f"I think this is {label}." if behaviour.free_text else json.dumps({"label": label})
        )
        self._send(
            200,
            {
                "id": f"chatcmpl-{len(behaviour.requests)}",
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
                "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            },
        )


class OpenAIServer:
    """Start with ``with OpenAIServer() as server:``; ``server.base_url`` is its /v1 root."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        handler = type("Handler", (_Handler,), {"behaviour": self.behaviour})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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
