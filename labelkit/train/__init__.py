"""Distillation: train the small model on the cleaned set."""

from labelkit.train.textcat import textcat_bow_config, train_on_cleaned, train_textcat

__all__ = ["textcat_bow_config", "train_on_cleaned", "train_textcat"]
