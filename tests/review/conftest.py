from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import polars as pl
import pytest
import uvicorn

from labelkit import Workspace, apply_lfs, import_votes, ingest, keyword_lf
from labelkit.llm.labeler import LLMConfig
from labelkit.llm.suggest import suggest_lfs
from labelkit.review.web import create_app
from tests.openai_server import Behaviour, OpenAIServer

ATTACK = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> subscribe'
TEXTS = [
    ("w01", "subscribe to my channel for free money", "spam"),
    ("w02", "I love this song so much", "ham"),
    ("w03", "check out my channel and subscribe", "spam"),
    ("w04", "great video, brings back memories", "ham"),
    ("w05", "subscribe please 🙏 and share", "spam"),
    ("w06", "the chorus is beautiful", "ham"),
    ("w07", "free gift cards at my website", "spam"),
    ("w08", "who is watching in 2025?", "ham"),
    ("w09", "subscribe subscribe subscribe", "spam"),
    ("w10", "this made my day", "ham"),
    ("w11", ATTACK, "spam"),
    ("w12", "best live performance ever", "ham"),
]


@pytest.fixture
def review_workspace(tmp_path: Path) -> Path:
    """A closed workspace file whose 12 examples are all queued, with real keyword LF votes.

    Each item's given label is the wrong one and the suggestion is its gold label, so
    priorities run w01 (highest) to w12.
    """
    path = tmp_path / "review.duckdb"
    csv = tmp_path / "texts.csv"
    frame = pl.DataFrame(TEXTS, schema=["id", "text", "label"], orient="row")
    frame.with_columns(split=pl.lit("train")).write_csv(csv)
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", label_column="label", split_column="split")
        apply_lfs(ws, [keyword_lf("kw_subscribe", ["subscribe"], "spam")])
        ws.con.execute(
            "INSERT INTO predictions SELECT id, 'test', CASE gold WHEN 'spam' THEN 'ham' "
            "ELSE 'spam' END, 0.6, [0.5, 0.5], 0, '' FROM examples"
        )
        for rank, (example_id, _, gold) in enumerate(TEXTS):
            given = "ham" if gold == "spam" else "spam"
            ws.con.execute(
                "INSERT INTO queue VALUES (?, ?, 'cleanlab: label quality 0.10', ?, ?, 0, '')",
                [example_id, 1.0 - rank / 100, given, gold],
            )
    return path


Serve = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def serve() -> Serve:
    """``with serve(path, token=None) as base_url:`` runs the web reviewer on a free port."""

    @contextmanager
    def serving(path: Path, **options: object) -> Iterator[str]:
        with Workspace(path) as ws:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(
                uvicorn.Config(create_app(ws, **options), log_level="warning", lifespan="off")
            )
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.01)
            try:
                yield f"http://127.0.0.1:{sock.getsockname()[1]}"
            finally:
                server.should_exit = True
                thread.join(timeout=10)
                sock.close()

    return serving


NEWS_LABELS = ["World", "Sports", "Business", "Sci/Tech"]
# id, text, gold, label model's label (given), suggested label, priority
NEWS = [
    ("n1", "Stocks fall as oil prices climb again", "Business", "Business", "Sports", 0.9),
    ("n2", "Home team wins the cup final in extra time", "Sports", "World", "Sports", 0.8),
    ("n3", "New chip doubles phone battery life", "Sci/Tech", "Business", "Sci/Tech", 0.7),
    ("n4", "Leaders meet for peace talks in Geneva", "World", "Sports", "Sports", 0.6),
    ("n5", "Election results announced overnight", "World", "World", "World", 0.0),
]


@pytest.fixture
def news_file(tmp_path: Path) -> Path:
    """A closed four-label workspace file whose first four examples are queued.

    n1's suggestion (Sports) disagrees with its right label (Business); n4's label
    model says Sports and so does the flagger, both wrongly.
    """
    csv = tmp_path / "news.csv"
    pl.DataFrame(
        [(i, text, gold, "train") for i, text, gold, *_ in NEWS],
        schema=["id", "text", "label", "split"],
        orient="row",
    ).write_csv(csv)
    path = tmp_path / "news.duckdb"
    with Workspace(path) as ws:
        ingest(
            ws,
            csv,
            id_column="id",
            label_column="label",
            split_column="split",
            labels=NEWS_LABELS,
        )
        for example_id, _, _, given, suggested, priority in NEWS:
            ws.con.execute(
                "INSERT INTO predictions VALUES (?, 'test', ?, 0.6, [0.1, 0.6, 0.2, 0.1], 0, '')",
                [example_id, given],
            )
            if priority:
                ws.con.execute(
                    "INSERT INTO queue VALUES (?, ?, 'cleanlab', ?, ?, 0, '')",
                    [example_id, priority, given, suggested],
                )
    return path


INTENTS = [
    "card_lost",
    "refund_status",
    "change_address",
    "cancel_subscription",
    "greeting",
    "payment_declined",
    "pin_change",
    "balance",
    "transfer_failed",
    "open_account",
    "close_account",
    "thanks_goodbye",
]


@pytest.fixture
def intents_file(tmp_path: Path) -> Path:
    """A twelve-label workspace file, more labels than number keys, with two items
    queued whose right labels (thanks_goodbye, close_account) come after the ninth."""
    path = tmp_path / "intents.duckdb"
    texts = [("i1", "hey thanks bye", "refund_status"), ("i2", "shut my account", "card_lost")]
    with Workspace(path) as ws:
        ingest(
            ws,
            pl.DataFrame([(i, t) for i, t, _ in texts], schema=["id", "text"], orient="row"),
            labels=INTENTS,
        )
        for rank, (example_id, _, given) in enumerate(texts):
            ws.con.execute(
                "INSERT INTO predictions VALUES (?, 'train', ?, 0.2, ?, 0, '')",
                [example_id, given, [1 / len(INTENTS)] * len(INTENTS)],
            )
            ws.con.execute(
                "INSERT INTO queue VALUES (?, ?, 'cleanlab', ?, 'greeting', 0, '')",
                [example_id, 1.0 - rank / 10, given],
            )
    return path


@pytest.fixture
def numbered_file(tmp_path: Path) -> Path:
    """A workspace file whose ten labels are the digits 0 to 9, with two items queued,
    each labeled 0 and suggested 1."""
    return numbered_workspace(tmp_path / "numbered.duckdb", 10)


@pytest.fixture
def twenty_classes_file(tmp_path: Path) -> Path:
    """As ``numbered_file``, with the classes 0 to 19 (a Snorkel project's, trial 63b)."""
    return numbered_workspace(tmp_path / "twenty.duckdb", 20)


def numbered_workspace(path: Path, classes: int) -> Path:
    """A workspace file whose labels are the numbers 0 to ``classes - 1``, with two
    items queued, each labeled 0 and suggested 1."""
    with Workspace(path) as ws:
        ingest(
            ws,
            pl.DataFrame({"id": ["n1", "n2"], "text": ["first text", "second text"]}),
            labels=[str(n) for n in range(classes)],
        )
        for rank, example_id in enumerate(["n1", "n2"]):
            ws.con.execute(
                "INSERT INTO predictions VALUES (?, 'train', '0', 0.2, ?, 0, '')",
                [example_id, [1 / classes] * classes],
            )
            ws.con.execute(
                "INSERT INTO queue VALUES (?, ?, 'cleanlab', '0', '1', 0, '')",
                [example_id, 1.0 - rank / 10],
            )
    return path


@pytest.fixture
def news_workspace(news_file: Path) -> Iterator[Workspace]:
    """The four-label workspace of ``news_file``, open."""
    with Workspace(news_file) as ws:
        yield ws


ASPECT_LABELS = ["positive", "negative", "neutral"]
ASPECT_ATTRIBUTES = ["food", "staff", "price"]
# id, text, gold per attribute (an attribute left out is not mentioned)
REVIEWS = [
    (
        "r1",
        "The waiter was rude but the pasta was great.",
        {"staff": "negative", "food": "positive"},
    ),
    (
        "r2",
        "Friendly staff? Not tonight. The soup was fine.",
        {"staff": "negative", "food": "neutral"},
    ),
    ("r3", "Too pricey, though the waitress was nice.", {"price": "negative", "staff": "positive"}),
    ("r4", "Lovely food, lovely people.", {"food": "positive", "staff": "positive"}),
]
# example, attribute, priority, label model's answer (given), suggested answer: staff has
# the most items; r1 is queued for two attributes.
ASPECT_QUEUE = [
    ("r1", "staff", 0.9, "none", "negative"),
    ("r2", "staff", 0.8, "positive", "negative"),
    ("r3", "staff", 0.7, "neutral", "none"),
    ("r1", "food", 0.65, "none", "positive"),
    ("r2", "food", 0.6, "neutral", "positive"),
    ("r3", "price", 0.4, "none", "negative"),
]


def write_aspects(
    path: Path,
    attributes: list[str] = ASPECT_ATTRIBUTES,
    queued: list[tuple[str, str, float, str, str]] = ASPECT_QUEUE,
) -> Path:
    """An aspects workspace file of ``REVIEWS`` over ``attributes``, ``queued`` items in
    its queue, one keyword LF's votes on staff and a label model's answer for every
    example and attribute."""
    frame = pl.DataFrame(
        {
            "id": [i for i, _, _ in REVIEWS],
            "text": [text for _, text, _ in REVIEWS],
            "label": [json.dumps(gold) for *_, gold in REVIEWS],
            "split": ["train"] * len(REVIEWS),
        }
    )
    with Workspace(path) as ws:
        ingest(
            ws,
            frame,
            label_column="label",
            split_column="split",
            labels=ASPECT_LABELS,
            kind="aspects",
            attributes=attributes,
        )
        import_votes(
            ws,
            pl.DataFrame(
                {
                    "example_id": ["r1", "r1", "r3"],
                    "source": ["kw_waiter", "kw_pasta", "kw_waiter"],
                    "attribute": ["staff", "food", "staff"],
                    "label": ["mentioned", "positive", "mentioned"],
                }
            ),
        )
        given = {(i, a): g for i, a, _, g, _ in queued}
        for example_id, _, _ in REVIEWS:
            for attribute in attributes:
                ws.con.execute(
                    "INSERT INTO predictions (example_id, model, label, confidence, "
                    "probabilities, run_id, attribute) VALUES (?, 'test', ?, 0.6, "
                    "[0.1, 0.1, 0.1, 0.7], 0, ?)",
                    [example_id, given.get((example_id, attribute), "none"), attribute],
                )
        for example_id, attribute, priority, given_label, suggested in queued:
            ws.con.execute(
                "INSERT INTO queue (example_id, attribute, priority, reasons, given_label, "
                "suggested_label, run_id) VALUES (?, ?, ?, 'cleanlab', ?, ?, 0)",
                [example_id, attribute, priority, given_label, suggested],
            )
    return path


@pytest.fixture
def aspects_file(tmp_path: Path) -> Path:
    """A closed aspects workspace (food, staff, price) of four restaurant reviews, six
    (example, attribute) items queued (``ASPECT_QUEUE``)."""
    return write_aspects(tmp_path / "aspects.duckdb")


@pytest.fixture
def aspects_workspace(aspects_file: Path) -> Iterator[Workspace]:
    """The aspects workspace of ``aspects_file``, open."""
    with Workspace(aspects_file) as ws:
        yield ws


@pytest.fixture
def topics_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A multi-label workspace (sports, tech, politics); three (example, label) items queued."""
    with Workspace(write_topics(tmp_path / "topics.duckdb")) as ws:
        yield ws


def write_topics(path: Path) -> Path:
    """A closed multi-label workspace at ``path``: ``topics_workspace``'s."""
    frame = pl.DataFrame(
        {
            "id": ["t1", "t2"],
            "text": ["The team's new app tracks every player", "Parliament debates tax"],
            "label": ['["sports", "tech"]', '["politics"]'],
            "split": ["train", "train"],
        }
    )
    with Workspace(path) as ws:
        ingest(
            ws,
            frame,
            label_column="label",
            split_column="split",
            labels=["sports", "tech", "politics"],
            kind="multilabel",
        )
        for example_id, attribute, priority, given, suggested in [
            ("t1", "tech", 0.9, "no", "yes"),
            ("t1", "sports", 0.8, "yes", "no"),
            ("t2", "sports", 0.5, "no", "no"),
        ]:
            ws.con.execute(
                "INSERT INTO queue (example_id, attribute, priority, reasons, given_label, "
                "suggested_label, run_id) VALUES (?, ?, ?, 'cleanlab', ?, ?, 0)",
                [example_id, attribute, priority, given, suggested],
            )
    return path


SPAN_TYPES = ["TERM", "BRAND"]
# id, text: an emoji pair before s1's spans, NFD and CRLF before s2's.
SPAN_TEXTS = [
    ("s1", "I ❤️ my 💻 battery life, not the screen"),
    ("s2", "Cafe\u0301\r\nThe keyboard is great"),
    ("s3", "Dell screen is dim"),
]
SPAN_TEXT_OF = dict(SPAN_TEXTS)


def at(example_id: str, words: str) -> tuple[int, int]:
    """The character bounds of ``words`` in a span text (its first occurrence)."""
    start = SPAN_TEXT_OF[example_id].index(words)
    return start, start + len(words)


def bounds(example_id: str, words: str) -> str:
    """The span attribute ``"<start>:<end>"`` of ``words`` in a span text."""
    return "{}:{}".format(*at(example_id, words))


# The label model's spans: example, words, type.
SPAN_PREDICTIONS = [
    ("s1", "battery", "TERM"),
    ("s1", "screen", "TERM"),
    ("s2", "keyboard", "TERM"),
    ("s3", "Dell", "TERM"),
    ("s3", "screen", "TERM"),
]
# example, words, priority, given label, suggested label: s1's "battery" is cut short,
# s3's Dell is a brand, s2's keyboard is right, s1's screen is a term the flag doubts.
SPAN_QUEUE = [
    ("s1", "battery", 0.9, "TERM", "TERM"),
    ("s3", "Dell", 0.8, "TERM", "BRAND"),
    ("s2", "keyboard", 0.7, "TERM", "TERM"),
    ("s1", "screen", 0.6, "TERM", "none"),
]


def write_spans(path: Path, texts: list[tuple[str, str]] = SPAN_TEXTS) -> Path:
    """A spans workspace file (TERM, BRAND) of ``texts``: the label model's spans and
    the queue written directly (``SPAN_PREDICTIONS``, ``SPAN_QUEUE``), and one source's
    span votes on s1."""
    frame = pl.DataFrame({"id": [i for i, _ in texts], "text": [t for _, t in texts]})
    text_of = dict(texts)

    def place(example_id: str, words: str) -> tuple[int, int]:
        start = text_of[example_id].index(words)
        return start, start + len(words)

    with Workspace(path) as ws:
        ingest(ws, frame, kind="spans", labels=SPAN_TYPES)
        with ws.run("test spans", {}) as run:
            for example_id, words, label in SPAN_PREDICTIONS:
                run.con.execute(
                    "INSERT INTO span_predictions VALUES (?, ?, ?, ?, 0.7, 'test', ?)",
                    [example_id, *place(example_id, words), label, run.id],
                )
            for example_id, words, label in [
                ("s1", "battery", "TERM"),
                ("s1", "battery life", "TERM"),
                ("s1", "screen", "TERM"),
            ]:
                run.con.execute(
                    "INSERT INTO span_votes VALUES (?, 'phrases', ?, ?, ?, ?)",
                    [example_id, *place(example_id, words), label, run.id],
                )
            for example_id, words, priority, given, suggested in SPAN_QUEUE:
                run.con.execute(
                    "INSERT INTO queue (example_id, attribute, priority, reasons, given_label, "
                    "suggested_label, run_id) VALUES (?, ?, ?, 'boundaries disagree', ?, ?, ?)",
                    [
                        example_id,
                        "{}:{}".format(*place(example_id, words)),
                        priority,
                        given,
                        suggested,
                        run.id,
                    ],
                )
    return path


@pytest.fixture
def spans_file(tmp_path: Path) -> Path:
    """A closed spans workspace (``write_spans``): four spans of three texts queued."""
    return write_spans(tmp_path / "spans.duckdb")


@pytest.fixture
def spans_workspace(spans_file: Path) -> Iterator[Workspace]:
    """The spans workspace of ``spans_file``, open."""
    with Workspace(spans_file) as ws:
        yield ws


# A rule an LLM might propose to attack the page; its model's name is hostile too.
ATTACK_RULE = '<img src=x onerror="window.pwned=1"> -> spam'
PROPOSER = "<b>gpt</b>"
# id, text, gold, split: suggest-lfs's rules are scored on every example, accuracy on dev.
SUGGEST_ROWS = [
    ("t1", "please subscribe to my channel", "spam", "train"),
    ("t2", "subscribed, check out my page", "spam", "train"),
    ("t3", "what a lovely song", "ham", "train"),
    ("t4", "nice video", "ham", "train"),
    ("d1", "subscribing is free, do it", "spam", "dev"),
    ("d2", "I subscribed years ago and still love this song", "ham", "dev"),
    ("d3", "check out my free gift", "spam", "dev"),
    ("d4", "song of the year", "ham", "dev"),
]


@pytest.fixture
def suggestions_file(tmp_path: Path) -> Path:
    """A closed workspace file holding one suggest-lfs run, asked through the real openai
    client of the test server: three new rules (a stem, a phrase, an attack on the page),
    then a malformed and a duplicate one, which are never offered."""
    csv = tmp_path / "comments.csv"
    pl.DataFrame(SUGGEST_ROWS, schema=["id", "text", "label", "split"], orient="row").write_csv(csv)
    proposals = [
        {"match": "subscrib*", "label": "spam"},
        {"match": "check out", "label": "spam"},
        {"match": ATTACK_RULE.removesuffix(" -> spam"), "label": "spam"},
        {"match": "/[a-/", "label": "spam"},
        {"match": "song", "label": "ham"},
    ]
    path = tmp_path / "suggest.duckdb"
    answer = Behaviour(script=lambda body: json.dumps({"rules": proposals}))
    with Workspace(path) as ws, OpenAIServer(answer) as server:
        ingest(ws, csv, id_column="id", label_column="label", split_column="split")
        apply_lfs(ws, [keyword_lf("kw_song", ["song"], "ham")])
        config = LLMConfig(
            model=PROPOSER, instructions="Spam?", api_key="k", base_url=server.base_url
        )
        # In its own thread: the browser tests' Playwright runs an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(suggest_lfs, ws, config).result()
    return path
