"""The registries: parts registered in code, and by an installed package's entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl

from labelkit import Workspace, ingest
from labelkit.votes import import_votes


def test_a_label_model_a_package_registers_is_found_by_the_cli(tmp_path: Path) -> None:
    # Trial 59e: `--model` said "or one a package registers", and no package could.
    site = tmp_path / "site"
    (site / "my_votes-0.1.dist-info").mkdir(parents=True)
    (site / "my_votes.py").write_text(
        "from labelkit.aggregate import MajorityVote\n\n\n"
        "class Named(MajorityVote):\n    name = 'my_vote'\n"
    )
    (site / "my_votes-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: my-votes\nVersion: 0.1\n"
    )
    (site / "my_votes-0.1.dist-info" / "entry_points.txt").write_text(
        "[labelkit_label_models]\nmy_vote = my_votes:Named\n"
    )
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        ingest(ws, pl.DataFrame({"id": ["a", "b"], "text": ["x", "y"]}), labels=["ham", "spam"])
        votes = [("a", "s", "ham"), ("b", "s", "spam")]
        import_votes(
            ws, pl.DataFrame(votes, schema=["example_id", "source", "label"], orient="row")
        )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "labelkit", "aggregate", str(path), "--model", "my_vote"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "my_vote: 2 of 2 examples labeled" in " ".join(done.stdout.split())
    with Workspace(path, read_only=True) as ws:
        assert ws.sql("SELECT label FROM predictions ORDER BY example_id")["label"].to_list() == [
            "ham",
            "spam",
        ]


def site_package(site: Path, name: str, code: str, entry_points: str) -> None:
    """An installed package ``name`` in the folder ``site``: its module and entry points."""
    module = name.replace("-", "_")
    info = site / f"{module}-0.1.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(code)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def voted_workspace(path: Path) -> Path:
    """Six texts, each voted one label by one source, all in train."""
    with Workspace(path) as ws:
        ids = [f"t{i}" for i in range(6)]
        ingest(ws, pl.DataFrame({"id": ids, "text": ids}), labels=["ham", "spam"])
        import_votes(
            ws,
            pl.DataFrame({"example_id": ids, "source": ["s"] * 6, "label": ["ham", "spam"] * 3}),
        )
    return path


def labelkit_with(site: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        # Wide enough that no table cell wraps.
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "labelkit", *map(str, args)], capture_output=True, text=True, env=env
    )


ALWAYS_SPAM = """
import numpy as np
from labelkit.aggregate import MajorityVote


class AlwaysSpam(MajorityVote):
    def predict_proba(self, codes):
        return np.tile([0.0, 1.0], (len(codes), 1))
"""


def test_a_package_cannot_replace_a_part_labelkit_ships(tmp_path: Path) -> None:
    # Trial 62b: a package's `majority_vote` ran in place of labelkit's, without a word.
    site_package(
        tmp_path / "site",
        "clash-votes",
        ALWAYS_SPAM,
        "[labelkit_label_models]\nmajority_vote = clash_votes:AlwaysSpam\n"
        "always_spam = clash_votes:AlwaysSpam\n",
    )
    ws = voted_workspace(tmp_path / "ws.duckdb")
    done = labelkit_with(tmp_path / "site", "aggregate", ws, "--model", "majority_vote")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert (
        "package clash-votes 0.1 registers label model 'majority_vote', which labelkit ships: "
        "that one is used" in said
    )
    with Workspace(ws, read_only=True) as opened:
        labels = opened.sql("SELECT label FROM predictions ORDER BY example_id")["label"]
        versions = opened.sql("SELECT versions FROM runs WHERE step = 'aggregate'")["versions"]
    assert labels.to_list() == ["ham", "spam"] * 3, "labelkit's majority vote"
    # The run says which packages could have made it.
    assert json.loads(versions[0])["clash-votes"] == "0.1"
    listed = labelkit_with(tmp_path / "site", "parts")
    assert listed.returncode == 0, listed.stderr
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in listed.stdout.splitlines()]
    assert ["label_models", "majority_vote", "labelkit; clash-votes 0.1 ignored"] in rows
    assert ["label_models", "always_spam", "clash-votes 0.1"] in rows
    # Under a name of its own, the package's part is used.
    done = labelkit_with(tmp_path / "site", "aggregate", ws, "--model", "always_spam")
    assert done.returncode == 0, done.stderr
    with Workspace(ws, read_only=True) as opened:
        assert set(opened.sql("SELECT label FROM predictions")["label"]) == {"spam"}


def test_two_packages_with_one_name_and_a_broken_one_are_named(tmp_path: Path) -> None:
    # Trial 62b: the last package loaded won in silence, and one that did not load ended
    # every misspelt name, labelkit's own included, in a ModuleNotFoundError traceback.
    site = tmp_path / "site"
    for name in ("votes-one", "votes-two"):
        site_package(
            site,
            name,
            ALWAYS_SPAM,
            f"[labelkit_label_models]\nshared = {name.replace('-', '_')}:AlwaysSpam\n",
        )
    site_package(
        site, "votes-broken", "", "[labelkit_label_models]\nbroken = votes_broken.gone:X\n"
    )
    ws = voted_workspace(tmp_path / "ws.duckdb")
    shared = labelkit_with(site, "aggregate", ws, "--model", "shared")
    assert shared.returncode == 1
    assert (
        "error: label model 'shared' is registered by packages votes-one 0.1 and votes-two "
        "0.1: uninstall one of them" in " ".join(shared.stderr.split())
    )
    listed = " ".join(labelkit_with(site, "parts").stdout.split())
    assert "shared │ votes-one 0.1 and votes-two 0.1 (a clash: refused)" in listed
    misspelt = labelkit_with(site, "aggregate", ws, "--model", "dawid_skeen")
    assert misspelt.returncode == 1 and "Traceback" not in misspelt.stderr
    assert "(did you mean 'dawid_skene'?)" in misspelt.stderr
    broken = labelkit_with(site, "aggregate", ws, "--model", "broken")
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert (
        "error: label model 'broken' of package votes-broken 0.1 does not load "
        "(votes_broken.gone:X): ModuleNotFoundError" in " ".join(broken.stderr.split())
    )


def test_executors_and_span_label_models_come_from_packages_too(tmp_path: Path) -> None:
    # Trial 62b: their entry-point groups were not read.
    from labelkit.registry import executors, span_label_models

    assert executors.entry_points and span_label_models.entry_points
    site_package(
        tmp_path / "site",
        "my-runner",
        "from labelkit.executors.local import LocalExecutor\n\n\n"
        "def mine():\n    print('my runner ran')\n    return LocalExecutor()\n",
        "[labelkit_executors]\nmine = my_runner:mine\n",
    )
    ws = voted_workspace(tmp_path / "ws.duckdb")
    lfs = tmp_path / "my_lfs.py"
    lfs.write_text(
        "from labelkit.lf import keyword_lf\n\nLFS = [keyword_lf('t1', ['t1'], 'spam')]\n"
    )
    done = labelkit_with(tmp_path / "site", "apply", ws, "--lfs", lfs, "--executor", "mine")
    assert done.returncode == 0, done.stderr
    assert "my runner ran" in done.stdout


def test_what_a_label_model_of_ones_own_gives_is_checked(tmp_path: Path) -> None:
    # Trial 62b: NaN rows were stored, labeled with the first label, and flagged as sure;
    # a model that raised ended in a traceback that never named it.
    import numpy as np
    import pytest

    from labelkit import LabelkitError, aggregate
    from labelkit.aggregate import MajorityVote
    from labelkit.registry import label_models

    @label_models.register("test_half_nan")
    class HalfNan(MajorityVote):
        name = "test_half_nan"

        def predict_proba(self, codes: np.ndarray) -> np.ndarray:
            proba = super().predict_proba(codes)
            proba[::2] = np.nan
            return proba

    @label_models.register("test_raises")
    class Raises(MajorityVote):
        name = "test_raises"

        def fit(self, *args: object, **kwargs: object) -> Raises:
            raise ValueError("a bug of mine")

    with Workspace(voted_workspace(tmp_path / "ws.duckdb")) as ws:
        with pytest.raises(
            LabelkitError,
            match=r"label model 'test_half_nan' gave NaN or infinite probabilities on 3 of the "
            r"6 rows it was given \(the first, row 0: \[nan, nan\]\)",
        ):
            aggregate(ws, "test_half_nan")
        with pytest.raises(
            LabelkitError,
            match=r"label model 'test_raises' failed at test_registry.py:\d+: ValueError: a bug",
        ):
            aggregate(ws, "test_raises")
        assert ws.sql("SELECT count(*) AS n FROM predictions")["n"][0] == 0, "nothing stored"


def test_what_a_flagger_of_ones_own_gives_is_checked(tmp_path: Path) -> None:
    # Trial 62b: NaN rows changed the queue (734 flags for 416) without a word.
    import numpy as np
    import pytest
    from sklearn.base import BaseEstimator, ClassifierMixin

    from labelkit import LabelkitError, find_label_issues
    from labelkit.flag_classifiers import tfidf_logreg
    from labelkit.registry import flaggers
    from tests.test_flag import noisy_workspace

    class NanEveryFifth(ClassifierMixin, BaseEstimator):
        def fit(self, texts: object, codes: np.ndarray) -> NanEveryFifth:
            self.inner_ = tfidf_logreg().fit(texts, codes)
            self.classes_ = self.inner_.classes_
            return self

        def predict_proba(self, texts: object) -> np.ndarray:
            proba = self.inner_.predict_proba(texts)
            proba[::5] = np.nan
            return proba

        def predict(self, texts: object) -> np.ndarray:
            return self.inner_.predict(texts)

    flaggers.register("test_nan_every_fifth", func=NanEveryFifth)
    ws, _ = noisy_workspace(tmp_path, n=100, flips=5)
    with pytest.raises(
        LabelkitError,
        match=r"flagger 'test_nan_every_fifth' gave NaN or infinite probabilities on \d+ of the",
    ):
        find_label_issues(ws, flagger="test_nan_every_fifth")
    ws.close()


def test_a_part_of_ones_own_is_told_what_labelkit_passes_it(tmp_path: Path) -> None:
    # Trial 62b: "takes no parameter 'class_balance'" blamed the user for what labelkit
    # passed; code that registered a shipped name replaced it without a word.
    import pytest

    from labelkit import LabelkitError, LabelkitWarning, aggregate
    from labelkit.aggregate import MajorityVote
    from labelkit.registry import label_models

    @label_models.register("test_alpha_only")
    class AlphaOnly(MajorityVote):
        name = "test_alpha_only"

        def __init__(self, alpha: float = 1.0) -> None:
            super().__init__()

    with Workspace(tmp_path / "ws.duckdb") as ws:
        ingest(
            ws,
            pl.DataFrame({"id": ["a", "b"], "text": ["rude waiter", "kind staff"]}),
            kind="aspects",
            labels=["positive", "negative"],
            attributes=["staff"],
        )
        votes = [("a", "lex", "staff", "negative"), ("b", "lex", "staff", "positive")]
        import_votes(
            ws,
            pl.DataFrame(
                votes, schema=["example_id", "source", "attribute", "label"], orient="row"
            ),
        )
        with pytest.raises(
            LabelkitError,
            match=r"label model 'test_alpha_only' must take 'class_balance', which labelkit "
            r"passes it: class_balance, on a task with attributes",
        ):
            aggregate(ws, "test_alpha_only")
    original = label_models.get("weighted_majority")
    try:
        with pytest.warns(LabelkitWarning, match=r"replaces labelkit's label model 'weighted_maj"):
            label_models.register("weighted_majority", func=AlphaOnly)
        assert label_models.get("weighted_majority") is AlphaOnly
    finally:
        label_models.register("weighted_majority", func=original)
    assert label_models.get("weighted_majority") is original


def test_what_labelkit_passes_a_part_is_no_param() -> None:
    # The second read: `--param seed=3` was silently replaced by train's seed.
    import pytest

    from labelkit import LabelkitError
    from labelkit.registry import configure, small_models

    with pytest.raises(LabelkitError, match=r"seed is set by labelkit \(the run's seed\)"):
        configure(small_models, "spacy_textcat_bow", {"exclusive": True, "seed": 0}, seed=3)
