"""skweak's HMM (Lison et al. 2020/2021) on a WRENCH sequence set, for ``spans.py``.

Runs in an interpreter that has skweak (``pip install skweak`` into a throwaway
environment; it is no dependency of labelkit): fits skweak's HMM with its defaults
(BIO, 4 EM rounds) on the train split's LF spans and writes the test split's predicted
spans as JSON, one list of ``[start, end, label]`` per document.

    python skweak_hmm.py FOLDER all|recommended OUTPUT.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import spacy
from skweak.aggregation import HMM
from spacy.tokens import Doc, Span


def documents(folder: Path, split: str, lfs: str, nlp: spacy.Language) -> list[Doc]:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    names = meta["lf"] if lfs == "all" else meta["lf_rec"]
    keep = [(meta["lf"].index(name), name) for name in names]
    docs = []
    for example in json.loads((folder / f"{split}.json").read_text(encoding="utf-8")).values():
        doc = Doc(nlp.vocab, words=example["data"]["text"])
        for j, name in keep:
            doc.spans[name] = [
                Span(doc, s, e, label=label) for s, e, label in example["weak_labels"][j]
            ]
        docs.append(doc)
    return docs


def main() -> None:
    folder, lfs, output = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    nlp = spacy.blank("en")
    labels = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["entity_types"]
    started = time.process_time()
    hmm = HMM("hmm", labels)
    hmm.fit(documents(folder, "train", lfs, nlp))
    predicted = [
        [[span.start, span.end, span.label_] for span in hmm(doc).spans["hmm"]]
        for doc in documents(folder, "test", lfs, nlp)
    ]
    output.write_text(
        json.dumps({"spans": predicted, "fit_s": time.process_time() - started}), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
