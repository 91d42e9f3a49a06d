"""Review: the DuckDB-backed queue of flagged examples, the terminal reviewer, and the web
reviewer (``labelkit.review.web``, imported on its own so that the server stays optional
at import time)."""

from labelkit.review.highlight import Span, lf_spans
from labelkit.review.imports import import_decisions
from labelkit.review.queue import ACTIONS, ReviewItem, ReviewQueue, simulate_review
from labelkit.review.terminal import review_in_terminal

__all__ = [
    "ACTIONS",
    "ReviewItem",
    "ReviewQueue",
    "Span",
    "import_decisions",
    "lf_spans",
    "review_in_terminal",
    "simulate_review",
]
