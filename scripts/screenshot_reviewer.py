"""Take docs/review_page.png: the web reviewer on the demo workspace, in Debian's Chromium.

Needs the dev extra (Playwright) and /usr/bin/chromium (`make test` installs both).

    python scripts/screenshot_reviewer.py
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import expect, sync_playwright

from labelkit.demo import run_demo
from labelkit.review.web import create_app
from labelkit.workspace import Workspace

OUTPUT = Path(__file__).parents[1] / "docs" / "review_page.png"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        run_demo(scratch)
        with Workspace(Path(scratch) / "workspace.duckdb") as ws:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(uvicorn.Config(create_app(ws), log_level="warning"))
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.05)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=FLAGS
                )
                page = browser.new_page(viewport={"width": 1000, "height": 720})
                page.goto(f"http://127.0.0.1:{sock.getsockname()[1]}/")
                page.fill("#reviewer", "ana")
                page.press("#reviewer", "Enter")
                expect(page.locator("#card")).to_be_visible()
                page.screenshot(path=OUTPUT, full_page=True)
                browser.close()
            server.should_exit = True
            thread.join()
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
