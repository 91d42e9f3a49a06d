"""labelkit: labeling functions, LLM votes, label models, review, and a small model you own.

Examples
--------
>>> import labelkit as lk
>>> with lk.Workspace("spam.duckdb") as ws:
...     lk.ingest(ws, "comments.csv", label_column="label")
...     lk.apply_lfs(ws, lk.load_lfs("labeling_functions.youtube"))
...     lk.aggregate(ws, "snorkel")
...     flags = lk.find_label_issues(ws)
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelkit.aggregate import (
        AutoLabelModel,
        DawidSkene,
        LabelModel,
        MajorityVote,
        SnorkelLabelModel,
        WeightedMajorityVote,
        aggregate,
        load_label_model,
        make_label_model,
    )
    from labelkit.aggregate.spans import fit_span_model
    from labelkit.data import IngestSummary, bundled_dataset, ingest, read_examples
    from labelkit.errors import (
        InputError,
        LabelingFunctionError,
        LabelkitError,
        LabelkitWarning,
        OutdatedWarning,
        WorkspaceError,
        WorkspaceLockedError,
    )
    from labelkit.evaluation import Evaluation, evaluate, span_scores
    from labelkit.export import cleaned_labels, cleaned_spans, export_cleaned
    from labelkit.flag import find_label_issues
    from labelkit.lf import (
        Example,
        LabelingFunction,
        apply_lfs,
        apply_lfs_to_frame,
        column_lf,
        keyword_lf,
        labeling_function,
        length_lf,
        lexicon_lf,
        lf_summary,
        load_lfs,
        lookup_lf,
        pattern_lf,
        regex_lf,
        summarize_lfs,
        threshold_lf,
    )
    from labelkit.lf.spans import (
        phrase_span_lf,
        regex_span_lf,
        span_labeling_function,
        token_span_lf,
    )
    from labelkit.llm import (
        LLMConfig,
        export_llm_cache,
        import_llm_cache,
        label_with_llm,
        parse_label,
        suggest_lfs,
    )
    from labelkit.review import ReviewQueue, import_decisions, review_in_terminal, simulate_review
    from labelkit.spans import Span, read_wrench_spans
    from labelkit.task import ABSTAIN, Task
    from labelkit.train import (
        package_model,
        predict_file,
        predict_frame,
        train_attributes,
        train_on_cleaned,
        train_textcat,
    )
    from labelkit.train.frontier import pick_model, train_frontier
    from labelkit.votes import LabelMatrix, import_votes, remove_sources
    from labelkit.workspace import Workspace

# `aggregate` names both a subpackage and its main function. Importing the subpackage
# sets the package attribute to the module, so the function is bound here, up front.
from labelkit.aggregate import aggregate

# Stages are imported when first used: spaCy, torch and scikit-learn take seconds to
# load, and a command such as `labelkit ingest` should not wait for them.
_EXPORTS = {
    "DawidSkene": "labelkit.aggregate",
    "LabelModel": "labelkit.aggregate",
    "MajorityVote": "labelkit.aggregate",
    "SnorkelLabelModel": "labelkit.aggregate",
    "WeightedMajorityVote": "labelkit.aggregate",
    "load_label_model": "labelkit.aggregate",
    "make_label_model": "labelkit.aggregate",
    "AutoLabelModel": "labelkit.aggregate",
    "bundled_dataset": "labelkit.data",
    "ingest": "labelkit.data",
    "read_examples": "labelkit.data",
    "InputError": "labelkit.errors",
    "LabelingFunctionError": "labelkit.errors",
    "LabelkitError": "labelkit.errors",
    "LabelkitWarning": "labelkit.errors",
    "OutdatedWarning": "labelkit.errors",
    "WorkspaceError": "labelkit.errors",
    "WorkspaceLockedError": "labelkit.errors",
    "Evaluation": "labelkit.evaluation",
    "evaluate": "labelkit.evaluation",
    "cleaned_labels": "labelkit.export",
    "export_cleaned": "labelkit.export",
    "find_label_issues": "labelkit.flag",
    "Example": "labelkit.lf",
    "LabelingFunction": "labelkit.lf",
    "apply_lfs": "labelkit.lf",
    "keyword_lf": "labelkit.lf",
    "labeling_function": "labelkit.lf",
    "lf_summary": "labelkit.lf",
    "load_lfs": "labelkit.lf",
    "regex_lf": "labelkit.lf",
    # Trial 53c: keyword_lf and regex_lf were here, and the other kinds only in labelkit.lf.
    "column_lf": "labelkit.lf",
    "length_lf": "labelkit.lf",
    "lexicon_lf": "labelkit.lf",
    "lookup_lf": "labelkit.lf",
    "pattern_lf": "labelkit.lf",
    "threshold_lf": "labelkit.lf",
    "apply_lfs_to_frame": "labelkit.lf",
    "summarize_lfs": "labelkit.lf",
    "LLMConfig": "labelkit.llm",
    "export_llm_cache": "labelkit.llm",
    "import_llm_cache": "labelkit.llm",
    "label_with_llm": "labelkit.llm",
    "parse_label": "labelkit.llm",
    "suggest_lfs": "labelkit.llm",
    "ReviewQueue": "labelkit.review",
    "review_in_terminal": "labelkit.review",
    "import_decisions": "labelkit.review",
    "simulate_review": "labelkit.review",
    "ABSTAIN": "labelkit.task",
    "Task": "labelkit.task",
    "package_model": "labelkit.train",
    "predict_file": "labelkit.train",
    "train_on_cleaned": "labelkit.train",
    "train_textcat": "labelkit.train",
    "LabelMatrix": "labelkit.votes",
    "Workspace": "labelkit.workspace",
    "IngestSummary": "labelkit.data",
    "predict_frame": "labelkit.train",
    "import_votes": "labelkit.votes",
    "remove_sources": "labelkit.votes",
    "train_attributes": "labelkit.train",
    "fit_span_model": "labelkit.aggregate.spans",
    "span_scores": "labelkit.evaluation",
    "Span": "labelkit.spans",
    "read_wrench_spans": "labelkit.spans",
    "phrase_span_lf": "labelkit.lf.spans",
    "regex_span_lf": "labelkit.lf.spans",
    "span_labeling_function": "labelkit.lf.spans",
    "token_span_lf": "labelkit.lf.spans",
    "cleaned_spans": "labelkit.export",
    "train_frontier": "labelkit.train.frontier",
    "pick_model": "labelkit.train.frontier",
}

__version__ = "0.2.0"

__all__ = [
    "ABSTAIN",
    "AutoLabelModel",
    "DawidSkene",
    "Evaluation",
    "Example",
    "IngestSummary",
    "InputError",
    "LLMConfig",
    "LabelMatrix",
    "LabelModel",
    "LabelingFunction",
    "LabelingFunctionError",
    "LabelkitError",
    "LabelkitWarning",
    "MajorityVote",
    "OutdatedWarning",
    "ReviewQueue",
    "SnorkelLabelModel",
    "Span",
    "Task",
    "WeightedMajorityVote",
    "Workspace",
    "WorkspaceError",
    "WorkspaceLockedError",
    "aggregate",
    "apply_lfs",
    "apply_lfs_to_frame",
    "bundled_dataset",
    "cleaned_labels",
    "cleaned_spans",
    "column_lf",
    "evaluate",
    "export_cleaned",
    "export_llm_cache",
    "find_label_issues",
    "fit_span_model",
    "import_decisions",
    "import_llm_cache",
    "import_votes",
    "ingest",
    "keyword_lf",
    "label_with_llm",
    "labeling_function",
    "length_lf",
    "lexicon_lf",
    "lf_summary",
    "load_label_model",
    "load_lfs",
    "lookup_lf",
    "make_label_model",
    "package_model",
    "parse_label",
    "pattern_lf",
    "phrase_span_lf",
    "pick_model",
    "predict_file",
    "predict_frame",
    "read_examples",
    "read_wrench_spans",
    "regex_lf",
    "regex_span_lf",
    "remove_sources",
    "review_in_terminal",
    "simulate_review",
    "span_labeling_function",
    "span_scores",
    "suggest_lfs",
    "summarize_lfs",
    "threshold_lf",
    "token_span_lf",
    "train_attributes",
    "train_frontier",
    "train_on_cleaned",
    "train_textcat",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labelkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names and the module's own, not what it imports for itself (trial 48b:
    # dir() listed Any, TYPE_CHECKING and importlib, and loaded names twice).
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})
