"""`labelkit apply` as a user runs it: a subprocess, a workspace file, an LF file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from labelkit import Workspace
from labelkit.votes import definition_hash


def run(
    *args: str | Path,
    timeout: float = 600,
    keys: str | None = None,
    columns: int = 200,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``labelkit ARGS`` in a subprocess, ``keys`` piped to its stdin, ``COLUMNS`` and
    ``env`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")} | (env or {})
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *map(str, args)],
        input=keys,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    path = tmp_path / "ws.duckdb"
    csv = tmp_path / "a.csv"
    csv.write_text("id,text,label\nc1,hello there,ham\nc2,buy now,spam\nc3,nice song,ham\n")
    ingested = run("ingest", path, csv, "--id-column", "id", "--label-column", "label")
    assert ingested.returncode == 0, ingested.stderr
    return path


def lf_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lfs.py"
    path.write_text("import sys\nfrom labelkit import labeling_function, keyword_lf\n" + body)
    return path


def stored(ws: Path) -> list[tuple[str, str]]:
    with Workspace(ws, read_only=True) as workspace:
        return workspace.sql("SELECT source, example_id FROM votes ORDER BY 1, 2").rows()


def test_an_lf_file_with_a_syntax_error_is_one_line_naming_file_and_line(
    tmp_path: Path, ws: Path
) -> None:
    lfs = lf_file(tmp_path, "\n@labeling_function\ndef oops(x)\n    return None\n")
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {lfs}:5: cannot load labeling functions: SyntaxError: expected ':'"
    )


def test_sys_exit_inside_an_lf_is_reported_as_that_lfs_failure(tmp_path: Path, ws: Path) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def quitter(x):\n"
        "    if 'buy' in x.text:\n"
        "        sys.exit(0)\n"
        "    return 'ham'\n",
    )
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 0, result.stderr
    assert "warning: 1 failed row abstained (quitter: 1)" in result.stderr
    assert "SystemExit: the LF called sys.exit(0)" in result.stderr
    assert "quitter" in result.stdout and "buy" in result.stdout
    assert stored(ws) == [("buy", "c2"), ("quitter", "c1"), ("quitter", "c3")]
    # Trial 56c: LABELKIT_STRICT let a run with failed rows exit 0, under 1,000 of them;
    # the rerun of an LF that failed before did too. The votes are kept either way.
    strict = run("apply", ws, "--lfs", lfs, env={"LABELKIT_STRICT": "1"})
    assert strict.returncode == 1
    assert "rerun as they failed on some rows last time: quitter" in strict.stdout
    assert "error: 1 failed row abstained (quitter: 1)" in strict.stderr
    assert stored(ws) == [("buy", "c2"), ("quitter", "c1"), ("quitter", "c3")]


def test_the_failed_rows_table_fits_the_width_columns_gives(tmp_path: Path, ws: Path) -> None:
    long_text = "a long comment\nwith a line break, " + "on and on " * 20
    more = tmp_path / "more.csv"
    more.write_text(f'id,text\nc4,"{long_text}"\n')
    assert run("ingest", ws, more, "--id-column", "id").returncode == 0
    lfs = lf_file(
        tmp_path,
        "@labeling_function\n"
        "def wordy(x):\n"
        "    if 'on and on' in x.text:\n"
        "        raise ValueError('this LF cannot read a text as long as this one ' * 3)\n"
        "    return 'ham'\n",
    )
    result = run("apply", ws, "--lfs", lfs, columns=60)
    assert result.returncode == 0, result.stderr
    assert "1 failed row abstained (wordy: 1)" in result.stderr
    # After apply's two progress lines and the table's title, before the warning.
    table = result.stderr.splitlines()[3:-1]
    assert result.stderr.splitlines()[-1].startswith("warning: 1 failed row abstained")
    assert table[0].startswith("┏") and max(len(line) for line in table) == 60
    assert table[3].startswith("│ wordy │ c4 ") and "a long comment" in table[3]
    assert max(len(line) for line in result.stdout.splitlines()) <= 60


def test_an_lf_failing_on_every_row_exits_1_unless_allowed(tmp_path: Path, ws: Path) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def typo(x):\n"
        "    return x.txt\n",
    )
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 1
    assert "labeling function 'typo' failed on example 'c1'" in result.stderr
    assert "on all 3 examples" in result.stderr and "--allow-failing-lfs" in result.stderr
    assert stored(ws) == []
    allowed = run("apply", ws, "--lfs", lfs, "--allow-failing-lfs")
    assert allowed.returncode == 0, allowed.stderr
    assert "3 failed rows abstained (typo: 3)" in allowed.stderr
    # Trial K: it was also told it voted on nothing for "a misspelt word".
    assert "vote on no example" not in allowed.stderr
    assert stored(ws) == [("buy", "c2")]


def test_an_lf_that_never_returns_a_label_exits_1_naming_it_and_writes_nothing(
    tmp_path: Path, ws: Path
) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def songs(x):\n"
        "    return 'music' if 'song' in x.text else None\n",
    )
    result = run("apply", ws, "--lfs", lfs)
    assert result.returncode == 1
    assert result.stderr.split("\n", 2)[2].startswith(
        "error: labeling function 'songs' failed on example 'c3': it never cast a valid vote: "
        "on the 1 rows where it returned something other than None, it returned 'music', not "
        "one of ['ham', 'spam'] or None; nothing was stored."
    )
    assert stored(ws) == []


def test_rules_and_lfs_that_vote_nowhere_are_warned_of(tmp_path: Path, ws: Path) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text('"buy now" -> spam\ngoodbye -> ham\n[bold]x -> ham\n')
    lfs = lf_file(tmp_path, "@labeling_function\ndef never(x):\n    return None\n")
    result = run("apply", ws, "--lfs", rules, "--lfs", lfs)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: 3 LFs vote on no example at all: goodbye -> ham, [bold]x -> ham, never"
        in result.stderr
    )
    assert result.stderr.startswith("apply: 4 LFs (3 declarative, 1 Python) on 3 examples\n")
    assert re.search(r"^apply: votes computed in [0-9]+ s$", result.stderr, re.MULTILINE)
    assert stored(ws) == [("buy now -> spam", "c2")]


def test_an_lf_that_votes_on_other_splits_alone_is_not_left_to_look_dead(
    tmp_path: Path,
) -> None:
    # Trial 57a: two LFs showed coverage 0.000 and a blank label on the dev table, and
    # voted on 24 and 37 train texts.
    path, csv = tmp_path / "ws.duckdb", tmp_path / "a.csv"
    csv.write_text(
        "id,text,label,split\nd1,hello there,ham,dev\nd2,buy now,spam,dev\nt1,cheap pills,,train\n"
    )
    assert (
        run("ingest", path, csv, "--label-column", "label", "--split-column", "split").returncode
        == 0
    )
    rules = tmp_path / "r.rules"
    rules.write_text("cheap -> spam\nbuy -> spam\n")
    result = run("apply", path, "--lfs", rules)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (
        "note: cheap -> spam vote on no example of the dev split, only on others: their "
        "figures above are empty, not bad"
    ) in said
    assert "buy -> spam vote on no example" not in said
    analyzed = run("analyze", path)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "note: cheap -> spam vote on no example of the dev split" in analyzed.stdout
    # Trial 57g: "1 examples", and a table of headers alone.
    assert "1 example (50.0% of the dev split) gets no vote" in analyzed.stdout
    assert "no example has votes that disagree" in analyzed.stdout


def test_lfs_left_out_are_warned_of_and_pruned_with_prune(tmp_path: Path, ws: Path) -> None:
    scratch = tmp_path / "scratch.rules"
    scratch.write_text("/e/ -> spam\n")
    rules = tmp_path / "kept.rules"
    rules.write_text("buy -> spam\n")
    assert run("apply", ws, "--lfs", rules, "--lfs", scratch).returncode == 0
    again = run("apply", ws, "--lfs", rules)
    assert again.returncode == 0, again.stderr
    assert "warning: 1 LFs applied before and not given now still vote in aggregate" in again.stderr
    assert len({source for source, _ in stored(ws)}) == 2
    # Trial 50d: analyze and aggregate used the left-out LF's votes and said nothing.
    left_out = (
        "note: 1 LF applied in an earlier call than the last `labelkit apply` also votes: "
        "/e/ -> spam. If one is gone (deleted, renamed, or an edited rule), `labelkit apply "
        "--prune` with all your LF files in one call deletes its votes"
    )
    for step in ("analyze", "aggregate"):
        said = run(step, ws)
        assert said.returncode == 0, said.stderr
        assert " ".join(said.stderr.split()).count(left_out) == 1, said.stderr
    pruned = run("apply", ws, "--lfs", rules, "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "warning" not in pruned.stderr
    assert "pruned, votes deleted: /e/ -> spam" in pruned.stdout
    assert stored(ws) == [("buy -> spam", "c2")]
    assert "also vote" not in run("aggregate", ws).stderr


def test_a_warning_two_steps_of_a_command_give_is_printed_once(tmp_path: Path) -> None:
    # Trial 50d: aggregate and flag printed "examples were ingested after the labeling
    # functions last ran" twice: the label model's step warned, then the scores on dev
    # (or the queue's progress) did.
    path, rules = tmp_path / "ws.duckdb", tmp_path / "r.rules"
    rows = [f"c{i},buy now {i},spam\nh{i},nice song {i},ham" for i in range(60)]
    (tmp_path / "a.csv").write_text("id,text,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "b.csv").write_text("id,text,label\nz1,buy a car,spam\n")
    rules.write_text("buy -> spam\nnice -> ham\n")
    ingest = ("--id-column", "id", "--label-column", "label")
    for step in (
        ("ingest", path, tmp_path / "a.csv", *ingest),
        ("apply", path, "--lfs", rules),
        ("aggregate", path),
        ("ingest", path, tmp_path / "b.csv", *ingest),
    ):
        assert run(*step).returncode == 0
    for step in ("aggregate", "flag"):
        said = run(step, path)
        assert said.returncode == 0, said.stderr
        assert said.stderr.count("ingested after the labeling functions") == 1


def test_a_hanging_lf_is_stopped_by_lf_timeout_and_nothing_is_written(
    tmp_path: Path, ws: Path
) -> None:
    lfs = lf_file(
        tmp_path,
        "buy = keyword_lf('buy', ['buy'], 'spam')\n"
        "@labeling_function\n"
        "def spin(x):\n"
        "    while x.id == 'c3':\n"
        "        pass\n"
        "    return None\n",
    )
    started = time.monotonic()
    result = run("apply", ws, "--lfs", lfs, "--lf-timeout", "2", timeout=120)
    assert time.monotonic() - started < 100
    assert result.returncode == 1
    assert "labeling function 'spin' failed on example 'c3'" in result.stderr
    assert "still running after 2 s" in result.stderr
    assert stored(ws) == []
    # The write lock is released: the next step runs.
    assert run("apply", ws, "--lfs", "labeling_functions.youtube").returncode == 0


ASPECT_XML = """<?xml version="1.0" encoding="utf-8"?>
<sentences>
  <sentence><text>The waiter was rude, the food great.</text><aspectCategories>
    <aspectCategory category="staff" polarity="negative"/>
    <aspectCategory category="food" polarity="positive"/></aspectCategories></sentence>
  <sentence><text>Slow waitress, cold soup.</text><aspectCategories>
    <aspectCategory category="staff" polarity="negative"/>
    <aspectCategory category="food" polarity="negative"/></aspectCategories></sentence>
  <sentence><text>Our waiter was lovely and the soup was rude-ly salty.</text><aspectCategories>
    <aspectCategory category="staff" polarity="positive"/>
    <aspectCategory category="food" polarity="negative"/></aspectCategories></sentence>
  <sentence><text>We went with friends.</text><aspectCategories>
    <aspectCategory category="miscellaneous" polarity="neutral"/></aspectCategories></sentence>
</sentences>
"""


def row(output: str, *key: str) -> list[str]:
    """The cells of the first table row that starts with the cells ``key``."""
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]
    return next(r for r in rows if r[: len(key)] == list(key))


def test_apply_and_analyze_report_each_attribute_of_an_aspects_task(tmp_path: Path) -> None:
    xml = tmp_path / "val.xml"  # the dev split, as MAMS names it
    xml.write_text(ASPECT_XML)
    ws = tmp_path / "reviews.duckdb"
    ingested = run("ingest", ws, xml, "--labels", "positive,negative,neutral")
    assert ingested.returncode == 0, ingested.stderr
    lfs = tmp_path / "aspect_lfs.py"
    lfs.write_text(
        "from labelkit import keyword_lf, labeling_function\n"
        "staff = keyword_lf('staff', ['waiter', 'waitress'], 'mentioned', attribute='staff')\n"
        "rude = keyword_lf('rude', ['waiter', 'waitress'], 'negative', attribute='staff',\n"
        "                  near=['rude', 'slow'])\n"
        "@labeling_function\n"
        "def soup(x):\n"
        "    return {'food': 'negative', 'staff': None} if 'soup' in x.text else None\n"
    )
    applied = run("apply", ws, "--lfs", lfs)
    assert applied.returncode == 0, applied.stderr
    # attribute, lf, polarity, coverage, overlaps, conflicts, correct, incorrect
    assert row(applied.stdout, "staff", "rude")[3:8] == ["0.750", "0.750", "0.000", "2", "1"]
    # Trial 51b: apply showed the interval's bounds as two raw columns, analyze as one.
    assert "labeling functions on the dev split" in applied.stdout
    assert row(applied.stdout, "staff", "rude")[8] == "0.667 (0.21-0.94)"
    analyzed = run("analyze", ws)
    assert analyzed.returncode == 0, analyzed.stderr
    assert "sources per attribute on the dev split" in analyzed.stdout
    assert row(analyzed.stdout, "staff", "staff")[3:9] == [
        "0.750",
        "0.750",
        "0.000",
        "3",
        "0",
        "1.000 (0.44-1.00)",
    ]
    assert row(analyzed.stdout, "food", "soup")[3:9] == [
        "0.500",
        "0.000",
        "0.000",
        "2",
        "0",
        "1.000 (0.34-1.00)",
    ]
    assert "no source votes on: miscellaneous" in analyzed.stdout
    # Examples with no vote: food 2 of 4 (soup votes on two), staff 1 of 4; gold leaves
    # each out of one sentence in four, close enough to warn of neither.
    assert row(analyzed.stdout, "food", "2") == ["food", "2", "0.500", "0.250"]
    assert row(analyzed.stdout, "staff", "1") == ["staff", "1", "0.250", "0.250"]
    assert "gold none" in analyzed.stdout
    assert "read as none" not in analyzed.stderr
    # Trial 47: LFs voting on none of the split's examples printed a table of headers.
    (tmp_path / "silent.py").write_text(
        "from labelkit import keyword_lf\n"
        "bar = keyword_lf('bar', ['sommelier'], 'mentioned', attribute='staff')\n"
    )
    silent = run("apply", ws, "--lfs", tmp_path / "silent.py", "--allow-failing-lfs")
    assert silent.returncode == 0, silent.stderr
    assert "none of these LFs votes on the dev split" in silent.stdout
    assert "┃" not in silent.stdout


def test_analyze_warns_when_silence_is_read_as_none_far_more_than_gold_says(
    tmp_path: Path,
) -> None:
    # Food in every sentence; only the soup LF votes on it, on two of four.
    xml = tmp_path / "val.xml"
    xml.write_text(ASPECT_XML.replace('category="miscellaneous"', 'category="food"'))
    ws = tmp_path / "reviews.duckdb"
    assert run("ingest", ws, xml, "--labels", "positive,negative,neutral").returncode == 0
    lfs = tmp_path / "aspect_lfs.py"
    lfs.write_text(
        "from labelkit import labeling_function\n"
        "@labeling_function\n"
        "def soup(x):\n"
        "    return {'food': 'negative'} if 'soup' in x.text else None\n"
    )
    assert run("apply", ws, "--lfs", lfs).returncode == 0
    analyzed = run("analyze", ws)
    assert analyzed.returncode == 0, analyzed.stderr
    assert row(analyzed.stdout, "food", "2") == ["food", "2", "0.500", "0.000"]
    assert (
        "warning: food: 50% of examples get no vote and are read as none, but gold says "
        "none on 0%" in " ".join(analyzed.stderr.split())
    )


def test_apply_counts_overlaps_with_the_lfs_applied_before(tmp_path: Path, ws: Path) -> None:
    # Trial 47: with only the LFs given counted, one overlapping earlier LFs showed none.
    first, second = tmp_path / "first.rules", tmp_path / "second.rules"
    first.write_text("buy -> spam\n")
    second.write_text("now -> spam\nnothing -> ham\n")
    assert run("apply", ws, "--lfs", first).returncode == 0
    again = run("apply", ws, "--lfs", second, "--allow-failing-lfs")
    assert again.returncode == 0, again.stderr
    rows = [line.split("│") for line in again.stdout.splitlines() if line.startswith("│")]
    # lf, polarity, coverage, overlaps (with `buy -> spam`, on c2), conflicts
    now = next(cells for cells in rows if cells[1].strip() == "now -> spam")
    assert [cell.strip() for cell in now[2:6]] == ["spam", "0.333", "0.333", "0.000"]


def test_analyze_and_review_stats_read_beside_another_reader(tmp_path: Path, ws: Path) -> None:
    # Trial 51c: two `analyze` at once, the second refused as if it would write.
    applied = run(
        "apply", ws, "--lfs", lf_file(tmp_path, "buy = keyword_lf('buy', ['buy'], 'spam')\n")
    )
    assert applied.returncode == 0, applied.stderr
    with Workspace(ws, read_only=True):
        for command in ("analyze", "review-stats"):
            done = run(command, ws)
            assert done.returncode == 0, (command, done.stderr)
    assert "labeling functions on" in run("analyze", ws).stdout


def test_one_lf_name_in_two_files_names_both(tmp_path: Path, ws: Path) -> None:
    # Trial 51c: "labeling function names must be unique; repeated: ['kw']" named no file.
    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text("from labelkit import keyword_lf\nkw = keyword_lf('kw', ['buy'], 'spam')\n")
    second.write_text("from labelkit import keyword_lf\nkw = keyword_lf('kw', ['song'], 'ham')\n")
    refused = run("apply", ws, "--lfs", first, "--lfs", second)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: labeling function 'kw' is in both {first} and {second}: names must be "
        "unique; rename one\n"
    )
    assert stored(ws) == []


def test_an_edited_constant_or_helper_runs_the_lf_again(tmp_path: Path, ws: Path) -> None:
    # Trial 52a: a keyword list edited between rounds kept the LF's old votes ("unchanged,
    # votes reused"), since only the function's own source was hashed.
    body = (
        'WORDS = ["buy"]\nSEEN = {"hello", "song", "nice"}\n\n'
        "def has(text, words=WORDS):\n    return any(w in text for w in words)\n\n"
        '@labeling_function(name="spammy")\ndef spammy(x):\n'
        '    return "spam" if has(x.text) else None\n\n'
        '@labeling_function(name="hammy")\ndef hammy(x):\n'
        '    return "ham" if set(x.text.split()) & SEEN else None\n'
    )
    lfs = lf_file(tmp_path, body)
    first = run("apply", ws, "--lfs", lfs)
    assert first.returncode == 0, first.stderr
    assert ("spammy", "c2") in stored(ws)
    # A set's order differs from one process to the next: still the same definition.
    again = run("apply", ws, "--lfs", lfs)
    assert "unchanged, votes reused: spammy, hammy" in again.stdout
    lfs.write_text(lfs.read_text().replace('WORDS = ["buy"]', 'WORDS = ["hello"]'))
    edited = run("apply", ws, "--lfs", lfs)
    assert edited.returncode == 0, edited.stderr
    assert "unchanged, votes reused: hammy\n" in edited.stdout
    assert [row for row in stored(ws) if row[0] == "spammy"] == [("spammy", "c1")]
    # Trial 52a: the log, read only by SQL, could not tell a new LF from an edited one.
    logged = run("runs", ws)
    assert logged.returncode == 0, logged.stderr
    lines = [line for line in logged.stdout.splitlines() if "│ apply" in line]
    assert len(lines) == 2
    assert "lfs=spammy,hammy new=spammy,hammy errors=0" in lines[0]
    assert "lfs=spammy changed=spammy reused=hammy errors=0" in lines[1]
    last = int(lines[1].split("│")[1])
    shown = json.loads(run("runs", ws, "--run", str(last)).stdout)
    assert (shown["step"], shown["config"]["changed"]) == ("apply", ["spammy"])
    assert "duckdb" in shown["versions"]
    # Trial 53d: after an upgrade, LFs whose stored definition was their source alone
    # were rerun without a word and logged as changed.
    with Workspace(ws) as workspace:
        definition = workspace.sql("SELECT definition FROM sources WHERE name = 'hammy'").item()
        source_alone = definition.rsplit("\n# reads ", 1)[0] + "\n"
        workspace.con.execute(
            "UPDATE sources SET definition = ?, hash = ? WHERE name = 'hammy'",
            [source_alone, definition_hash(source_alone)],
        )
    upgraded = run("apply", ws, "--lfs", lfs)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "unedited, rerun once as their definition now covers the constants and helpers " in (
        " ".join(upgraded.stdout.split())
    )
    with Workspace(ws, read_only=True) as workspace:
        config = json.loads(
            workspace.sql("SELECT config FROM runs WHERE step = 'apply' ORDER BY run_id DESC")[
                "config"
            ][0]
        )
    assert (config["upgraded"], config["changed"]) == (["hammy"], [])


def test_the_note_of_lfs_voting_elsewhere_names_each_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Trial 62d: at 25 attributes each LF was named once per attribute, 838 characters.
    from labelkit.cli import _say_voting_elsewhere

    names = [f"lf{i}" for i in range(10)]
    summary = pl.DataFrame(
        {
            "lf": [name for name in names for _ in range(25)],
            "attribute": [f"a{j}" for _ in names for j in range(25)],
            "coverage": [0.0] * 250,
        }
    )
    _say_voting_elsewhere(summary, set(names), "dev")
    said = " ".join(capfd.readouterr().out.split())
    assert said == (
        "note: lf0, lf1, lf2, lf3, lf4, lf5, lf6, lf7 and 2 more (on some attributes) vote on "
        "no example of the dev split, only on others: their figures above are empty, not bad"
    )
