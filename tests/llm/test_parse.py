from __future__ import annotations

import pytest

from labelkit import parse_label

LABELS = ["ham", "spam"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"label": "spam"}', "spam"),
        ('{ "label": "HAM"}', "ham"),
        ('Sure! {"label": "spam"} is my answer', "spam"),
        ("Spam.", "spam"),
        ("  ham\n", "ham"),
        ("I think this is ham.", "ham"),
        ("spam or ham, hard to say", None),
        ("no idea", None),
        ("", None),
        (None, None),
        ('{"label": "eggs"}', None),
        ("hamster", None),
    ],
)
def test_parse_label(raw: str | None, expected: str | None) -> None:
    assert parse_label(raw, LABELS) == expected
