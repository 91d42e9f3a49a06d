"""The web reviewer in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from labelkit import Workspace
from tests.review.conftest import ATTACK, TEXTS, Serve

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts,
# which this machine's closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEXT_OF = {example_id: text for example_id, text, _ in TEXTS}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def shows(page: Page, example_id: str) -> None:
    expect(page.locator("#text")).to_have_text(TEXT_OF[example_id])


def test_ten_items_by_keyboard_with_a_reload_an_undo_and_a_comment(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    with serve(review_workspace) as url:
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("#status")).to_have_text("Type your name to start reviewing.")
        page.fill("#reviewer", "ana")
        page.press("#reviewer", "Enter")
        shows(page, "w01")
        expect(page.locator("#question")).to_have_text("Is this spam? (currently ham)")
        expect(page.locator("#choices button").first).to_have_text("yes, spam (a)")
        expect(page.locator("#text mark")).to_have_text("subscribe")
        for key, next_id in [("a", "w02"), ("r", "w03"), ("1", "w04")]:
            page.keyboard.press(key)
            shows(page, next_id)
        page.keyboard.press("c")
        page.keyboard.type("looks like spam")
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        shows(page, "w05")
        page.keyboard.press("a")
        shows(page, "w06")
        page.reload()
        shows(page, "w06")
        expect(page.locator("#reviewer")).to_have_value("ana")
        page.keyboard.press("s")
        shows(page, "w07")
        page.keyboard.press("?")
        shows(page, "w08")
        page.keyboard.press("u")
        shows(page, "w07")
        for key, next_id in [("a", "w08"), ("r", "w09"), ("a", "w10"), ("a", "w11")]:
            page.keyboard.press(key)
            shows(page, next_id)
        expect(page.locator("#progress")).to_have_text("10 done · 2 remaining · 5 errors found")
        # The attack text is shown as text: no element from it, no script run.
        expect(page.locator("#text")).to_have_text(ATTACK)
        assert page.locator("#text img, #text script").count() == 0
        assert page.evaluate("window.pwned") is None
        page.close()
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, action, label, comment, undoes FROM decisions ORDER BY decision_id"
        ).rows()
    assert decisions == [
        ("w01", "accept", "spam", None, None),
        ("w02", "reject", "spam", None, None),
        ("w03", "label", "ham", None, None),
        ("w04", "label", "spam", "looks like spam", None),
        ("w05", "accept", "spam", None, None),
        ("w06", "skip", None, None, None),
        ("w07", "ambiguous", None, None, None),
        ("w07", "undo", None, None, 7),
        ("w07", "accept", "spam", None, None),
        ("w08", "reject", "spam", None, None),
        ("w09", "accept", "spam", None, None),
        ("w10", "accept", "ham", None, None),
    ]


def test_two_browsers_never_share_an_item_focus_mode_and_a_lost_connection(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    with serve(review_workspace) as url:
        ana, bo = browser.new_context().new_page(), browser.new_context().new_page()
        for page, name in ((ana, "ana"), (bo, "bo")):
            page.goto(url)
            page.fill("#reviewer", name)
            page.press("#reviewer", "Enter")
        shows(ana, "w01")
        shows(bo, "w02")
        bo.select_option("#focus", "ham")
        expect(bo.locator("#question")).to_have_text("Is this ham? (currently spam)")
        shows(bo, "w02")
        expect(bo.locator("#choices button").first).to_have_text("yes, ham (a)")
        expect(bo.locator("#progress")).to_have_text(
            "ham items: 0 done · 6 remaining · 0 errors found"
        )
        bo.context.set_offline(True)
        bo.keyboard.press("r")
        expect(bo.locator("#status")).to_contain_text("Not saved")
        shows(bo, "w02")
        bo.context.set_offline(False)
        bo.keyboard.press("r")
        shows(bo, "w04")
        expect(bo.locator("#progress")).to_have_text(
            "ham items: 1 done · 5 remaining · 0 errors found"
        )
        summary = ana.context.new_page()
        summary.goto(f"{url}/summary")
        expect(summary.locator("#stats")).to_contain_text("errors_found")
        expect(summary.locator("#per-label")).to_contain_text("reviewed_as")
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql("SELECT example_id, reviewer, action FROM decisions").rows()
    assert decisions == [("w02", "bo", "reject")], "the offline key press stored nothing"


def test_a_four_label_item_asks_about_its_candidate_then_for_its_label(
    news_file: Path, serve: Serve, browser: Browser
) -> None:
    with serve(news_file) as url:
        page = browser.new_page()
        page.goto(url)
        page.fill("#reviewer", "ana")
        page.press("#reviewer", "Enter")
        question = page.locator("#question")
        expect(question).to_have_text("Is this Sports? (currently Business)")
        buttons = page.locator("#choices button")
        expect(buttons).to_have_text(
            [
                "yes, Sports (a)",
                "no, another label (r)",
                "World (1)",
                "Sports (2)",
                "Business (3)",
                "Sci/Tech (4)",
                "skip (s)",
                "ambiguous (?)",
                "undo (u)",
            ]
        )
        expect(page.locator("footer")).to_contain_text("1–4 label")
        page.keyboard.press("r")
        expect(question).to_have_text("Which label is it? (not Sports; currently Business)")
        expect(buttons.first).to_have_text("World (1)")
        page.keyboard.press("a")  # nothing left to say yes to: stores nothing
        page.keyboard.press("3")
        expect(question).to_have_text("Is this Sports? (currently World)")
        page.select_option("#focus", "Sports")
        expect(page.locator("#progress")).to_have_text(
            "Sports items: 1 done · 2 remaining · 0 errors found"
        )
        page.close()
    with Workspace(news_file, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, action, label FROM decisions ORDER BY decision_id"
        ).rows()
    assert decisions == [("n1", "ruled_out", "Sports"), ("n1", "label", "Business")]
