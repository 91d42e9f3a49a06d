"""The ray executor against the local one, on a local Ray cluster of 4 workers that this
module starts once: the same votes, errors, checks and predictions, whatever order Ray
runs in."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from labelkit import (
    Example,
    InputError,
    LabelingFunctionError,
    LabelkitError,
    LabelkitWarning,
    LLMConfig,
    Workspace,
    aggregate,
    apply_lfs,
    find_label_issues,
    ingest,
    keyword_lf,
    label_with_llm,
    labeling_function,
    load_lfs,
    regex_lf,
    train_textcat,
)
from labelkit.executors import executor_for
from labelkit.executors.ray_data import RayExecutor
from labelkit.lf import column_lf, threshold_lf
from labelkit.train import NoTextWarning, predict_file
from tests.helpers import table_counts
from tests.openai_server import OpenAIServer, answer_for

ray = pytest.importorskip("ray")

# Enough rows for several exported files (MIN_FILE_ROWS each), so several Ray tasks.
N_ROWS = 7_000
WORDS = ["subscribe", "song", "check", "my", "channel", "love", "video", "free", "money"]


@labeling_function
def long_and_loud(x: Example) -> str | None:
    """A Python LF that reads metadata and fails on some rows, in several batches."""
    if int(x.meta["likes"]) % 997 == 0:
        raise ValueError(f"likes {x.meta['likes']}")
    return "spam" if x.text.count("!") >= 2 else None


@labeling_function
def always_fails(x: Example) -> str | None:
    raise RuntimeError("broken")


@labeling_function
def loud_not_a_label(x: Example) -> str | None:
    """Returns what is not a label on a few rows, in some exported files, None elsewhere."""
    return "SPAM" if int(x.meta["likes"]) % 997 == 0 else None


LFS = [
    keyword_lf("subscribe", ["subscribe", "channel"], "spam"),
    keyword_lf("song", ["song", "love"], "ham"),
    regex_lf("money", r"free\s+money|\$\d+", "spam"),
    threshold_lf("liked", "likes", "ham", above=900),
    column_lf("channel_owner", "author", {"owner": "ham"}),
    long_and_loud,
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # A cluster of the tests' own, not one `ray start` may run on the machine.
    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def examples_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Texts whose ids sort differently from the file's order (Ray must not reorder)."""
    rows = range(N_ROWS)
    frame = pl.DataFrame(
        {
            "id": [f"c{str(N_ROWS - i).zfill(5)[::-1]}" for i in rows],
            "text": [f"{WORDS[i % 9]} {WORDS[i * 7 % 9]} " + "!" * (i % 3) for i in rows],
            "likes": [i * 31 % 1000 for i in rows],
            "author": [("owner", "fan", "bot")[i % 3] for i in rows],
        }
    )
    path = tmp_path_factory.mktemp("data") / "comments.csv"
    frame.write_csv(path)
    return path


def _workspace(path: Path, csv: Path) -> Workspace:
    ws = Workspace(path)
    ingest(ws, csv, id_column="id", labels=["ham", "spam"])
    return ws


def test_ray_votes_equal_the_local_ones(cluster: None, examples_csv: Path, tmp_path: Path) -> None:
    with (
        _workspace(tmp_path / "local.duckdb", examples_csv) as local,
        _workspace(tmp_path / "ray.duckdb", examples_csv) as remote,
    ):
        expected = apply_lfs(local, LFS)
        executor = RayExecutor(workers=4)
        got = apply_lfs(remote, LFS, executor=executor)
        assert got.matrix.example_ids == expected.matrix.example_ids
        assert (got.matrix.codes == expected.matrix.codes).all()
        assert (got.matrix.codes != -1).sum(axis=0).tolist() == (expected.matrix.codes != -1).sum(
            axis=0
        ).tolist()
        assert got.errors.equals(expected.errors)
        assert got.errors.height == 14  # the rows with likes 0 or 997
        stored = "SELECT * EXCLUDE (run_id) FROM {} ORDER BY ALL"
        for table in ("votes", "lf_errors"):
            assert remote.sql(stored.format(table)).equals(local.sql(stored.format(table)))
        assert remote.sql("SELECT config FROM runs WHERE step = 'apply'")["config"][0].count(
            '"executor": "ray"'
        )
        # Staging files are gone once the votes are in.
        assert not list(tmp_path.glob(".labelkit-ray-*"))
        # New examples: the LFs unchanged and without errors run on those alone.
        more = tmp_path / "more.csv"
        pl.DataFrame(
            {"id": ["z1", "z2"], "text": ["free subscribe !", "a song"], "likes": [5, 6],
             "author": ["bot", "fan"]}
        ).write_csv(more)  # fmt: skip
        clean = [lf for lf in LFS if lf.name not in expected.error_counts]
        for opened in (local, remote):
            ingest(opened, more, id_column="id")
        added = apply_lfs(remote, clean, executor=executor)
        assert added.extended == [lf.name for lf in clean]
        assert apply_lfs(local, clean).extended == added.extended
        assert remote.sql(stored.format("votes")).equals(local.sql(stored.format("votes")))
        assert remote.sql("SELECT count(*) FROM votes WHERE example_id LIKE 'z%'").item() > 0


@labeling_function
def by_aspect(x: Example) -> object:
    if "love" in x.text:
        return {"food": "positive", "staff": "negative" if "!!" in x.text else None}
    return None


def test_votes_on_attributes_equal_the_local_ones(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    lfs = [keyword_lf("song_food", ["song"], "positive", attribute="food"), by_aspect]
    applied = {}
    for name, executor in (("local", "local"), ("ray", RayExecutor(workers=3))):
        with Workspace(tmp_path / f"{name}.duckdb") as ws:
            ingest(
                ws,
                examples_csv,
                id_column="id",
                kind="aspects",
                labels=["positive", "negative"],
                attributes=["food", "staff"],
            )
            # Read from the workspace when asked for: while it is open.
            applied[name] = dict(apply_lfs(ws, lfs, executor=executor).matrices)
            applied[name + " stored"] = ws.sql("SELECT * EXCLUDE (run_id) FROM votes ORDER BY ALL")
    for attribute in ("food", "staff"):
        local, remote = applied["local"][attribute], applied["ray"][attribute]
        assert remote.example_ids == local.example_ids
        assert (remote.codes == local.codes).all()
    assert applied["ray stored"].equals(applied["local stored"])
    # "love" and "song" each start or end the rows with i % 9 in two residues (1,556
    # rows each), and every "love" row also has "!!" (i % 3 == 2).
    counts = applied["ray stored"].group_by("source", "attribute").len().sort("source", "attribute")
    assert counts.rows() == [
        ("by_aspect", "food", 1556),
        ("by_aspect", "staff", 1556),
        ("song_food", "food", 1556),
    ]


def test_strict_stops_at_the_same_row_and_writes_nothing(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    with _workspace(tmp_path / "ws.duckdb", examples_csv) as ws:
        with pytest.raises(LabelingFunctionError) as local:
            apply_lfs(ws, LFS, strict=True)
        before = table_counts(ws)
        with pytest.raises(LabelingFunctionError) as remote:
            apply_lfs(ws, LFS, strict=True, executor=RayExecutor(workers=2))
        assert str(remote.value) == str(local.value)
        assert "likes 0" in str(remote.value)
        assert table_counts(ws) == before


def test_checks_across_rows_are_made_once_over_all_of_them(
    cluster: None, examples_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A workspace named relative to here: Ray's workers run elsewhere, and must still
    # find the staging folder beside it.
    monkeypatch.chdir(tmp_path)
    with _workspace(Path("ws.duckdb"), examples_csv) as ws:
        everywhere = [*LFS[:2], always_fails]
        with pytest.raises(LabelingFunctionError, match="on all 7000 examples"):
            apply_lfs(ws, everywhere, executor=RayExecutor(workers=2))
        with pytest.raises(LabelingFunctionError, match="never cast a valid vote: on the 14 "):
            apply_lfs(ws, [*LFS[:2], loud_not_a_label], executor=RayExecutor(workers=2))
        missing = [threshold_lf("views", "views", "ham", above=10)]
        with pytest.raises(InputError) as local:
            apply_lfs(ws, missing)
        with pytest.raises(InputError) as remote:
            apply_lfs(ws, missing, executor=RayExecutor(workers=2))
        assert str(remote.value) == str(local.value)
        # A field that only some rows have, and only in some exported files, is fine.
        ws.con.execute(
            """UPDATE examples SET meta = json_merge_patch(meta, '{"views": 50}')
               WHERE id = (SELECT max(id) FROM examples)"""
        )
        applied = apply_lfs(ws, [*missing, always_fails], allow_failing_lfs=True, executor="ray")
        assert applied.matrix.to_frame()["views"].drop_nulls().to_list() == ["ham"]


def test_a_python_lf_past_its_budget_is_named(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    @labeling_function
    def stuck(x: Example) -> str | None:
        if int(x.meta["likes"]) == 500:
            import time

            time.sleep(30)
        return None

    with _workspace(tmp_path / "ws.duckdb", examples_csv) as ws:
        before = table_counts(ws)
        with pytest.raises(LabelingFunctionError, match="still running after 1 s") as raised:
            apply_lfs(ws, [stuck], lf_timeout=1, executor=RayExecutor(workers=2))
        assert raised.value.lf_name == "stuck"
        assert table_counts(ws) == before


def test_without_ray_the_cli_says_what_to_install(tmp_path: Path) -> None:
    # Ray hidden from the import system: the state of a machine without the extra.
    code = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['labelkit', *sys.argv[1:]]; "
        "from labelkit.cli import main; main()"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "apply",
            str(tmp_path / "ws.duckdb"),
            "--lfs",
            "x.py",
            "--executor",
            "ray",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode != 0
    assert "pip install 'ray[data]>=2.60,<3' 'aiohttp>=3.9'" in done.stderr
    assert not (tmp_path / "ws.duckdb").exists()


def test_an_unknown_executor_is_named() -> None:
    with pytest.raises(
        LabelkitError, match=r"unknown executor 'dask'; registered: \['local', 'ray'\]"
    ):
        executor_for("dask")


def test_an_executor_refuses_a_parameter_by_name() -> None:
    # ray's workers defaults to None, which let "2" through to Ray's own TypeError;
    # a misspelt parameter ended in Python's "unexpected keyword argument".
    with pytest.raises(LabelkitError, match=r"executor 'ray': workers takes int, not '2'"):
        executor_for("ray", workers="2")
    with pytest.raises(LabelkitError, match=r"executor 'ray' takes no parameter 'worker'"):
        executor_for("ray", worker=2)


def test_the_cli_applies_on_the_cluster_at_an_address(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    lfs = tmp_path / "lfs.py"
    lfs.write_text(
        "from labelkit import keyword_lf, labeling_function\n"
        "subscribe = keyword_lf('subscribe', ['subscribe'], 'spam')\n"
        "@labeling_function\n"
        "def loud(x):\n"
        "    return 'spam' if '!!' in x.text else None\n"
    )
    with _workspace(tmp_path / "local.duckdb", examples_csv) as local:
        apply_lfs(local, load_lfs(str(lfs)))
        expected = local.sql("SELECT * EXCLUDE (run_id) FROM votes ORDER BY ALL")
    path = tmp_path / "ray.duckdb"
    _workspace(path, examples_csv).close()
    address = ray.get_runtime_context().gcs_address
    staging = tmp_path / "shared"
    staging.mkdir()
    done = run_cli(
        "apply",
        path,
        "--lfs",
        lfs,
        "--executor",
        "ray",
        "--ray-address",
        address,
        "--ray-staging",
        staging,
    )
    assert done.returncode == 0, done.stderr
    assert list(staging.iterdir()) == []
    assert "subscribe" in done.stdout and "loud" in done.stdout
    with Workspace(path, read_only=True) as ws:
        got = ws.sql("SELECT * EXCLUDE (run_id) FROM votes ORDER BY ALL")
    assert got.equals(expected)
    # subscribe: rows i % 9 == 0 (778 of them); loud: i % 3 == 2 (2333)
    assert got.height == 778 + 2333


def test_without_an_address_the_cli_starts_a_cluster_of_its_own(
    examples_csv: Path, tmp_path: Path
) -> None:
    # Trial 64b: with a cluster of `ray start` on the machine (found as RAY_ADDRESS is),
    # `--executor ray --workers 4` joined it and failed in a 40-line traceback.
    path = tmp_path / "ws.duckdb"
    _workspace(path, examples_csv).close()
    done = subprocess.run(
        [sys.executable, "-m", "labelkit", "apply", str(path), "--lfs", "labeling_functions.youtube",
         "--executor", "ray", "--workers", "1"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "RAY_ADDRESS": "127.0.0.1:9"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Trial 64b: Ray's INFO and WARNING lines ("The Dataset job will hang unless more
    # CPUs are freed up", in a run that went fine) filled the output.
    assert not re.search(r"\t(INFO|WARNING) ", done.stderr), done.stderr
    with Workspace(path, read_only=True) as ws:
        assert ws.sql("SELECT count(*) AS n FROM votes")["n"][0] > 0


def test_ray_client_addresses_are_refused_where_ray_data_runs(
    examples_csv: Path, spam_model: Path, tmp_path: Path
) -> None:
    # Trial 64b: apply and predict through ray:// waited 40 s, then failed deep in Ray
    # Data, which does not work through Ray Client (ray-project/ray#48682).
    client = RayExecutor(address="ray://head-node:10001")
    with _workspace(tmp_path / "ws.duckdb", examples_csv) as ws:
        before = table_counts(ws)
        with pytest.raises(InputError, match=r"apply runs on Ray Data, which does not work"):
            apply_lfs(ws, [LFS[0]], executor=client)
        # Trial 64b: a mistyped port was retried for minutes, in Ray's own log lines.
        with pytest.raises(LabelkitError, match=r"no Ray cluster answers at 127.0.0.1:9 "):
            apply_lfs(ws, [LFS[0]], executor=RayExecutor(address="127.0.0.1:9"))
        # Trial 64b: -j was ignored on Ray without a word, where predict refused it.
        with pytest.raises(InputError, match=r"n_jobs \(--jobs\) is the local executor's"):
            apply_lfs(ws, [LFS[0]], n_jobs=2, executor=RayExecutor())
        assert table_counts(ws) == before
    with pytest.raises(InputError, match=r"predict runs on Ray Data, .*--ray-address auto"):
        predict_file(spam_model, examples_csv, tmp_path / "out.csv", executor=client)
    assert not (tmp_path / "out.csv").exists()


def test_an_lf_that_cannot_be_sent_to_the_workers_is_named(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    # Trial 64b: a closure over a lock failed in 185 lines of Ray's naming no LF.
    import threading

    held = threading.Lock()

    @labeling_function
    def guarded(x: Example) -> str | None:
        with held:
            return None

    with _workspace(tmp_path / "ws.duckdb", examples_csv) as ws:
        before = table_counts(ws)
        with pytest.raises(InputError, match=r"labeling function 'guarded' \(module "):
            apply_lfs(ws, [LFS[0], guarded], executor=RayExecutor())
        assert table_counts(ws) == before
    assert not list(tmp_path.glob(".labelkit-ray-*"))


def test_a_staging_folder_a_killed_apply_left_is_removed_by_the_next(
    cluster: None, examples_csv: Path, tmp_path: Path
) -> None:
    # Trial 64b: `kill -9` left every text in a staging folder; reruns said nothing.
    from labelkit.executors.ray_data import _staging_prefix

    with _workspace(tmp_path / "ws.duckdb", examples_csv) as ws:
        left = tmp_path / f"{_staging_prefix(ws)}killed"
        (left / "texts").mkdir(parents=True)
        (left / "texts" / "data_0.parquet").write_bytes(b"every text")
        # Another workspace's, in the same folder, may be under way: it stays.
        with Workspace(tmp_path / "other.duckdb") as other:
            theirs = tmp_path / f"{_staging_prefix(other)}running"
        theirs.mkdir()
        with pytest.warns(LabelkitWarning, match=rf"removed 1 staging folder .*: {left.name}$"):
            apply_lfs(ws, [LFS[0]], executor=RayExecutor())
    assert not left.exists() and theirs.exists()


@pytest.fixture(scope="module")
def spam_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The n-grams trained on a few spam and ham comments: seconds to train."""
    from tests.train.conftest import HAM, SPAM

    rows = pl.DataFrame(
        {"text": (SPAM + HAM) * 3, "label": (["spam"] * len(SPAM) + ["ham"] * len(HAM)) * 3}
    )
    folder = tmp_path_factory.mktemp("model") / "m"
    return train_textcat(rows, ["ham", "spam"], folder, model="tfidf_char_logreg")


def test_ray_predictions_equal_the_local_ones(
    cluster: None, examples_csv: Path, spam_model: Path, tmp_path: Path
) -> None:
    local, remote = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    assert predict_file(spam_model, examples_csv, local, batch_size=1_000) == N_ROWS
    # Seven staged files of 1,000 rows for three actors: labeled in whatever order.
    executor = RayExecutor(workers=3)
    assert (
        predict_file(spam_model, examples_csv, remote, batch_size=1_000, executor=executor)
        == N_ROWS
    )
    expected = pl.read_parquet(local)
    assert pl.read_parquet(remote).equals(expected)
    assert expected["id"].to_list() == pl.read_csv(examples_csv)["id"].to_list()
    assert expected["predicted"].value_counts()["count"].min() > 500, "both labels, often"
    assert not list(tmp_path.glob(".labelkit-ray-*")), "staging files are gone"
    with pytest.raises(InputError, match=r"n_process \(--jobs\) is the local executor's"):
        predict_file(spam_model, examples_csv, remote, n_process=2, executor=executor)


def test_rows_without_text_get_no_prediction_as_on_the_local_executor(
    cluster: None, examples_csv: Path, spam_model: Path, tmp_path: Path
) -> None:
    row = pl.int_range(pl.len())
    blank = pl.when(row == 4321).then(None).when(row == 12).then(pl.lit(" ")).otherwise("text")
    pl.read_csv(examples_csv).with_columns(text=blank).write_csv(tmp_path / "holes.csv")
    written = {}
    for executor in (executor_for("local"), RayExecutor(workers=2)):
        out = tmp_path / f"{executor.name}.parquet"
        with pytest.warns(NoTextWarning, match=r"holes.csv: 2 rows have no text"):
            predict_file(
                spam_model, tmp_path / "holes.csv", out, batch_size=1_000, executor=executor
            )
        written[executor.name] = pl.read_parquet(out)
    assert written["ray"].equals(written["local"])
    unlabeled = written["local"].with_row_index().filter(pl.col("predicted").is_null())
    assert unlabeled["index"].to_list() == [12, 4321]


def test_the_cli_predicts_on_the_cluster_at_an_address(
    cluster: None, examples_csv: Path, spam_model: Path, tmp_path: Path
) -> None:
    staging = tmp_path / "shared"
    staging.mkdir()
    address = ray.get_runtime_context().gcs_address
    ray_options = ["--executor", "ray", "--ray-address", address, "--ray-staging", staging]
    # --n-process: --jobs's first name, still taken.
    for name, options in (("local.csv", ["--n-process", "1"]), ("ray.csv", ray_options)):
        done = run_cli("predict", spam_model, examples_csv, tmp_path / name, *options)
        assert done.returncode == 0, done.stderr
        assert f"{N_ROWS:,} rows labeled" in done.stdout
    assert (tmp_path / "ray.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert list(staging.iterdir()) == []


def test_ray_options_need_the_ray_executor(tmp_path: Path) -> None:
    done = run_cli("apply", tmp_path / "ws.duckdb", "--lfs", "x.py", "--workers", "2")
    assert done.returncode == 1
    assert "--ray-address, --workers and --ray-staging are options of --executor ray" in done.stderr


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )


def test_labeled_shards_come_back_in_row_order_even_interleaved(tmp_path: Path) -> None:
    from labelkit.executors.ray_data import ROW, _in_row_order

    def shard(name: str, rows: list[int]) -> Path:
        pl.DataFrame({ROW: rows, "text": [f"t{r}" for r in rows]}).write_parquet(tmp_path / name)
        return tmp_path / name

    apart = [shard("b.parquet", [3, 2]), shard("a.parquet", [1, 0]), shard("e.parquet", [])]
    assert [f["text"].to_list() for f in _in_row_order(apart)] == [["t0", "t1"], ["t2", "t3"]]
    mixed = [shard("c.parquet", [0, 2]), shard("d.parquet", [3, 1])]
    frames = list(_in_row_order(mixed))
    assert [f["text"].to_list() for f in frames] == [["t0", "t1", "t2", "t3"]]
    assert frames[0].columns == ["text"]


@pytest.fixture(scope="module")
def distinct_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 texts, each its own prompt."""
    rows = range(300)
    texts = [f"comment {i}: " + ("subscribe to me" if i % 4 == 0 else "nice song") for i in rows]
    path = tmp_path_factory.mktemp("data") / "distinct.csv"
    pl.DataFrame({"id": [f"c{i:03d}" for i in rows], "text": texts}).write_csv(path)
    return path


LLM = LLMConfig(model="test-model", instructions="Is this comment spam?", api_key="test")
CACHED = "SELECT key, model, request, response, label, prompt_tokens FROM llm_cache ORDER BY key"


def test_ray_llm_answers_equal_the_local_ones(
    cluster: None, distinct_csv: Path, tmp_path: Path
) -> None:
    with (
        OpenAIServer() as server,
        _workspace(tmp_path / "local.duckdb", distinct_csv) as local,
        _workspace(tmp_path / "ray.duckdb", distinct_csv) as remote,
    ):
        config = dataclasses.replace(LLM, base_url=server.base_url)
        expected = label_with_llm(local, config)
        got = label_with_llm(remote, config, executor=RayExecutor(workers=3))
        assert len(server.requests) == 600, "every prompt asked once by each run"
        assert (got.answered, got.failed, got.cached) == (expected.answered, 0, 0) == (300, 0, 0)
        assert got.response_format == expected.response_format == "json_schema"
        assert remote.sql(CACHED).equals(local.sql(CACHED))
        stored = "SELECT * EXCLUDE (run_id) FROM votes ORDER BY ALL"
        assert remote.sql(stored).equals(local.sql(stored))
        spam = remote.sql("SELECT count(*) AS n FROM votes WHERE label = 'spam'")["n"][0]
        assert spam == 75
        run = "SELECT config->>'executor' AS name FROM runs WHERE step = 'llm'"
        assert (local.sql(run)["name"][0], remote.sql(run)["name"][0]) == ("local", "ray")


def test_ray_llm_run_keeps_to_its_request_limit_and_resumes_from_the_cache(
    cluster: None, distinct_csv: Path, tmp_path: Path
) -> None:
    with OpenAIServer() as server, _workspace(tmp_path / "ray.duckdb", distinct_csv) as ws:
        config = dataclasses.replace(LLM, base_url=server.base_url, max_requests=50)
        ray_executor = RayExecutor(workers=3)
        stopped = label_with_llm(ws, config, executor=ray_executor)
        assert len(server.requests) == stopped.answered == 50
        assert "limit of" in (stopped.stopped or "")
        assert table_counts(ws)["llm_cache"] == 50
        rest = label_with_llm(
            ws, dataclasses.replace(config, max_requests=None), executor=ray_executor
        )
        assert (rest.cached, rest.answered) == (50, 250)
        assert len(server.requests) == 300, "a resumed run asks only what the cache lacks"
        votes = dict(ws.sql("SELECT example_id, label FROM votes").rows())
        texts = dict(ws.sql("SELECT id, text FROM examples").rows())
        assert votes == {i: answer_for(text) for i, text in texts.items()}


def test_the_cli_asks_the_llm_from_the_cluster(
    cluster: None, distinct_csv: Path, tmp_path: Path
) -> None:
    path = tmp_path / "ray.duckdb"
    _workspace(path, distinct_csv).close()
    address = ray.get_runtime_context().gcs_address
    # Two replicas of one model: every worker spreads its requests over both.
    with OpenAIServer() as server, OpenAIServer() as replica:
        done = run_cli(
            "llm",
            path,
            "--model",
            "test-model",
            "--instructions",
            "Is this comment spam?",
            "--base-url",
            server.base_url,
            "--base-url",
            replica.base_url,
            "--api-key",
            "test",
            "--executor",
            "ray",
            "--ray-address",
            address,
            "--workers",
            "2",
        )
    assert done.returncode == 0, done.stderr
    assert "300 answered, 0 failed" in done.stdout
    with Workspace(path, read_only=True) as ws:
        assert table_counts(ws)["llm_cache"] == 300
        votes = dict(ws.sql("SELECT example_id, label FROM votes").rows())
        texts = dict(ws.sql("SELECT id, text FROM examples").rows())
    assert votes == {i: answer_for(text) for i, text in texts.items()}
    assert len(server.requests) + len(replica.requests) == 300
    assert min(len(server.requests), len(replica.requests)) > 100


FLAG_LFS = [
    keyword_lf("subscribe", ["subscribe"], "spam"),
    keyword_lf("song", ["song"], "ham"),
    # Ties with "song" on the comments ending in 7 (unlabeled), outvote it on those
    # ending in 3 (mislabeled spam).
    regex_lf("sevens", r"comment \d*7:", "spam"),
    regex_lf("threes", r"comment \d*3:", "spam"),
    regex_lf("threes_again", r"\d*3: nice", "spam"),
]


def _flagged(path: Path, csv: Path, executor: str | RayExecutor) -> pl.DataFrame:
    with _workspace(path, csv) as ws:
        apply_lfs(ws, FLAG_LFS)
        aggregate(ws, "majority_vote")
        return find_label_issues(ws, fit_examples=100, executor=executor)


def test_ray_flags_equal_the_local_ones(cluster: None, distinct_csv: Path, tmp_path: Path) -> None:
    local = _flagged(tmp_path / "local.duckdb", distinct_csv, "local")
    remote = _flagged(tmp_path / "ray.duckdb", distinct_csv, RayExecutor(workers=3))
    assert remote.equals(local)
    # Scored by the fold models (100 of 270 labels cross-validated), every mislabeled
    # comment is found and every unlabeled one gets a suggestion.
    found = local.filter(pl.col("reasons").str.starts_with("cleanlab"))
    assert found["example_id"].str.ends_with("3").all() and found.height == 30
    assert (found["suggested_label"] == "ham").all()
    assert local.filter(pl.col("given_label").is_null()).height == 30
    queued = "SELECT * EXCLUDE (run_id) FROM queue ORDER BY ALL"
    with (
        Workspace(tmp_path / "local.duckdb", read_only=True) as a,
        Workspace(tmp_path / "ray.duckdb", read_only=True) as b,
    ):
        assert b.sql(queued).equals(a.sql(queued))
        run = "SELECT config->>'executor' AS name FROM runs WHERE step = 'flag'"
        assert b.sql(run)["name"][0] == "ray"


def test_the_cli_flags_on_the_cluster(cluster: None, distinct_csv: Path, tmp_path: Path) -> None:
    path = tmp_path / "ray.duckdb"
    with _workspace(path, distinct_csv) as ws:
        apply_lfs(ws, FLAG_LFS)
        aggregate(ws, "majority_vote")
    address = ray.get_runtime_context().gcs_address
    done = run_cli(
        "flag", path, "--fit-examples", "100", "--executor", "ray", "--ray-address", address
    )
    assert done.returncode == 0, done.stderr
    assert "60 labels queued for review" in done.stdout
