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
                   tokens some source covers, classes O and the entity types;
                   runs split where the sources separate adjacent entities
``dawid_skene``    token-level Dawid-Skene, a source's silence on a token one
                   of its answers (``silence=True``), fitted on every token
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

    A subclass sets ``name`` and implements ``_fit(codes, offsets, gold)`` and
    ``_decide(codes, offsets) -> (tags, type_proba)``. ``codes`` are the votes coded
    by ``encode_votes(..., scheme="bio")`` (``as_types`` turns them into IO codes),
    ``gold`` the gold IO code per token (-1 where unknown), ``tags`` BIO tags per
    token for ``decode_spans`` and ``type_proba`` probabilities over ``("O", *labels)``.
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
        return np.split(self._decide(codes, offsets)[1], offsets[1:-1])

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
        tags, type_proba = self._decide(codes, offsets)
        return decode_spans(tags, type_proba, offsets, self.labels)

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

    def _decide(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def split_where_sources_do(
    tags: np.ndarray, codes: np.ndarray, offsets: np.ndarray, k: int
) -> np.ndarray:
    """BIO tags with a span split before token ``t`` where more sources separate
    ``t - 1`` and ``t`` (each inside a span of its own) than join them (one span over
    both): two adjacent entities stay two when the sources say so.

    Examples
    --------
    >>> codes = np.array([[1, 1], [1, 2], [2, 2]])  # source 0: two spans; source 1: one
    >>> split_where_sources_do(np.array([1, 2, 2]), codes, np.array([0, 3]), 1).tolist()
    [1, 2, 2]
    """
    previous = np.vstack([np.full((1, codes.shape[1]), ABSTAIN), codes[:-1]])
    previous[offsets[:-1][offsets[:-1] < len(codes)]] = ABSTAIN
    joined = (codes > k).sum(axis=1)
    separated = ((codes >= 1) & (codes <= k) & (previous >= 1)).sum(axis=1)
    return np.where((tags > k) & (separated > joined), tags - k, tags)


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

    def _decide(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.labels)
        types = as_types(codes, k)
        counts = np.zeros((len(codes), k + 1))
        rows, sources = np.nonzero(types != ABSTAIN)
        np.add.at(counts, (rows, types[rows, sources]), 1.0)
        totals = counts.sum(axis=1, keepdims=True)
        proba = np.where(totals > 0, counts / np.maximum(totals, 1), np.eye(k + 1)[0])
        return io_to_bio(most_probable(proba, self.seed), offsets, k), proba


class TokenLabelModel(SpanLabelModel):
    """Any registered classification label model over tokens, classes ``O`` and the
    entity types, then span-consistent decoding.

    Each token is one example and each source's vote on it (a type, an explicit
    ``"O"``, or nothing) one vote. The label model is fitted on the tokens some source
    covers (with their gold class where ``fit`` has gold); a token no source covers is
    O. Each token gets its most probable class (exact ties at random, ``seed``), runs of
    one type become spans, and a run is split before a token where more sources
    separate it from the token before than join the two (``split_where_sources_do``),
    so adjacent entities the sources keep apart stay apart.

    With ``silence=True`` (Dawid-Skene only) the model is fitted on every token and a
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
        Seeds the breaking of exact ties.
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
        return getattr(self.model, "report", {})

    def _fit(self, codes: np.ndarray, offsets: np.ndarray, gold: np.ndarray | None) -> None:
        types = as_types(codes, len(self.labels))
        rows = np.ones(len(types), bool) if self.silence else (types != ABSTAIN).any(axis=1)
        if gold is not None:
            rows |= gold != ABSTAIN
            gold = gold[rows]
        self.model.fit(types[rows], len(self.labels) + 1, gold=gold)

    def _decide(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.labels)
        types = as_types(codes, k)
        proba = self.model.predict_proba(types)
        proba[(types == ABSTAIN).all(axis=1)] = np.eye(k + 1)[0]
        tags = io_to_bio(most_probable(proba, self.seed), offsets, k)
        return split_where_sources_do(tags, codes, offsets, k), proba


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
