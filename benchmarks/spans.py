"""Span label models against majority vote and every labeling function: entity-level
precision, recall and F1 (exact match) on WRENCH's sequence-tagging sets and on
NoiseBench's label side.

Sets. LaptopReview (TERM), NCBI-Disease (Disease), BC5CDR (Chemical, Disease) from
``<data-dir>/spans``: every model is fitted on the train split's LF spans and scored on
the test split's gold spans, once with every LF shipped and once with the LFs WRENCH
uses (``lf_rec`` in each ``meta.json``; WRENCH's loader keeps only those, so its
published figures are on them). NoiseBench (``<data-dir>/spans/noisebench/annotations``,
CoNLL-03 sentences, IOB2, tokens masked): the six noisy label sets (expert, crowd,
crowd-best, distant, weak supervision and GPT-3.5) are six sources that tag every
token, so "O" is an explicit vote; they are aggregated over all 6,285 sentences and
scored against the clean labels, with and without the near-clean expert set.

Protocol. No model sees gold. Seeds vary how exact ties are broken (majority vote with
random ties); each model runs once per seed, deterministic ones once. Each LF is scored
on every test document and, in ``f1_where_votes``, on the documents it tags a span in.

    python benchmarks/spans.py --data-dir ../shared/data [--quick]
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import parser, write_results

from labelkit.aggregate.spans import DEFAULT_SPAN_MODEL, TokenSpan, fit_span_model
from labelkit.evaluation import span_scores

SEEDS = 5
WRENCH_SETS = ("LaptopReview", "NCBI-Disease", "BC5CDR")
MODELS = ("majority_vote", "auto", "dawid_skene")
SEEDED = {"majority_vote", "auto"}
NOISY_SETS = ("expert", "crowd", "crowdbest", "distant", "weak", "llm")
LLM_SOURCE = "llm"

# Zhang et al. 2021, "WRENCH: A Comprehensive Benchmark for Weak Supervision" (NeurIPS
# Datasets and Benchmarks): its sequence-tagging label-model table could not be found
# with the search tool in this session, so no published figure is quoted here.
PUBLISHED: dict[str, dict[str, float]] = {}

Corpus = tuple[list[int], list[list[list[TokenSpan]]], list[list[TokenSpan]]]


def read_wrench(folder: Path, split: str, lfs: str) -> tuple[Corpus, list[str], list[str]]:
    """A WRENCH sequence set's split: (token counts, votes per document and LF, gold
    spans), the entity types, and the LF names (``lfs``: ``"all"`` or ``"recommended"``)."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    names = meta["lf"] if lfs == "all" else meta["lf_rec"]
    keep = [meta["lf"].index(name) for name in names]
    examples = json.loads((folder / f"{split}.json").read_text(encoding="utf-8")).values()
    n_tokens = [len(example["data"]["text"]) for example in examples]
    votes = [
        [[tuple(span) for span in example["weak_labels"][j]] for j in keep] for example in examples
    ]
    gold = [[tuple(span) for span in example["label"]] for example in examples]
    return (n_tokens, votes, gold), meta["entity_types"], names


def iob2_spans(tags: list[str], explicit_o: bool) -> list[TokenSpan]:
    """Spans of one sentence's IOB2 tags; with ``explicit_o``, runs of O as ``"O"`` spans.

    Examples
    --------
    >>> iob2_spans(["B-PER", "I-PER", "O", "B-LOC"], True)
    [(0, 2, 'PER'), (2, 3, 'O'), (3, 4, 'LOC')]
    """
    spans: list[TokenSpan] = []
    for i, tag in enumerate(tags):
        kind = tag[2:] if tag != "O" else "O"
        continues = tag.startswith("I-") or (tag == "O" and explicit_o)
        if spans and continues and spans[-1][2] == kind and spans[-1][1] == i:
            spans[-1] = (spans[-1][0], i + 1, kind)
        elif tag != "O" or explicit_o:
            spans.append((i, i + 1, kind))
    return spans


def read_noisebench(folder: Path) -> tuple[list[int], dict[str, list[list[TokenSpan]]]]:
    """Token counts per sentence and each label set's spans (``clean`` and the noisy
    ones, explicit O included for the noisy ones)."""
    sets: dict[str, list[list[TokenSpan]]] = {}
    n_tokens: list[int] = []
    for name in ("clean", *NOISY_SETS):
        path = folder / ("clean.traindev" if name == "clean" else f"noise_{name}.traindev")
        sentences = [
            [line.split("\t")[1] for line in block.splitlines()]
            for block in path.read_text(encoding="utf-8").strip("\n").split("\n\n")
        ]
        counts = [len(tags) for tags in sentences]
        if n_tokens and counts != n_tokens:
            raise ValueError(f"{path}: sentences do not line up with clean.traindev")
        n_tokens = counts
        sets[name] = [iob2_spans(tags, explicit_o=name != "clean") for tags in sentences]
    return n_tokens, sets


def scored(gold: list[list[TokenSpan]], predicted: list[list[Any]], labels: list[str]) -> dict:
    micro = span_scores(gold, predicted, labels)["micro"]
    return {key: micro[key] for key in ("precision", "recall", "f1")}


def lf_records(dataset: str, lfs: str, test: Corpus, labels: list[str], names: list[str]):
    _, votes, gold = test
    records = []
    for j, name in enumerate(names):
        spans = [[s for s in document[j] if s[2] != "O"] for document in votes]
        voted = [i for i, document in enumerate(spans) if document]
        where = scored([gold[i] for i in voted], [spans[i] for i in voted], labels)
        records.append(
            {
                "dataset": dataset,
                "lfs": lfs,
                "method": f"LF {name}",
                "kind": "source",
                **scored(gold, spans, labels),
                "f1_sd": 0.0,
                "f1_where_votes": where["f1"],
                "documents_voted": len(voted),
                "seeds": 1,
                "fit_s": None,
            }
        )
    return records


def model_records(
    dataset: str, lfs: str, train: Corpus, test: Corpus, labels: list[str], seeds: int
) -> list[dict[str, Any]]:
    records = []
    for name in MODELS:
        runs, seconds = [], []
        for seed in range(seeds if name in SEEDED else 1):
            started = time.process_time()
            model = fit_span_model(name, train[0], train[1], labels, seed=seed)
            predicted = model.predict_spans(test[0], test[1])
            seconds.append(time.process_time() - started)
            runs.append(scored(test[2], predicted, labels))
        f1 = [run["f1"] for run in runs]
        shown = name + (" (default)" if name == DEFAULT_SPAN_MODEL else "")
        records.append(
            {
                "dataset": dataset,
                "lfs": lfs,
                "method": shown,
                "kind": "label model",
                "precision": float(np.mean([run["precision"] for run in runs])),
                "recall": float(np.mean([run["recall"] for run in runs])),
                "f1": float(np.mean(f1)),
                "f1_sd": float(np.std(f1)),
                "f1_where_votes": None,
                "documents_voted": None,
                "seeds": len(runs),
                "fit_s": float(np.mean(seconds)),
            }
        )
        print(records[-1], flush=True)
    return records


def skweak_record(
    python: Path, folder: Path, lfs: str, test: Corpus, labels: list[str]
) -> dict[str, Any]:
    """skweak's HMM, run by ``skweak_hmm.py`` in an interpreter that has skweak."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "predicted.json"
        script = Path(__file__).with_name("skweak_hmm.py")
        subprocess.run([str(python), str(script), str(folder), lfs, str(output)], check=True)
        result = json.loads(output.read_text(encoding="utf-8"))
    return {
        "dataset": folder.name,
        "lfs": lfs,
        "method": "skweak HMM (reference)",
        "kind": "label model",
        **scored(test[2], result["spans"], labels),
        "f1_sd": 0.0,
        "f1_where_votes": None,
        "documents_voted": None,
        "seeds": 1,
        "fit_s": result["fit_s"],
    }


def wrench_records(data: Path, seeds: int, skweak: Path | None) -> list[dict[str, Any]]:
    records = []
    for dataset in WRENCH_SETS:
        for lfs in ("all", "recommended"):
            train, labels, names = read_wrench(data / dataset, "train", lfs)
            test, _, _ = read_wrench(data / dataset, "test", lfs)
            records += lf_records(dataset, lfs, test, labels, names)
            records += model_records(dataset, lfs, train, test, labels, seeds)
            if skweak is not None:
                records.append(skweak_record(skweak, data / dataset, lfs, test, labels))
                print(records[-1], flush=True)
    return records


def noisebench_records(folder: Path, seeds: int) -> list[dict[str, Any]]:
    n_tokens, sets = read_noisebench(folder)
    labels = sorted({s[2] for document in sets["clean"] for s in document})
    records = []
    for shown, sources in (
        ("all six", NOISY_SETS),
        ("without expert", tuple(s for s in NOISY_SETS if s != "expert")),
    ):
        votes = [[sets[s][d] for s in sources] for d in range(len(n_tokens))]
        corpus = (n_tokens, votes, sets["clean"])
        names = [f"{s} (LLM: GPT-3.5)" if s == LLM_SOURCE else s for s in sources]
        if shown == "all six":
            records += lf_records("NoiseBench", shown, corpus, labels, names)
        records += model_records("NoiseBench", shown, corpus, corpus, labels, seeds)
    return records


def table(records: list[dict[str, Any]]) -> str:
    lines = []
    groups = dict.fromkeys((r["dataset"], r["lfs"]) for r in records)
    for dataset, lfs in groups:
        rows = [r for r in records if (r["dataset"], r["lfs"]) == (dataset, lfs)]
        lines += [
            f"### {dataset}, {lfs} {'sources' if dataset == 'NoiseBench' else 'LFs'}",
            "",
            "| method | precision | recall | F1 | F1 where it votes | fit + predict CPU s |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        best = max(r["f1"] for r in rows if r["kind"] == "label model")
        for r in rows:
            f1 = f"{r['f1']:.3f}" + (f" ± {r['f1_sd']:.3f}" if r["seeds"] > 1 else "")
            if r["kind"] == "label model" and r["f1"] == best:
                f1 = f"**{f1}**"
            where = "" if r["f1_where_votes"] is None else f"{r['f1_where_votes']:.3f}"
            fit = "" if r["fit_s"] is None else f"{r['fit_s']:.1f}"
            lines.append(
                f"| {r['method']} | {r['precision']:.3f} | {r['recall']:.3f} | {f1} | "
                f"{where} | {fit} |"
            )
        lines.append("")
    return "\n".join(lines)


def verdicts(records: list[dict[str, Any]]) -> str:
    default = f"{DEFAULT_SPAN_MODEL} (default)"
    lines = []
    for lfs in ("all", "recommended"):
        for dataset in WRENCH_SETS:
            pick = {
                r["method"]: r["f1"]
                for r in records
                if (r["dataset"], r["lfs"]) == (dataset, lfs) and r["kind"] == "label model"
            }
            if default in pick:
                at_least = "yes" if pick[default] >= pick["majority_vote"] else "**no**"
                lines.append(
                    f"- {dataset}, {lfs} LFs: `{DEFAULT_SPAN_MODEL}` {pick[default]:.3f} against "
                    f"majority vote's {pick['majority_vote']:.3f}: at least majority vote: "
                    f"{at_least}"
                )
    return "\n".join(lines)


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--quick", action="store_true", help="2 seeds")
    arguments.add_argument(
        "--skweak-python",
        type=Path,
        help="a Python interpreter with skweak installed: adds skweak's HMM on the WRENCH sets",
    )
    arguments = arguments.parse_args()
    from threadpoolctl import threadpool_limits

    # One BLAS thread: the machine is shared, and spinning threads slow every fit.
    threadpool_limits(1)
    seeds = 2 if arguments.quick else SEEDS
    started = time.time()
    data = arguments.data_dir / "spans"
    records = wrench_records(data, seeds, arguments.skweak_python) + noisebench_records(
        data / "noisebench" / "annotations", seeds
    )
    notes = (
        f"Entity-level precision, recall and F1 (exact span and type, micro over types) "
        f"on the test split (WRENCH sets; models fitted on train) or on every sentence "
        f"(NoiseBench; models fitted on the same votes, against the clean labels). F1 is "
        f"the mean ± standard deviation over {seeds} seeds for the models whose exact ties "
        "are broken at random (majority vote, `auto`); `dawid_skene` runs once. The best "
        "label model per set is in bold. LFs are scored on every test document, and on "
        "the documents they tag a span in (`F1 where it votes`). `recommended` LFs are the "
        "`lf_rec` subset WRENCH's own loader keeps. `skweak HMM (reference)` is skweak's "
        "HMM with its defaults (BIO, 4 EM rounds), run by `skweak_hmm.py` in an environment "
        "of its own (`--skweak-python`), fitted on train and applied to test like the "
        "others; its time is CPU seconds in that process. Times are CPU seconds of fit and "
        "predict.\n\n"
        f"{verdicts(records)}\n\n"
        "Published figures: WRENCH's sequence-tagging label-model table (Zhang et al. 2021, "
        "NeurIPS Datasets and Benchmarks) was not found with the search tool when this was "
        "written, so none is quoted.\n\n"
        f"Whole run: {time.time() - started:.0f} s wall, one BLAS thread."
    )
    write_results("spans", records, arguments.output_dir, notes, table=table(records))
    print(table(records))
    print(notes)


if __name__ == "__main__":
    main()
