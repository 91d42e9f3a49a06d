"""Spam heuristics for YouTube comments (labels ``ham`` and ``spam``).

They follow the labeling functions of Snorkel's spam tutorial and the WRENCH YouTube
set: spam promotes a channel, a link or a product; ham talks about the video. Every
module-level labeling function here is picked up by ``labelkit apply --lfs
labeling_functions.youtube``.
"""

from __future__ import annotations

from labelkit.lf import Example, keyword_lf, labeling_function, length_lf, regex_lf

keyword_my = keyword_lf("keyword_my", ["my"], "spam")
keyword_subscribe = keyword_lf("keyword_subscribe", ["subscribe", "sub", "subscribers"], "spam")
keyword_link = regex_lf("keyword_link", r"https?://|www\.|\.com\b", "spam")
keyword_please = keyword_lf("keyword_please", ["please", "plz", "pls"], "spam")
keyword_song = keyword_lf("keyword_song", ["song", "songs"], "ham")
regex_check_out = regex_lf("regex_check_out", r"check\W+(\w+\W+){0,2}out", "spam")
keyword_money = keyword_lf(
    "keyword_money", ["money", "cash", "earn", "free", "gift card", "win"], "spam"
)
keyword_video_praise = keyword_lf(
    "keyword_video_praise", ["love", "best", "beautiful", "awesome", "amazing", "legend"], "ham"
)

# Ham comments are often short: "cool video!".
short_comment = length_lf("short_comment", "ham", max_words=4)


@labeling_function
def views_milestone(x: Example) -> str | None:
    """Comments about view counts ('2 billion views!') are about the video."""
    text = x.text.lower()
    return "ham" if "views" in text and ("billion" in text or "million" in text) else None
