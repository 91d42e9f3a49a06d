"""Label models against majority vote, Snorkel and crowd-kit: accuracy on real and synthetic
votes (mean and standard deviation over seeds), and fit time at scale.

Sets. WRENCH YouTube and SMS (SMS twice: votes as shipped, and its 73 rules re-applied
by labelkit, because the shipped valid/test votes do not belong to their texts); YouTube
with one simulated LLM added that answers every comment, 45% right and saying "spam"
about 80% of the time; YouTube with a real below-chance LLM added, the demo's recorded
SmolLM2-135M answers (replayed from the cache, nothing asked live); the five
llms_for_css tasks of Ziems et al. 2023 (each recorded LLM's answers are one
multi-class source, read by ``llm_votes.read_task``); MAMS-ACSA aspects, the votes of
``labeling_functions/restaurants.py`` alone and with the recorded SmolLM2-135M answers
(first 300 test sentences), every method answering each of the 8 aspects through
presence then value as ``aggregate`` does (the presence model gets the presence balance,
silent sentences counted as absent, where it takes a prior: labelkit's models, majority
vote for its ties, not crowd-kit's), scored per (sentence, aspect) pair; and six
synthetic sets with known truth from ``labelkit.synthetic`` (``SYNTHETIC`` below: many
classes, class imbalance, copied sources, adversaries, below-chance sources, low coverage).

Protocol. No model sees gold. On WRENCH sets every model is fitted on the train split's
votes and scored on test; crowd-kit's methods only label the rows they are fitted on, so
they are fitted on train and test votes together and read on test. On the LLM and
synthetic sets models are fitted on all votes and scored on all items; on MAMS-ACSA they are
fitted on all votes (train, dev and test) and scored on the test pairs. Every prediction
is the most probable class with exact ties (and unvoted items) broken at random, so
majority vote here is majority vote with random ties; each prediction is scored at its
expected accuracy under that tie-break (an item tied between t classes counts 1/t if
one of them is right), so a random draw adds no noise: on SMS, where rules vote on 38%
of the test items, drawing the rest at random moved a model's accuracy by ±0.02 from
seed to seed. Seeds vary seeded models' initialisation on the real sets, and draw new
votes on the simulated ones (the synthetic sets and YouTube's LLM column).

Fit time. Synthetic votes of 2,500 examples x 164 sources x 9 classes, and of 1M x 100 x
10 fitted on 10k, 200k and 1M of them. ``auto`` and Snorkel's LabelModel, the comparison
the issue asks for, are fitted at every size with up to ``REFERENCE_LIMIT_S`` CPU seconds
each; the other methods stop at the first size whose time, projected from the smaller ones,
passes ``TIME_LIMIT_S``. No size is fitted whose projected peak memory passes 60% of the
memory free then; a fit still running at its limit is stopped and shown as a lower bound.

``auto`` joins when the label-model registry has it. crowd-kit's methods need the
``bench`` extra (``pip install -e ".[bench]"``).

    python benchmarks/label_models.py --data-dir ../shared/data [--quick]
"""

from __future__ import annotations

import inspect
import json
import math
import multiprocessing
import resource
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from _common import load_wrench, parser, replay_llm, spread, write_results
from llm_votes import TASKS, read_task

from labelkit import Workspace, ingest
from labelkit.aggregate import make_label_model
from labelkit.aggregate.attributes import answer_attribute
from labelkit.aggregate.base import expected_accuracy
from labelkit.data import bundled_dataset
from labelkit.demo import RECORDED_ANSWERS, RESTAURANTS_INGEST, RESTAURANTS_LLM
from labelkit.lf import apply_lfs, compute_votes, load_lfs, regex_lf
from labelkit.llm import import_llm_cache, label_with_llm
from labelkit.registry import label_models
from labelkit.synthetic import SyntheticSource, source_votes, synthetic_votes
from labelkit.task import ABSTAIN, NONE, Task
from labelkit.votes import LabelMatrix

SEEDS = 5
MV = "majority_vote (random ties)"
DEFAULT = "auto"
TIME_LIMIT_S = 45.0
# The default against Snorkel's LabelModel at the same number of examples is the point
# of the fit-time table, so those two get longer.
REFERENCE_LIMIT_S = 300.0
# Limits are CPU seconds; a fit gets this many times its limit of wall time.
WALL_FACTOR = 8
# GLAD's pandas M-step takes minutes on a few tens of thousands of votes.
GLAD_MAX_VOTES = 6_000


# ---------------------------------------------------------------- methods


@dataclass(frozen=True)
class Method:
    """A way to turn votes into class probabilities: ``proba(fit, test, k, seed,
    class_balance)``.

    ``fit`` is None when the scored votes are also the ones to fit on. ``class_balance``
    is a fixed prior (the presence balance ``aggregate`` gives an aspect's presence model;
    None elsewhere), used by the methods that take one. ``seeded``: whether the seed
    changes the result (else it runs once per set of votes).
    """

    name: str
    proba: Callable[[np.ndarray | None, np.ndarray, int, int, list[float] | None], np.ndarray]
    seeded: bool
    max_votes: int | None = None


def labelkit_method(shown: str, name: str, **params: Any) -> Method:
    factory = label_models.get(name)
    accepts = inspect.signature(factory).parameters
    seeded = "seed" in accepts or "random_state" in accepts

    def proba(
        fit: np.ndarray | None,
        test: np.ndarray,
        k: int,
        seed: int,
        class_balance: list[float] | None = None,
    ) -> np.ndarray:
        extra = {"seed": seed} if "seed" in accepts else {}
        if class_balance is not None:
            extra["class_balance"] = class_balance
        model = make_label_model(name, **params, **extra)
        model.fit(test if fit is None else fit, k)
        return model.predict_proba(test)

    return Method(shown, proba, seeded)


def crowdkit_frame(codes: np.ndarray) -> Any:
    """A label matrix (-1 = abstain) as crowd-kit's long table of (task, worker, label).

    Examples
    --------
    >>> crowdkit_frame(np.array([[0, -1], [1, 1]])).to_numpy().tolist()
    [[0, 0, 0], [1, 0, 1], [1, 1, 1]]
    """
    import pandas as pd

    task, worker = np.nonzero(codes != ABSTAIN)
    return pd.DataFrame({"task": task, "worker": worker, "label": codes[task, worker].astype(int)})


def crowdkit_proba(result: Any, n: int, k: int) -> np.ndarray:
    """crowd-kit's answer back as an (n x k) array: its probabilities (a task x label
    frame) or its labels (a series) one-hot; tasks nobody voted on get uniform rows.

    Examples
    --------
    >>> crowdkit_proba(pd.Series([1], index=[2]), 3, 2).tolist()
    [[0.5, 0.5], [0.5, 0.5], [0.0, 1.0]]
    """
    import pandas as pd

    proba = np.full((n, k), 1.0 / k)
    rows = result.index.to_numpy(dtype=int)
    if isinstance(result, pd.Series):
        proba[rows] = np.eye(k)[result.to_numpy(dtype=int)]
    else:
        proba[rows] = result.reindex(columns=range(k), fill_value=0.0).to_numpy(dtype=float)
    return proba


def crowdkit_method(
    shown: str, make: Callable[[int], Any], seeded: bool = False, max_votes: int | None = None
) -> Method:
    def proba(
        fit: np.ndarray | None,
        test: np.ndarray,
        k: int,
        seed: int,
        class_balance: list[float] | None = None,
    ) -> np.ndarray:
        # crowd-kit labels only the tasks it is fitted on: fit on both, read the test rows.
        # Its aggregators take no prior, so a class balance is not theirs to use.
        codes = test if fit is None else np.vstack([fit, test])
        result = make(seed).fit_predict_proba(crowdkit_frame(codes))
        return crowdkit_proba(result, len(codes), k)[len(codes) - len(test) :]

    return Method(f"crowdkit {shown}", proba, seeded, max_votes)


def crowdkit_methods() -> list[Method]:
    try:
        from crowdkit import aggregation as ck
    except ImportError:
        print("crowd-kit is not installed (pip install -e '.[bench]'): its methods are left out")
        return []
    from sklearn.base import BaseEstimator

    # crowd-kit 1.4's Wawa and ZeroBasedSkill call sklearn's check_is_fitted, which
    # since sklearn 1.6 needs the estimator tags that only BaseEstimator provides.
    class Wawa(ck.Wawa, BaseEstimator):
        pass

    class ZeroBasedSkill(ck.ZeroBasedSkill, BaseEstimator):
        pass

    return [
        crowdkit_method("DawidSkene", lambda seed: ck.DawidSkene(n_iter=100)),
        crowdkit_method("OneCoinDawidSkene", lambda seed: ck.OneCoinDawidSkene(n_iter=100)),
        crowdkit_method("GLAD", lambda seed: ck.GLAD(), max_votes=GLAD_MAX_VOTES),
        # One restart instead of ten: crowd-kit's own advice when one run takes long.
        crowdkit_method(
            "MACE (1 restart)", lambda seed: ck.MACE(n_restarts=1, random_state=seed), True
        ),
        crowdkit_method("Wawa", lambda seed: Wawa()),
        crowdkit_method("ZeroBasedSkill", lambda seed: ZeroBasedSkill()),
    ]


def methods() -> list[Method]:
    chosen = [
        labelkit_method(MV, "majority_vote"),
        labelkit_method("weighted_majority", "weighted_majority"),
        labelkit_method("snorkel", "snorkel"),
        labelkit_method("dawid_skene", "dawid_skene"),
    ]
    if DEFAULT in label_models.get_all():
        chosen.append(labelkit_method(DEFAULT, DEFAULT))
    else:
        print(f"no label model {DEFAULT!r} registered: left out")
    return chosen + crowdkit_methods()


# ---------------------------------------------------------------- sets


@dataclass(frozen=True)
class Draw:
    """Votes to score (``test``) with their gold, and the votes to fit on when they differ."""

    fit: np.ndarray | None
    test: np.ndarray
    gold: np.ndarray

    def votes(self) -> int:
        fitted = 0 if self.fit is None else int((self.fit != ABSTAIN).sum())
        return fitted + int((self.test != ABSTAIN).sum())

    def proba(self, method: Method, k: int, seed: int) -> np.ndarray:
        return method.proba(self.fit, self.test, k, seed)


@dataclass(frozen=True)
class AspectDraw:
    """An aspects task's votes, per aspect coded by ``Task.vote_task`` over every example,
    scored on the ``test`` rows: a method answers each aspect through presence then value
    (``answer_attribute``, as ``aggregate`` does), and ``gold`` holds the test rows'
    answer codes aspect after aspect, in ``task.targets`` order."""

    task: Task
    codes: dict[str, np.ndarray]
    test: np.ndarray
    gold: np.ndarray

    def votes(self) -> int:
        return sum(int((codes != ABSTAIN).sum()) for codes in self.codes.values())

    def proba(self, method: Method, k: int, seed: int) -> np.ndarray:
        fit_rows = np.ones(len(self.test), bool)
        return np.vstack(
            [
                answer_attribute(
                    self.task,
                    a,
                    codes,
                    fit_rows,
                    None,
                    lambda **balance: MethodModel(method, seed, **balance),
                )[0][self.test]
                for a, codes in self.codes.items()
            ]
        )


class MethodModel:
    """A benchmark method as the part of a label model that ``answer_attribute`` uses:
    ``fit`` keeps the votes, ``predict_proba`` runs the method on them (with the class
    balance ``answer_attribute`` gives the presence model)."""

    name = "benchmark method"

    def __init__(self, method: Method, seed: int, class_balance: list[float] | None = None) -> None:
        self.method, self.seed, self.class_balance = method, seed, class_balance

    def fit(self, codes: np.ndarray, cardinality: int, gold: None = None) -> MethodModel:
        self.fitted, self.cardinality = codes, cardinality
        return self

    def predict_proba(self, codes: np.ndarray) -> np.ndarray:
        return self.method.proba(
            self.fitted, codes, self.cardinality, self.seed, self.class_balance
        )


@dataclass(frozen=True)
class VoteSet:
    name: str
    cardinality: int
    draw: Callable[[int], Draw | AspectDraw]
    fixed: bool  # the same votes for every seed


def read_split(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = list(json.loads(path.read_text(encoding="utf-8")).values())
    votes = np.array([row["weak_labels"] for row in rows], dtype=np.int16)
    gold = np.array([row["label"] for row in rows])
    return votes, gold, [row["data"]["text"] for row in rows]


def sms_rules(readme: Path) -> list[tuple[str, str]]:
    """The (label, regex) pairs listed in WRENCH's SMS readme, in LF order."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")[:2]) for line in lines if line.startswith(("ham\t", "spam\t"))]


def reapply_rules(texts: list[str], rules: list[tuple[str, str]]) -> np.ndarray:
    task = Task(labels=("ham", "spam"))
    lfs = [regex_lf(f"rule_{j}", pattern, label) for j, (label, pattern) in enumerate(rules)]
    frame = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
    return compute_votes(lfs, frame, task).matrix.codes


# Answers every comment, 45% right on YouTube's balance, saying "spam" about 80% of the time.
BELOW_CHANCE_LLM = SyntheticSource(accuracy=[0.15, 0.75])


def wrench_sets(wrench: Path) -> list[VoteSet]:
    youtube = {s: read_split(wrench / "youtube" / f"{s}.json") for s in ("train", "test")}
    sms = {s: read_split(wrench / "sms" / f"{s}.json") for s in ("train", "test")}
    rules = sms_rules(wrench / "sms" / "readme.txt")
    reapplied = {s: reapply_rules(texts, rules) for s, (_, _, texts) in sms.items()}

    def fixed(train: np.ndarray, test: np.ndarray, gold: np.ndarray) -> Callable[[int], Draw]:
        return lambda seed: Draw(train, test, gold)

    def with_llm(seed: int) -> Draw:
        (train, train_gold, _), (test, gold, _) = youtube["train"], youtube["test"]
        llm = [
            source_votes(g, 2, BELOW_CHANCE_LLM, seed=seed * 2 + i)[:, None]
            for i, g in enumerate((train_gold, gold))
        ]
        return Draw(np.hstack([train, llm[0]]), np.hstack([test, llm[1]]), gold)

    return [
        VoteSet("youtube", 2, fixed(youtube["train"][0], *youtube["test"][:2]), True),
        VoteSet("sms (votes as shipped)", 2, fixed(sms["train"][0], *sms["test"][:2]), True),
        VoteSet(
            "sms (rules re-applied)",
            2,
            fixed(reapplied["train"], reapplied["test"], sms["test"][1]),
            True,
        ),
        VoteSet("youtube + below-chance LLM", 2, with_llm, False),
        recorded_llm_set(wrench / "youtube"),
    ]


def recorded_llm_set(folder: Path) -> VoteSet:
    """YouTube's LF votes and the demo's recorded SmolLM2-135M answers as one more source,
    read through a workspace as a user would: below chance on the train split, it flips
    Snorkel's LabelModel (see distill.md)."""
    with (
        tempfile.TemporaryDirectory() as scratch,
        Workspace(Path(scratch) / "youtube.duckdb") as workspace,
    ):
        load_wrench(workspace, folder, ("train", "test"))
        replay_llm(workspace)
        train, test = (LabelMatrix.from_workspace(workspace, split=s) for s in ("train", "test"))
        gold = workspace.sql("SELECT gold FROM examples WHERE split = 'test' ORDER BY id")
        draw = Draw(train.codes, test.codes, test.task.encode(gold["gold"]))
    return VoteSet("youtube + SmolLM2 (recorded)", 2, lambda seed: draw, True)


def llm_sets(root: Path) -> list[VoteSet]:
    sets = []
    with tempfile.TemporaryDirectory() as scratch:
        for task in TASKS:
            with Workspace(Path(scratch) / f"{task}.duckdb") as workspace:
                matrix, gold = read_task(root / task, workspace)
            # The fine-tuned RoBERTa is a reference in llm_votes.py, not a vote.
            keep = [j for j, s in enumerate(matrix.sources) if s != "llm:roberta"]
            draw = Draw(None, matrix.codes[:, keep], gold)
            sets.append(
                VoteSet(f"llms_for_css {task}", matrix.task.cardinality, lambda s, d=draw: d, True)
            )
    return sets


def aspect_sets(folder: Path) -> list[VoteSet]:
    """MAMS-ACSA's votes from the restaurant LFs, then with the recorded SmolLM2 answers."""
    sets = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        Workspace(Path(scratch) / "mams.duckdb") as workspace,
    ):
        ingest(workspace, sorted(folder.glob("*.xml")), **RESTAURANTS_INGEST)
        apply_lfs(workspace, load_lfs("labeling_functions.restaurants"))
        task = workspace.task
        examples = workspace.sql("SELECT split, gold FROM examples ORDER BY id")
        test = (examples["split"] == "test").to_numpy()
        gold = np.concatenate(
            [
                task.answers(a).encode(task.gold_answers(examples["gold"].filter(test), a))
                for a in task.targets
            ]
        )
        absent = float((gold == task.answers(task.targets[0]).code(NONE)).mean())
        for name in ("restaurant LFs", "restaurant LFs + SmolLM2 (recorded)"):
            if name.endswith("(recorded)"):
                import_llm_cache(workspace, bundled_dataset("mams-acsa") / RECORDED_ANSWERS)
                label_with_llm(workspace, RESTAURANTS_LLM, cached_only=True)
            codes = {
                a: LabelMatrix.from_workspace(workspace, attribute=a).codes for a in task.targets
            }
            draw = AspectDraw(task, codes, test, gold)
            sets.append(
                VoteSet(
                    f"mams-acsa aspects, {name} ({absent:.0%} of test pairs none)",
                    len(task.answers(task.targets[0]).labels),
                    lambda seed, d=draw: d,
                    True,
                )
            )
    return sets


@dataclass(frozen=True)
class Synthetic:
    name: str
    cardinality: int
    sources: list[SyntheticSource]
    class_balance: list[float] | None = None


def synthetic_configs() -> list[Synthetic]:
    # Source settings are drawn once from a fixed seed; each benchmark seed draws new votes.
    rng = np.random.default_rng(0)
    imbalance = [0.75, 0.15, 0.07, 0.03]
    return [
        Synthetic(
            "many classes (10 classes, 25 sources)",
            10,
            [
                SyntheticSource(float(a), float(c))
                for a, c in zip(rng.uniform(0.25, 0.7, 25), rng.uniform(0.2, 0.6, 25), strict=True)
            ],
        ),
        Synthetic(
            "imbalanced (4 classes, 75/15/7/3%)",
            4,
            [
                SyntheticSource(float(a), 0.5 * imbalance[label], polarity=label)
                for label in range(4)
                for a in rng.uniform(0.55, 0.9, 3)
            ]
            + [SyntheticSource(0.6, 0.5, wrong=0)] * 4,
            imbalance,
        ),
        Synthetic(
            "correlated (4 good sources, a 45% one copied 6 times)",
            3,
            [SyntheticSource(0.75, 0.6)] * 4
            + [SyntheticSource(0.45, 0.9)]
            + [SyntheticSource(0.45, 0.9, copies=4, copy_rate=0.95)] * 6,
        ),
        Synthetic(
            "adversarial (6 good, 3 systematically wrong)",
            4,
            [SyntheticSource(0.65, 0.5)] * 6 + [SyntheticSource(0.1, 0.8, wrong="shift")] * 3,
        ),
        Synthetic(
            "below chance (5 good, 4 at 25% biased to one class)",
            3,
            [SyntheticSource(0.7, 0.4)] * 5 + [SyntheticSource(0.25, 1.0, wrong=0)] * 4,
        ),
        Synthetic(
            "low coverage (5 classes, 40 rules firing on 1-5%)",
            5,
            [
                SyntheticSource(float(a), float(c), polarity=j % 5)
                for j, (a, c) in enumerate(
                    zip(rng.uniform(0.6, 0.9, 40), rng.uniform(0.01, 0.05, 40), strict=True)
                )
            ],
        ),
    ]


def synthetic_sets(n_examples: int) -> list[VoteSet]:
    def draw(config: Synthetic) -> Callable[[int], Draw]:
        def votes(seed: int) -> Draw:
            drawn = synthetic_votes(
                n_examples, config.cardinality, config.sources, config.class_balance, seed=seed
            )
            return Draw(None, drawn.codes, drawn.gold)

        return votes

    return [
        VoteSet(f"synthetic: {c.name}", c.cardinality, draw(c), False) for c in synthetic_configs()
    ]


# ---------------------------------------------------------------- accuracy


def evaluate(vote_set: VoteSet, chosen: list[Method], seeds: int) -> list[dict[str, Any]]:
    scores: dict[str, list[float]] = {m.name: [] for m in chosen}
    times: dict[str, list[float]] = {m.name: [] for m in chosen}
    cache: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    for seed in range(seeds):
        draw = vote_set.draw(seed)
        for method in chosen:
            reuse = vote_set.fixed and not method.seeded and method.name in cache
            if method.name in failed:
                continue
            votes = draw.votes()
            if method.max_votes is not None and votes > method.max_votes:
                failed[method.name] = f"skipped: {votes:,} votes, over {method.max_votes:,}"
                continue
            if not reuse:
                start = time.perf_counter()
                try:
                    proba = draw.proba(method, vote_set.cardinality, seed)
                except Exception as error:  # a peer library's failure is a result, not a stop
                    failed[method.name] = f"{type(error).__name__}: {error}"
                    print(f"{vote_set.name}: {method.name} failed: {failed[method.name]}")
                    continue
                cache[method.name] = proba
                times[method.name].append(time.perf_counter() - start)
            scores[method.name].append(expected_accuracy(cache[method.name], draw.gold))
    records = [
        {
            "dataset": vote_set.name,
            "method": name,
            "accuracy": None if name in failed else float(np.mean(values)),
            "accuracy_sd": None if name in failed else spread(values),
            "seeds": len(values),
            # A deterministic method on votes that do not change with the seed is fitted
            # once and scored per seed (trial 62c: its zero spread read as measured).
            "fits": len(times[name]),
            "fit_s": float(np.mean(times[name])) if times[name] else None,
            "error": failed.get(name),
        }
        for name, values in scores.items()
    ]
    print(
        f"{vote_set.name}: "
        + ", ".join(f"{r['method']} {cell(r)} ({r['fit_s'] or 0:.1f} s)" for r in records)
    )
    return records


# ---------------------------------------------------------------- fit time


def timing_votes(n_examples: int, n_sources: int, cardinality: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    sources = [
        SyntheticSource(float(a), float(c))
        for a, c in zip(
            rng.uniform(1.5 / cardinality, 0.8, n_sources),
            rng.uniform(0.05, 0.5, n_sources),
            strict=True,
        )
    ]
    return synthetic_votes(n_examples, cardinality, sources, seed=2).codes


def _timed_fit(method: Method, codes: np.ndarray, k: int, limit_s: float, queue: Any) -> None:
    # The kernel stops this process once it has used limit_s of CPU (SIGXCPU).
    limit = math.ceil(limit_s)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 5))
    start = time.perf_counter()
    method.proba(None, codes, k, 0)
    used = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((used.ru_utime + used.ru_stime, time.perf_counter() - start, used.ru_maxrss / 1e6))


def timed_fit(
    method: Method, codes: np.ndarray, k: int, limit_s: float
) -> tuple[float, float, float]:
    """CPU seconds and wall seconds to fit and predict in a forked process, and its peak
    memory in GB. CPU time, not wall time, is what is limited and compared: on a shared,
    oversubscribed machine a one-thread fit's wall time says more about the neighbours
    than about the fit. A fit stopped at ``limit_s`` of CPU (or at ``WALL_FACTOR`` times
    that of wall time) gives ``inf``, one that failed ``nan``."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_timed_fit, args=(method, codes, k, limit_s, queue))
    child.start()
    child.join(WALL_FACTOR * limit_s)
    if child.is_alive():
        child.kill()
        child.join()
    if child.exitcode == 0:
        return queue.get()
    stopped = child.exitcode in (-signal.SIGXCPU, -signal.SIGKILL)
    return (float("inf") if stopped else float("nan"), float("nan"), float("nan"))


def resident_gb() -> float:
    """This process's resident memory now, in GB."""
    pages = int(Path("/proc/self/statm").read_text(encoding="utf-8").split()[1])
    return pages * resource.getpagesize() / 1e9


def available_gb() -> float:
    """Memory free for a new process now, in GB (read before each fit: the machine is shared)."""
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1e6
    return 8.0


def projected(measured: list[tuple[int, float]], size: int) -> float:
    """A cost at ``size`` from the costs measured at smaller sizes: the line through the
    last two (a fixed part plus a part per example; never below the last one), or
    proportional to the size from one.

    Examples
    --------
    >>> projected([(10, 30.0), (20, 40.0)], 40)
    60.0
    >>> projected([(10, 3.0)], 40)
    12.0
    """
    (*_, (size_b, cost_b)) = measured
    if len(measured) == 1:
        return cost_b * size / size_b
    size_a, cost_a = measured[-2]
    slope = max((cost_b - cost_a) / (size_b - size_a), 0.0)
    return cost_b + slope * (size - size_b)


def fit_times(
    chosen: list[Method], quick: bool, only: list[str] | None = None
) -> list[dict[str, Any]]:
    """Fit time at each size of each shape, every method at one size before any at the
    next, so the largest fits come last. The default and Snorkel's LabelModel are the
    comparison the table is for: they are fitted at every size, stopped only by
    ``REFERENCE_LIMIT_S`` or by a projected peak memory over 60% of what is free, and
    every size is reported. The other methods stop at the first size whose projected
    time passes ``TIME_LIMIT_S``, and report the largest size fitted."""
    shapes = [(2_500, 164, 9, [2_500]), (1_000_000, 100, 10, [10_000, 200_000, 1_000_000])]
    if quick:
        shapes = [(2_500, 164, 9, [2_500]), (100_000, 100, 10, [10_000, 100_000])]
    timed = [method for method in chosen if method.name != MV]
    records = []
    for n, m, k, sizes in shapes:
        shape = f"fit time: {n:,} x {m} sources x {k} classes"
        if only and not any(text in shape for text in only):
            continue
        codes = timing_votes(sizes[-1], m, k)
        # A forked child starts with this process's memory: the cost of no examples.
        base_gb = resident_gb()
        times: dict[str, list[tuple[int, float]]] = {method.name: [] for method in timed}
        peaks = {method.name: [(0, base_gb)] for method in timed}
        rows: dict[str, list[dict[str, Any]]] = {method.name: [] for method in timed}
        stopped: set[str] = set()
        for size in sizes:
            for method in timed:
                reference = method.name in (DEFAULT, "snorkel")
                if method.name in stopped or (method.max_votes and size > sizes[0]):
                    continue
                peak = peaks[method.name]
                over_memory = (
                    len(peak) > 1 and projected(peak, size) - base_gb > 0.6 * available_gb()
                )
                over_time = bool(times[method.name]) and (
                    projected(times[method.name], size) > TIME_LIMIT_S
                )
                if over_memory or (over_time and not reference):
                    stopped.add(method.name)
                    continue
                limit_s = REFERENCE_LIMIT_S if reference else TIME_LIMIT_S
                seconds, wall, gb = timed_fit(method, codes[:size], k, limit_s)
                rows[method.name].append(
                    {
                        "dataset": shape,
                        "method": method.name,
                        "examples_fitted": size,
                        "fit_s": seconds if np.isfinite(seconds) else None,
                        "wall_s": wall if np.isfinite(wall) else None,
                        "stopped_after_s": limit_s if seconds == float("inf") else None,
                        "peak_memory_gb": gb if np.isfinite(gb) else None,
                    }
                )
                print(rows[method.name][-1], flush=True)
                if not np.isfinite(seconds):
                    stopped.add(method.name)
                    continue
                times[method.name].append((size, seconds))
                peak.append((size, gb))
        for method in timed:
            kept = rows[method.name]
            records += kept if method.name in (DEFAULT, "snorkel") else kept[-1:]
    return records


# ---------------------------------------------------------------- report


def cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "not run"
    if row["accuracy"] is None:
        return "skipped" if row and (row["error"] or "").startswith("skipped") else "failed"
    return f"{row['accuracy']:.3f} ± {row['accuracy_sd']:.3f}"


def accuracy_table(frame: pl.DataFrame, names: list[str]) -> str:
    """One row per set, one column per method (mean ± sd), and the default's verdicts."""
    has_default = DEFAULT in names
    header = ["set", *names]
    if has_default:
        header += [f"{DEFAULT} ≥ MV − 0.01", f"{DEFAULT} > snorkel"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for dataset in frame["dataset"].unique(maintain_order=True):
        rows = {r["method"]: r for r in frame.filter(pl.col("dataset") == dataset).to_dicts()}
        best = max(r["accuracy"] for r in rows.values() if r["accuracy"] is not None)
        cells = [
            f"**{cell(rows[n])}**"
            if n in rows and rows[n]["accuracy"] == best
            else cell(rows.get(n))
            for n in names
        ]
        if has_default:
            default = rows[DEFAULT]["accuracy"]
            cells += [
                "yes" if default >= rows[MV]["accuracy"] - 0.01 else "**no**",
                "yes" if "snorkel" in rows and default > rows["snorkel"]["accuracy"] else "no",
            ]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def time_table(frame: pl.DataFrame) -> str:
    lines = [
        "| shape | method | examples fitted | fit + predict CPU s | wall s | peak memory GB "
        "| vs snorkel |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for shape in frame["dataset"].unique(maintain_order=True):
        rows = frame.filter(pl.col("dataset") == shape).to_dicts()
        by_size = {r["examples_fitted"]: r for r in rows if r["method"] == "snorkel"}
        for r in rows:
            snorkel = by_size.get(r["examples_fitted"])
            if r["fit_s"] is None:
                seconds = f"> {r['stopped_after_s']:.0f}" if r["stopped_after_s"] else "failed"
            else:
                seconds = f"{r['fit_s']:.2f}"
            relative = ""
            if snorkel and r["fit_s"] is not None and r is not snorkel:
                if snorkel["fit_s"] is not None:
                    relative = f"{r['fit_s'] / snorkel['fit_s']:.2g}x"
                elif snorkel["stopped_after_s"]:
                    relative = f"< {r['fit_s'] / snorkel['stopped_after_s']:.2g}x"
            memory = f"{r['peak_memory_gb']:.1f}" if r["peak_memory_gb"] is not None else ""
            wall = f"{r['wall_s']:.1f}" if r.get("wall_s") is not None else ""
            lines.append(
                f"| {shape.removeprefix('fit time: ')} | {r['method']} | "
                f"{r['examples_fitted']:,} | {seconds} | {wall} | {memory} | {relative} |"
            )
    return "\n".join(lines)


def verdicts(frame: pl.DataFrame, names: list[str]) -> str:
    lines = []
    sets = frame["dataset"].unique(maintain_order=True).to_list()
    # A method skipped or failed on a set has no accuracy there: it is left out of that
    # set's comparisons (trial 62c: GLAD, skipped on 6 of 18, was said to run on 18).
    pick = {
        (r["dataset"], r["method"]): r["accuracy"]
        for r in frame.to_dicts()
        if r["accuracy"] is not None
    }

    def both(a: str, b: str) -> list[str]:
        return [s for s in sets if (s, a) in pick and (s, b) in pick]

    if DEFAULT in names:
        with_mv, with_snorkel = both(DEFAULT, MV), both(DEFAULT, "snorkel")
        at_mv = sum(pick[s, DEFAULT] >= pick[s, MV] - 0.01 for s in with_mv)
        over_snorkel = sum(pick[s, DEFAULT] > pick[s, "snorkel"] for s in with_snorkel)
        lines.append(
            f"`{DEFAULT}` is at least majority vote's accuracy minus 0.01 on {at_mv} of "
            f"{len(with_mv)} sets and beats Snorkel's LabelModel on {over_snorkel} of the "
            f"{len(with_snorkel)} sets it ran on."
        )
    for name in names:
        if name.startswith("crowdkit"):
            ran = both(name, "dawid_skene")
            wins = [s for s in ran if pick[s, name] > pick[s, "dawid_skene"] + 0.005]
            lines.append(
                f"`{name}` beats labelkit's `dawid_skene` by more than 0.005 on {len(wins)} of "
                f"the {len(ran)} sets it ran on" + (f": {', '.join(wins)}." if wins else ".")
            )
    return "\n".join(f"- {line}" for line in lines)


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--quick", action="store_true", help="2 seeds, smaller synthetic sets, 100k for timing"
    )
    arguments.add_argument("--no-timing", action="store_true", help="skip the fit-time table")
    arguments.add_argument("--no-accuracy", action="store_true", help="only the fit-time table")
    arguments.add_argument(
        "--report-only", action="store_true", help="rewrite the Markdown from the saved JSON"
    )
    arguments.add_argument(
        "--methods",
        nargs="+",
        metavar="NAME",
        help="only these methods (and majority vote), by exact name",
    )
    arguments.add_argument(
        "--sets",
        nargs="+",
        metavar="TEXT",
        help="only the sets (and fit-time shapes) whose name contains one of these",
    )
    arguments.add_argument(
        "--merge",
        action="store_true",
        help="keep the saved results, replacing only the records this run redoes",
    )
    arguments = arguments.parse_args()
    if arguments.report_only:
        records, timing = merged(saved_results(arguments.output_dir), [], [])
        report(records, timing, max(r["seeds"] for r in records), arguments.output_dir)
        return
    seeds = 2 if arguments.quick else SEEDS
    # One thread for BLAS, OpenMP and torch: on a shared, oversubscribed machine their
    # spinning worker threads made fits 10 to 25 times slower than a single thread.
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)
    chosen = methods()
    if arguments.methods:
        chosen = [m for m in chosen if m.name in (MV, *arguments.methods)]
    # One throwaway fit first, so that no timed fit includes loading torch.
    make_label_model("snorkel", epochs=1).fit(np.array([[0, 1, 0], [1, 1, -1]]), 2)
    vote_sets = (
        []
        if arguments.no_accuracy
        else wrench_sets(arguments.data_dir / "wrench")
        + llm_sets(arguments.data_dir / "llm" / "llms_for_css")
        + aspect_sets(arguments.data_dir / "aspects" / "mams-acsa")
        + synthetic_sets(500 if arguments.quick else 1_000)
    )
    if arguments.sets:
        vote_sets = [v for v in vote_sets if any(text in v.name for text in arguments.sets)]
    records: list[dict[str, Any]] = []
    for vote_set in vote_sets:
        records += evaluate(vote_set, chosen, seeds)
    timing = [] if arguments.no_timing else fit_times(chosen, arguments.quick, arguments.sets)
    if arguments.merge:
        records, timing = merged(saved_results(arguments.output_dir), records, timing)
    report(records, timing, seeds, arguments.output_dir)


def saved_results(output_dir: Path) -> list[dict[str, Any]]:
    """The records of the last run, without the fields ``write_results`` adds."""
    path = output_dir / "label_models.json"
    if not path.exists():
        return []
    return [record for record in json.loads(path.read_text(encoding="utf-8"))]


def merged(
    saved: list[dict[str, Any]], records: list[dict[str, Any]], timing: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Saved accuracy and timing records, each replaced by this run's record for the same
    set (or shape and size) and method where there is one; new ones come last."""

    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        return record["dataset"], record["method"], record.get("examples_fitted")

    new = {key(r): r for r in records + timing}
    combined = [new.pop(key(r), r) for r in saved] + list(new.values())
    return [r for r in combined if "seeds" in r], [r for r in combined if "seeds" not in r]


FIT_TIME_NOTE = (
    "\n\nFit time: fit and predict on every example, in a forked process, on synthetic "
    "votes (accuracy 1.5/k to 0.8, coverage 5% to 50% per source). Times are CPU seconds "
    "of the fitting process (the wall time beside them depends on the neighbours on a "
    "shared machine). `auto` and Snorkel's LabelModel are fitted at every size with up "
    f"to {REFERENCE_LIMIT_S:.0f} CPU s each; the other methods stop at the first size "
    f"whose time, projected from the smaller ones, passes {TIME_LIMIT_S:.0f} s, and show "
    "the largest size fitted. No size is fitted whose projected peak memory passes 60% "
    "of the memory free then. `> N` marks a fit stopped after N CPU s; `vs snorkel` "
    "compares CPU time at the same number of examples. Everything runs on one thread (BLAS, "
    "OpenMP, torch): on the shared, oversubscribed machine two threads made fits 10 to "
    "25 times slower."
)


def report(
    records: list[dict[str, Any]], timing: list[dict[str, Any]], seeds: int, output_dir: Path
) -> None:
    """Write the JSON records and the Markdown tables beside them."""
    names = list(dict.fromkeys(r["method"] for r in records))
    accuracy = pl.DataFrame(records, infer_schema_length=None)
    tables = [accuracy_table(accuracy, names)] if records else []
    if timing:
        tables.append(time_table(pl.DataFrame(timing, infer_schema_length=None)))
    table = "\n\n".join(tables)
    notes = (
        f"Accuracy: mean ± sample standard deviation over {seeds} seeds, the best per set in bold; "
        "WRENCH sets score the test split, the others all items. Exact ties and unvoted "
        "items go to a random class for every method, scored at the expected accuracy of "
        "that draw. Deterministic methods run once on sets whose votes do not change with "
        "the seed (`fits` 1 in the JSON), so their spread there is zero. crowd-kit methods see the WRENCH test votes while fitting "
        "(transductive); labelkit's models do not, though fitting crowd-kit's Dawid-Skene on "
        "train and test scored as on test alone (trial 62c). crowd-kit's Dawid-Skene leaves "
        "an abstain out of its confusion matrices and labelkit's `dawid_skene` counts it as "
        "a response: two different models.\n\n"
        + (verdicts(accuracy, names) if records else "")
        + (FIT_TIME_NOTE if timing else "")
    )
    write_results("label_models", records + timing, output_dir, notes, table=table)
    print(table)
    print(notes)


if __name__ == "__main__":
    main()
