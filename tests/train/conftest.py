from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache of distilled MiniLM models that lives for the session: distilling takes
    about 20 s, so the tests that need it share one, and none writes to ~/.cache."""
    cache = tmp_path_factory.mktemp("labelkit-cache")
    before = os.environ.get("LABELKIT_CACHE")
    os.environ["LABELKIT_CACHE"] = str(cache)
    yield cache
    if before is None:
        del os.environ["LABELKIT_CACHE"]
    else:
        os.environ["LABELKIT_CACHE"] = before
