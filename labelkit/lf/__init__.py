"""Labeling functions: define them, apply them, and see how good they are."""

from labelkit.lf.analysis import lf_summary, summarize_lfs
from labelkit.lf.apply import apply_lfs, compute_votes
from labelkit.lf.core import (
    DeclarativeLF,
    Example,
    LabelingFunction,
    PythonLF,
    keyword_lf,
    labeling_function,
    load_lfs,
    regex_lf,
)

__all__ = [
    "DeclarativeLF",
    "Example",
    "LabelingFunction",
    "PythonLF",
    "apply_lfs",
    "compute_votes",
    "keyword_lf",
    "labeling_function",
    "lf_summary",
    "load_lfs",
    "regex_lf",
    "summarize_lfs",
]
