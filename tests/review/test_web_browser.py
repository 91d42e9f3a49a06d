"""The web reviewer in a real browser: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from labelkit import ReviewQueue, Workspace, apply_lfs, ingest, keyword_lf
from tests.review.conftest import (
    ASPECT_ATTRIBUTES,
    ASPECT_QUEUE,
    ATTACK,
    ATTACK_RULE,
    PROPOSER,
    REVIEWS,
    TEXTS,
    Serve,
    write_aspects,
    write_topics,
)

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
    # For the DNS-rebinding test: the attacker's name resolves to this machine.
    "--host-resolver-rules=MAP evil.example 127.0.0.1",
    # Chromium 142+ asks before a public page may reach a local address; other browsers
    # (and older Chromium) do not, so the attack tests check the server's own refusals.
    "--disable-features=LocalNetworkAccessChecks",
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


def review_as(page: Page, url: str, reviewer: str = "ana") -> None:
    """Open the reviewer page at ``url`` and start reviewing as ``reviewer``."""
    page.goto(url)
    page.fill("#reviewer", reviewer)
    page.press("#reviewer", "Enter")


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
        expect(page.locator("#fields-name")).to_be_hidden()
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
        expect(page.locator("#progress")).to_have_text(
            "10 done (1 of them only skipped) · 2 remaining · 5 errors found"
        )
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


def test_a_screen_reader_hears_each_item_and_one_key_shortcuts_can_be_turned_off(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 61b: focus stayed on the page after an answer, so a screen reader read only
    # the progress line; a menu stepped through by keys switched the pass at each step;
    # and one-key shortcuts, which speech input and screen readers type by, stayed on.
    with serve(review_workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        shows(page, "w01")
        question = page.locator("#question")
        expect(question).to_be_focused()
        expect(page.locator("#text")).to_have_attribute("lang", "en")
        page.keyboard.press("a")
        shows(page, "w02")
        expect(page.locator("#announce")).to_have_text("Saved: yes, spam.")
        expect(question).to_be_focused()
        page.locator("#focus").focus()
        page.keyboard.press("ArrowDown")
        expect(page.locator("#status")).to_contain_text("Enter switches to is this")
        expect(page.locator("#progress")).not_to_contain_text("items:")
        page.keyboard.press("Enter")
        expect(page.locator("#progress")).to_contain_text("items:")
        expect(question).to_be_focused()
        page.select_option("#focus", "")
        expect(page.locator("#progress")).not_to_contain_text("items:")
        shows(page, "w02")
        page.locator("#shortcuts").uncheck()
        expect(page.locator("#keys-off")).to_be_visible()
        question.focus()
        page.keyboard.press("s")
        page.keyboard.press("a")
        shows(page, "w02")
        page.reload()
        expect(page.locator("#shortcuts")).not_to_be_checked()
        page.get_by_role("button", name="skip (s)").click()
        shows(page, "w03")
        page.close()
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql("SELECT example_id, action FROM decisions ORDER BY decision_id").rows()
    assert decisions == [("w01", "accept"), ("w02", "skip")]


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
        # Trial 61b: "errors_found" read aloud as "errors underscore found".
        expect(summary.locator("#stats")).to_contain_text("errors found")
        expect(summary.locator("#per-label")).to_contain_text("reviewed as")
        # Trial 59f: at 400 px the page scrolled sideways (593 px wide); a table scrolls
        # in its own box.
        summary.set_viewport_size({"width": 400, "height": 800})
        assert summary.evaluate("document.documentElement.scrollWidth") <= 400
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql("SELECT example_id, reviewer, action FROM decisions").rows()
    assert decisions == [("w02", "bo", "reject")], "the offline key press stored nothing"


def test_an_older_load_answered_late_does_not_draw_over_the_newer_pass(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # On a busy machine the load of the pass left behind came back after the one
    # chosen next, and drew its item and progress over the chosen pass's.
    with serve(review_workspace) as url:
        page = browser.new_page()
        held = []

        def hold_the_first(route: Route) -> None:
            if held:
                route.continue_()
            else:
                held.append(route)

        page.route("**/api/next", hold_the_first)
        review_as(page, url)
        for _ in range(200):
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the page asked for no item"
        page.select_option("#focus", "ham")
        ham_pass = "ham items: 0 done · 6 remaining · 0 errors found"
        expect(page.locator("#progress")).to_have_text(ham_pass)
        shows(page, "w02")
        # The late answer is ignored, and the item on screen asked for again: the server
        # had handed it back when it gave the older pass its item (the second read).
        with page.expect_request("**/api/next") as asked_again:
            held[0].continue_()
        assert "ham" in (asked_again.value.post_data or "")
        page.wait_for_timeout(200)
        expect(page.locator("#progress")).to_have_text(ham_pass)
        shows(page, "w02")
        bo = browser.new_context().new_page()
        review_as(bo, url, "bo")
        bo.select_option("#focus", "ham")
        expect(bo.locator("#question")).to_have_text("Is this ham? (currently spam)")
        shows(bo, "w04")


def test_a_four_label_item_asks_about_its_candidate_then_for_its_label(
    news_file: Path, serve: Serve, browser: Browser
) -> None:
    with serve(news_file) as url:
        page = browser.new_page()
        review_as(page, url)
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
        expect(page.locator("#yes-no-keys")).to_be_visible()
        expect(page.locator("#next-attribute")).to_be_hidden()
        page.keyboard.press("r")
        expect(question).to_have_text("Which label is it? (not Sports; currently Business)")
        expect(buttons.first).to_have_text("World (1)")
        # Trial 49b: the hints still offered "a yes · r no" here.
        expect(page.locator("#yes-no-keys")).to_be_hidden()
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


ATTACKER = """
async (target) => {
  const answer = JSON.stringify({reviewer: "eve", example_id: "w02", action: "accept"});
  const undo = JSON.stringify({reviewer: "ana"});
  for (const [path, body] of [["/api/answer", answer], ["/api/undo", undo]]) {
    await fetch(target + path, {method: "POST", mode: "no-cors", credentials: "include",
                                headers: {"Content-Type": "text/plain"}, body});
  }
  try {
    await fetch(target + "/api/answer", {method: "POST", credentials: "include",
                                         headers: {"Content-Type": "application/json"},
                                         body: answer});
  } catch (refused) {}  // CORS refuses to show the answer; the point is whether it was stored
  const form = document.createElement("form");
  form.method = "POST";
  form.enctype = "text/plain";
  form.action = target + "/api/answer";
  const field = document.createElement("input");
  field.name = answer.slice(0, -1) + ', "pad": "';
  field.value = '"}';
  form.append(field);
  document.body.append(form);
  form.submit();
}
"""


def attack_from(page: Page, origin: str, target: str) -> None:
    """Open a page of ``origin`` (served by the browser itself, as an attacker's server
    would) and let it send the reviewer writes by every means a page has."""
    page.route(f"{origin}/", lambda route: route.fulfill(body="<html><body></body></html>"))
    page.goto(f"{origin}/")
    with page.expect_navigation():
        page.evaluate(ATTACKER, target)


def test_a_name_typed_before_the_page_has_its_config_starts_the_review(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # On a busy machine the name was typed while /api/config was on its way; the page
    # then set the (empty) saved name over it, and Enter started nothing.
    with serve(review_workspace) as url:
        page = browser.new_page()
        held = []
        page.route("**/api/config", lambda route: held.append(route))
        page.goto(url)
        page.fill("#reviewer", "ana")
        held[0].continue_()
        expect(page.locator("#workspace")).to_have_text("review.duckdb")
        page.press("#reviewer", "Enter")
        shows(page, "w01")


def test_a_name_entered_before_the_config_asks_for_one_item_only(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # A CI run: the name's Enter and the config's arrival each asked for an item, and the
    # later answer drew it again over a span's new bounds begun on the first.
    with serve(review_workspace) as url:
        page = browser.new_page()
        held, asked = [], []
        page.route("**/api/config", lambda route: held.append(route))
        page.on("request", lambda request: asked.append(request.url))
        page.goto(url)
        page.fill("#reviewer", "ana")
        page.press("#reviewer", "Enter")
        held[0].continue_()
        shows(page, "w01")
        page.wait_for_timeout(300)
        assert sum(url.endswith("/api/next") for url in asked) == 1


def test_pages_elsewhere_cannot_answer_or_undo_even_on_the_same_host(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    with serve(review_workspace) as url:
        ana = browser.new_page()
        review_as(ana, url)
        shows(ana, "w01")
        ana.keyboard.press("a")
        shows(ana, "w02")
        attack_from(browser.new_page(), "http://evil.example", url)
    # Trial 68a: any text is a token, and the page sent an accented one as Latin-1 bytes
    # (refused) and a Cyrillic one not at all (fetch throws).
    token = "sécret-пароль-0123456789"
    with serve(review_workspace, token=token) as url:
        context = browser.new_context()
        reviewer = context.new_page()
        reviewer.goto(f"{url}/?token={quote(token)}")
        expect(reviewer.locator("#status")).to_have_text("Type your name to start reviewing.")
        reviewer.fill("#reviewer", "ana")
        reviewer.press("#reviewer", "Enter")
        shows(reviewer, "w02")
        # Another port of the same host is the same site, but the token is not a
        # cookie: nothing of it goes along.
        attack_from(context.new_page(), "http://127.0.0.1:9", url)
        context.close()
    with Workspace(review_workspace, read_only=True) as ws:
        decisions = ws.sql("SELECT reviewer, example_id, action FROM decisions").rows()
    assert decisions == [("ana", "w01", "accept")], "eve stored nothing and undid nothing"


def test_the_token_stays_in_its_tab_for_its_port_and_leaves_the_address_bar(
    review_workspace: Path, serve: Serve, browser: Browser, tmp_path: Path
) -> None:
    # Trial 49b: the token went into a cookie, which the browser sends to every port of
    # the host (a server there collected it and exported the cleaned set), and a second
    # server's cookie locked the first one's page out; the token stayed in the URL.
    second = tmp_path / "second.duckdb"
    second.write_bytes(review_workspace.read_bytes())
    with (
        serve(review_workspace, token="tokenA") as first_url,
        serve(second, token="tokenB") as second_url,
    ):
        context = browser.new_context(accept_downloads=True)
        first, other = context.new_page(), context.new_page()
        first.goto(f"{first_url}/?token=tokenA")
        other.goto(f"{second_url}/?token=tokenB")
        for page, url in ((first, first_url), (other, second_url)):
            expect(page).to_have_url(f"{url}/")
            page.fill("#reviewer", "ana")
            page.press("#reviewer", "Enter")
            shows(page, "w01")
            page.keyboard.press("a")
            shows(page, "w02")
        assert context.cookies() == []
        first.goto(f"{first_url}/summary")
        with first.expect_download() as downloading:
            first.get_by_text("cleaned set (CSV)").click()
        saved = Path(downloading.value.path()).read_text(encoding="utf-8")
        assert saved.splitlines()[0].startswith("id,text") and "w01" in saved
        context.close()
    for path in (review_workspace, second):
        with Workspace(path, read_only=True) as ws:
            assert ws.sql("SELECT reviewer, example_id FROM decisions").rows() == [("ana", "w01")]


def test_a_long_text_scrolls_in_its_box_and_the_answers_stay_in_view(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 49b: a 100,000-character text put the question and its buttons 47,000 px down.
    with Workspace(review_workspace) as ws:
        ws.con.execute("UPDATE examples SET text = repeat('word ', 20000) WHERE id = 'w01'")
    with serve(review_workspace) as url:
        page = browser.new_page(viewport={"width": 800, "height": 700})
        review_as(page, url)
        expect(page.locator("#text")).to_contain_text("word word word")
        expect(page.locator("#choices button").first).to_be_in_viewport()


def test_items_on_other_reviewers_screens_are_said_to_be_so(
    numbered_file: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 54d: names that never answered held every item, and the page said "The
    # queue is empty. Thank you!".
    with Workspace(numbered_file) as ws:
        held = ReviewQueue(ws).next(reviewer="bot")
    assert held is not None and held.example_id == "n1"
    with serve(numbered_file) as url:
        page = browser.new_page()
        review_as(page, url)
        expect(page.locator("#text")).to_have_text("second text")
        page.keyboard.press("0")
        expect(page.locator("#status")).to_have_text(
            "1 item left, on other reviewers' screens; one left unanswered comes back to the "
            "queue after a few minutes."
        )


def test_labels_that_are_numbers_have_their_own_keys(
    numbered_file: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 53a: on classes 0 to 3 the key 2 stored label 1, the second.
    with serve(numbered_file) as url:
        page = browser.new_page()
        review_as(page, url)
        buttons = page.locator("#choices button")
        expect(buttons.nth(2)).to_have_text("0 (0)")
        expect(buttons.nth(11)).to_have_text("9 (9)")
        expect(page.locator("footer")).to_contain_text("0–9 label")
        expect(page.locator("#text")).to_have_text("first text")
        page.keyboard.press("r")
        expect(page.locator("#question")).to_have_text("Which label is it? (not 1; currently 0)")
        page.keyboard.press("2")
        expect(page.locator("#text")).to_have_text("second text")
        page.keyboard.press("0")
        expect(page.locator("#status")).to_contain_text("The queue is empty")
    with Workspace(numbered_file, read_only=True) as ws:
        assert ws.sql(
            "SELECT example_id, action, label FROM decisions ORDER BY decision_id"
        ).rows() == [("n1", "ruled_out", "1"), ("n1", "label", "2"), ("n2", "label", "0")]


def test_classes_0_to_19_are_picked_by_their_own_numbers(
    twenty_classes_file: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 63b: on classes 0 to 19 the key 3 stored class 2 (the third), while a
    # number typed into the filter found the class of that name.
    with serve(twenty_classes_file) as url:
        page = browser.new_page()
        review_as(page, url)
        expect(page.locator("#choices button[data-label]").last).to_have_text("19 (19)")
        expect(page.locator("footer")).to_contain_text("0–19 label")
        page.keyboard.press("r")
        expect(page.locator("#question")).to_have_text("Which label is it? (not 1; currently 0)")
        page.keyboard.press("3")
        expect(page.locator("#text")).to_have_text("second text")
        page.keyboard.press("1")
        expect(page.locator("#status")).to_have_text("1: Enter picks 1, or type its next digit.")
        page.keyboard.press("1")
        expect(page.locator("#status")).to_contain_text("The queue is empty")
    with Workspace(twenty_classes_file, read_only=True) as ws:
        assert ws.sql(
            "SELECT example_id, action, label FROM decisions ORDER BY decision_id"
        ).rows() == [("n1", "ruled_out", "1"), ("n1", "label", "3"), ("n2", "label", "11")]


def test_a_label_past_the_ninth_is_picked_by_its_two_digits_or_found_by_name(
    intents_file: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 56b: of 30 intents only the first nine had keys, and typing 17 stored label 1.
    with serve(intents_file) as url:
        page = browser.new_page()
        review_as(page, url)
        expect(page.locator("#text")).to_have_text("hey thanks bye")
        expect(page.locator("#choices button[data-label]").last).to_have_text("thanks_goodbye (12)")
        expect(page.locator("footer")).to_contain_text("1–12 label")
        page.keyboard.press("1")
        expect(page.locator("#status")).to_have_text(
            "1: Enter picks card_lost, or type its next digit."
        )
        page.keyboard.press("2")
        expect(page.locator("#text")).to_have_text("shut my account")
        # 1 waits for 10 to 12; Escape forgets it; / finds close_account by name.
        page.keyboard.press("1")
        page.keyboard.press("Escape")
        expect(page.locator("#text")).to_have_text("shut my account")
        page.keyboard.press("/")
        page.keyboard.type("shut")
        expect(page.locator("#choices button[data-label]:visible")).to_have_count(0)
        expect(page.locator("#announce")).to_have_text("No label matches.")
        page.fill("#label-filter", "clos")
        expect(page.locator("#choices button[data-label]:visible")).to_have_text(
            ["close_account (11)"]
        )
        # Trial 61b: what the filter left was said to no screen reader.
        expect(page.locator("#announce")).to_have_text("1 label matches: close_account")
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_contain_text("The queue is empty")
    with Workspace(intents_file, read_only=True) as ws:
        assert ws.sql(
            "SELECT example_id, action, label FROM decisions ORDER BY decision_id"
        ).rows() == [("i1", "label", "thanks_goodbye"), ("i2", "label", "close_account")]


def test_a_held_key_answers_one_item_only(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 49b: holding "a" for a second answered six items, five shown under 200 ms.
    with serve(review_workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        shows(page, "w01")
        # Two labels: no box to find one by name (the second read: it showed always).
        expect(page.locator("#filter")).to_be_hidden()
        page.keyboard.down("a")
        shows(page, "w02")
        for _ in range(5):
            page.dispatch_event("body", "keydown", {"key": "a", "repeat": True})
        page.keyboard.up("a")
        page.wait_for_timeout(300)
        shows(page, "w02")
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT example_id FROM decisions").rows() == [("w01",)]


# Keys pressed in one task of the page's: the later ones arrive while the first one's
# request is on its way.
PRESSED_AT_ONCE = """(keys) => {
    for (const key of keys) document.dispatchEvent(new KeyboardEvent("keydown", {key}));
}"""


def test_a_key_pressed_while_an_answer_is_saved_is_said_to_be_dropped(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 64c: keys typed faster than answers were saved were dropped without a word.
    with serve(review_workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        shows(page, "w01")
        dropped = "A key pressed while the page was saving was not taken: answer this text now."
        # Two in one task: the second arrives while the first answer is on its way.
        page.evaluate(PRESSED_AT_ONCE, ["s", "s"])
        shows(page, "w02")
        expect(page.locator("#status")).to_have_text(dropped)
        page.keyboard.press("s")
        shows(page, "w03")
        expect(page.locator("#status")).to_have_text("")
        # The second read: a key pressed while an undo is on its way went unsaid.
        page.evaluate(PRESSED_AT_ONCE, ["u", "s"])
        shows(page, "w02")
        expect(page.locator("#status")).to_have_text(dropped)
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT example_id, action FROM decisions ORDER BY decision_id").rows() == [
            ("w01", "skip"),
            ("w02", "skip"),
            ("w02", "undo"),
        ]


def test_a_rebound_dns_name_cannot_read_the_queue_or_the_export(
    review_workspace: Path, serve: Serve, browser: Browser
) -> None:
    with serve(review_workspace) as url:
        port = url.rsplit(":", 1)[1]
        # evil.example first served the attacker's page, then resolves to this machine
        # (--host-resolver-rules): its script now reads the reviewer as its own origin.
        page = browser.new_page()
        attack_from_page = f"http://evil.example:{port}"
        page.route(f"{attack_from_page}/", lambda r: r.fulfill(body="<html></html>"))
        page.goto(f"{attack_from_page}/")
        read = page.evaluate(
            """async () => Promise.all(["/api/config", "/api/export"].map(
                 async (path) => { const r = await fetch(path); return [r.status, await r.text()]; }))"""
        )
        assert [status for status, _ in read] == [400, 400]
        assert all("subscribe" not in text for _, text in read), read
        assert all("does not answer to host 'evil.example" in text for _, text in read)
    with Workspace(review_workspace, read_only=True) as ws:
        assert ws.sql("SELECT count(*) AS n FROM claims")["n"][0] == 0


HOSTILE = '<img src=x onerror="window.pwned = 3">'


def test_one_attribute_of_a_restaurant_review_set_by_keyboard(
    tmp_path: Path, serve: Serve, browser: Browser
) -> None:
    # A MAMS-like set, with one more attribute whose name is markup: shown as text.
    workspace = write_aspects(
        tmp_path / "mams.duckdb",
        [*ASPECT_ATTRIBUTES, HOSTILE],
        [*ASPECT_QUEUE, ("r4", HOSTILE, 0.1, "none", "positive")],
    )
    with serve(workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        question, text = page.locator("#question"), page.locator("#text")
        # The one-attribute pass is the default, on the attribute with the most items.
        expect(question).to_have_text("Is staff negative? (currently none)")
        expect(text).to_have_text(REVIEWS[0][1])
        expect(page.locator("#attribute")).to_have_value("staff")
        expect(page.locator("#progress")).to_have_text(
            "staff: 0 done · 3 remaining · 0 errors found"
        )
        expect(page.locator("#by-attribute")).to_have_text(
            f"food 0/2 · staff 0/3 · price 0/1 · {HOSTILE} 0/1"
        )
        expect(page.locator("#choices button")).to_have_text(
            [
                "yes, negative (a)",
                "no, another label (r)",
                "positive (1)",
                "negative (2)",
                "neutral (3)",
                "none (4)",
                "next: price (→)",
                "skip (s)",
                "ambiguous (?)",
                "undo (u)",
            ]
        )
        expect(page.locator("footer")).to_contain_text("1–4 label")
        expect(page.locator("footer")).to_contain_text("a/y yes · r/n no")
        expect(page.locator("footer")).to_contain_text("→ next attribute")
        page.keyboard.press("a")
        expect(question).to_have_text("Is staff negative? (currently positive)")
        page.keyboard.press("u")
        expect(question).to_have_text("Is staff negative? (currently none)")
        page.keyboard.press("a")
        expect(question).to_have_text("Is staff negative? (currently positive)")
        page.keyboard.press("2")
        expect(question).to_have_text("Is staff not mentioned? (currently neutral)")
        expect(page.locator("#progress")).to_have_text(
            "staff: 2 done · 1 remaining · 2 errors found"
        )
        # The right arrow: the next attribute, one key (trial 49a: it was n, which a
        # reviewer pressed for "no").
        page.keyboard.press("ArrowRight")
        expect(question).to_have_text("Is price negative? (currently none)")
        expect(page.locator("#attribute")).to_have_value("price")
        page.keyboard.press("a")
        # price is done: the pass moves on by itself and says so.
        expect(page.locator("#status")).to_have_text(
            f"Nothing left to ask about price; now {HOSTILE}."
        )
        expect(question).to_have_text(f"Is {HOSTILE} positive? (currently none)")
        expect(text).to_have_text(REVIEWS[3][1])
        # n is no, as in span review and on the suggestions page.
        page.keyboard.press("n")
        asked = f"{HOSTILE}: negative, neutral or none? (not positive; currently none)"
        expect(question).to_have_text(asked)
        # Trial 29: the ruled-out label was still offered, and its key stored it.
        expect(page.locator("#choices button", has_text="positive (1)")).to_have_count(0)
        expect(page.locator("#choices button", has_text="none (4)")).to_have_count(1)
        page.keyboard.press("1")
        expect(question).to_have_text(asked)
        page.keyboard.press("4")
        expect(question).to_have_text("Is food positive? (currently none)")
        expect(page.locator("#by-attribute")).to_have_text(
            f"food 0/2 · staff 2/3 · price 1/1 · {HOSTILE} 1/1"
        )
        assert page.locator("img, script:not([src])").count() == 0
        assert page.evaluate("window.pwned") is None
        page.close()
    with Workspace(workspace, read_only=True) as ws:
        decisions = ws.sql(
            "SELECT example_id, attribute, action, label, undoes FROM decisions "
            "ORDER BY decision_id"
        ).rows()
    assert decisions == [
        ("r1", "staff", "accept", "negative", None),
        ("r1", "staff", "undo", None, 1),
        ("r1", "staff", "accept", "negative", None),
        ("r2", "staff", "label", "negative", None),
        ("r3", "price", "accept", "negative", None),
        ("r4", HOSTILE, "ruled_out", "positive", None),
        ("r4", HOSTILE, "label", "none", None),
    ]


def test_an_attribute_chosen_from_the_menu_gives_the_keys_back_and_outlasts_a_reload(
    tmp_path: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 57c: after the menu, `s` (skip) went to its type-ahead and switched the pass
    # to another attribute; and a reload went back to the attribute with most left.
    workspace = write_aspects(tmp_path / "mams.duckdb", ASPECT_ATTRIBUTES, ASPECT_QUEUE)
    with serve(workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        question, menu = page.locator("#question"), page.locator("#attribute")
        expect(question).to_have_text("Is staff negative? (currently none)")
        menu.focus()
        menu.select_option("food")
        expect(question).to_have_text("Is food positive? (currently none)")
        page.keyboard.press("s")
        expect(question).to_have_text("Is food positive? (currently neutral)")
        expect(menu).to_have_value("food")
        page.reload()
        expect(question).to_have_text("Is food positive? (currently neutral)")
        expect(page.locator("#text")).to_have_text(REVIEWS[1][1])
        expect(menu).to_have_value("food")
        page.close()
    with Workspace(workspace, read_only=True) as ws:
        decisions = ws.sql("SELECT example_id, attribute, action FROM decisions").rows()
    assert decisions == [("r1", "food", "skip")]


def test_a_long_texts_match_for_the_attribute_is_scrolled_into_view(
    tmp_path: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 62d: in a hotel review of 9,000 characters the shuttle's one mention was below
    # the box's fold, and nothing scrolled to it.
    workspace = write_aspects(tmp_path / "long.duckdb", ASPECT_ATTRIBUTES, ASPECT_QUEUE)
    filler = "The lobby had tall windows and a quiet corner to read in. " * 150
    with Workspace(workspace) as ws:
        ws.con.execute("UPDATE examples SET text = ? || text WHERE id = 'r1'", [filler])
        apply_lfs(ws, [keyword_lf("kw_waiter", ["waiter"], "mentioned", attribute="staff")])
    with serve(workspace) as url:
        page = browser.new_page()
        review_as(page, url)
        expect(page.locator("#question")).to_have_text("Is staff negative? (currently none)")
        mark = page.locator("#text mark")
        expect(mark).to_have_text("waiter")
        expect(mark).to_be_in_viewport()
        assert page.locator("#text").evaluate("box => box.scrollTop") > 0


def test_a_tag_is_asked_yes_or_no_and_a_reviewer_moving_on_hands_the_item_back(
    tmp_path: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 55b: four buttons for a tag's two answers, and switching tag left the item
    # on screen held for ten minutes, so another reviewer was told the tag was done.
    with serve(write_topics(tmp_path / "topics.duckdb")) as url:
        ana = browser.new_page()
        review_as(ana, url, "ana")
        expect(ana.locator("#question")).to_have_text("Is this sports? (currently yes)")
        expect(ana.locator("#choices button")).to_have_text(
            [
                "yes, sports (a)",
                "no, not sports (r)",
                "next: tech (→)",
                "skip (s)",
                "ambiguous (?)",
                "undo (u)",
            ]
        )
        ana.keyboard.press("a")
        expect(ana.locator("#text")).to_have_text("Parliament debates tax")
        # The tag is what was said yes to (a reread: "Saved: yes, yes.").
        expect(ana.locator("#announce")).to_have_text("Saved: yes, sports.")
        ana.keyboard.press("ArrowRight")
        expect(ana.locator("#question")).to_have_text("Is this tech? (currently no)")
        # Trial 55b: u after switching said "Nothing to undo" about an answer given just
        # before; it takes that answer back, in its own pass.
        ana.keyboard.press("u")
        expect(ana.locator("#status")).to_have_text("Took back your last answer, on sports.")
        expect(ana.locator("#question")).to_have_text("Is this sports? (currently yes)")
        expect(ana.locator("#attribute")).to_have_value("sports")
        ana.keyboard.press("ArrowRight")
        expect(ana.locator("#question")).to_have_text("Is this tech? (currently no)")
        bo = browser.new_page()
        review_as(bo, url, "bo")
        expect(bo.locator("#question")).to_have_text("Is this sports? (currently yes)")
        expect(bo.locator("#text")).to_have_text("The team's new app tracks every player")
        ana.close()
        bo.close()


def test_proposed_rules_are_accepted_with_y_and_rejected_with_n(
    suggestions_file: Path, serve: Serve, browser: Browser, tmp_path: Path
) -> None:
    rules = tmp_path / "spam.rules"
    with serve(suggestions_file, rules=rules) as url:
        page = browser.new_page()
        page.goto(f"{url}/suggestions")
        expect(page.locator("#progress")).to_have_text("1 of 3")
        expect(page.locator("#rule")).to_have_text("subscrib* -> spam")
        expect(page.locator("#coverage")).to_have_text("50.0%")
        expect(page.locator("#conflicts")).to_have_text("12.5%")
        expect(page.locator("#accuracy")).to_have_text(
            re.compile(r"^0\.500 \(95% interval 0\.\d\d–0\.\d\d\) on 2 dev examples$")
        )
        expect(page.locator("#model")).to_have_text(PROPOSER)
        expect(page.locator("#no-rules-file")).to_be_hidden()
        page.keyboard.press("y")
        expect(page.locator("#rule")).to_have_text("check out -> spam")
        expect(page.locator("#progress")).to_have_text("2 of 3")
        expect(page.locator("#status")).to_have_text("Appended subscrib* -> spam to spam.rules")
        page.keyboard.press("n")
        # The attack is shown as text: no element from it, no script run.
        expect(page.locator("#rule")).to_have_text(ATTACK_RULE)
        expect(page.locator("#accuracy")).to_have_text("no dev gold where it votes")
        assert page.locator("#card img, #model b").count() == 0
        assert page.evaluate("window.pwned") is None
        page.click("#reject")
        expect(page.locator("#status")).to_have_text(
            "No proposed rules are waiting. Run labelkit suggest-lfs to ask an LLM for some."
        )
        expect(page.locator("#card")).to_be_hidden()
        page.close()
    assert [line for line in rules.read_text().splitlines() if not line.startswith("#")] == [
        "subscrib* -> spam"
    ]
    with Workspace(suggestions_file, read_only=True) as ws:
        assert ws.sql(
            "SELECT rule, decision FROM lf_suggestions WHERE decision IS NOT NULL ORDER BY id"
        ).rows() == [
            ("subscrib* -> spam", "accepted"),
            ("check out -> spam", "rejected"),
            (ATTACK_RULE, "rejected"),
        ]


def test_without_a_rule_file_the_page_says_accepting_needs_one(
    suggestions_file: Path, serve: Serve, browser: Browser
) -> None:
    with serve(suggestions_file) as url:
        page = browser.new_page()
        page.goto(f"{url}/suggestions")
        expect(page.locator("#rule")).to_have_text("subscrib* -> spam")
        expect(page.locator("#no-rules-file")).to_contain_text("labelkit serve --rules PATH")
        expect(page.locator("#accept")).to_be_disabled()
        page.keyboard.press("y")
        expect(page.locator("#status")).to_contain_text("Accepting needs a rule file")
        expect(page.locator("#rule")).to_have_text("subscrib* -> spam")
        page.keyboard.press("n")
        expect(page.locator("#rule")).to_have_text("check out -> spam")
        page.close()
    with Workspace(suggestions_file, read_only=True) as ws:
        assert ws.sql(
            "SELECT id, decision FROM lf_suggestions WHERE decision IS NOT NULL"
        ).rows() == [(1, "rejected")]


def test_bidirectional_overrides_in_the_data_show_as_replacement_characters(
    tmp_path: Path, serve: Serve, browser: Browser
) -> None:
    # Trial 46: a label "bidi\u202eevil" reversed the rest of the reasons and votes
    # lines, and a text "evil \u202egnp.exe" read "exe.png"; the answer keeps the label.
    label = "bidi\u202eevil"
    csv = tmp_path / "bidi.csv"
    pl.DataFrame(
        {
            "id": ["b1", "b2"],
            "text": ["evil \u202egnp.exe is fine", "ok"],
            "label": [label, "ok"],
            "route": ["<img src=x onerror=window.pwned=1>\u202eevil", "ok"],
        }
    ).write_csv(csv)
    path = tmp_path / "bidi.duckdb"
    with Workspace(path) as ws:
        ingest(ws, csv, id_column="id", label_column="label", labels=["ok", label])
        ws.con.execute(
            "INSERT INTO predictions VALUES ('b1', 'test', 'ok', 0.6, [0.6, 0.4], 0, '')"
        )
        ws.con.execute(f"INSERT INTO votes VALUES ('b1', 'kw\u2066x', '{label}', 0, '')")
        ws.con.execute(
            f"INSERT INTO queue VALUES ('b1', 0.9, 'cleanlab (suggests {label})', 'ok', "
            f"'{label}', 0, '')"
        )
    with serve(path) as url:
        page = browser.new_page()
        review_as(page, url)
        expect(page.locator("#text")).to_have_text("evil \ufffdgnp.exe is fine")
        expect(page.locator("#reasons")).to_have_text("cleanlab (suggests bidi\ufffdevil)")
        expect(page.locator("#votes")).to_have_text("kw\ufffdx: bidi\ufffdevil")
        # The text's other fields too (trial 58f), as text.
        expect(page.locator("#fields")).to_have_text(
            "route: <img src=x onerror=window.pwned=1>\ufffdevil"
        )
        assert page.locator("#card img").count() == 0
        expect(page.locator("#choices button").first).to_have_text("yes, bidi\ufffdevil (a)")
        shown = page.locator("body").inner_text()
        assert not {"\u202e", "\u2066"} & set(shown)
        page.keyboard.press("a")
        expect(page.locator("#card")).to_be_hidden()
    with Workspace(path) as ws:
        assert ws.sql("SELECT label FROM decisions")["label"].to_list() == [label]
