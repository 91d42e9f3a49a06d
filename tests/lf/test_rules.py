"""Rule files: one `keyword -> label` or `/regex/ -> label` per line, each an LF."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from labelkit import Task, Workspace
from labelkit.errors import InputError
from labelkit.lf import apply_lfs_to_frame, keyword_lf, load_lfs, load_rules
from tests.lf.test_cli_apply import run

TEXTS = [
    "Please SUBSCRIBED to my channel",  # a stem, any case
    "unsubscribe me from this",  # a stem must start a word
    "check   out\nmy page",  # a phrase over any whitespace
    "checkout my page",  # ...but whole words
    "see https://spam.example now",
    "I love this song",
    "lovely song",  # a plain keyword is a whole word
]


def rule_file(tmp_path: Path, body: str, name: str = "spam.rules") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def votes(lfs: list, texts: list[str], labels: tuple[str, ...] = ("ham", "spam")) -> dict:
    frame = apply_lfs_to_frame(lfs, pl.DataFrame({"text": texts}), labels=list(labels))
    return frame.matrix.to_frame().drop("example_id").to_dict(as_series=False)


def test_each_rule_is_an_lf_named_by_its_line_voting_where_it_matches(tmp_path: Path) -> None:
    path = rule_file(
        tmp_path,
        "# spam rules, written by hand\n\n"
        "subscrib* -> spam\n"
        "check out my -> spam\n"
        "  /https?://\\S+/ -> spam\n"
        "love -> ham\n",
    )
    lfs = load_lfs(str(path))
    assert [lf.name for lf in lfs] == [
        "subscrib* -> spam",
        "check out my -> spam",
        "/https?://\\S+/ -> spam",
        "love -> ham",
    ]
    assert votes(lfs, TEXTS) == {
        "subscrib* -> spam": ["spam", None, None, None, None, None, None],
        "check out my -> spam": [None, None, "spam", None, None, None, None],
        "/https?://\\S+/ -> spam": [None, None, None, None, "spam", None, None],
        "love -> ham": [None, None, None, None, None, "ham", None],
    }


def test_a_comment_follows_the_label_and_a_regex_may_hold_an_arrow_or_a_hash(
    tmp_path: Path,
) -> None:
    path = rule_file(tmp_path, "/#\\d+ -> /  ->  spam   # a tag, then an arrow\nlove->ham#x\n")
    lfs = load_rules(path)
    assert [lf.name for lf in lfs] == ["/#\\d+ -> / -> spam", "love -> ham"]
    assert votes(lfs, ["see #42 -> there", "#42 alone", "love it"]) == {
        "/#\\d+ -> / -> spam": ["spam", None, None],
        "love -> ham": [None, None, "ham"],
    }


def test_a_rule_commented_out_with_a_space_after_the_hash_is_a_comment(tmp_path: Path) -> None:
    lfs = load_rules(rule_file(tmp_path, "# love -> ham\n#   subscribe -> spam\nsong -> ham\n"))
    assert [lf.name for lf in lfs] == ["song -> ham"]
    hashtag = load_rules(rule_file(tmp_path, '"#MakeAmericaGreatAgain" -> favor\n', "t.rules"))
    assert votes(
        hashtag, ["go #MakeAmericaGreatAgain!", "MakeAmericaGreatAgain"], ("favor", "x")
    ) == {"#MakeAmericaGreatAgain -> favor": ["favor", None]}


def test_a_single_keyword_rule_is_the_keyword_lf_written_in_python(tmp_path: Path) -> None:
    (rule,) = load_rules(rule_file(tmp_path, "love -> ham\n", "a.txt"))
    # Same definition, so votes stored for the Python LF stay current for the rule.
    assert rule.definition == keyword_lf("other name", ["love"], "ham").definition


def test_a_rule_on_an_attribute_votes_that_attribute(tmp_path: Path) -> None:
    task = Task(labels=("positive", "negative"), kind="aspects", attributes=("staff", "food"))
    lfs = load_rules(rule_file(tmp_path, "waiter* -> staff:mentioned\nrude -> staff:negative\n"))
    applied = apply_lfs_to_frame(
        lfs, pl.DataFrame({"text": ["the waiters were rude", "good food"]}), labels=task
    )
    assert [lf.attribute for lf in lfs] == ["staff", "staff"]
    assert applied.matrices["staff"].to_frame().drop("example_id").to_dict(as_series=False) == {
        "waiter* -> staff:mentioned": ["mentioned", None],
        "rude -> staff:negative": ["negative", None],
    }
    assert applied.matrices["food"].to_frame().drop("example_id").null_count().row(0) == (2, 2)


def test_quotes_around_a_keyword_or_phrase_are_dropped_but_kept_in_a_regex(
    tmp_path: Path,
) -> None:
    # Kept, the quotes had to be in the text, so a quoted phrase matched nothing.
    path = rule_file(
        tmp_path,
        '"not happy" -> sad\n\'glad\' -> happy\n"sunny day*" -> happy\n/"quoted"/ -> sad\n',
    )
    lfs = load_rules(path)
    assert [lf.name for lf in lfs] == [
        "not happy -> sad",
        "glad -> happy",
        "sunny day* -> happy",
        '/"quoted"/ -> sad',
    ]
    texts = ["I am not  happy", "so glad", "sunny days ahead", 'he said "quoted"', "quoted"]
    assert votes(lfs, texts, ("happy", "sad")) == {
        "not happy -> sad": ["sad", None, None, None, None],
        "glad -> happy": [None, "happy", None, None, None],
        "sunny day* -> happy": [None, None, "happy", None, None],
        '/"quoted"/ -> sad': [None, None, None, "sad", None],
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("love -> ham\nsubscribe spam\n", "spam.rules:2: not a rule: 'subscribe spam'"),
        ("love -> ham\n# ok\n/[a-/ -> spam\n", "spam.rules:3: labeling function '/[a-/ -> spam'"),
        ("/https -> spam\n", "spam.rules:1: rule '/https -> spam': a regex goes between two"),
        ("/https/ spam\n", "spam.rules:1: rule '/https/ spam': a regex goes between two"),
        ("sub*scribe -> spam\n", "spam.rules:1: rule 'sub*scribe -> spam': '*' marks a stem"),
        ("love ->\n", "spam.rules:1: rule 'love ->' names no label"),
        ("waiter -> :negative\n", "spam.rules:1: rule 'waiter -> :negative' names no label"),
        ("love -> ham\n\nlove  ->  ham\n", "spam.rules:3: rule 'love -> ham' repeats line 1"),
        ("# nothing yet\n", "spam.rules: no rules"),
        ('love -> ham\n"love" -> ham\n', "spam.rules:2: rule 'love -> ham' repeats line 1"),
        # Trial 29: keywords match in any case, so these vote alike, twice.
        ("trump -> favor\nTrump -> favor\n", "spam.rules:2: rule 'Trump -> favor' repeats line 1"),
        ("' ' -> ham\n", "spam.rules:1: rule \"' ' -> ham\": nothing between the quotes"),
        (
            "love -> ham\n#MakeAmericaGreatAgain -> trump:favor\n",
            "spam.rules:2: '#MakeAmericaGreatAgain -> trump:favor' starts with '#', which makes",
        ),
    ],
)
def test_a_bad_line_is_an_error_naming_the_file_and_line(
    tmp_path: Path, body: str, message: str
) -> None:
    path = rule_file(tmp_path, body)
    with pytest.raises(InputError) as error:
        load_lfs(str(path))
    assert str(error.value).startswith(f"{tmp_path}/{message}")


def test_a_byte_order_mark_is_not_part_of_the_first_rule(tmp_path: Path) -> None:
    # Trial 50a: a rule file saved by Notepad started with a BOM, which became part of
    # the first rule's keyword; the rule then voted on nothing.
    path = tmp_path / "de.rules"
    path.write_bytes("\ufeffpaket -> spam\nliebe -> ham\n".encode())
    lfs = load_rules(path)
    assert [lf.name for lf in lfs] == ["paket -> spam", "liebe -> ham"]
    assert votes(lfs, ["Paket fehlt", "Liebe Grüße"]) == {
        "paket -> spam": ["spam", None],
        "liebe -> ham": [None, "ham"],
    }


def test_a_rule_file_in_another_encoding_is_named_with_its_line(tmp_path: Path) -> None:
    # Trial 50a: a cp1252 rule file failed with Python's codec message alone.
    path = tmp_path / "cp.rules"
    path.write_bytes("paket -> spam\nröhre -> ham\n".encode("cp1252"))
    with pytest.raises(InputError) as error:
        load_rules(path)
    assert str(error.value) == (
        f"{path} line 2: byte 0xf6 is not valid UTF-8: save the rule file as UTF-8 "
        "(in most editors: Save As, encoding UTF-8)"
    )


def test_labelkit_apply_takes_a_rule_file_and_stores_each_rules_votes(tmp_path: Path) -> None:
    ws = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("id,text\nc1,subscribing now\nc2,nice song\nc3,I love it\n")
    assert run("ingest", ws, csv, "--id-column", "id", "--labels", "ham,spam").returncode == 0
    rules = rule_file(tmp_path, "subscrib* -> spam\nlove -> ham\nlove -> hma\n", "rules.txt")

    misspelt = run("apply", ws, "--lfs", rules)
    assert misspelt.returncode == 1
    assert f"{rules}:3: labeling function 'love -> hma' votes 'hma'" in misspelt.stderr
    assert "['ham', 'spam'] (did you mean 'ham'?)" in misspelt.stderr
    # Trial 54e: a class left out of the labels at the first ingest, and nothing said so.
    assert "a workspace's labels are set at its first ingest: to add one, ingest into" in (
        " ".join(misspelt.stderr.split())
    )

    rules.write_text("subscrib* -> spam\nlove -> ham\n")
    applied = run("apply", ws, "--lfs", rules)
    assert applied.returncode == 0, applied.stderr
    with Workspace(ws, read_only=True) as workspace:
        assert workspace.sql("SELECT source, example_id, label FROM votes ORDER BY 2").rows() == [
            ("subscrib* -> spam", "c1", "spam"),
            ("love -> ham", "c3", "ham"),
        ]


def test_the_docs_rule_file_applies_to_a_spam_task_as_written(tmp_path: Path) -> None:
    # Trial 50b: the page's spam.rules held a rule on an attribute and one with a label
    # of another task, so the command under it failed on a spam workspace.
    page = (Path(__file__).parents[2] / "docs" / "labeling_functions.md").read_text()
    body = page.split("```text\n# spam.rules", 1)[1].split("```", 1)[0]
    lfs = load_rules(rule_file(tmp_path, "# spam.rules" + body))
    voted = votes(lfs, ["free   money here", "join #subforsub now", "nice song"])
    assert voted["#subforsub -> spam"] == [None, "spam", None]
    assert voted["free money -> spam"] == ["spam", None, None]
    assert all(value is None for column in voted.values() for value in column[2:])
