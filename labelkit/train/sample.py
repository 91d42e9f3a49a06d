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

from typing import Any

import duckdb
import numpy as np
import polars as pl

from labelkit.errors import InputError
from labelkit.workspace import registered

DEFAULT_MAX_EXAMPLES = 50_000
# The column a given stratum is computed into, out of the way of the caller's columns.
STRATUM = "__stratum"


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
    attribute by attribute; else the aggregation ``stratum`` over a text's rows), and
    each stratum keeps its share of ``max_examples`` (largest remainder; where strata
    are few, at least one text each), so the label balance stays what it was. Within a
    stratum, reviewed texts (``origin == "review"``) come first; the others are drawn
    without replacement with probability proportional to their ``confidence`` (mean
    over attributes; every text alike without that column), by Efraimidis-Spirakis keys
    from an MD5 of the text's key and the seed. The same rows and seed give the same
    sample whatever their order. ``None`` (or at least as many texts) keeps every row.
    ``sample_query`` does the same in the workspace, on rows that never leave DuckDB.

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
    rows = examples
    if stratum is not None:
        strata = examples.group_by(key).agg(stratum.alias(STRATUM))
        rows = examples.join(strata, on=key)
    one_label = stratum is None and examples.height == texts
    with duckdb.connect() as con:
        con.register("sampled_rows", rows.to_arrow())
        units = _units(con, "SELECT * FROM sampled_rows", [], key, seed, one_label=one_label)
        chosen = _chosen(con, units, [], _strata(con, units, []), max_examples, key)
    # DuckDB gives the keys back as strings; a categorical key joins as itself.
    chosen = chosen.cast({key: examples.schema[key]})
    return examples.join(chosen, on=key, how="semi", maintain_order="left")


def sample_query(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list[Any],
    max_examples: int | None,
    *,
    order_by: str,
    key: str = "id",
    seed: int = 0,
    one_label: bool = False,
) -> tuple[pl.DataFrame, int]:
    """``sample_examples`` over the rows of a query, sampled in DuckDB, and how many
    texts the query has. Only the rows kept come back, ordered by ``order_by``, so a
    cleaned set of ten million labels is never held in memory to keep fifty thousand.
    ``one_label`` says that each text has one row, so its label is its stratum: an
    ordered ``string_agg`` of ten million single labels held more memory than the
    rest of the query.

    Examples
    --------
    >>> rows, texts = sample_query(ws.con, "SELECT * FROM predictions", [], 100,
    ...                            order_by="example_id", key="example_id")
    >>> rows.height, texts
    (100, 1760)
    """
    units = _units(con, query, params, key, seed, one_label=one_label)
    counts = _strata(con, units, params)
    texts = int(counts["texts"].sum())
    rows = f"SELECT * FROM ({query})"
    if max_examples is None or texts <= max_examples:
        return con.sql(f"{rows} ORDER BY {order_by}", params=params).pl(), texts
    with registered(con, "chosen_keys", _chosen(con, units, params, counts, max_examples, key)):
        rows += f" WHERE {key} IN (SELECT {key} FROM chosen_keys) ORDER BY {order_by}"
        return con.sql(rows, params=params).pl(), texts


def _units(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: list[Any],
    key: str,
    seed: int,
    *,
    one_label: bool,
) -> str:
    """The SQL of one row per text of ``query``: ``key, stratum, draw`` (the larger the
    draw, the earlier the text is taken). A text without labels is a stratum of its
    own, ``''``."""
    columns = con.sql(f"SELECT * FROM ({query}) LIMIT 0", params=params).columns
    if STRATUM in columns:
        stratum = f"any_value({STRATUM})"
    elif one_label:
        stratum = "any_value(CAST(label AS VARCHAR))"
    else:
        order = "attribute, label" if "attribute" in columns else "label"
        stratum = f"string_agg(CAST(label AS VARCHAR), '|' ORDER BY {order})"
    weight = "avg(confidence)" if "confidence" in columns else "1.0"
    reviewed = "bool_or(origin = 'review')" if "origin" in columns else "false"
    # A uniform draw in (0, 1) from the key and the seed, so that the sample does not
    # depend on the rows' order: the first 52 bits of an MD5 of both, which, unlike
    # DuckDB's hash(), stay the same from one DuckDB version to the next.
    # log(u) / w ranks like u ** (1 / w): the larger, the likelier a heavy text is drawn.
    draw = f"('0x' || left(md5(CAST({key} AS VARCHAR) || '#{int(seed)}'), 13))::UBIGINT"
    return f"""
        SELECT {key} AS key, coalesce({stratum}, '') AS stratum,
               CASE WHEN {reviewed} THEN 'inf'::DOUBLE
                    ELSE ln(({draw}::DOUBLE + 0.5) / 4503599627370496.0)
                         / greatest(least({weight}, 1.0), 1e-6) END AS draw
        FROM ({query}) GROUP BY {key}"""


def _strata(con: duckdb.DuckDBPyConnection, units: str, params: list[Any]) -> pl.DataFrame:
    """How many texts each stratum has: ``stratum, texts``."""
    return con.sql(
        f"SELECT stratum, count(*) AS texts FROM ({units}) GROUP BY stratum", params=params
    ).pl()


def _chosen(
    con: duckdb.DuckDBPyConnection,
    units: str,
    params: list[Any],
    counts: pl.DataFrame,
    max_examples: int,
    key: str,
) -> pl.DataFrame:
    """The keys of the texts a sample of ``max_examples`` keeps, as one column ``key``."""
    with registered(con, "stratum_quotas", _quotas(counts, max_examples)):
        return con.sql(
            f"""SELECT key AS {key} FROM ({units}) JOIN stratum_quotas USING (stratum)
                QUALIFY row_number() OVER (PARTITION BY stratum ORDER BY draw DESC, key)
                        <= quota""",
            params=params,
        ).pl()


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
