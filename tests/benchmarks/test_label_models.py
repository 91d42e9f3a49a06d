from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def _script(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        # Its dataclasses look their module up by name.
        sys.modules[name] = module
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_the_verdicts_leave_out_the_sets_a_method_was_skipped_on() -> None:
    # Trial 62c: GLAD, skipped on 6 of 18 sets, was said to have run on 18.
    label_models = _script("label_models")
    rows = [
        ("a", "auto", 0.80), ("a", label_models.MV, 0.78), ("a", "snorkel", 0.70),
        ("a", "dawid_skene", 0.75), ("a", "crowdkit GLAD", 0.90),
        ("b", "auto", 0.60), ("b", label_models.MV, 0.65), ("b", "snorkel", None),
        ("b", "dawid_skene", 0.62), ("b", "crowdkit GLAD", None),
    ]  # fmt: skip
    frame = pl.DataFrame(rows, schema=["dataset", "method", "accuracy"], orient="row")
    said = label_models.verdicts(frame, ["auto", "crowdkit GLAD"])
    assert "at least majority vote's accuracy minus 0.01 on 1 of 2 sets" in said
    assert "beats Snorkel's LabelModel on 1 of the 1 sets it ran on" in said
    assert (
        "`crowdkit GLAD` beats labelkit's `dawid_skene` by more than 0.005 on 1 of the 1 sets"
        in said
    )


def test_results_carry_dataset_method_and_commit_and_plots_follow_the_output(
    tmp_path: Path,
) -> None:
    # Trial 62c: three scripts wrote records without `method` or `dataset`, no record
    # said which code made it, and a rerun into a folder of one's own replaced docs/'s plot.
    common = _script("_common")
    frame = common.write_results("demo", [{"dataset": "a", "method": "m", "x": 1.5}], tmp_path)
    assert frame.columns == ["dataset", "method", "x"]
    record = json.loads((tmp_path / "demo.json").read_text())[0]
    assert set(record) == {"dataset", "method", "x", "machine", "labelkit_version", "commit"}
    assert record["commit"] is None or len(record["commit"].split("-")[0]) == 12
    # A record read back from an earlier run keeps the stamp of the run that measured it.
    old = {"dataset": "b", "method": "m", "x": 2.0, "machine": "then", "labelkit_version": "0.1"}
    common.write_results("demo", [old], tmp_path)
    assert json.loads((tmp_path / "demo.json").read_text())[0] == old | {"commit": None}
    assert "Measured on then, labelkit 0.1." in (tmp_path / "demo.md").read_text()
    with pytest.raises(ValueError, match="demo: a record without 'method'"):
        common.write_results("demo", [{"dataset": "a", "x": 1.5}], tmp_path)
    committed = BENCHMARKS.parent / "docs" / "scale.png"
    assert common.plot_path(common.RESULTS, committed) == committed
    assert common.plot_path(tmp_path / "mine", committed) == tmp_path / "mine" / "scale.png"
