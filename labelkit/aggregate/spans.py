"""Span label models: the votes of every source on token-indexed spans, turned into one
set of spans per document with a confidence each.

A document is its token count. A source's votes on a document are a list of
``(start_token, end_token_exclusive, label)``, WRENCH's ``weak_labels`` format; a token
a source does not cover is that source abstaining on it, and a source may vote the
explicit label ``"O"`` ("no entity here") over a stretch. ``votes[d][j]`` is source
``j``'s list on document ``d``; every document has the same sources. Character spans
convert to token spans with ``labelkit.spans.to_token_spans`` before they come here.

=================  ===========================================================
name               what it does
=================  ===========================================================
``majority_vote``  per token, the most voted class (IO); ties at random (seed);
                   a token no source covers is O; runs of one type are a span
``auto``           (default) the ``auto`` classification label model over the
                   tokens some source covers (but nested ones), classes O and
                   the entity types;
                   of the spans sources voted, the disjoint ones with most
                   evidence over O
``dawid_skene``    token-level Dawid-Skene, a source's silence on a token one
                   of its answers (``silence=True``), fitted on every token
                   but nested ones (``nested_tokens``); spans chosen as auto's
=================  ===========================================================

Any registered classification label model runs over tokens the same way:
``TokenLabelModel(labels, label_model="snorkel")``.

Every model gives per-token probabilities over ``("O", *labels)``
(``predict_token_proba``) and spans with a confidence (``predict_spans``): the mean,
over the span's tokens, of the probability that the token belongs to an entity of the
span's type.

Examples
--------
>>> votes = [[[(0, 2, "TERM")], [(0, 2, "TERM")], []]]  # 1 document, 3 sources
>>> model = fit_span_model("majority_vote", [4], votes, ("TERM",))
>>> model.predict_spans([4], votes)
[[(0, 2, 'TERM', 1.0)]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np

from labelkit.errors import InputError
from labelkit.registry import label_models, resolve, span_label_models
from labelkit.task import ABSTAIN

TokenSpan = tuple[int, int, str]
"""``(start_token, end_token_exclusive, label)``; label ``"O"`` is an explicit no-entity vote."""
ScoredSpan = tuple[int, int, str, float]
"""A predicted span with its confidence."""

OUTSIDE = "O"
DEFAULT_SPAN_MODEL = "auto"
Scheme = Literal["io", "bio"]


def encode_votes(
    n_tokens: Sequence[int],
    votes: Sequence[Sequence[Sequence[TokenSpan]]],
    labels: Sequence[str],
    scheme: Scheme = "io",
) -> tuple[np.ndarray, np.ndarray]:
    """Token-level vote codes for a corpus: ``(codes, offsets)``.

    ``codes`` is a (total tokens x sources) matrix: -1 where the source abstains, 0 for
    an explicit ``"O"``, then with ``scheme="io"`` 1..K for ``labels``, with
    ``scheme="bio"`` 1..K for the first token of a span (B-) and K+1..2K for the others
    (I-). Document ``d``'s tokens are rows ``offsets[d]:offsets[d + 1]``. Where one
    source's spans overlap, the later span wins on the shared tokens.

    Examples
    --------
    >>> codes, offsets = encode_votes([3], [[[(0, 2, "TERM")], [(2, 3, "O")]]], ["TERM"], "bio")
    >>> codes.tolist(), offsets.tolist()
    ([[1, -1], [2, -1], [-1, 0]], [0, 3])
    """
    if len(n_tokens) != len(votes):
        raise InputError(f"{len(n_tokens)} token counts for {len(votes)} documents of votes")
    if not votes:
        raise InputError("no documents to label")
    n_sources = len(votes[0])
    k = len(labels)
    code_of = {label: i + 1 for i, label in enumerate(labels)} | {OUTSIDE: 0}
    lengths = np.asarray(n_tokens, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    rows, sources, starts, ends, codes_ = [], [], [], [], []
    for d, document in enumerate(votes):
        if len(document) != n_sources:
            raise InputError(
                f"document {d}: votes of {len(document)} sources, document 0 has {n_sources}"
            )
        for j, spans in enumerate(document):
            for span in spans:
                start, end, label = span
                if label not in code_of:
                    raise InputError(
                        f"document {d}, source {j}: label {label!r} is not one of "
                        f"{list(labels)} or {OUTSIDE!r}"
                    )
                if not 0 <= start < end <= lengths[d]:
                    raise InputError(
                        f"document {d}, source {j}: span {tuple(span)} is not within its "
                        f"{lengths[d]} tokens"
                    )
                rows.append(d)
                sources.append(j)
                starts.append(start)
                ends.append(end)
                codes_.append(code_of[label])
    codes = np.full((int(offsets[-1]), n_sources), ABSTAIN, dtype=np.int64)
    if rows:
        first = offsets[np.asarray(rows)] + np.asarray(starts)
        width = np.asarray(ends) - np.asarray(starts)
        # Every token of every span, in span order, so later spans overwrite earlier ones.
        span_of = np.repeat(np.arange(len(width)), width)
        within = np.arange(len(span_of)) - np.repeat(np.cumsum(width) - width, width)
        code = np.asarray(codes_)[span_of]
        if scheme == "bio":
            code = np.where((within > 0) & (code > 0), code + k, code)
        codes[first[span_of] + within, np.asarray(sources)[span_of]] = code
    return codes, offsets


def decode_spans(
    tags: np.ndarray, type_proba: np.ndarray, offsets: np.ndarray, labels: Sequence[str]
) -> list[list[ScoredSpan]]:
    """Spans from per-token tags (0 = O, 1..K = B-type, K+1..2K = I-type; an I- tag
    after a different type or after O opens a span too) with their confidence: the mean
    of ``type_proba[token, type]`` over the span's tokens.

    Examples
    --------
    >>> decode_spans(np.array([1, 2, 1, 0]), np.full((4, 2), 0.5), np.array([0, 4]), ["X"])
    [[(0, 2, 'X', 0.5), (2, 3, 'X', 0.5)]]
    """
    k = len(labels)
    entity = np.where(tags > k, tags - k, tags)
    documents: list[list[ScoredSpan]] = []
    for d in range(len(offsets) - 1):
        lo, hi = int(offsets[d]), int(offsets[d + 1])
        kinds, tag = entity[lo:hi], tags[lo:hi]
        previous = np.concatenate([[0], kinds[:-1]])
        opens = (kinds > 0) & ((tag <= k) | (previous != kinds))
        spans = []
        for start in np.flatnonzero(opens):
            end = start + 1
            while end < hi - lo and kinds[end] == kinds[start] and tag[end] > k:
                end += 1
            kind = int(kinds[start])
            confidence = float(type_proba[lo + start : lo + end, kind].mean())
            spans.append((int(start), int(end), labels[kind - 1], confidence))
        documents.append(spans)
    return documents


class SpanLabelModel:
    """What every span label model shares: the labels, encoding, decoding.

    A subclass sets ``name`` and implements ``_fit(codes, offsets, gold)``,
    ``_proba(codes)`` and ``_spans(codes, offsets, proba)``. ``codes`` are the
    votes coded by ``encode_votes(..., scheme="bio")`` (``as_types`` turns them into IO
    codes), ``gold`` the gold IO code per token (-1 where unknown), ``proba`` the
    probabilities per token over ``("O", *labels)``, and ``_spans`` gives each
    document's scored spans.
    """

    name: ClassVar[str]

    def __init__(self, labels: Sequence[str]) -> None:
        labels = tuple(labels)
        if not labels or OUTSIDE in labels or len(set(labels)) != len(labels):
            raise InputError(
                f"{self.name}: labels must be distinct entity types, not {OUTSIDE!r}, "
                f"got {list(labels)}"
            )
        self.labels = labels
        self.n_sources = 0

    @property
    def report(self) -> dict[str, Any]:
        """What the fitted model says of its own choices (``auto``'s ``chosen`` and
        ``reason``, as for classification); empty where it chooses nothing.

        Examples
        --------
        >>> make_span_model("auto", ["TERM"]).fit(n_tokens, votes).report["reason"]
        >>> make_span_model("majority_vote", ["TERM"]).report
        {}
        """
        return {}

    def fit(
        self,
        n_tokens: Sequence[int],
        votes: Sequence[Sequence[Sequence[TokenSpan]]],
        gold: Sequence[Sequence[TokenSpan] | None] | None = None,
    ) -> Self:
        """Learn from the votes; ``gold`` spans (None for a document without gold) are
        known answers for models that use them.

        Examples
        --------
        >>> model = make_span_model("auto", ["TERM"]).fit(n_tokens, votes)
        """
        codes, offsets = encode_votes(n_tokens, votes, self.labels, "bio")
        gold_codes = None
        if gold is not None:
            if len(gold) != len(n_tokens):
                raise InputError(f"{self.name}: gold for {len(gold)} of {len(n_tokens)} documents")
            known = [[list(spans)] if spans is not None else [[]] for spans in gold]
            gold_codes, _ = encode_votes(n_tokens, known, self.labels, "io")
            unknown = np.repeat([spans is None for spans in gold], np.diff(offsets))
            # A token two gold spans cover (a type nested in another) has no one class:
            # it stays unknown, so an LF of either layer is not judged wrong there (trial
            # 58d: a 0.99-precise drug list was rated 0.20 against its MEDICATION spans).
            covered = np.zeros(len(gold_codes), dtype=np.int32)
            for start, spans in zip(offsets, gold, strict=False):
                for first, last, *_ in spans or ():
                    covered[start + first : start + last] += 1
            unknown |= covered > 1
            gold_codes = np.where(unknown, ABSTAIN, np.maximum(gold_codes[:, 0], 0))
        self.n_sources = codes.shape[1]
        self._fit(codes, offsets, gold_codes)
        return self

    def predict_token_proba(
        self, n_tokens: Sequence[int], votes: Sequence[Sequence[Sequence[TokenSpan]]]
    ) -> list[np.ndarray]:
        """Per document, an (n_tokens x 1 + K) array of probabilities over
        ``("O", *labels)``; rows sum to one.

        Examples
        --------
        >>> model.predict_token_proba([2], [[[(0, 1, "TERM")]]])[0].round(2)
        array([[0.1, 0.9], [1. , 0. ]])
        """
        codes, offsets = self._encode(n_tokens, votes)
        return np.split(self._proba(codes), offsets[1:-1])

    def predict_spans(
        self, n_tokens: Sequence[int], votes: Sequence[Sequence[Sequence[TokenSpan]]]
    ) -> list[list[ScoredSpan]]:
        """Per document, the predicted ``(start, end, label, confidence)`` spans in order.

        Examples
        --------
        >>> model.predict_spans([3], [[[(0, 2, "TERM")], [(0, 2, "TERM")]]])
        [[(0, 2, 'TERM', 0.97)]]
        """
        codes, offsets = self._encode(n_tokens, votes)
        return self._spans(codes, offsets, self._proba(codes))

    def _encode(
        self, n_tokens: Sequence[int], votes: Sequence[Sequence[Sequence[TokenSpan]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.n_sources:
            raise InputError(f"{self.name}: fit the span label model before using it")
        codes, offsets = encode_votes(n_tokens, votes, self.labels, "bio")
        if codes.shape[1] != self.n_sources:
            raise InputError(
                f"{self.name}: fitted on {self.n_sources} sources, got votes of {codes.shape[1]}"
            )
        return codes, offsets

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        raise NotImplementedError

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _spans(
        self, codes: np.ndarray, offsets: np.ndarray, proba: np.ndarray
    ) -> list[list[ScoredSpan]]:
        raise NotImplementedError


def as_types(codes: np.ndarray, k: int) -> np.ndarray:
    """BIO vote codes as IO codes (B- and I- of a type both become the type).

    Examples
    --------
    >>> as_types(np.array([[1, -1], [2, 0]]), 1).tolist()
    [[1, -1], [1, 0]]
    """
    return np.where(codes > k, codes - k, codes)


def most_probable(proba: np.ndarray, seed: int) -> np.ndarray:
    """The most probable class per row, exact ties broken at random (``seed``)."""
    tied = proba >= proba.max(axis=1, keepdims=True) - 1e-9
    rng = np.random.default_rng(seed)
    return np.where(tied, rng.random(proba.shape), -1.0).argmax(axis=1)


def io_to_bio(types: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """IO tags (0 = O, 1..K = type) as BIO tags: a token continues the span of the token
    before it in the same document when both have the same type.

    Examples
    --------
    >>> io_to_bio(np.array([1, 1, 0, 1, 1]), np.array([0, 4, 5]), 1).tolist()
    [1, 2, 0, 1, 1]
    """
    previous = np.concatenate([[0], types[:-1]])
    previous[offsets[:-1][offsets[:-1] < len(types)]] = 0
    return np.where((types > 0) & (previous == types), types + k, types)


def source_spans(codes: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """Every distinct span some source voted, from BIO vote codes: one row ``(start,
    end, type, support)`` per span, tokens indexed over the corpus (end exclusive),
    ``type`` 1..K, ``support`` the number of sources that voted exactly it; sorted by
    start, then end. Explicit ``"O"`` votes are no span.

    Examples
    --------
    >>> codes = np.array([[1, 1], [2, 1], [-1, 2]])  # source 0: tokens 0-1; source 1: 0, 1-2
    >>> source_spans(codes, np.array([0, 3]), 1).tolist()
    [[0, 1, 1, 1], [0, 2, 1, 1], [1, 3, 1, 1]]
    """
    if codes.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    types = as_types(codes, k)
    previous = np.vstack([np.full((1, codes.shape[1]), ABSTAIN), types[:-1]])
    previous[offsets[:-1][offsets[:-1] < len(codes)]] = ABSTAIN
    inside = codes >= 1
    opens = inside & ~((codes > k) & (previous == types))
    # Source by source (column-major), each span's tokens are a run that one opening
    # starts: counting openings numbers the spans.
    opens_flat, inside_flat = opens.T.ravel(), inside.T.ravel()
    tokens = np.flatnonzero(inside_flat)
    span_of = np.cumsum(opens_flat)[tokens] - 1
    first = np.flatnonzero(opens_flat)
    start = first % len(codes)
    end = start + np.bincount(span_of, minlength=len(first))
    spans = np.stack([start, end, types.T.ravel()[first]], axis=1)
    unique, support = np.unique(spans, axis=0, return_counts=True)
    return np.column_stack([unique, support])


def nested_tokens(codes: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """Per token, whether it lies in a voted span that lies inside a longer voted span
    of another type (in the same document).

    One sweep over the spans by start (the longer first): a span is nested where a span
    of another type that starts no later, on other tokens, ends no sooner. Spans never
    cross documents, so an earlier document's spans end before this one's start.

    Examples
    --------
    >>> codes = np.array([[2, 1], [4, -1], [-1, 1]])  # type 2 over 0-1; type 1 at 0 and 2
    >>> nested_tokens(codes, np.array([0, 3]), 2).tolist()
    [True, False, False]
    """
    voted = source_spans(codes, offsets, k)
    order = np.lexsort((-voted[:, 1], voted[:, 0]))
    start, end, kind = voted[order, 0], voted[order, 1], voted[order, 2]
    # Spans of the same bounds disagree on the type: none holds another. The furthest
    # end so far is read where each run of equal bounds begins.
    new = np.ones(len(order), dtype=bool)
    new[1:] = (start[1:] != start[:-1]) | (end[1:] != end[:-1])
    run_start = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
    nested = np.zeros(len(order), dtype=bool)
    for other in range(1, k + 1):
        ends = np.where(kind == other, end, -1)
        before = np.concatenate([[-1], np.maximum.accumulate(ends)[:-1]]) if len(ends) else ends
        nested |= (kind != other) & (before[run_start] >= end)
    inside = np.zeros(len(codes) + 1, dtype=np.int64)
    np.add.at(inside, start[nested], 1)
    np.add.at(inside, end[nested], -1)
    return np.cumsum(inside)[:-1] > 0


def best_source_spans(
    codes: np.ndarray,
    proba: np.ndarray,
    offsets: np.ndarray,
    labels: Sequence[str],
    seed: int = 0,
) -> list[list[ScoredSpan]]:
    """Per document, the spans to predict: of the spans some source voted
    (``source_spans``), the set that does not overlap with the most evidence over O.

    A span of type T scores the sum over its tokens of P(T) - P(O), and counts only
    above 0; a hair more per source beyond the first that voted exactly it, so that
    of two readings the probabilities cannot tell apart the one more sources drew
    wins. Of types voted on the same tokens the best scoring is kept, exact ties at
    random (``seed``); of spans that overlap, the set with the highest total, found by
    weighted interval scheduling (where totals tie, the longer of two spans that end
    on the same token). Every predicted span is one a source proposed: where one
    source marks "chicken curry" a dish and others "chicken" an ingredient, the dish is
    one span or none, never an ingredient beside the fragment "curry" (trial 47b:
    token-by-token decoding split such dishes, entity F1 0.19). The confidence is the
    mean of P(T) over the span's tokens.

    Examples
    --------
    >>> codes = np.array([[2, 1, 1], [4, -1, -1]])  # a dish over both; an ingredient, twice
    >>> proba = np.array([[0.0, 0.6, 0.4], [0.0, 0.0, 1.0]])  # O, INGREDIENT, DISH
    >>> best_source_spans(codes, proba, np.array([0, 2]), ["INGREDIENT", "DISH"])
    [[(0, 2, 'DISH', 0.7)]]
    """
    k = len(labels)
    spans = source_spans(codes, offsets, k)
    start, end, kind, support = spans.T
    # Each span's own tokens summed (a running sum over ten million tokens drifts by
    # more than the tolerances below).
    width = end - start
    span_of = np.repeat(np.arange(len(spans)), width)
    token = np.arange(len(span_of)) - np.repeat(np.cumsum(width) - width, width) + start[span_of]
    typed = proba[token, kind[span_of]]
    gain = np.bincount(span_of, weights=typed - proba[token, 0], minlength=len(spans))
    mass = np.bincount(span_of, weights=typed, minlength=len(spans))
    score = gain + 1e-6 * (support - 1)
    # One type per stretch of tokens: the best, exact ties at random (a jitter below
    # a source's worth of support).
    jittered = score + 1e-7 * np.random.default_rng(seed).random(len(score))
    order = np.lexsort((-jittered, end, start))
    first = np.ones(len(order), dtype=bool)
    first[1:] = (np.diff(start[order]) != 0) | (np.diff(end[order]) != 0)
    keep = order[first & (gain[order] > 1e-9)]
    start, end, kind, score = start[keep], end[keep], kind[keep], score[keep]
    confidence = mass[keep] / (end - start)
    document = np.searchsorted(offsets, start, side="right") - 1
    # Spans come sorted by start; a span overlaps an earlier one of its document where
    # it starts before the furthest end so far (no span ends past its document).
    furthest = np.maximum.accumulate(end) if len(end) else end
    tangled = np.zeros(len(offsets) - 1, dtype=bool)
    tangled[document[1:][start[1:] < furthest[:-1]]] = True
    chosen = ~tangled[document]
    # Tokens are numbered over the corpus and no span crosses a document: one schedule
    # over every tangled document's spans is each document's own.
    members = np.flatnonzero(tangled[document])
    chosen[_heaviest_disjoint(start[members], end[members], score[members], members)] = True
    documents: list[list[ScoredSpan]] = [[] for _ in range(len(offsets) - 1)]
    for i in np.flatnonzero(chosen):
        lo = offsets[document[i]]
        documents[document[i]].append(
            (int(start[i] - lo), int(end[i] - lo), labels[kind[i] - 1], float(confidence[i]))
        )
    return documents


def _heaviest_disjoint(
    start: np.ndarray, end: np.ndarray, score: np.ndarray, index: np.ndarray
) -> list[int]:
    """Of intervals ``[start, end)`` with ``score``, the ``index`` entries of a set of
    disjoint ones with the highest total (weighted interval scheduling); where totals
    tie (within rounding), the set that takes the longer of two intervals ending at the
    same token."""
    order = np.lexsort((start, end))
    start, end, score, index = start[order], end[order], score[order], index[order]
    # How many intervals, in this order, end before interval i starts.
    before = np.searchsorted(end, start, side="right")
    best = np.zeros(len(order) + 1)
    took = np.zeros(len(order), dtype=bool)
    for i in range(len(order)):
        with_it = best[before[i]] + score[i]
        took[i] = with_it > best[i] + 1e-9
        best[i + 1] = with_it if took[i] else best[i]
    taken, i = [], len(order)
    while i > 0:
        if took[i - 1]:
            taken.append(int(index[i - 1]))
            i = before[i - 1]
        else:
            i -= 1
    return taken


@span_label_models.register("majority_vote")
class SpanMajorityVote(SpanLabelModel):
    """Token-level majority vote (IO): each token gets the class most sources voted,
    explicit ``"O"`` votes included; exact ties go to a random one of the tied classes
    (``seed``); a token no source covers is O. Consecutive tokens of one type are one
    span, so two adjacent entities of the same type merge. Token probabilities are the
    vote shares (O = 1 where nobody voted).

    Examples
    --------
    >>> model = SpanMajorityVote(["TERM"], seed=0).fit([3], [[[(0, 2, "TERM")], [(1, 3, "O")]]])
    """

    name = "majority_vote"

    def __init__(self, labels: Sequence[str], seed: int = 0) -> None:
        super().__init__(labels)
        self.seed = seed

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        pass

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        k = len(self.labels)
        types = as_types(codes, k)
        counts = np.zeros((len(codes), k + 1))
        rows, sources = np.nonzero(types != ABSTAIN)
        np.add.at(counts, (rows, types[rows, sources]), 1.0)
        totals = counts.sum(axis=1, keepdims=True)
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.eye(k + 1)[0])

    def _spans(
        self, codes: np.ndarray, offsets: np.ndarray, proba: np.ndarray
    ) -> list[list[ScoredSpan]]:
        tags = io_to_bio(most_probable(proba, self.seed), offsets, len(self.labels))
        return decode_spans(tags, proba, offsets, self.labels)


class TokenLabelModel(SpanLabelModel):
    """Any registered classification label model over tokens, classes ``O`` and the
    entity types, then the best spans among those the sources voted.

    Each token is one example and each source's vote on it (a type, an explicit
    ``"O"``, or nothing) one vote. The label model is fitted on the tokens some source
    covers (with their gold class where ``fit`` has gold), but for those of a type
    nested in a longer span of another (``nested_tokens``); a token no source covers is
    O. The spans predicted are spans some source voted, the disjoint set with the most
    evidence over O in the token probabilities (``best_source_spans``): adjacent
    entities the sources keep apart stay apart, and a type nested in a longer span of
    another type does not cut it in pieces.

    With ``silence=True`` (Dawid-Skene only) the model is fitted on every token (but
    nested ones) and a
    source covering nothing on a token is one more answer, learned per true class: a
    source that covers most entities then counts as evidence for O where it is silent.

    Parameters
    ----------
    labels
        The entity types.
    label_model
        A name in ``labelkit.registry.label_models`` (``auto``, ``dawid_skene``, ...).
    silence
        Whether silence is an answer (see above).
    seed
        Seeds the breaking of exact ties between types voted on the same tokens.
    **params
        Passed to the label model.

    Examples
    --------
    >>> model = TokenLabelModel(["Chemical", "Disease"], "auto").fit(n_tokens, votes)
    >>> model.predict_spans(n_tokens, votes)[0]
    [(3, 5, 'Disease', 0.93)]
    """

    name = "token"

    def __init__(
        self,
        labels: Sequence[str],
        label_model: str = "auto",
        silence: bool = False,
        seed: int = 0,
        **params: Any,
    ) -> None:
        super().__init__(labels)
        if silence and label_model != "dawid_skene":
            raise InputError(
                f"{self.name}: silence=True needs label_model='dawid_skene', got {label_model!r}"
            )
        extra = {"model_abstains": True} if silence else {}
        try:
            self.model = resolve(label_models, label_model)(**extra, **params)
        except TypeError as error:
            raise InputError(f"label model {label_model!r}: {error}") from None
        self.silence = silence
        self.seed = seed

    @property
    def report(self) -> dict[str, Any]:
        return _on_tokens(getattr(self.model, "report", {}))

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        types = as_types(codes, len(self.labels))
        rows = np.ones(len(types), bool) if self.silence else (types != ABSTAIN).any(axis=1)
        # A type nested in a longer span of another ("chicken" in "chicken curry") is no
        # disagreement to learn accuracies from (trial 48a: the ingredient list, F1 0.99
        # on gold, was rated 0.02 and every ingredient came out unsure).
        nested = nested_tokens(codes, offsets, len(self.labels))
        if (rows & ~nested).any():
            rows &= ~nested
        if gold is not None:
            rows |= gold != ABSTAIN
            gold = gold[rows]
        self.model.fit(types[rows], len(self.labels) + 1, gold=gold)

    def _proba(self, codes: np.ndarray) -> np.ndarray:
        k = len(self.labels)
        types = as_types(codes, k)
        proba = self.model.predict_proba(types)
        proba[(types == ABSTAIN).all(axis=1)] = np.eye(k + 1)[0]
        return proba

    def _spans(
        self, codes: np.ndarray, offsets: np.ndarray, proba: np.ndarray
    ) -> list[list[ScoredSpan]]:
        return best_source_spans(codes, proba, offsets, self.labels, self.seed)


def _on_tokens(report: dict[str, Any]) -> dict[str, Any]:
    """A classification label model's report with its reason saying what it counted:
    tokens, not examples (trial 56a: "agrees with Dawid-Skene on 100% of the voted
    examples" beside entity F1 0.761 for it and 0.923 for Dawid-Skene, whose spans
    differ; trial 65b: "on 3009 gold rows" of a dev split of 150 texts)."""
    if "reason" not in report:
        return report
    reason = report["reason"].replace("the voted examples", "the voted tokens")
    reason = reason.replace("gold rows", "gold tokens")
    return report | {
        "reason": reason.replace("its clear majorities", "the tokens it clearly decides")
    }


@span_label_models.register("auto")
def auto_span_model(labels: Sequence[str], seed: int = 0, **params: Any) -> TokenLabelModel:
    """The default: the ``auto`` label model over tokens (``TokenLabelModel``): majority
    vote made safe, weighing sources by their estimated accuracy where the votes say so.

    Examples
    --------
    >>> make_span_model("auto", ["TERM"]).model.name
    'auto'
    """
    return TokenLabelModel(labels, "auto", seed=seed, **params)


@span_label_models.register("dawid_skene")
def dawid_skene_span_model(
    labels: Sequence[str], silence: bool = True, seed: int = 0, **params: Any
) -> TokenLabelModel:
    """Token-level Dawid-Skene (``TokenLabelModel``), silence modelled by default.

    Examples
    --------
    >>> make_span_model("dawid_skene", ["TERM"]).silence
    True
    """
    return TokenLabelModel(labels, "dawid_skene", silence=silence, seed=seed, **params)


def make_span_model(name: str, labels: Sequence[str], **params: Any) -> SpanLabelModel:
    """A span label model from the registry by name, for entity types ``labels``.

    Examples
    --------
    >>> make_span_model("majority_vote", ["TERM"], seed=1).name
    'majority_vote'
    """
    factory = resolve(span_label_models, name)
    try:
        return factory(labels, **params)
    except TypeError as error:
        raise InputError(f"span label model {name!r}: {error}") from None


def fit_span_model(
    name: str,
    n_tokens: Sequence[int],
    votes: Sequence[Sequence[Sequence[TokenSpan]]],
    labels: Sequence[str],
    gold: Sequence[Sequence[TokenSpan] | None] | None = None,
    **params: Any,
) -> SpanLabelModel:
    """Fit the span label model ``name`` on token-indexed span votes.

    Parameters
    ----------
    name
        A registered span label model: ``"auto"`` (the default,
        ``DEFAULT_SPAN_MODEL``), ``"majority_vote"`` or ``"dawid_skene"``.
    n_tokens
        Each document's number of tokens.
    votes
        ``votes[d][j]``: source ``j``'s ``(start, end, label)`` spans on document ``d``,
        token offsets, end exclusive; label ``"O"`` is an explicit no-entity vote.
    labels
        The entity types.
    gold
        Known spans per document (None where unknown), for models that use them.
    **params
        The model's own parameters (e.g. ``seed`` for majority vote).

    Returns
    -------
    The fitted model: ``predict_spans`` and ``predict_token_proba`` take votes in the
    same format (the same sources, in the same order).

    Examples
    --------
    >>> n_tokens = [5, 3]
    >>> votes = [
    ...     [[(1, 3, "TERM")], [(1, 3, "TERM")], [(4, 5, "TERM")]],
    ...     [[], [(0, 1, "TERM")], []],
    ... ]
    >>> model = fit_span_model("auto", n_tokens, votes, ["TERM"])
    >>> [[span[:3] for span in document] for document in model.predict_spans(n_tokens, votes)]
    [[(1, 3, 'TERM'), (4, 5, 'TERM')], [(0, 1, 'TERM')]]
    """
    return make_span_model(name, labels, **params).fit(n_tokens, votes, gold)
