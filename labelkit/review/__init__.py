"""Review: the DuckDB-backed queue of flagged examples and the terminal reviewer."""

from labelkit.review.highlight import Span, lf_spans
from labelkit.review.queue import ACTIONS, ReviewItem, ReviewQueue, simulate_review
from labelkit.review.terminal import review_in_terminal

__all__ = [
    "ACTIONS",
    "ReviewItem",
    "ReviewQueue",
    "Span",
    "lf_spans",
    "review_in_terminal",
    "simulate_review",
]
