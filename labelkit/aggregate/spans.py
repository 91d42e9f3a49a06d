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
``dawid_skene``    (default) token-level Dawid-Skene over BIO tags, silence
                   modelled, then the most probable valid BIO sequence
``hmm``            a hidden Markov model over BIO tags (skweak's design): the
                   Dawid-Skene emissions plus learned tag-to-tag transitions
=================  ===========================================================

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

from labelkit.aggregate.dawid_skene import DawidSkene
from labelkit.errors import InputError
from labelkit.registry import resolve, span_label_models
from labelkit.task import ABSTAIN

TokenSpan = tuple[int, int, str]
"""``(start_token, end_token_exclusive, label)``; label ``"O"`` is an explicit no-entity vote."""
ScoredSpan = tuple[int, int, str, float]
"""A predicted span with its confidence."""

OUTSIDE = "O"
DEFAULT_SPAN_MODEL = "dawid_skene"
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

    A subclass sets ``name`` and implements ``_fit(codes, offsets, gold_codes)`` and
    ``_tags(codes, offsets) -> (tags, type_proba)``, on votes coded with ``scheme``.
    """

    name: ClassVar[str]
    scheme: ClassVar[Scheme] = "io"

    def __init__(self, labels: Sequence[str]) -> None:
        labels = tuple(labels)
        if not labels or OUTSIDE in labels or len(set(labels)) != len(labels):
            raise InputError(
                f"{self.name}: labels must be distinct entity types, not {OUTSIDE!r}, "
                f"got {list(labels)}"
            )
        self.labels = labels
        self.n_sources = 0

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
        >>> model = make_span_model("dawid_skene", ["TERM"]).fit(n_tokens, votes)
        """
        codes, offsets = encode_votes(n_tokens, votes, self.labels, self.scheme)
        gold_codes = None
        if gold is not None:
            if len(gold) != len(n_tokens):
                raise InputError(f"{self.name}: gold for {len(gold)} of {len(n_tokens)} documents")
            known = [[list(g)] if g is not None else [[]] for g in gold]
            gold_codes, _ = encode_votes(n_tokens, known, self.labels, self.scheme)
            gold_codes = gold_codes[:, 0]
            unknown = np.repeat([g is None for g in gold], np.diff(offsets))
            gold_codes = np.where(unknown, ABSTAIN, np.maximum(gold_codes, 0))
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
        proba = self._type_proba(codes, offsets)
        return np.split(proba, offsets[1:-1])

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
        tags, type_proba = self._tags(codes, offsets)
        return decode_spans(tags, type_proba, offsets, self.labels)

    def _encode(
        self, n_tokens: Sequence[int], votes: Sequence[Sequence[Sequence[TokenSpan]]]
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.n_sources:
            raise InputError(f"{self.name}: fit the span label model before using it")
        codes, offsets = encode_votes(n_tokens, votes, self.labels, self.scheme)
        if codes.shape[1] != self.n_sources:
            raise InputError(
                f"{self.name}: fitted on {self.n_sources} sources, got votes of {codes.shape[1]}"
            )
        return codes, offsets

    def _type_proba(self, codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return self._tags(codes, offsets)[1]

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        raise NotImplementedError

    def _tags(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


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

    def _type_proba(self, codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        k = len(self.labels) + 1
        counts = np.zeros((len(codes), k))
        rows, sources = np.nonzero(codes != ABSTAIN)
        np.add.at(counts, (rows, codes[rows, sources]), 1.0)
        totals = counts.sum(axis=1, keepdims=True)
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.eye(k)[0])

    def _tags(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba = self._type_proba(codes, offsets)
        tied = proba >= proba.max(axis=1, keepdims=True) - 1e-9
        rng = np.random.default_rng(self.seed)
        types = np.where(tied, rng.random(proba.shape), -1.0).argmax(axis=1)
        return io_to_bio(types, offsets, len(self.labels)), proba


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


def viterbi_bio(log_scores: np.ndarray, offsets: np.ndarray, k: int) -> np.ndarray:
    """The most probable valid BIO sequence per document under per-token log scores over
    ``O, B-1..B-K, I-1..I-K`` (``I-x`` only after ``B-x`` or ``I-x``): span-consistent
    decoding of token posteriors.

    Examples
    --------
    >>> viterbi_bio(np.log([[0.4, 0.2, 0.4], [0.2, 0.1, 0.7]]), np.array([0, 2]), 1).tolist()
    [1, 2]
    """
    allowed = bio_transitions(k)
    forbidden = np.where(allowed, 0.0, -np.inf)
    n_tags = 2 * k + 1
    lengths = np.diff(offsets)
    n_docs, longest = len(lengths), int(lengths.max(initial=0))
    if longest == 0:
        return np.zeros(0, dtype=np.int64)
    # Documents side by side, padded: one step per token position, not per token.
    position = np.arange(longest)
    inside = position[None, :] < lengths[:, None]
    padded = np.zeros((n_docs, longest, n_tags))
    padded[inside] = log_scores
    best = padded[:, 0] + np.where(np.arange(n_tags) <= k, 0.0, -np.inf)
    back = np.zeros((n_docs, longest, n_tags), dtype=np.int64)
    for t in range(1, longest):
        through = best[:, :, None] + forbidden
        back[:, t] = through.argmax(axis=1)
        stepped = through.max(axis=1) + padded[:, t]
        best = np.where(inside[:, t, None], stepped, best)
    path = np.zeros((n_docs, longest), dtype=np.int64)
    last = best.argmax(axis=1)
    rows = np.arange(n_docs)
    for t in range(longest - 1, -1, -1):
        following = last if t == longest - 1 else back[rows, t + 1, path[:, t + 1]]
        path[:, t] = np.where(t == lengths - 1, last, following)
    return path[inside]


def bio_transitions(k: int) -> np.ndarray:
    """Which tag may follow which, ``[from, to]``, over ``O, B-1..B-K, I-1..I-K``."""
    allowed = np.ones((2 * k + 1, 2 * k + 1), dtype=bool)
    for x in range(1, k + 1):
        allowed[:, k + x] = False
        allowed[x, k + x] = allowed[k + x, k + x] = True
    return allowed


def bio_to_types(proba: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over BIO tags summed to ``O, type 1..K``."""
    return np.hstack([proba[:, :1], proba[:, 1 : k + 1] + proba[:, k + 1 :]])


@span_label_models.register("dawid_skene")
class TokenDawidSkene(SpanLabelModel):
    """The default: Dawid-Skene over tokens, each source's tags (O, B-type, I-type, or
    silence) one answer of a confusion matrix learned by EM, then the most probable
    valid BIO sequence (``viterbi_bio``) over the token posteriors.

    Silence is an answer: a source's probability of covering nothing on a token is
    learned per true tag, so silence counts toward O exactly as much as the source's
    coverage of entities exceeds its coverage of other tokens. A dictionary that fires
    on most entities is evidence for O where it is silent; a rule that fires on a few
    entities says almost nothing by its silence. BIO keeps two adjacent entities of one
    type apart when the sources do, and makes every predicted span start at a token
    some source starts a span at or continues one through.

    A token no source covers is O (probability 1): there is nothing to weigh there,
    and fitting on those tokens still teaches the model how often each source is
    silent on O.

    Parameters
    ----------
    labels
        The entity types.
    class_balance, smoothing, max_iter, tol
        Passed to ``DawidSkene`` (over ``O, B-*, I-*``).

    Examples
    --------
    >>> model = fit_span_model("dawid_skene", n_tokens, votes, ("Chemical", "Disease"))
    >>> model.predict_spans(n_tokens, votes)[0]
    [(3, 5, 'Disease', 0.93)]
    """

    name = "dawid_skene"
    scheme = "bio"

    def __init__(
        self,
        labels: Sequence[str],
        class_balance: Sequence[float] | None = None,
        smoothing: float = 1.0,
        max_iter: int = 200,
        tol: float = 1e-5,
    ) -> None:
        super().__init__(labels)
        self.model = DawidSkene(
            class_balance=class_balance, smoothing=smoothing, max_iter=max_iter, tol=tol
        )

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        self.model.fit(codes, 2 * len(self.labels) + 1, gold=gold)

    def _bio_proba(self, codes: np.ndarray) -> np.ndarray:
        proba = self.model.predict_proba(codes)
        silent = (codes == ABSTAIN).all(axis=1)
        proba[silent] = np.eye(proba.shape[1])[0]
        return proba

    def _tags(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba = self._bio_proba(codes)
        k = len(self.labels)
        tags = viterbi_bio(np.log(np.maximum(proba, 1e-12)), offsets, k)
        return tags, bio_to_types(proba, k)

    def _type_proba(self, codes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        return bio_to_types(self._bio_proba(codes), len(self.labels))


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
        A registered span label model: ``"majority_vote"``, ``"dawid_skene"`` (the
        default, ``DEFAULT_SPAN_MODEL``) or ``"hmm"``.
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
    >>> model = fit_span_model("dawid_skene", n_tokens, votes, ["TERM"])
    >>> [[span[:3] for span in document] for document in model.predict_spans(n_tokens, votes)]
    [[(1, 3, 'TERM'), (4, 5, 'TERM')], [(0, 1, 'TERM')]]
    """
    return make_span_model(name, labels, **params).fit(n_tokens, votes, gold)
