"""Reviewing spans in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from labelkit import Workspace
from tests.review.conftest import SPAN_TEXT_OF, SPAN_TEXTS, Serve, bounds, write_spans
from tests.review.test_web_browser import browser  # noqa: F401 - the fixture

# The UTF-16 bounds of a range of the shown text (found by its words), as the mouse
# would reach them: the middle of the first character's left half, and of the last's
# right half.
EDGES = """
([words, from, to]) => {
  const text = document.getElementById("text");
  const at = text.textContent.indexOf(words) + from;
  const end = text.textContent.indexOf(words) + to;
  const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
  const place = (index) => {
    let node, left = index;
    while ((node = walker.nextNode())) {
      if (left < node.data.length) return [node, left];
      left -= node.data.length;
    }
  };
  const rect = (index, units) => {
    walker.currentNode = text;
    const [node, offset] = place(index);
    const range = document.createRange();
    range.setStart(node, offset);
    range.setEnd(node, offset + units);
    return range.getBoundingClientRect();
  };
  const first = rect(at, 1);
  const last = rect(end - 2, 2);
  return [first.left + 1, last.right - 1, (first.top + first.bottom) / 2];
}
"""


def start(page: Page, url: str) -> None:
    page.goto(url)
    page.fill("#reviewer", "ana")
    page.press("#reviewer", "Enter")


def marked(page: Page, kind: str) -> str:
    """The text under the page's highlights of one kind (a span cut into pieces by
    other bounds is one highlight)."""
    return "".join(page.locator(f"#text mark.{kind}").all_text_contents())


def expect_marked(page: Page, kind: str, text: str, seconds: float = 15.0) -> None:
    """Wait until the highlights of ``kind`` read ``text``: the page redraws them after
    the server answers, and a bare read raced the redraw (a CI run read "screen" where
    "battery life" had just been saved; stop 54's suite, two workers on two cores, ran
    past 5 seconds)."""
    deadline = time.monotonic() + seconds
    while marked(page, kind) != text and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert marked(page, kind) == text


def select_with_mouse(page: Page, words: str, start: int, end: int) -> None:
    """Drag the mouse over ``words[start:end]`` (UTF-16 units) of the shown text."""
    left, right, middle = page.evaluate(EDGES, [words, start, end])
    page.mouse.move(left, middle)
    page.mouse.down()
    page.mouse.move(right, middle, steps=5)
    page.mouse.up()


def test_spans_reviewed_by_keyboard_and_mouse_land_as_decisions_on_bounds(
    spans_file: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    with serve(spans_file) as url:
        page = browser.new_page()
        start(page, url)
        question, text = page.locator("#question"), page.locator("#text")
        expect(question).to_have_text('Is "battery" TERM? (the current label)')
        expect(page.locator("#span-keys")).to_be_visible()
        # Two emoji (three UTF-16 units) before the span: still highlighted exactly.
        assert text.evaluate("t => t.textContent") == SPAN_TEXT_OF["s1"]
        expect_marked(page, "review", "battery")
        expect_marked(page, "label-0", "screen")
        # Trial 32: the span under review took the first type's colour whatever its type.
        review = page.locator("#text mark.review")
        assert review.evaluate("m => m.dataset.type") == "0"
        assert review.evaluate("m => getComputedStyle(m).backgroundColor") == (
            page.locator("#text mark.label-0").first.evaluate(
                "m => getComputedStyle(m).backgroundColor"
            )
        )
        expect(page.locator("#choices button")).to_have_text(
            [
                "yes, TERM (a)",
                "no, not an entity (r)",
                "TERM (1)",
                "BRAND (2)",
                "none (3)",
                "skip (s)",
                "ambiguous (?)",
                "undo (u)",
            ]
        )
        # A boundary fix by keys: the end a word right, then back, then right again.
        page.keyboard.press(".")
        expect(page.locator("#draft")).to_have_text(
            'New bounds: "battery life". Enter saves TERM; 1–2 another type; Esc cancels.'
        )
        expect_marked(page, "draft", "battery life")
        page.keyboard.press(",")
        expect(page.locator("#draft")).to_have_text("")
        page.keyboard.press(".")
        page.keyboard.press("Enter")
        # Accept: y (or a) stores the span's type, here the suggested one.
        expect(question).to_have_text('Is "Dell" BRAND? (currently TERM)')
        page.keyboard.press("y")
        # Relabel by number key, on a text with NFD and CRLF before the span.
        expect(question).to_have_text('Is "keyboard" TERM? (the current label)')
        assert text.evaluate("t => t.textContent") == SPAN_TEXT_OF["s2"]
        expect_marked(page, "review", "keyboard")
        page.keyboard.press("2")
        expect(question).to_have_text('Is "screen" TERM? (the current label)')
        expect_marked(page, "label-0", "battery life")  # the fix is a current span
        # A missed span by keyboard: the cursor two words left, m, a word right, m.
        expect_marked(page, "cursor", "screen")
        for key in ["ArrowLeft", "ArrowLeft", "m", "ArrowRight"]:
            page.keyboard.press(key)
        expect(page.locator("#draft")).to_contain_text("Selecting")
        expect_marked(page, "selecting", "not the")
        page.keyboard.press("m")
        expect(page.locator("#draft")).to_contain_text('Missed span: "not the"')
        page.keyboard.press("2")
        expect(page.locator("#draft")).to_have_text("")
        expect_marked(page, "label-1", "not the")
        # A missed span by mouse: from inside "my" to the laptop emoji, snapped to words.
        select_with_mouse(page, "my 💻", 1, 5)
        expect(page.locator("#draft")).to_contain_text('Missed span: "my 💻"')
        expect_marked(page, "draft", "my 💻")
        page.keyboard.press("Enter")
        expect(page.locator("#draft")).to_have_text("")
        expect_marked(page, "label-0", "my 💻battery life")
        expect(question).to_have_text('Is "screen" TERM? (the current label)')
        # Reject: n, x or r say it is no entity; undo brings it back.
        page.keyboard.press("x")
        expect(page.locator("#status")).to_have_text("The queue is empty. Thank you!")
        page.keyboard.press("u")
        expect(page.locator("#card")).to_be_visible()
        expect(question).to_have_text('Is "screen" TERM? (the current label)')
        page.keyboard.press("n")
        expect(page.locator("#card")).to_be_hidden()
        expect(page.locator("#progress")).to_have_text("4 done · 0 remaining · 4 errors found")
        page.close()
    with Workspace(spans_file, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, attribute, action, label, undoes FROM decisions "
            "ORDER BY decision_id"
        ).rows()
    screen = bounds("s1", "screen")
    assert decisions == [
        ("s1", bounds("s1", "battery"), "fix", "none", None),
        ("s1", bounds("s1", "battery life"), "fix", "TERM", None),
        ("s3", bounds("s3", "Dell"), "accept", "BRAND", None),
        ("s2", bounds("s2", "keyboard"), "label", "BRAND", None),
        ("s1", bounds("s1", "not the"), "missed", "BRAND", None),
        ("s1", bounds("s1", "my 💻"), "missed", "TERM", None),
        ("s1", screen, "reject", "none", None),
        ("s1", screen, "undo", None, 7),
        ("s1", screen, "reject", "none", None),
    ]


def test_each_span_has_its_type_in_words_and_the_cursor_is_announced(
    spans_file: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    # Trial 61b: a type was its colour alone (one yellow for all in forced colours, and
    # no type in what a screen reader reads), and moving the cursor said nothing.
    with serve(spans_file) as url:
        page = browser.new_page()
        start(page, url)
        expect(page.locator("#question")).to_have_text('Is "battery" TERM? (the current label)')
        tags = page.evaluate(
            """[...document.querySelectorAll('#text mark[data-tag]')].map(
                m => [m.textContent, getComputedStyle(m, '::after').content])"""
        )
        assert tags == [["battery", '"TERM?"'], ["screen", '"TERM"']]
        # The type is no part of the text: what a mouse selects maps back to offsets.
        assert page.locator("#text").evaluate("t => t.textContent") == SPAN_TEXT_OF["s1"]
        page.keyboard.press("ArrowRight")
        expect(page.locator("#announce")).to_have_text('Cursor on "life".')
        page.keyboard.press(".")
        expect_marked(page, "draft", "battery life")
        assert page.locator("#text mark.draft").last.evaluate("m => m.dataset.tag") == (
            "new bounds, TERM"
        )
        # One-key shortcuts off: Escape, the arrows and Enter still edit a span (the second
        # read: they were off too, and no keyboard path was left).
        page.locator("#shortcuts").uncheck()
        page.locator("#question").focus()
        page.keyboard.press("Escape")
        expect_marked(page, "draft", "")
        page.keyboard.press("ArrowLeft")
        expect(page.locator("#announce")).to_have_text('Cursor on "battery".')
        page.keyboard.press("m")
        expect_marked(page, "selecting", "")
        page.close()


def test_a_missed_span_selected_on_a_span_already_there_keeps_its_type(
    spans_file: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    # Trial 68d: a mouse selection of a BRAND drew it as "BRAND, new bounds", and Enter
    # saved the reviewed span's PART over it, unsaid.
    with serve(spans_file) as url:
        page = browser.new_page()
        start(page, url)
        expect(page.locator("#question")).to_have_text('Is "battery" TERM? (the current label)')
        page.keyboard.press("a")
        expect(page.locator("#question")).to_have_text('Is "Dell" BRAND? (currently TERM)')
        select_with_mouse(page, "screen", 1, 6)
        expect(page.locator("#draft")).to_contain_text(
            'Already a span (TERM): "screen". Enter saves TERM;'
        )
        assert page.locator("#text mark.draft").last.evaluate("m => m.dataset.tag") == (
            "TERM, the same bounds"
        )
        page.keyboard.press("Enter")
        expect(page.locator("#draft")).to_have_text("")
        page.close()
    with Workspace(spans_file, read_only=True) as ws:
        last = ws.sql("SELECT attribute, action, label FROM decisions ORDER BY decision_id")
    assert last.rows()[-1] == (bounds("s3", "screen"), "missed", "TERM")


def test_a_yes_during_a_selection_saves_it_and_a_no_waits_for_a_pending_edit(
    spans_file: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    # Trial 32: m, a move, then a dropped the selection and accepted the span under
    # review; r with new bounds pending dropped them and rejected the span.
    with serve(spans_file) as url:
        page = browser.new_page()
        failed: list[str] = []
        page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
        start(page, url)
        question = page.locator("#question")
        expect(question).to_have_text('Is "battery" TERM? (the current label)')
        for key in ["m", "ArrowRight", "a"]:
            page.keyboard.press(key)
        expect(page.locator("#draft")).to_have_text("")
        # The missed span "battery life" replaced "battery" (trial 65b): the next item.
        expect(question).to_have_text('Is "Dell" BRAND? (currently TERM)')
        page.keyboard.press(".")
        page.keyboard.press("r")
        expect(page.locator("#status")).to_have_text(
            "Enter saves the new bounds, Esc cancels them; then r says no to the span."
        )
        expect_marked(page, "draft", "Dell screen")
        page.keyboard.press("Escape")
        page.keyboard.press("r")
        expect(question).not_to_have_text('Is "Dell" BRAND? (currently TERM)')
        page.close()
    # Trial 32: the browser's request for a favicon was answered 404.
    assert failed == []
    with Workspace(spans_file, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, attribute, action, label FROM decisions ORDER BY decision_id"
        ).rows()
    assert decisions == [
        ("s1", bounds("s1", "battery life"), "missed", "TERM"),
        ("s3", bounds("s3", "Dell"), "reject", "none"),
    ]


def test_bounds_across_a_paragraph_break_are_said_to_cross_it(
    tmp_path: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    # Trial 62d: a selection from "Harbour." to "The" across a blank line was stored as
    # one entity without a word.
    texts = [("s1", f"{SPAN_TEXT_OF['s1']}\n\nIt lasts"), *SPAN_TEXTS[1:]]
    with serve(write_spans(tmp_path / "paragraphs.duckdb", texts)) as url:
        page = browser.new_page()
        start(page, url)
        expect(page.locator("#question")).to_have_text('Is "battery" TERM? (the current label)')
        for key in ["m", "ArrowRight", "m"]:
            page.keyboard.press(key)
        expect(page.locator("#draft")).to_contain_text('Missed span: "battery life". Enter')
        page.keyboard.press("Escape")
        for key in ["m", *["ArrowRight"] * 8, "m"]:
            page.keyboard.press(key)
        expect(page.locator("#draft")).to_contain_text(
            'the screen\n\nIt lasts". It crosses a paragraph break. Enter'
        )
        page.close()


HOSTILE = '<img src=x onerror="window.pwned = 4"> my battery life, not the screen'


def test_a_hostile_text_and_its_spans_show_as_text(
    tmp_path: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    texts = [(i, HOSTILE if i == "s1" else text) for i, text in SPAN_TEXTS]
    workspace = write_spans(tmp_path / "hostile.duckdb", texts)
    with serve(workspace) as url:
        page = browser.new_page()
        start(page, url)
        expect(page.locator("#question")).to_have_text('Is "battery" TERM? (the current label)')
        assert page.locator("#text").evaluate("t => t.textContent") == HOSTILE
        select_with_mouse(page, "<img src=x", 0, 10)
        expect(page.locator("#draft")).to_contain_text('Missed span: "<img src=x"')
        page.keyboard.press(".")
        expect(page.locator("#draft")).to_contain_text('Missed span: "<img src=x onerror="')
        assert page.locator("img, script:not([src])").count() == 0
        assert page.evaluate("window.pwned") is None
        page.keyboard.press("Escape")
        expect(page.locator("#draft")).to_have_text("")
        page.close()


def test_a_focus_pass_takes_a_draft_type_by_number_and_u_cancels_a_draft_alone(
    spans_file: Path,
    serve: Serve,
    browser: Browser,  # noqa: F811
) -> None:
    # Trial 58d: in a focus pass the draft's line offered "1–2 another type" and the keys
    # did nothing; u with a draft open took back an answer on another text, unseen; and
    # "]" on a one-word span did nothing, without a word.
    with serve(spans_file) as url:
        page = browser.new_page()
        start(page, url)
        question = page.locator("#question")
        # The first item is drawn before the pass changes, and drawn again once the pass's
        # loads, drafts and all: a load still under way would draw over the draft (a
        # fresh-clone run on a loaded machine).
        expect(question).to_contain_text('"battery" TERM?')
        page.select_option("#focus", "TERM")
        expect(page.locator("#progress")).to_contain_text("TERM items")
        expect(question).to_contain_text('"battery" TERM?')
        page.keyboard.press("]")
        expect(page.locator("#status")).to_have_text(
            "The start cannot move right: the span is one word."
        )
        page.keyboard.press(".")
        expect_marked(page, "draft", "battery life")
        page.keyboard.press("u")
        expect(page.locator("#status")).to_have_text(
            "Edit cancelled; u again takes back your last answer."
        )
        expect_marked(page, "draft", "")
        page.keyboard.press(".")
        expect_marked(page, "draft", "battery life")
        page.keyboard.press("2")
        expect(question).not_to_contain_text('"battery" TERM?')
        page.close()
    with Workspace(spans_file, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, attribute, action, label FROM decisions ORDER BY decision_id"
        ).rows()
    assert ("s1", bounds("s1", "battery life"), "BRAND") in [(d[0], d[1], d[3]) for d in decisions]
    assert all(action != "undo" for _, _, action, _ in decisions)
