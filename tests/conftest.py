from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import Workspace, ingest

TEXTS = [
    ("a1", "subscribe to my channel please", "spam", "train"),
    ("a2", "check out my website http://x.io", "spam", "train"),
    ("a3", "I love this song so much", "ham", "train"),
    ("a4", "great video", "ham", "train"),
    ("a5", "subscribe for free money", "spam", "test"),
    ("a6", "best song ever written", "ham", "test"),
]


@pytest.fixture
def examples_csv(tmp_path: Path) -> Path:
    path = tmp_path / "examples.csv"
    pl.DataFrame(
        {
            "id": [t[0] for t in TEXTS],
            "text": [t[1] for t in TEXTS],
            "label": [t[2] for t in TEXTS],
            "split": [t[3] for t in TEXTS],
        }
    ).write_csv(path)
    return path


@pytest.fixture
def workspace(tmp_path: Path, examples_csv: Path) -> Iterator[Workspace]:
    """A workspace on disk holding the six small examples above."""
    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(ws, examples_csv, id_column="id", label_column="label", split_column="split")
        yield ws


@pytest.fixture(autouse=True)
def _registries_as_they_were() -> Iterator[None]:
    """Parts a test registers in labelkit's registries are gone after it: they would list
    in the next test of the same worker (the second read: `aggregate --help`'s names then
    failed). Labelkit's shipped parts are registered before, and only labelkit's
    registries are cleaned: parts registered once, on a module's first import, in a
    test were gone for the next ones ("unknown executor 'local'", and spaCy's
    "Could not find function 'spacy.Tokenizer.v1'"), where the files ran in an order
    the CI's workers did not happen to use."""
    import catalogue

    from labelkit.registry import every_registry

    every_registry()
    before = dict(catalogue.REGISTRY)
    yield
    for key in set(catalogue.REGISTRY) - set(before):
        if key[0] == "labelkit":
            del catalogue.REGISTRY[key]
    catalogue.REGISTRY.update(before)
