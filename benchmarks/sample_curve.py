"""How many cleaned labels the default small model needs: its test accuracy against the
number of training texts, on WRENCH YouTube and SMS.

The texts are drawn at random (one draw per seed) from the train split with their gold
labels (the ceiling a label model's labels approach), the bag-of-words textcat
(``spacy_textcat_bow``, its defaults) is trained on them with the valid split choosing
the checkpoint, and scored on test. This is the evidence behind ``train``'s default
sample size (``labelkit.train.sample``; ``docs/scale.md``).

    python benchmarks/sample_curve.py [--seeds 3] [--sets youtube sms]
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import polars as pl
import spacy
from _common import parser, write_results

from labelkit.report import markdown_table
from labelkit.train.textcat import train_textcat

SIZES = {"youtube": (100, 200, 400, 800, 1586), "sms": (100, 200, 400, 800, 1600, 4571)}


def split(folder: Path, name: str) -> pl.DataFrame:
    rows = json.loads((folder / f"{name}.json").read_text(encoding="utf-8")).values()
    return pl.DataFrame(
        {
            "text": [row["data"]["text"] for row in rows],
            "label": [("ham", "spam")[row["label"]] for row in rows],
        }
    )


def accuracy(data_dir: Path, dataset: str, n: int, seed: int) -> float:
    folder = data_dir / "wrench" / dataset
    train, dev, test = (split(folder, name) for name in ("train", "valid", "test"))
    rows = train.sample(n=n, seed=seed, shuffle=True)
    with tempfile.TemporaryDirectory() as scratch:
        nlp = spacy.load(train_textcat(rows, ["ham", "spam"], scratch, dev=dev, seed=seed))
        predicted = [max(doc.cats, key=doc.cats.get) for doc in nlp.pipe(test["text"])]
    return sum(p == g for p, g in zip(predicted, test["label"], strict=True)) / test.height


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--seeds", type=int, default=3)
    arguments.add_argument("--sets", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = arguments.parse_args()
    records = []
    for dataset in args.sets:
        for n in SIZES[dataset]:
            scores = [accuracy(args.data_dir, dataset, n, seed) for seed in range(args.seeds)]
            record = {
                "dataset": f"wrench {dataset}",
                "method": "spacy_textcat_bow on gold",
                "train_texts": n,
                "seeds": len(scores),
                "accuracy_mean": round(statistics.mean(scores), 3),
                "accuracy_sd": round(statistics.stdev(scores), 3) if len(scores) > 1 else None,
            }
            print(record, flush=True)
            records.append(record)
    write_results(
        "sample_curve",
        records,
        args.output_dir,
        table=markdown_table(pl.DataFrame(records).drop("method")),
    )


if __name__ == "__main__":
    main()
