"""The local route without compiling llama.cpp: a stand-in ``llama_cpp.server`` module,
put first on the path, speaks the test server's HTTP (``LLAMA_STANDIN=serve``) or
dies with a segfault on the first completion, as a natively built llama.cpp did on
another CPU (``LLAMA_STANDIN=crash``). Like uvicorn, it binds the port it is given
(0: a free one) and logs where it runs; ``LLAMA_STANDIN_PORT_TAKEN`` has another
socket take that port just before it binds, as another process can."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from labelkit import LabelkitError, LLMConfig, Workspace, label_with_llm
from labelkit.llm.local import local_llm_server
from tests.openai_server import answer_for

ROOT = Path(__file__).resolve().parents[2]
STANDIN = """
import argparse, os, signal, socket, sys, time
from http.server import ThreadingHTTPServer
from tests.openai_server import Behaviour, _Handler

parser = argparse.ArgumentParser()
for option in ("--model", "--model_alias", "--host", "--port", "--n_ctx", "--n_threads"):
    parser.add_argument(option)
args = parser.parse_args()
print(f"llama_model_loader: loaded {args.model}", flush=True)


class Handler(_Handler):
    behaviour = Behaviour()

    def do_GET(self):
        self._send(200, {"object": "list", "data": [{"id": args.model_alias}]})

    def do_POST(self):
        if os.environ["LLAMA_STANDIN"] == "crash":
            print("ggml_compute_forward: illegal AMX tile configuration", flush=True)
            os.kill(os.getpid(), signal.SIGSEGV)
            # The signal can land after this thread goes on: it must never answer.
            time.sleep(60)
        super().do_POST()


if os.environ.get("LLAMA_STANDIN_PORT_TAKEN"):
    taken = socket.create_server((args.host, int(args.port)))
server = ThreadingHTTPServer((args.host, int(args.port)), Handler)
print(f"INFO:     Uvicorn running on http://{args.host}:{server.server_address[1]}", flush=True)
server.serve_forever()
"""
CONFIG = LLMConfig(
    model="standin", instructions="Is this comment spam?", max_retries=0, concurrency=1
)


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GGUF file (empty: the stand-in never reads it), with the stand-in server on the path."""
    package = tmp_path / "standin" / "llama_cpp"
    (package / "server").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "server" / "__init__.py").write_text("")
    (package / "server" / "__main__.py").write_text(STANDIN)
    path = os.pathsep.join([str(package.parent), str(ROOT), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.syspath_prepend(str(package.parent))
    model = tmp_path / "model.gguf"
    model.write_bytes(b"")
    return model


def test_a_local_server_that_dies_is_reported_with_its_own_output(
    workspace: Workspace, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_STANDIN", "crash")
    with (
        pytest.raises(LabelkitError) as raised,
        local_llm_server(standin, alias="standin") as base_url,
    ):
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=base_url))
    message = str(raised.value)
    assert f"exited with -{int(signal.SIGSEGV)}" in message
    assert "illegal AMX tile configuration" in message, "the server's own output"
    assert stats.answered == 0 and stats.not_asked > 0
    assert stats.stopped is not None and "illegal AMX tile configuration" in stats.stopped


def test_a_port_taken_before_the_server_binds_it_does_not_stop_the_server(
    workspace: Workspace, standin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process binding the port between its choice and the server's bind made
    # the server exit with "Address already in use" (or left the client talking to
    # that other process): the server must choose the port itself.
    monkeypatch.setenv("LLAMA_STANDIN", "serve")
    monkeypatch.setenv("LLAMA_STANDIN_PORT_TAKEN", "1")
    with local_llm_server(standin, alias="standin") as base_url:
        stats = label_with_llm(workspace, dataclasses.replace(CONFIG, base_url=base_url))
    assert stats.stopped is None, stats.stopped
    assert (stats.answered, stats.failed) == (6, 0)
    votes = dict(workspace.sql("SELECT example_id, label FROM votes").rows())
    texts = dict(workspace.sql("SELECT id, text FROM examples").rows())
    assert votes == {i: answer_for(t) for i, t in texts.items()}


def test_llm_local_serves_the_model_file_for_the_run(workspace: Workspace, standin: Path) -> None:
    path = workspace.path
    workspace.close()
    command = [
        sys.executable, "-m", "labelkit", "llm", str(path), "--local", "--model-file",
        str(standin), "--model", "standin", "--instructions", "Spam?", "--split", "all",
    ]  # fmt: skip
    env = {**os.environ, "LLAMA_STANDIN": "serve"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert "llm:standin: 6 prompts, 0 cached, 6 answered, 0 failed" in result.stdout
    # Trial 62a: every run probed json_schema, which llama.cpp's server refuses.
    assert "response format json_object" in result.stdout
    assert "refused response format" not in result.stderr
    with Workspace(path, read_only=True) as ws:
        votes = dict(ws.sql("SELECT example_id, label FROM votes").rows())
        texts = dict(ws.sql("SELECT id, text FROM examples").rows())
    assert votes == {i: answer_for(t) for i, t in texts.items()}
