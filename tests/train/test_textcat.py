from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import spacy

from labelkit import LabelkitError, train_textcat
from labelkit.train import textcat_bow_config

SPAM = ["subscribe to my channel", "free money click here", "check out my page", "visit my site"]
HAM = ["love this song", "her voice is beautiful", "best music video", "this song is great"]


def test_trains_a_model_that_separates_the_classes(tmp_path: Path) -> None:
    rows = [{"text": t, "label": "spam"} for t in SPAM] + [{"text": t, "label": "ham"} for t in HAM]
    examples = pl.DataFrame(rows * 5)
    path = train_textcat(examples, ["ham", "spam"], tmp_path / "model", max_epochs=10)
    assert path == tmp_path / "model" / "model-best"
    assert (tmp_path / "model" / "config.cfg").is_file(), "the config is left for users to edit"
    nlp = spacy.load(path)
    assert set(nlp("anything").cats) == {"ham", "spam"}
    assert nlp("subscribe to my channel for free money").cats["spam"] > 0.5
    assert nlp("what a beautiful song").cats["ham"] > 0.5


def test_config_is_spacys_bow_textcat() -> None:
    config = textcat_bow_config(max_epochs=3)
    assert config["components"]["textcat"]["model"]["@architectures"] == "spacy.TextCatBOW.v3"
    assert config["training"]["max_epochs"] == 3


def test_refuses_too_little_data_and_foreign_labels(tmp_path: Path) -> None:
    with pytest.raises(LabelkitError, match="too few labeled examples"):
        train_textcat(pl.DataFrame({"text": ["a"], "label": ["ham"]}), ["ham", "spam"], tmp_path)
    rows = pl.DataFrame({"text": ["a"] * 10, "label": ["eggs"] * 10})
    with pytest.raises(LabelkitError, match=r"labels \['eggs'\] are not among"):
        train_textcat(rows, ["ham", "spam"], tmp_path)
