"""Labeling functions: define them, apply them, and see how good they are."""

from labelkit.lf.analysis import (
    attribute_matrices,
    lf_agreement,
    lf_summary,
    most_disputed,
    summarize_lfs,
    uncovered_examples,
)
from labelkit.lf.apply import (
    BATCH_ROWS,
    DEFAULT_LF_TIMEOUT,
    AppliedLFs,
    apply_lfs,
    apply_lfs_to_frame,
    compute_votes,
)
from labelkit.lf.core import (
    DeclarativeLF,
    Example,
    LabelingFunction,
    PythonLF,
    column_lf,
    keyword_lf,
    labeling_function,
    length_lf,
    lexicon_lf,
    load_lfs,
    lookup_lf,
    regex_lf,
    threshold_lf,
)
from labelkit.lf.patterns import PatternLF, pattern_lf

__all__ = [
    "BATCH_ROWS",
    "DEFAULT_LF_TIMEOUT",
    "AppliedLFs",
    "DeclarativeLF",
    "Example",
    "LabelingFunction",
    "PatternLF",
    "PythonLF",
    "apply_lfs",
    "apply_lfs_to_frame",
    "attribute_matrices",
    "column_lf",
    "compute_votes",
    "keyword_lf",
    "labeling_function",
    "length_lf",
    "lexicon_lf",
    "lf_agreement",
    "lf_summary",
    "load_lfs",
    "lookup_lf",
    "most_disputed",
    "pattern_lf",
    "regex_lf",
    "summarize_lfs",
    "threshold_lf",
    "uncovered_examples",
]
