"""Reviewing aspects one attribute at a time against all attributes of an item at once:
key presses per decision, for a simulated reviewer on MAMS-ACSA dev.

Every (sentence, attribute) pair of the first ``--sentences`` dev sentences of the
bundled MAMS-ACSA set (8 restaurant attributes, each positive, negative, neutral or
none) is queued with a suggestion from a deliberately simple heuristic: an attribute
whose keywords the sentence contains is suggested with its most common polarity in the
train split's gold, any other as ``none``. The gold answers stand in for the reviewer,
who answers every item, in two layouts:

- one attribute at a time (labelkit's default): the real terminal reviewer
  (``review_in_terminal``) goes through one attribute's items, then the next; each
  screen asks one question ("Is staff negative?"). The simulated reviewer reads the
  item it was handed and presses ``a`` when the suggestion is right, else the number
  of the right answer.
- all attributes of an item at once: one screen per sentence lists the 8 attributes,
  each prefilled with its suggestion, the first one focused. A number key sets the
  focused attribute and moves to the next; the down arrow moves on without a change;
  Enter stores the whole item. The reviewer moves down to the last wrong attribute,
  setting each wrong one on the way, then presses Enter. (labelkit has no such
  screen: its answers are stored through ``ReviewQueue.answer``.)

Measured per layout: screens, decisions per screen, key presses per decision and per
screen, and labelkit's own seconds per decision (drawing the screen and storing the
answer in the terminal reviewer; storing only for the other layout).

    python benchmarks/aspect_review.py --sentences 50
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from _common import parser, write_results
from rich.console import Console

from labelkit import ReviewQueue, Workspace, bundled_dataset, ingest, review_in_terminal
from labelkit.task import NONE

ATTRIBUTES = ("food", "service", "staff", "price", "ambience", "menu", "place", "miscellaneous")
LABELS = ("positive", "negative", "neutral")
# What the suggestion heuristic looks for: a few words per attribute, nothing tuned.
KEYWORDS = {
    "food": ["food", "dish", "meal", "pasta", "pizza", "sushi", "steak", "dessert", "taste"],
    "service": ["service", "served", "wait"],
    "staff": ["staff", "waiter", "waitress", "manager", "server", "bartender", "host"],
    "price": ["price", "pricey", "expensive", "cheap", "cost", "bill", "$"],
    "ambience": ["ambience", "atmosphere", "music", "decor", "noisy", "loud"],
    "menu": ["menu", "selection", "options"],
    "place": ["place", "restaurant", "location", "seating", "table"],
    "miscellaneous": [],
}
ONE = "one attribute at a time (labelkit's default)"
ALL = "all attributes of an item at once"


def build(path: Path, sentences: int) -> pl.DataFrame:
    """The workspace at ``path`` with every attribute of the first ``sentences`` dev
    sentences queued; returns the queued items with their suggestion and gold answer."""
    folder = bundled_dataset("mams-acsa")
    with Workspace(path) as ws:
        ingest(
            ws,
            [folder / "train.xml", folder / "val.xml"],
            labels=list(LABELS),
            kind="aspects",
            attributes=list(ATTRIBUTES),
        )
        examples = ws.sql("SELECT id, text, gold, split FROM examples ORDER BY id")
        task = ws.task
        train = examples.filter(split="train")
        dev = examples.filter(split="dev").head(sentences)
        items = []
        for attribute in ATTRIBUTES:
            gold_train = task.gold_answers(train["gold"], attribute)
            common = gold_train.filter(gold_train != NONE).mode().sort()[0]
            words = KEYWORDS[attribute]
            mentioned = (
                pl.any_horizontal(
                    pl.col("text").str.to_lowercase().str.contains(w, literal=True) for w in words
                )
                if words
                else pl.lit(False)
            )
            items.append(
                dev.select(
                    example_id="id",
                    attribute=pl.lit(attribute),
                    suggested_label=pl.when(mentioned).then(pl.lit(common)).otherwise(pl.lit(NONE)),
                    gold=task.gold_answers(dev["gold"], attribute),
                )
            )
        queued = pl.concat(items).with_columns(
            priority=pl.lit(1.0), reasons=pl.lit("benchmark"), run_id=pl.lit(0)
        )
        ws.con.register("queued", queued)
        ws.con.execute(
            """INSERT INTO queue (example_id, attribute, priority, reasons, given_label,
                                  suggested_label, run_id)
               SELECT example_id, attribute, priority, reasons, suggested_label,
                      suggested_label, run_id FROM queued"""
        )
        ws.con.unregister("queued")
    return queued


def one_attribute_at_a_time(path: Path, gold: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The terminal reviewer driven by a reviewer who reads the item handed to it."""
    pressed: list[str] = []
    deciding = 0.0
    with Workspace(path) as ws:
        queue = ReviewQueue(ws)

        def read_key() -> str:
            nonlocal deciding
            started = time.perf_counter()
            item = queue.next(reviewer="gold")  # the item on screen: the reviewer's claim
            if item is None:
                key = "q"
            else:
                truth = gold[(item.example_id, item.attribute)]
                key = "a" if truth == item.candidate else str(item.choices.index(truth) + 1)
            pressed.append(key)
            deciding += time.perf_counter() - started
            return key

        started = time.perf_counter()
        decisions = review_in_terminal(
            queue, reviewer="gold", console=Console(file=io.StringIO()), read_key=read_key
        )
        seconds = time.perf_counter() - started - deciding
        screens = decisions
    keys = len([key for key in pressed if key != "q"])
    return {
        "screens": screens,
        "decisions": decisions,
        "keys": keys,
        "seconds": seconds,
        "load": os.getloadavg()[0],
    }


def all_attributes_at_once(path: Path, queued: pl.DataFrame) -> dict[str, Any]:
    """One screen per sentence, every attribute on it; answers stored per attribute."""
    keys = screens = decisions = 0
    seconds = 0.0
    with Workspace(path) as ws:
        queue = ReviewQueue(ws)
        for (example_id,), rows in queued.group_by("example_id", maintain_order=True):
            wrong = [
                i for i, right in enumerate(rows["gold"] == rows["suggested_label"]) if not right
            ]
            # Down to the last wrong attribute (a number key on each wrong one, an arrow
            # on each right one), then Enter.
            keys += (wrong[-1] + 1 if wrong else 0) + 1
            screens += 1
            started = time.perf_counter()
            for attribute, suggested, truth in rows.select(
                "attribute", "suggested_label", "gold"
            ).iter_rows():
                action = "accept" if truth == suggested else "label"
                queue.answer(example_id, action, label=truth, reviewer="gold", attribute=attribute)
                decisions += 1
            seconds += time.perf_counter() - started
    return {
        "screens": screens,
        "decisions": decisions,
        "keys": keys,
        "seconds": seconds,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--sentences", type=int, default=50, help="dev sentences queued")
    options = arguments.parse_args()
    sentences = options.sentences
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / "built.duckdb"
        queued = build(built, sentences)
        gold = {
            (example_id, attribute): truth
            for example_id, attribute, truth in queued.select(
                "example_id", "attribute", "gold"
            ).iter_rows()
        }
        wrong = int((queued["gold"] != queued["suggested_label"]).sum())
        runs = {}
        for method in (ONE, ALL):
            copy = Path(tmp) / f"{len(runs)}.duckdb"
            shutil.copy(built, copy)
            runs[method] = (
                one_attribute_at_a_time(copy, gold)
                if method == ONE
                else all_attributes_at_once(copy, queued)
            )
            with Workspace(copy, read_only=True) as ws:
                stored = ws.sql(
                    "SELECT count(*) AS n FROM decisions d JOIN queue q "
                    "USING (example_id, attribute) WHERE d.label IS NOT NULL"
                )["n"][0]
            assert stored == queued.height, f"{method}: {stored} of {queued.height} stored"
    records = []
    for method, run in runs.items():
        record = {
            "dataset": f"MAMS-ACSA dev, first {sentences} sentences",
            "method": method,
            "sentences": sentences,
            "screens": run["screens"],
            "decisions": run["decisions"],
            "suggestions_wrong": wrong,
            "decisions_per_screen": run["decisions"] / run["screens"],
            "keys": run["keys"],
            "keys_per_decision": run["keys"] / run["decisions"],
            "keys_per_screen": run["keys"] / run["screens"],
            "labelkit_ms_per_decision": 1000 * run["seconds"] / run["decisions"],
            "load_average": run["load"],
        }
        print(record)
        records.append(record)
    notes = (
        "Gold is the reviewer; every (sentence, attribute) pair is queued and answered. "
        "Suggestions come from a keyword heuristic (see the script), wrong on "
        f"{wrong} of {queued.height} pairs. `labelkit_ms_per_decision`: the terminal "
        "reviewer drawing each screen and storing each answer (one attribute at a time), "
        "storing only (all at once, which labelkit has no screen for); `load_average`: "
        "the machine's one-minute load when the layout finished (the cores are shared). "
        "Key presses "
        "count what the layouts ask of a hand; they do not measure reading or the "
        "attention a screen of eight questions takes."
    )
    write_results("aspect_review", records, options.output_dir, notes)


if __name__ == "__main__":
    main()
