from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from labelkit import ABSTAIN, InputError, Task

TASK = Task(labels=("ham", "spam", "eggs"))


def test_encode_and_decode_are_inverse_with_abstain_as_null() -> None:
    codes = TASK.encode(pl.Series(["eggs", None, "ham", "spam"]))
    assert codes.tolist() == [2, ABSTAIN, 0, 1]
    assert TASK.decode(codes).to_list() == ["eggs", None, "ham", "spam"]
    assert TASK.encode([]).tolist() == []


def test_encode_refuses_unknown_labels() -> None:
    with pytest.raises(InputError, match=r"unknown label 'bacon'"):
        TASK.encode(["ham", "bacon"])


def test_a_task_needs_distinct_unpadded_labels() -> None:
    with pytest.raises(InputError, match="at least two labels"):
        Task(labels=("ham",))
    with pytest.raises(InputError, match="distinct"):
        Task(labels=("ham", "ham"))
    with pytest.raises(InputError, match="unpadded"):
        Task(labels=("ham", " spam"))
    assert Task.from_json(TASK.to_json()) == TASK
    assert np.array_equal(TASK.encode(["spam"]), [1])


def test_the_language_travels_with_the_task() -> None:
    german = Task(labels=("ja", "nein"), lang="de")
    assert Task.from_json(german.to_json()).lang == "de"
    assert Task(labels=("ja", "nein")).lang == "en"
    assert german != Task(labels=("ja", "nein"))
