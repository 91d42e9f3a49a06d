from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from labelkit import InputError, Task, keyword_lf, labeling_function, load_lfs, regex_lf
from labelkit.lf import Example, compute_votes

TASK = Task(labels=("ham", "spam"))
FRAME = pl.DataFrame(
    {
        "id": ["1", "2", "3", "4", "5"],
        "text": [
            "Subscribe to me",
            "subscriber count",
            "CHECK it OUT http://a.b",
            "my song",
            "nice",
        ],
    }
)


def votes(lf: object) -> list[str | None]:
    return compute_votes([lf], FRAME, TASK).to_frame()[lf.name].to_list()  # type: ignore[attr-defined]


def test_keywords_match_whole_words_ignoring_case() -> None:
    lf = keyword_lf("sub", ["subscribe"], "spam")
    assert votes(lf) == ["spam", None, None, None, None]


def test_keywords_can_be_case_sensitive_and_phrases() -> None:
    assert votes(keyword_lf("s", ["Subscribe to"], "spam", case_sensitive=True)) == [
        "spam",
        None,
        None,
        None,
        None,
    ]
    assert votes(keyword_lf("s", ["subscribe"], "spam", case_sensitive=True)) == [None] * 5


def test_regex_matches_anywhere() -> None:
    assert votes(regex_lf("link", r"https?://", "spam")) == [None, None, "spam", None, None]
    assert votes(regex_lf("co", r"check\W+(\w+\W+)?out", "spam")) == [
        None,
        None,
        "spam",
        None,
        None,
    ]


def test_invalid_regex_names_the_lf() -> None:
    with pytest.raises(InputError, match=r"regex LF 'bad': invalid pattern"):
        regex_lf("bad", r"(?<=x)y", "spam")


def test_python_lf_gets_the_example() -> None:
    @labeling_function
    def short(x: Example) -> str | None:
        return "ham" if len(x.text.split()) < 2 else None

    @labeling_function(name="by_id")
    def odd_ids(x: Example) -> str | None:
        return "spam" if int(x.id) % 2 else None

    assert short.name == "short" and odd_ids.name == "by_id"
    assert votes(short) == [None, None, None, None, "ham"]
    assert votes(odd_ids) == ["spam", None, "spam", None, "spam"]


def test_mixed_lfs_fill_their_own_columns() -> None:
    lfs = [
        keyword_lf("song", ["song"], "ham"),
        labeling_function(lambda x: "spam" if "http" in x.text else None, name="http"),
        keyword_lf("my", ["my"], "spam"),
    ]
    matrix = compute_votes(lfs, FRAME, TASK)
    assert matrix.sources == ["song", "http", "my"]
    assert matrix.codes.tolist() == [
        [-1, -1, -1],
        [-1, -1, -1],
        [-1, 1, -1],
        [0, -1, 1],
        [-1, -1, -1],
    ]


def test_definitions_differ_when_lfs_differ() -> None:
    a = keyword_lf("k", ["a"], "spam")
    assert a.definition == keyword_lf("k", ["a"], "spam").definition
    assert a.definition != keyword_lf("k", ["b"], "spam").definition


def test_load_lfs_from_module_and_file(tmp_path: Path) -> None:
    names = [lf.name for lf in load_lfs("labeling_functions.youtube")]
    assert names[:3] == ["keyword_my", "keyword_subscribe", "keyword_link"]
    assert "short_comment" in names
    file = tmp_path / "my_lfs.py"
    file.write_text(
        "from labelkit import keyword_lf\nfree = keyword_lf('free', ['free'], 'spam')\n"
    )
    assert [lf.name for lf in load_lfs(str(file))] == ["free"]
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(InputError, match="defines no labeling functions"):
        load_lfs(str(empty))
