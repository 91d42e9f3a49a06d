from __future__ import annotations

import polars as pl

from labelkit import Task, load_lfs
from labelkit.lf import compute_votes

TASK = Task(("TERM",), kind="spans")
# Written for these tests, not taken from LaptopReview.
REVIEWS = [
    "The battery life of my MacBook is great, but the Keyboard sticks.",
    "It has 8 GB of memory and a 15 inch screen quality issue.",
    "Nothing to say.",
]


def test_laptop_lfs_mark_parts_specs_and_apple_products() -> None:
    frame = pl.DataFrame({"id": ["r1", "r2", "r3"], "text": REVIEWS})
    applied = compute_votes(load_lfs("labeling_functions.laptops"), frame, TASK)
    marked = {
        (row["source"], REVIEWS[int(row["example_id"][1]) - 1][row["start"] : row["end"]])
        for row in applied.spans.iter_rows(named=True)
    }
    assert marked == {
        ("laptop_parts", "battery life"),
        ("laptop_parts", "Keyboard"),
        ("laptop_parts", "memory"),
        ("laptop_parts", "screen"),
        ("laptop_parts", "quality"),
        ("part_qualities", "battery life"),
        ("part_qualities", "screen quality"),
        ("specs", "8 GB"),
        ("specs", "15 inch"),
        ("apple_products", "MacBook"),
    }
    assert applied.errors.height == 0


def test_specs_mark_abbreviated_and_plural_units() -> None:
    text = "A 15.6 in. display, 17 inches wide, at 2.4GHz."
    frame = pl.DataFrame({"id": ["r1"], "text": [text]})
    specs = [lf for lf in load_lfs("labeling_functions.laptops") if lf.name == "specs"]
    spans = compute_votes(specs, frame, TASK).spans
    assert spans is not None
    assert sorted(text[s:e] for s, e in spans.select("start", "end").rows()) == [
        "15.6 in.",
        "17 inches",
        "2.4GHz",
    ]
