"""Which cleaned examples the small model trains on: all of them up to a bounded size,
else a seeded sample, stratified by label and weighted by the label model's confidence.

Distillation does not need millions of labels, while training time and memory grow
with every example (100k examples took 5 minutes and 2.5 GB, 1M did not finish in 15).
On WRENCH YouTube and SMS spaCy's bag-of-words model (the default when this was
measured) still gains a little at the whole train split (1,600 texts; ``docs/scale.md``
has the curve), too small a set to show where it stops. So ``train`` keeps at most ``DEFAULT_MAX_EXAMPLES`` texts, a bound
set by cost (minutes to train on 2 cores) rather than by a measured plateau.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from labelkit.errors import InputError

DEFAULT_MAX_EXAMPLES = 50_000


def max_examples_option(value: str | int | None) -> int | None:
    """``--max-examples`` as a count: ``0`` or ``all`` keep every example (``None``).

    Examples
    --------
    >>> max_examples_option("all") is None
    True
    >>> max_examples_option("20000")
    20000
    """
    if value is None:
        return DEFAULT_MAX_EXAMPLES
    if isinstance(value, str):
        if value.strip().lower() == "all":
            return None
        if not value.strip().isdigit():
            raise InputError(f"--max-examples {value!r}: give a count of texts, or 0 / all for all")
        value = int(value)
    if value < 0:
        raise InputError(f"--max-examples {value}: give a count of texts, or 0 / all for all")
    return value or None


def sample_examples(
    examples: pl.DataFrame,
    max_examples: int | None,
    *,
    key: str = "id",
    stratum: pl.Expr | None = None,
    seed: int = 0,
) -> pl.DataFrame:
    """At most ``max_examples`` texts of ``examples``, all rows of each text kept.

    A text is a ``key`` (one row per text for one label; one per text and attribute for a
    task with attributes). The texts are split into strata (by default the text's labels,
    attribute by attribute), and each stratum keeps its share of ``max_examples``
    (largest remainder; where strata are few, at least one text each), so the label balance stays what it was.
    Within a stratum, reviewed texts (``origin == "review"``) come first; the others are
    drawn without replacement with probability proportional to their ``confidence``
    (mean over attributes; every text alike without that column), by seeded
    Efraimidis-Spirakis keys. The same rows and seed give the same sample whatever
    their order. ``None`` (or at least as many texts) keeps every row.

    Examples
    --------
    >>> rows = pl.DataFrame({"id": ["a", "b", "c", "d"], "label": ["x", "x", "x", "y"],
    ...                      "confidence": [0.9, 0.5, 0.99, 1.0]})
    >>> sample_examples(rows, 3)["label"].to_list()
    ['x', 'x', 'y']
    """
    texts = examples[key].n_unique()
    if max_examples is None or texts <= max_examples:
        return examples
    if stratum is None:
        order = ["attribute", "label"] if "attribute" in examples.columns else ["label"]
        stratum = pl.col("label").sort_by(order).cast(pl.String).str.join("|")
    confidence = pl.col("confidence").mean() if "confidence" in examples.columns else pl.lit(1.0)
    reviewed = (
        (pl.col("origin") == "review").any() if "origin" in examples.columns else pl.lit(False)
    )
    units = (
        examples.group_by(key)
        .agg(
            stratum.alias("stratum"),
            confidence.clip(1e-6, 1.0).alias("weight"),
            reviewed.alias("reviewed"),
        )
        .sort(key)
    )
    # log(u) / w ranks like u ** (1 / w): the larger, the likelier a heavy text is drawn.
    draws = np.random.default_rng(seed).random(units.height)
    units = units.with_columns(
        draw=pl.when(pl.col("reviewed"))
        .then(float("inf"))
        .otherwise(pl.Series(np.log(draws)) / pl.col("weight"))
    )
    quotas = _quotas(units["stratum"].value_counts(name="texts"), max_examples)
    chosen = (
        units.join(quotas, on="stratum")
        .filter(pl.col("draw").rank("ordinal", descending=True).over("stratum") <= pl.col("quota"))
        .select(key)
    )
    return examples.join(chosen, on=key, how="semi", maintain_order="left")


def entity_types(column: str = "spans") -> pl.Expr:
    """A spans text's stratum for ``sample_examples``: the entity types among its spans
    (JSON ``[[start, end, label], ...]``), sorted and joined by ``|`` (``""``: none).

    Examples
    --------
    >>> rows = pl.DataFrame({"example_id": ["a"], "spans": ['[[0, 3, "ORG"], [5, 9, "LOC"]]']})
    >>> rows.group_by("example_id").agg(entity_types())["spans"].to_list()
    ['"LOC"|"ORG"']
    """
    types = pl.col(column).first().str.extract_all(r'"[^"]*"').list.unique().list.sort()
    return types.list.join("|")


def _quotas(counts: pl.DataFrame, total: int) -> pl.DataFrame:
    """Each stratum's share of ``total`` texts by largest remainder. Where strata are few
    (at most a tenth of ``total``), each keeps at least one text, paid for by the largest,
    so that a rare label is not lost."""
    counts = counts.sort("stratum")
    share = counts["texts"].to_numpy() * total / counts["texts"].sum()
    quota = np.floor(share).astype(np.int64)
    if counts.height * 10 <= total:
        quota = np.maximum(quota, 1)
    left = total - int(quota.sum())
    if left > 0:
        # Ties go to the stratum first by name: the sort above keeps that fixed.
        order = np.argsort(-(share - np.floor(share)), kind="stable")[:left]
        quota[order] += 1
    else:
        quota[np.argmax(quota)] += left
    return counts.with_columns(quota=pl.Series(np.minimum(quota, counts["texts"].to_numpy())))
