"""Distillation: train the small model on the cleaned set, package it, and predict with it."""

from labelkit.train.attributes import (
    textcat_pairs_config,
    textcat_per_attribute_config,
    train_attributes,
)
from labelkit.train.char_ngrams import tfidf_char_clauses_config, tfidf_char_logreg_config
from labelkit.train.ner import ner_config, train_ner, train_ner_on_cleaned, training_counts
from labelkit.train.ship import NoTextWarning, package_model, predict_file, predict_frame
from labelkit.train.textcat import (
    textcat_bow_config,
    textcat_bow_vectors_config,
    textcat_ensemble_config,
    textcat_static_config,
    textcat_vectors_config,
    train_on_cleaned,
    train_textcat,
)
from labelkit.train.transformer import minilm_finetune_config, train_minilm
from labelkit.train.vectors import static_vectors

__all__ = [
    "NoTextWarning",
    "minilm_finetune_config",
    "ner_config",
    "package_model",
    "predict_file",
    "predict_frame",
    "static_vectors",
    "textcat_bow_config",
    "textcat_bow_vectors_config",
    "textcat_ensemble_config",
    "textcat_pairs_config",
    "textcat_per_attribute_config",
    "textcat_static_config",
    "textcat_vectors_config",
    "tfidf_char_clauses_config",
    "tfidf_char_logreg_config",
    "train_attributes",
    "train_minilm",
    "train_ner",
    "train_ner_on_cleaned",
    "train_on_cleaned",
    "train_textcat",
    "training_counts",
]
