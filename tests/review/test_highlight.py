from __future__ import annotations

from labelkit import Workspace, apply_lfs, keyword_lf, labeling_function, regex_lf
from labelkit.lf import length_lf
from labelkit.review.highlight import lf_spans


def test_spans_of_keyword_and_regex_lfs_that_voted(workspace: Workspace) -> None:
    apply_lfs(
        workspace,
        [
            keyword_lf("subscribe", ["SUBSCRIBE"], "spam"),
            regex_lf("channel", r"my\s+channel", "spam"),
            keyword_lf("song", ["song"], "ham"),
            length_lf("long", "spam", min_words=3),
            labeling_function(lambda x: "spam", name="always"),
        ],
    )
    text = "subscribe to my channel please"
    spans = [(s.source, s.label, text[s.start : s.end]) for s in lf_spans(workspace, "a1", text)]
    assert spans == [("subscribe", "spam", "subscribe"), ("channel", "spam", "my channel")]
    assert lf_spans(workspace, "a4", "great video") == []
