"""LLM stage throughput: requests/s against an instant local server, and cached replays.

Live: ``label_with_llm`` asks 10k distinct prompts (synthetic comments, classification)
at concurrency 1, 4, 16, 64 and 256 of an OpenAI-compatible server on 127.0.0.1 that
answers at once. The server is a bare asyncio HTTP/1.1 server (keep-alive, one canned
``{"label": "ham"}`` completion, no JSON parsing) in its own process, so that it is not
the bottleneck; beside labelkit, a bare client loop (the same ``openai.AsyncOpenAI``
call labelkit makes, through the same client, at the same concurrency, nothing else;
2,000 requests) shows what the client and server reach alone. Then the same prompts go out from Ray tasks (``--executor ray``)
by 1, 2 and 4 workers, 16 requests in flight each, on a local Ray cluster started
beforehand. Each run asks under its own model name, so every run starts uncached; the
wall time covers the whole call: prompts built, every answer cached, the votes written.

Dry run and cached replay: a workspace of 100k and 1M examples. First the dry run
(``estimate_llm_run``: every prompt built and looked up in an empty cache, tokens and
cost estimated), then every answer is put in the cache (inserted directly) and the
workspace labelled again with ``label_with_llm``: the wall seconds of building the
prompts, reading the cache and writing the votes.

Target (issue 21, point 2): 1,000 requests/s at some concurrency, and a 1M dry run and
a 1M replay in seconds. A part left out (``--skip-live``, ``--skip-replay``) keeps its
earlier records in the results file. Times are wall seconds on whatever machine runs it: on a shared, loaded one
they are rough.

    nice -n 10 python benchmarks/llm_throughput.py
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from _common import parser, write_results

from labelkit import LLMConfig, Workspace, ingest, label_with_llm
from labelkit.executors import Executor
from labelkit.llm import estimate_llm_run
from labelkit.llm.labeler import _DISTINCT, _prompt_tables, _prompts
from labelkit.llm.transport import async_client

CONCURRENCY = (1, 4, 16, 64, 256)
RAY_WORKERS = (1, 2, 4)
RAY_CONCURRENCY = 16
LIVE_PROMPTS = 10_000
LIVE_DATASET = f"synthetic {LIVE_PROMPTS:,} prompts"
# The bare loop's rate settles within a few thousand requests.
BARE_REQUESTS = 2_000
REPLAYS = (100_000, 1_000_000)
INSTRUCTIONS = "Is this YouTube comment spam?"

_BODY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "instant",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"label": "ham"}'},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
    }
).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BODY)}\r\n\r\n".encode()
    + _BODY
)


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            writer.write(_RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve(listener: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve_connection, sock=listener, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextmanager
def instant_server() -> Iterator[str]:
    """An OpenAI-compatible endpoint in its own process that answers every request at once."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(listener,), daemon=True
    )
    process.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        process.kill()
        process.join()
        listener.close()


async def _bare_loop(base_url: str, concurrency: int, requests: int) -> float:
    """Seconds for ``requests`` calls at ``concurrency`` with labelkit's client call alone."""
    client = async_client(base_url, "k")
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            create = client.chat.completions.with_streaming_response.create
            arguments = {
                "model": "bare",
                "messages": [{"role": "user", "content": f"comment {i}"}],
                "max_tokens": 16,
            }
            async with create(model="bare", messages=[], extra_body=arguments) as response:
                json.loads(await response.read())

    async with client:
        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(requests)))
        return time.perf_counter() - started


def _texts(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"c{i:07d}" for i in range(n)],
            "text": [
                f"comment number {i}: check out my channel and song {i % 97}" for i in range(n)
            ],
        }
    )


def _workspace(folder: Path, n: int) -> Workspace:
    path = folder / f"texts_{n}.csv"
    _texts(n).write_csv(path)
    workspace = Workspace(folder / f"ws_{n}.duckdb")
    ingest(workspace, path, id_column="id", labels=["ham", "spam"])
    return workspace


def live(folder: Path) -> list[dict[str, Any]]:
    records = []
    with instant_server() as base_url, _workspace(folder, LIVE_PROMPTS) as workspace:
        for concurrency in CONCURRENCY:
            bare = asyncio.run(_bare_loop(base_url, concurrency, BARE_REQUESTS))
            record = _live_run(workspace, base_url, f"instant-c{concurrency}", concurrency)
            records.append(
                {"dataset": LIVE_DATASET, "method": "live, instant local server"}
                | record
                | {"bare_client_requests_per_s": round(BARE_REQUESTS / bare)}
            )
            print(records[-1], flush=True)
        records += ray_live(workspace, base_url)
    return records


def _live_run(
    workspace: Workspace,
    base_url: str,
    model: str,
    concurrency: int,
    executor: str | Executor = "local",
) -> dict[str, Any]:
    """Every prompt asked anew (a model name of its own) from ``executor``, timed."""
    config = LLMConfig(
        model=model,
        instructions=INSTRUCTIONS,
        base_url=base_url,
        api_key="k",
        concurrency=concurrency,
        response_format="json_schema",
    )
    started = time.perf_counter()
    stats = label_with_llm(workspace, config, executor=executor)
    seconds = time.perf_counter() - started
    assert stats.answered == LIVE_PROMPTS, stats
    return {
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "requests_per_s": round(LIVE_PROMPTS / seconds),
    }


def ray_live(workspace: Workspace, base_url: str) -> list[dict[str, Any]]:
    """The same prompts sent from Ray tasks (``--executor ray``) by 1, 2 and 4 workers,
    at ``RAY_CONCURRENCY`` each, on a local cluster started once beforehand."""
    import ray

    from labelkit.executors.ray_data import RayExecutor

    records = []
    ray.init(num_cpus=max(RAY_WORKERS), include_dashboard=False, logging_level="WARNING")
    try:
        for workers in RAY_WORKERS:
            record = _live_run(
                workspace,
                base_url,
                f"instant-ray{workers}",
                RAY_CONCURRENCY,
                RayExecutor(workers=workers),
            )
            method = f"live, ray executor, {workers} workers"
            records.append({"dataset": LIVE_DATASET, "method": method} | record)
            print(records[-1], flush=True)
    finally:
        ray.shutdown()
    return records


def replay(folder: Path, n: int) -> list[dict[str, Any]]:
    config = LLMConfig(model="recorded", instructions=INSTRUCTIONS)
    with _workspace(folder, n) as workspace:
        started = time.perf_counter()
        estimate = estimate_llm_run(workspace, config)
        dry_seconds = time.perf_counter() - started
        assert estimate.to_ask == n, estimate
        with _prompt_tables(workspace, _prompts(workspace, config, None), None, refresh=False):
            keys = workspace.sql(f"SELECT key FROM {_DISTINCT}")["key"]
        answers = pl.DataFrame({"key": keys}).with_columns(
            model=pl.lit("recorded"),
            request=pl.lit("{}"),
            response=pl.lit('{"label": "spam"}'),
            prompt_tokens=pl.lit(20),
            completion_tokens=pl.lit(5),
        )
        workspace.con.register("synthetic_answers", answers)
        workspace.con.execute(
            """INSERT INTO llm_cache (key, model, request, response, prompt_tokens,
                                      completion_tokens, created_at)
               SELECT key, model, request, response, prompt_tokens, completion_tokens,
                      now()::TIMESTAMP
               FROM synthetic_answers"""
        )
        workspace.con.unregister("synthetic_answers")
        started = time.perf_counter()
        stats = label_with_llm(workspace, config)
        seconds = time.perf_counter() - started
    assert stats.cached == n and stats.answered == 0, stats
    records = [
        {
            "dataset": f"synthetic {n:,} prompts",
            "method": "dry run (estimate, nothing cached)",
            "seconds": round(dry_seconds, 2),
            "requests_per_s": round(n / dry_seconds),
        },
        {
            "dataset": f"synthetic {n:,} prompts",
            "method": "cached replay",
            "seconds": round(seconds, 2),
            "requests_per_s": round(n / seconds),
        },
    ]
    print(*records, sep="\n", flush=True)
    return records


def _earlier(output_dir: Path, live: bool) -> list[dict[str, Any]]:
    """The records of the part a run leaves out, from the results file it rewrites."""
    path = output_dir / "llm_throughput.json"
    if not path.is_file():
        return []
    return [
        record
        for record in json.loads(path.read_text(encoding="utf-8"))
        if record["method"].startswith("live") == live
    ]


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--skip-live", action="store_true")
    arguments.add_argument("--skip-replay", action="store_true")
    options = arguments.parse_args()
    records = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        if options.skip_live:
            records += _earlier(options.output_dir, live=True)
        else:
            records += live(Path(folder))
        if options.skip_replay:
            records += _earlier(options.output_dir, live=False)
        else:
            records += [record for n in REPLAYS for record in replay(Path(folder), n)]
    load = f"{load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end"
    if options.skip_live or options.skip_replay:
        kept = "live" if options.skip_live else "dry-run and replay"
        load += f" (the {kept} rows are an earlier run's)"
    notes = (
        "Wall seconds, one run each; the server is a bare asyncio HTTP server in its own "
        "process, and the bare client loop is labelkit's openai call alone at the same "
        f"concurrency ({BARE_REQUESTS:,} requests). Load average {load} of the run, "
        "under nice: the numbers are rough, and what matters is labelkit against the "
        "bare loop on the same machine at the same time."
    )
    write_results("llm_throughput", records, options.output_dir, notes=notes)


if __name__ == "__main__":
    main()
