"""The ray executor: labeling functions applied, an LLM asked, and small models'
predictions made, on a Ray cluster through Ray Data (LLM requests and a flagger's
scoring in plain Ray tasks).

The driver (the process that holds the workspace) exports the examples as Parquet files
in a staging folder, each row numbered by its place in id order; Ray Data reads them,
and each task applies the LFs to one file's Arrow batch, read by polars, and returns its
votes, which Ray Data writes as Parquet shards beside them (the rows an LF failed on go
into shards of their own). The driver reads the shards back one at a time and
``apply_lfs`` writes each into the workspace as it comes, all in one transaction:
workers never open the DuckDB file. Votes and failed rows are keyed by example id, so
the order in which Ray runs the tasks changes nothing. Predictions go the same way: a file's checked
blocks staged as Parquet, labeled by Ray actors that each load the model once, read
back in row order. An LLM run's prompts go to plain Ray tasks, each asking a part of
them with its own client and returning the answers, which the driver writes into the
cache as each task ends.

Examples
--------
>>> apply_lfs(ws, lfs, executor=RayExecutor(workers=4)).matrix.codes.shape
(1586, 10)
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import pyarrow as pa

from labelkit.errors import InputError, LabelkitError, LabelkitWarning, outside_labelkit
from labelkit.executors.base import LFVotes, rows_in, scored_here
from labelkit.lf.apply import chunk_votes, compute_codes
from labelkit.lf.core import ERRORS_SCHEMA, LabelingFunction, PythonLF
from labelkit.registry import executors
from labelkit.report import counted, first_named, progress_bar
from labelkit.task import Task
from labelkit.workspace import Workspace, first_row

if TYPE_CHECKING:
    from labelkit.llm.cache import CachedAnswer
    from labelkit.llm.labeler import LLMRequests, LLMRun
    from labelkit.train.ship import Predictor

# Rows per exported file, so per Ray task: several files for every worker, so that one
# slow file does not hold the others up, and each big enough to be worth a task.
MIN_FILE_ROWS = 2_000
MAX_FILE_ROWS = 100_000
FILES_PER_WORKER = 4
# Prompts per LLM task: a task's answers reach the cache when it ends, so this bounds
# what a stopped run can lose, while each task stays long enough to keep its client busy.
MAX_PROMPTS_PER_TASK = 2_000

# The column numbering a file's rows while workers label them.
ROW = "__labelkit_row"
_VOTES_SCHEMA = {name: pl.String for name in ("example_id", "source", "label", "attribute")}


@dataclass(frozen=True)
class RayExecutor:
    """Labeling functions applied by ``workers`` Ray tasks at a time.

    ``address`` is the cluster's (``"auto"``: the one started on this machine by ``ray
    start``; ``"ray://host:10001"``: a remote one through Ray Client, for ``flag`` and
    the LLM only: Ray Data, which applying LFs and predicting run on, does not work
    through it); None starts a local cluster for the call, with ``workers`` CPUs
    (default: every core), unless this process is already connected (``ray.init``
    called before). ``staging`` is the folder for the Parquet files the workers read and
    write (default: the workspace's folder); on a cluster of several machines it must be
    one they all see, at the same path (a shared file system).

    Examples
    --------
    >>> parts = RayExecutor(address="auto", workers=8).lf_votes(
    ...     ws, lfs, n_jobs=None, lf_timeout=60.0
    ... )
    >>> next(iter(parts)).votes.columns
    ['example_id', 'source', 'label', 'attribute']
    """

    address: str | None = None
    workers: int | None = None
    staging: Path | None = None
    name: str = "ray"

    def lf_votes(
        self,
        workspace: Workspace,
        lfs: Sequence[LabelingFunction],
        *,
        n_jobs: int | None,
        lf_timeout: float | None,
        since_run: int | None = None,
    ) -> Iterator[LFVotes]:
        """The votes of ``lfs`` on every example of ``workspace``, computed on the
        cluster, one part per shard Ray wrote (then one per shard of failed rows);
        ``n_jobs`` is refused: each Ray task runs its Python LFs in one process, and
        ``workers`` says how many run at once. Refused settings are refused at the
        call, before any vote is asked for."""
        if n_jobs is not None:
            # Trial 64b: apply -j was ignored on Ray without a word, where predict refused.
            raise InputError("n_jobs (--jobs) is the local executor's; say --workers for ray")
        _refuse_ray_client(self.address, "apply")
        ray = _import_ray()
        if workspace.task.kind == "spans":
            raise InputError(
                "the ray executor applies LFs that vote on whole texts; a spans task's "
                "span LFs run on the local executor (--executor local)"
            )
        return self._lf_votes(ray, workspace, lfs, lf_timeout, since_run)

    def _lf_votes(
        self,
        ray: ModuleType,
        workspace: Workspace,
        lfs: Sequence[LabelingFunction],
        lf_timeout: float | None,
        since_run: int | None,
    ) -> Iterator[LFVotes]:
        task = workspace.task
        # Absolute: Ray's workers do not run in this process's working directory.
        folder = Path(self.staging or workspace.path.parent).resolve()
        prefix = _staging_prefix(workspace)
        _remove_stale(folder, prefix)
        with (
            _connected(ray, self.address, self.workers) as workers,
            _shipped_by_value(ray, lfs),
            tempfile.TemporaryDirectory(prefix=prefix, dir=folder) as staging,
        ):
            texts, shards, failed = (Path(staging, part) for part in ("texts", "votes", "failed"))
            files = _export(workspace, texts, workers, since_run)
            dataset = ray.data.read_parquet([str(f) for f in files], override_num_blocks=len(files))
            votes = dataset.map_batches(
                _vote_batch,
                batch_format="pyarrow",
                batch_size=None,
                zero_copy_batch=True,
                compute=ray.data.TaskPoolStrategy(size=workers),
                num_cpus=1,
                fn_kwargs={
                    "lfs": list(lfs),
                    "task": task,
                    "lf_timeout": lf_timeout,
                    "failed": str(failed),
                },
            )
            with _worker_errors_raised(ray):
                votes.write_parquet(str(shards))
            no_votes, no_errors = (
                pl.DataFrame(schema=_VOTES_SCHEMA),
                pl.DataFrame(schema=ERRORS_SCHEMA),
            )
            for shard in _shards(shards):
                yield LFVotes(votes=_read_shard(shard, _VOTES_SCHEMA), errors=no_errors)
            for shard in _shards(failed):
                yield LFVotes(votes=no_votes, errors=_read_shard(shard, ERRORS_SCHEMA))

    def llm_answers(
        self,
        requests: LLMRequests,
        run: LLMRun,
        store: Callable[[Sequence[CachedAnswer]], None],
    ) -> str:
        """The first prompt asked here (it finds the response format), the others in
        parts of at most ``MAX_PROMPTS_PER_TASK``, one Ray task each, ``workers`` at a
        time, each with its own client, ``concurrency`` requests in flight and its
        share of what is left of the run's limits (``LLMRun.shares``). Each part's
        answers come back to this process, which stores them as soon as the part
        ends: a stopped run loses at most the parts in flight, and the next run asks
        only what the cache lacks. A part that stops (a spent quota, failures in a
        row) stops the run: no part starts after it."""
        from labelkit.llm.labeler import ask_here

        used = ask_here(requests.part(requests.pending.head(1)), run, store, progress=False)
        rest = requests.pending.slice(1)
        if rest.height == 0 or run.stopped:
            return used
        ray = _import_ray()
        with _connected(ray, self.address, self.workers) as workers, _worker_errors_raised(ray):
            count = min(max(workers, math.ceil(rest.height / MAX_PROMPTS_PER_TASK)), rest.height)
            if requests.config.max_requests is not None:
                count = max(1, min(count, requests.config.max_requests - run.requests))
            size = math.ceil(rest.height / count)
            parts = [
                requests.part(rest.slice(i * size, size), response_format=used, **share)
                for i, share in enumerate(run.shares(count))
            ]
            ask = ray.remote(num_cpus=1)(_ask_part)
            running: dict[Any, int] = {}
            with progress_bar(
                f"asking {requests.config.model}", rest.height, transient=False
            ) as advance:
                while parts or running:
                    while parts and len(running) < workers and not run.stopped:
                        part = parts.pop(0)
                        running[ask.remote(part)] = part.pending.height
                    if not running:
                        break
                    (done,), _ = ray.wait(list(running), num_returns=1)
                    answers, asked = ray.get(done)
                    store(answers)
                    run.absorb(asked)
                    advance(running.pop(done))
        return used

    def class_probabilities(
        self,
        models: Sequence[Any],
        chunks: Iterable[Sequence[tuple[int, Any]]],
        *,
        batch_rows: int,
    ) -> Iterator[list[np.ndarray]]:
        """Each chunk's jobs cut into batches of ``batch_rows``, one Ray task each,
        ``workers`` at a time; each model goes into the object store once, shared by
        every chunk. A job without rows is scored here."""
        ray = _import_ray()
        with _connected(ray, self.address, self.workers) as workers, _worker_errors_raised(ray):
            score = ray.remote(num_cpus=1)(_predict_proba)
            stored = [ray.put(model) for model in models]
            for jobs in chunks:
                yield _scored_chunk(ray, score, stored, models, jobs, workers, batch_rows)

    def predictions(
        self,
        predictor: Predictor,
        blocks: Iterable[pl.DataFrame],
        *,
        rows: int,
        n_process: int | None,
        staging: Path,
    ) -> Iterator[pl.DataFrame]:
        """``predictor``'s model applied on the cluster: the checked blocks staged as
        Parquet files (``ROW`` numbering them), one Ray actor per worker loading the
        model once and labeling whole files, its labeled files read back in row order.
        ``n_process`` is refused: ``workers`` says how many label at once."""
        if n_process is not None:
            raise InputError("n_process (--jobs) is the local executor's; say --workers for ray")
        _refuse_ray_client(self.address, "predict")
        if not isinstance(predictor.model, str | Path):
            raise InputError("the ray executor loads the model on each worker: pass its path")
        if rows == 0:
            yield from predictor.stream(blocks, rows, 1)
            return
        # Absolute where it is a folder: Ray's workers do not run in this directory.
        on_disk = Path(predictor.model)
        model = str(on_disk.resolve()) if on_disk.exists() else str(predictor.model)
        ray = _import_ray()
        folder = Path(self.staging or staging).resolve()
        with (
            _connected(ray, self.address, self.workers) as workers,
            tempfile.TemporaryDirectory(prefix=".labelkit-ray-", dir=folder) as staged,
        ):
            texts, labeled = Path(staged, "texts"), Path(staged, "labeled")
            files = _stage_blocks(predictor.checked(blocks), texts)
            dataset = ray.data.read_parquet([str(f) for f in files], override_num_blocks=len(files))
            answered = dataset.map_batches(
                _LabelBatch,
                fn_constructor_kwargs={
                    "model": model,
                    "text_column": predictor.text_column,
                    "threshold": predictor.threshold,
                },
                batch_format="pyarrow",
                batch_size=None,
                zero_copy_batch=True,
                compute=ray.data.ActorPoolStrategy(size=min(workers, len(files))),
                num_cpus=1,
            )
            with _worker_errors_raised(ray):
                answered.write_parquet(str(labeled))
            yield from _in_row_order(sorted(labeled.glob("*.parquet")))


@executors.register("ray")
def ray_executor(
    address: str | None = None, workers: int | None = None, staging: Path | None = None
) -> RayExecutor:
    """The executor on a Ray cluster (see ``RayExecutor``); an error naming the extra
    to install where Ray is not installed."""
    _import_ray()
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    return RayExecutor(address=address, workers=workers, staging=staging)


def _import_ray() -> ModuleType:
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise LabelkitError(
            f"the ray executor needs Ray, which is not installed ({error}): "
            # Not 'labelkit[ray]': PyPI's labelkit is another project (trial 62a).
            "pip install 'ray[data]>=2.60,<3' 'aiohttp>=3.9'"
        ) from None
    return ray


@contextmanager
def _connected(ray: ModuleType, address: str | None, workers: int | None) -> Iterator[int]:
    """Connected to the cluster for the block (and disconnected after, where this made
    the connection); yields how many tasks to run at a time."""
    _refuse_unreachable(address)
    started = not ray.is_initialized()
    if started:
        ray.init(
            # "local": a cluster of this command's own, as documented, even where `ray
            # start` runs one on the machine, which address=None would join (and refuse
            # num_cpus for: trial 64b, a 40-line traceback).
            address=address or "local",
            num_cpus=workers if address is None else None,
            include_dashboard=False,
            logging_level=logging.ERROR,
        )
    context = ray.data.DataContext.get_current()
    names = ("enable_progress_bars", "use_datasource_v2", "raise_original_map_exception")
    settings = {name: getattr(context, name) for name in names}
    # Ray Data's progress bars would fill the command's output, one per operator; its
    # second Parquet reader (Ray 2.60) reads small files in one task whatever
    # override_num_blocks says, so one worker would do all the work; and labelkit's
    # errors raised in a worker (an LF past its time budget) should arrive as they are.
    for name, value in zip(names, (False, False, True), strict=True):
        setattr(context, name, value)
    # Trial 64b: Ray's INFO and WARNING lines ("The Dataset job will hang unless more
    # CPUs are freed up", in runs that went fine) filled the command's output. Only the
    # console's handlers are raised: errors still come through, and Ray's log files in
    # its session folder keep the rest.
    consoles = [
        handler
        for name in ("ray", "ray.data")
        for handler in logging.getLogger(name).handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(max(handler.level, logging.ERROR))
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        for name, value in settings.items():
            setattr(context, name, value)
        for handler, level in zip(consoles, levels, strict=True):
            handler.setLevel(level)
        if started:
            ray.shutdown()


def _export(
    workspace: Workspace, folder: Path, workers: int, since_run: int | None = None
) -> list[Path]:
    """The examples (added after the run ``since_run``, where given) as Parquet files in
    ``folder``, one row group each, ``row`` their place in id order; the files."""
    since = -1 if since_run is None else since_run
    counted = first_row(workspace.con, "SELECT count(*) FROM examples WHERE run_id > ?", [since])
    n_rows = int(counted[0]) if counted else 0
    per_file = math.ceil(n_rows / (workers * FILES_PER_WORKER))
    per_file = max(MIN_FILE_ROWS, min(MAX_FILE_ROWS, per_file))
    target = str(folder).replace("'", "''")
    workspace.con.execute(
        f"""COPY (SELECT row_number() OVER (ORDER BY id) - 1 AS row, id, text, meta
                  FROM examples WHERE run_id > {int(since)} ORDER BY id)
            TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE {per_file}, ROW_GROUPS_PER_FILE 1)"""
    )
    return sorted(folder.glob("*.parquet"))


def _vote_batch(
    batch: pa.Table,
    *,
    lfs: list[LabelingFunction],
    task: Task,
    lf_timeout: float | None,
    failed: str,
) -> pa.Table:
    """The votes of ``lfs`` on one batch of exported examples (a Ray task's work); the
    rows an LF failed on go to a shard in ``failed`` named by the batch's first row, so
    that a retried task overwrites its own."""
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    codes, errors = compute_codes(
        lfs,
        frame.select("id", "text", "meta"),
        task,
        n_jobs=1,
        lf_timeout=lf_timeout,
        check_fields=False,
    )
    if errors.height:
        Path(failed).mkdir(parents=True, exist_ok=True)
        errors.write_parquet(Path(failed, f"{frame['row'].min()}.parquet"))
    return chunk_votes(codes, frame["id"], lfs, task).to_arrow()


def _stage_blocks(checked: Iterator[tuple[pl.DataFrame, list[str]]], folder: Path) -> list[Path]:
    """Each checked block as a Parquet file in ``folder``, its rows numbered (``ROW``)
    across blocks; the files, in order."""
    folder.mkdir(parents=True)
    files, start = [], 0
    for i, (block, _) in enumerate(checked):
        path = folder / f"{i:08d}.parquet"
        block.with_columns(pl.int_range(start, start + block.height).alias(ROW)).write_parquet(path)
        files.append(path)
        start += block.height
    return files


class _LabelBatch:
    """A Ray actor's work: the model loaded once, then whole staged files labeled."""

    def __init__(self, model: str, text_column: str, threshold: float) -> None:
        from labelkit.train.ship import Predictor

        self.predictor = Predictor(model, text_column, threshold, model)

    def __call__(self, batch: pa.Table) -> pa.Table:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        block = frame.drop(ROW)
        texts = self.predictor.texts(block).to_list()
        labeled = self.predictor.labeled(block, self.predictor.answers(texts))
        return labeled.with_columns(frame[ROW]).to_arrow()


def _scored_chunk(
    ray: ModuleType,
    score: Any,
    stored: list[Any],
    models: Sequence[Any],
    jobs: Sequence[tuple[int, Any]],
    workers: int,
    batch_rows: int,
) -> list[np.ndarray]:
    """One chunk of ``class_probabilities``: each job's rows in batches, ``workers``
    Ray tasks at a time, each batch scored by the job's model from the object store
    (``stored``); a job without rows is scored here."""
    batches = [
        (job, rows[start : start + batch_rows])
        for job, (_, rows) in enumerate(jobs)
        for start in range(0, rows_in(rows), batch_rows)
    ]
    scored: list[np.ndarray | None] = [None] * len(batches)
    running: dict[Any, int] = {}
    for index, (job, rows) in enumerate(batches):
        if len(running) == workers:
            (done,), _ = ray.wait(list(running), num_returns=1)
            scored[running.pop(done)] = ray.get(done)
        running[score.remote(stored[jobs[job][0]], rows)] = index
    for done, index in running.items():
        scored[index] = ray.get(done)
    by_job: list[list[np.ndarray]] = [[] for _ in jobs]
    for (job, _), proba in zip(batches, scored, strict=True):
        by_job[job].append(proba)
    return [
        np.concatenate(parts) if parts else scored_here(models[k], rows, batch_rows)
        for parts, (k, rows) in zip(by_job, jobs, strict=True)
    ]


def _predict_proba(model: Any, rows: Any) -> np.ndarray:
    """A Ray task: one batch of a flagger's rows scored."""
    return model.predict_proba(rows)


def _ask_part(requests: LLMRequests) -> tuple[list[CachedAnswer], LLMRun]:
    """A Ray task: one part of a run's prompts asked, its answers and what it did."""
    from labelkit.llm.labeler import LLMRun, ask_here

    run, answers = LLMRun(requests.config), []
    ask_here(requests, run, answers.extend, progress=False)
    return answers, run


def _in_row_order(shards: list[Path]) -> Iterator[pl.DataFrame]:
    """The labeled shards' rows in ``ROW`` order, without it: shard by shard, each
    sorted, where their row ranges do not interleave (Ray writes a file per labeled
    file), else all at once."""
    ranges = []
    for shard in shards:
        numbers = pl.read_parquet(shard, columns=[ROW])[ROW]
        if numbers.len():
            ranges.append((numbers.min(), numbers.max(), shard))
    ranges.sort()
    if all(high < low for (_, high, _), (low, _, _) in itertools.pairwise(ranges)):
        for _, _, shard in ranges:
            yield pl.read_parquet(shard).sort(ROW).drop(ROW)
    else:
        yield pl.concat(pl.read_parquet(shard) for _, _, shard in ranges).sort(ROW).drop(ROW)


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def _read_shard(shard: Path, schema: dict[str, Any]) -> pl.DataFrame:
    return pl.read_parquet(shard).select(pl.col(name).cast(dtype) for name, dtype in schema.items())


@contextmanager
def _shipped_by_value(ray: ModuleType, lfs: Sequence[LabelingFunction]) -> Iterator[None]:
    """Python LFs pickled with their module's code for the block, so that workers need
    labelkit installed but not the user's LF modules; an LF that cannot be pickled is
    refused first (``_refuse_unpicklable``)."""
    modules = {
        sys.modules[lf.func.__module__]
        for lf in lfs
        if isinstance(lf, PythonLF)
        and lf.func.__module__ in sys.modules
        and lf.func.__module__.split(".")[0] not in ("labelkit", "__main__")
    }
    for module in modules:
        ray.cloudpickle.register_pickle_by_value(module)
    try:
        _refuse_unpicklable(ray, lfs)
        yield
    finally:
        for module in modules:
            ray.cloudpickle.unregister_pickle_by_value(module)


def _refuse_ray_client(address: str | None, step: str) -> None:
    """Refuse a ``ray://`` address for a step that runs on Ray Data, which does not
    work through Ray Client (ray-project/ray#48682; trial 64b: a 40 s timeout, then an
    AttributeError deep in Ray Data). ``flag`` and ``llm`` run plain Ray tasks, which
    do."""
    if address is not None and address.startswith("ray://"):
        raise InputError(
            f"{step} runs on Ray Data, which does not work through Ray Client ({address}): "
            "run the command on a machine of the cluster (--ray-address auto, or the "
            "head's HOST:6379), or submit it as a Ray job (`ray job submit --address "
            f"http://HEAD:8265 -- labelkit {step} ...`)"
        )


def _refuse_unreachable(address: str | None) -> None:
    """Refuse a ``HOST:PORT`` address nothing answers at: Ray would retry it for
    minutes, printing its own connection errors (trial 64b's mistyped port)."""
    if address is None or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise LabelkitError(
            f"no Ray cluster answers at {address} ({error.strerror or error}): check "
            "the address (`ray status` on the head node prints it), or leave out "
            "--ray-address for a cluster of this command's own"
        ) from None


def _staging_prefix(workspace: Workspace) -> str:
    """The name an apply's staging folder starts with: the workspace's own, so that one
    left by a killed run (``kill -9`` leaves it, every text in it) is told apart from
    another workspace's, in the same folder, under way."""
    path = str(workspace.path.resolve()).encode()
    return f".labelkit-ray-{hashlib.sha256(path).hexdigest()[:12]}-"


def _remove_stale(folder: Path, prefix: str) -> None:
    """Remove the staging folders of ``prefix`` a killed apply left in ``folder`` (trial
    64b: 39 MB of texts stayed after a ``kill -9``, and reruns said nothing). None is
    under way: an apply holds its workspace to write, so no other runs on it."""
    stale = sorted(folder.glob(f"{prefix}*"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    if stale:
        warnings.warn(
            f"removed {counted(len(stale), 'staging folder')} a stopped apply of this "
            f"workspace left in {folder}: {first_named([path.name for path in stale], 1)}",
            LabelkitWarning,
            stacklevel=outside_labelkit(),
        )


def _refuse_unpicklable(ray: ModuleType, lfs: Sequence[LabelingFunction]) -> None:
    """Refuse, naming it, an LF that cannot be sent to Ray's workers (trial 64b: a
    closure over a database connection failed in 185 lines of Ray's, naming no LF)."""
    for lf in lfs:
        try:
            ray.cloudpickle.dumps(lf)
        except Exception as error:  # any failure to pickle is the LF's to fix
            module = getattr(getattr(lf, "func", None), "__module__", None)
            where = f" (module {module})" if module else ""
            raise InputError(
                f"labeling function {lf.name!r}{where} cannot be sent to Ray's workers: "
                f"{type(error).__name__}: {error}; make what it holds (a connection, a "
                "lock, an open file) inside it, or apply it with --executor local"
            ) from None


@contextmanager
def _worker_errors_raised(ray: ModuleType) -> Iterator[None]:
    """labelkit's own errors raised in a worker (an LF past its time budget) raised
    here as they are, not wrapped in Ray's."""
    try:
        yield
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, LabelkitError):
            raise error.cause from None
        raise
