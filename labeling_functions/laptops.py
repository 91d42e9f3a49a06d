"""Span labeling functions for LaptopReview (WRENCH): aspect terms of laptop reviews,
entity type ``TERM``.

    labelkit ingest laptops.duckdb ../shared/data/spans/LaptopReview/{train,valid,test}.json
    labelkit apply laptops.duckdb --lfs labeling_functions.laptops
"""

from labelkit.lf.spans import (
    SpanExample,
    phrase_span_lf,
    regex_span_lf,
    span_labeling_function,
    token_span_lf,
)

# Parts and qualities a laptop review talks about; longer phrases win where they overlap.
laptop_parts = phrase_span_lf(
    "laptop_parts",
    "TERM",
    [
        "battery",
        "battery life",
        "screen",
        "display",
        "keyboard",
        "keys",
        "touchpad",
        "trackpad",
        "mouse",
        "speakers",
        "sound",
        "hard drive",
        "hard disk",
        "memory",
        "ram",
        "processor",
        "cpu",
        "graphics",
        "graphics card",
        "webcam",
        "camera",
        "fan",
        "charger",
        "power supply",
        "usb ports",
        "ports",
        "dvd drive",
        "cd drive",
        "wifi",
        "wireless",
        "bluetooth",
        "motherboard",
        "hinge",
        "case",
        "design",
        "size",
        "weight",
        "price",
        "warranty",
        "customer service",
        "tech support",
        "software",
        "operating system",
        "windows",
        "os",
        "applications",
        "programs",
        "performance",
        "speed",
        "boot time",
        "start up",
        "quality",
        "build quality",
        "resolution",
        "value",
    ],
)

# "<part> <noun>" pairs such as "battery life", "screen resolution", "boot up".
part_qualities = token_span_lf(
    "part_qualities",
    "TERM",
    [
        [
            {"LOWER": {"IN": ["battery", "screen", "keyboard", "sound", "graphics", "boot"]}},
            {"LOWER": {"IN": ["life", "resolution", "quality", "size", "card", "time", "up"]}},
        ]
    ],
)

# Capacities and sizes: "4GB", "500 GB", "15 inch", "17 inches", "15.6 in." (no \b after
# the unit: after "in." it would ask for a letter next).
specs = regex_span_lf("specs", r"\b\d+(\.\d+)?\s?(gb|tb|ghz|inch(es)?|in\.)(?!\w)", "TERM")


@span_labeling_function(label="TERM")
def apple_products(x: SpanExample) -> list:
    """Apple's products and programs ("MacBook", "iPhoto", "iTunes"), one token each."""
    names = ("macbook", "iphoto", "itunes", "imovie", "ilife", "iwork", "garageband")
    return [x.doc[token.i : token.i + 1] for token in x.doc if token.lower_.startswith(names)]
