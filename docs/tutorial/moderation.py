"""The tutorial's code: routing YouTube spam to the right team, as
``business_logic(classification(text))``, against one model that predicts the route.

    python docs/tutorial/moderation.py WORKDIR

It prints the comparison and writes ``WORKDIR/tutorial.json``; the test suite runs it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import sys
from pathlib import Path

import polars as pl

import labelkit as lk
from labelkit.demo import YOUTUBE_INGEST

# --8<-- [start:catalog]
# Facts that live in a table, not in any comment: which video a comment was posted
# under is known from where it was posted, and who handles that video's spam, and
# when it went up, come from the catalog.
CATALOG = pl.DataFrame(
    {
        "video": [
            "Youtube01-Psy",
            "Youtube02-KatyPerry",
            "Youtube03-LMFAO",
            "Youtube04-Eminem",
            "Youtube05-Shakira",
        ],
        "team": ["psy-team", "katy-team", "lmfao-team", "eminem-team", "shakira-team"],
        "uploaded": [
            dt.date(2012, 7, 15),
            dt.date(2013, 9, 5),
            dt.date(2011, 3, 8),
            dt.date(2010, 8, 5),
            dt.date(2010, 6, 4),
        ],
    }
)
# --8<-- [end:catalog]


# --8<-- [start:comments]
@functools.cache
def comments() -> pl.DataFrame:
    """Each bundled comment's id, the video it was posted under, and its date (read once:
    the business logic joins it on every call)."""
    files = sorted(lk.bundled_dataset("youtube-spam").glob("*.csv"))
    frames = [
        pl.read_csv(path, infer_schema=False).with_columns(pl.lit(path.stem).alias("video"))
        for path in files
    ]
    return (
        pl.concat(frames)
        .unique("COMMENT_ID", keep="first")
        .select(
            pl.col("COMMENT_ID").alias("id"),
            "video",
            pl.col("DATE").str.slice(0, 10).str.to_date(strict=False).alias("posted"),
        )
    )


# --8<-- [end:comments]


# --8<-- [start:classify]
def label_spam(ws: lk.Workspace) -> pl.DataFrame:
    """The labelkit pipeline for the one question the text can answer: spam or ham?"""
    lk.ingest(ws, sorted(lk.bundled_dataset("youtube-spam").glob("*.csv")), **YOUTUBE_INGEST)
    lk.apply_lfs(ws, lk.load_lfs("labeling_functions.youtube"))
    lk.aggregate(ws, "snorkel")
    lk.find_label_issues(ws)
    # Gold answers stand in for a person reviewing the 100 most doubtful labels.
    gold = dict(ws.sql("SELECT id, gold FROM examples WHERE split = 'train'").iter_rows())
    lk.simulate_review(lk.ReviewQueue(ws), gold, limit=100, reviewer="tutorial")
    return lk.cleaned_labels(ws)


# --8<-- [end:classify]


# --8<-- [start:topic]
MUSIC_WORDS = ["song", "songs", "music", "voice", "lyrics", "rap", "melody", "beat", "tune"]


@lk.labeling_function
def no_music_words(x: lk.Example) -> str | None:
    """A comment that names nothing musical is about something else."""
    words = set(re.findall(r"[a-z]+", x.text.lower()))
    return None if words & set(MUSIC_WORDS) else "other"


def topic_model(workdir: Path, spam_labels: pl.DataFrame) -> tuple[Path, pl.DataFrame]:
    """Step 2, a second small question for the comments step 1 calls ham: does it talk
    about the music, or about something else (the views, the video, the singer)?
    Its own workspace, its own LFs; 120 test comments were labeled by hand to check it."""
    hand_labeled = pl.read_csv(Path(__file__).parent / "music_labels.csv")
    texts = lk.bundled_dataset("youtube-spam")
    ham = spam_labels.filter(pl.col("label") == "ham").select("id", "text")
    test = (
        pl.concat([pl.read_csv(path, infer_schema=False) for path in texts.glob("*.csv")])
        .select(pl.col("COMMENT_ID").alias("id"), pl.col("CONTENT").alias("text"))
        .unique("id", keep="first")
        .join(hand_labeled, on="id")
    )
    rows = pl.concat(
        [
            ham.with_columns(
                pl.lit(None, pl.String).alias("topic"), pl.lit("train").alias("split")
            ),
            test.with_columns(pl.lit("test").alias("split")),
        ]
    )
    rows.write_csv(workdir / "topic.csv")
    with lk.Workspace(workdir / "topic.duckdb") as ws:
        lk.ingest(
            ws,
            workdir / "topic.csv",
            id_column="id",
            label_column="topic",
            split_column="split",
            labels=["music", "other"],
        )
        lk.apply_lfs(
            ws,
            [
                lk.keyword_lf("music_words", MUSIC_WORDS, "music"),
                lk.keyword_lf("views", ["views", "billion", "million", "video"], "other"),
                no_music_words,
            ],
        )
        lk.aggregate(ws, "snorkel")
        model = lk.train_on_cleaned(ws, workdir / "topic")
        return model, lk.evaluate(ws, model).summary


# --8<-- [end:topic]


# --8<-- [start:business_logic]
def business_logic(answers: pl.DataFrame) -> pl.DataFrame:
    """From what the text says (``label``: spam or ham; ``topic``: music or other, where
    asked) to what the platform does: route spam to the team that owns the video, put
    comments about the music in that team's fan report, and note how old the video was.
    Plain code over a join: nothing here is learned."""
    joined = (
        answers.join(comments(), on="id", how="left", maintain_order="left")
        .join(CATALOG, on="video", how="left", maintain_order="left")
        .with_columns(
            pl.when(pl.col("label") == "spam").then(pl.col("team")).alias("route"),
            (pl.col("posted") - pl.col("uploaded")).dt.total_days().alias("video_age_days"),
        )
    )
    if "topic" not in joined.columns:
        return joined
    about_music = (pl.col("label") == "ham") & (pl.col("topic") == "music")
    return joined.with_columns(pl.when(about_music).then(pl.col("team")).alias("fan_report"))


# --8<-- [end:business_logic]


def route_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """The single-model version's target: the route itself, ``ham`` or ``spam:<team>``."""
    routed = frame.join(comments(), on="id", maintain_order="left").join(
        CATALOG, on="video", maintain_order="left"
    )
    return routed.with_columns(
        pl.when(pl.col("label") == "spam")
        .then(pl.lit("spam:") + pl.col("team"))
        .otherwise(pl.lit("ham"))
        .alias("label")
    )


def predict(model: Path, frame: pl.DataFrame) -> list[str]:
    return lk.predict_frame(model, frame.select("text"))["predicted"].to_list()


def route_accuracy(gold: pl.DataFrame, predicted_routes: list[str | None]) -> float:
    """How often the final decision (leave it, or send it to a team) is right."""
    truth = business_logic(gold)["route"].to_list()
    return sum(t == p for t, p in zip(truth, predicted_routes, strict=True)) / len(truth)


def compare(workdir: Path) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "tutorial.duckdb").unlink(missing_ok=True)
    with lk.Workspace(workdir / "tutorial.duckdb") as ws:
        cleaned = label_spam(ws)
        test = ws.sql("SELECT id, text, gold AS label FROM examples WHERE split = 'test'")
        everything = ws.sql("SELECT id, text, gold AS label FROM examples")
    # --8<-- [start:compose]
    spam_model = lk.train_textcat(cleaned, ["ham", "spam"], workdir / "spam")
    music_model, topic_scores = topic_model(workdir, cleaned)
    answers = test.with_columns(pl.Series("label", predict(spam_model, test)))
    answers = answers.with_columns(
        pl.when(pl.col("label") == "ham").then(pl.Series(predict(music_model, test))).alias("topic")
    )
    result = business_logic(answers)
    # --8<-- [end:compose]
    print(result.select("text", "label", "topic", "route", "fan_report", "video_age_days").head(8))
    scores = dict(topic_scores.select("method", "accuracy").iter_rows())
    small = topic_scores.filter(pl.col("kind") == "small model")["accuracy"][0]
    results = {
        "topic: small model": small,
        "topic: music_words LF": scores["music_words"],
        "topic: label model": scores["snorkel"],
    }
    new_video = "Youtube05-Shakira"
    shakira = set(comments().filter(pl.col("video") == new_video)["id"])
    for scenario, train, evaluated in (
        ("test split, all five videos", cleaned, test),
        (
            "a video never seen in training",
            cleaned.filter(~pl.col("id").is_in(shakira)),
            everything.filter(pl.col("id").is_in(shakira)),
        ),
    ):
        slug = "seen" if train.height == cleaned.height else "unseen"
        # --8<-- [start:two_ways]
        spam_model = lk.train_textcat(train, ["ham", "spam"], workdir / f"spam-{slug}")
        labels = evaluated.with_columns(pl.Series("label", predict(spam_model, evaluated)))
        composed = business_logic(labels)["route"].to_list()

        routes = route_labels(train)
        route_model = lk.train_textcat(
            routes, sorted(set(routes["label"])), workdir / f"route-{slug}"
        )
        end_to_end = [
            None if route == "ham" else route.removeprefix("spam:")
            for route in predict(route_model, evaluated)
        ]
        # --8<-- [end:two_ways]
        results[f"{scenario}: business_logic(classification(text))"] = route_accuracy(
            evaluated, composed
        )
        results[f"{scenario}: one model predicts the route"] = route_accuracy(evaluated, end_to_end)
    return results


if __name__ == "__main__":
    workdir = Path(sys.argv[1])
    results = compare(workdir)
    for name, accuracy in results.items():
        print(f"{accuracy:.3f}  {name}")
    (workdir / "tutorial.json").write_text(json.dumps(results, indent=1))
