from __future__ import annotations

import polars as pl
import pytest

from labelkit import InputError, Task
from labelkit.lf import compute_votes, keyword_lf, pattern_lf
from labelkit.lf.patterns import load_pipeline

TASK = Task(labels=("ham", "spam"))
TEXTS = [
    "Check it out on My Channel",
    "check out my new video",
    "2 billion views!",
    "checking outdoors",
    "visit www.example.com",
]


def test_phrase_and_token_patterns_vote_where_they_match() -> None:
    lfs = [
        pattern_lf("my_channel", "spam", phrases=["my channel", "my new video"]),
        pattern_lf(
            "check_out",
            "spam",
            token_patterns=[[{"LOWER": "check"}, {"OP": "?"}, {"LOWER": "out"}]],
        ),
        pattern_lf("views", "ham", token_patterns=[[{"LIKE_NUM": True}, {"LOWER": "billion"}]]),
        pattern_lf("url", "spam", token_patterns=[[{"LIKE_URL": True}]]),
        pattern_lf("exact_case", "spam", phrases=["My Channel"], attr="ORTH"),
        keyword_lf("video", ["video"], "ham"),
    ]
    frame = pl.DataFrame({"id": [str(i) for i in range(len(TEXTS))], "text": TEXTS})
    codes = compute_votes(lfs, frame, TASK).matrix.codes
    assert codes.tolist() == [
        [1, 1, -1, -1, 1, -1],
        [1, 1, -1, -1, -1, 0],
        [-1, -1, 0, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1],
        [-1, -1, -1, 1, -1, -1],
    ]


def test_bad_patterns_and_missing_pipelines_are_named() -> None:
    with pytest.raises(InputError, match="pattern LF 'typo': invalid pattern"):
        pattern_lf("typo", "spam", token_patterns=[[{"LOWR": "x"}]])
    with pytest.raises(InputError, match="pattern LF 'empty' needs phrases or token_patterns"):
        pattern_lf("empty", "spam")
    lf = pattern_lf("pos", "spam", token_patterns=[[{"POS": "PROPN"}]], model="no_such_pipeline")
    frame = pl.DataFrame({"id": ["1"], "text": ["Alice"]})
    # Trial 51c: on the blank pipeline, a POS pattern failed on the first text in spaCy's
    # E155, naming no LF.
    noun = pattern_lf("noun", "spam", token_patterns=[[{"POS": "NOUN"}]])
    with pytest.raises(
        InputError, match=r"pattern LF 'noun': its pattern needs what this pipeline does not set"
    ):
        compute_votes([noun], frame, TASK)
    with pytest.raises(InputError, match="spaCy pipeline 'no_such_pipeline' is not available"):
        compute_votes([lf], frame, TASK)
    # Trial 57e: Japanese without sudachipy was told to use 'blank:en'.
    with pytest.raises(
        InputError, match=r"'blank:xyz' is not available \(.*\): it needs a language spaCy has"
    ):
        load_pipeline("blank:xyz")


def test_pattern_lfs_tokenize_in_the_tasks_language() -> None:
    # Chinese is one token per character, English one token per space-free run: the
    # phrase only matches inside the sentence with the Chinese tokenizer.
    likes = pattern_lf("likes", "spam", phrases=["喜欢"])
    frame = pl.DataFrame({"id": ["1", "2"], "text": ["我喜欢你", "你好"]})
    chinese = Task(labels=("ham", "spam"), lang="zh")
    assert compute_votes([likes], frame, chinese).matrix.codes[:, 0].tolist() == [1, -1]
    assert compute_votes([likes], frame, TASK).matrix.codes[:, 0].tolist() == [-1, -1]
    pinned = pattern_lf("pinned", "spam", phrases=["喜欢"], model="blank:en")
    assert compute_votes([pinned], frame, chinese).matrix.codes[:, 0].tolist() == [-1, -1]
