from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import polars as pl

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
