"""Write the benchmark report page from the scripts' result files, never by hand.

    python scripts/benchmark_report.py docs/benchmarks.md

Each ``benchmarks/results/<script>.md`` (written by ``benchmarks/<script>.py``, with the
machine and labelkit version that produced it) becomes one section, with its plot
where the script draws one. ``make bench`` reruns every script first; ``make docs``
only rebuilds this page from the results already there.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# In the order a reader meets the stages; the figure each script draws, if any.
SECTIONS = {
    "label_models": ("Label models on real and synthetic votes", None),
    "apply_speed": ("Labeling-function applier against Snorkel", None),
    "ray_apply": ("Labeling functions on a local Ray cluster", None),
    "llm_votes": ("Combining LLM votes", None),
    "llm_budget": ("Spending an LLM budget", None),
    "llm_throughput": ("LLM stage throughput", None),
    "aspects_llm": ("Asking an LLM about aspects: per text or per aspect", None),
    "aspects": ("Aspects end to end on MAMS-ACSA", None),
    "attribute_models": ("Small models for aspects: one per attribute or one multi-label", None),
    "aspect_review": ("Reviewing aspects one attribute at a time", None),
    "spans": ("Span label models", None),
    "spans_distill": ("Span label models' NER students", None),
    "review_efficiency": ("Review efficiency", "review_efficiency.png"),
    "distill": ("Distillation", "distill_learning_curves.png"),
    "small_models": ("Small models on gold labels", None),
    "small_model_defaults": ("Small-model defaults: a sweep on dev", None),
    "sample_curve": ("How many labels the small model needs", None),
    "scale": ("Every stage at 10k, 100k and 1M texts", None),
    "scale_10m": ("Every stage at 10M texts", None),
    "scale_aspects": ("The aspects pipeline at 10k and 100k texts", None),
}
# Results a script wrote under another name (``--output-name``).
WRITTEN_BY = {"scale_10m": "scale"}


def report() -> str:
    lines = [
        "# Benchmarks",
        "",
        "Every table below is written by a script in `benchmarks/` and gathered here by",
        "`scripts/benchmark_report.py`; none is typed by hand. Each says the machine and",
        "labelkit version that produced it. `make bench` reruns the quicker ones and",
        "rebuilds this page; the trainings of many small models (`aspects`,",
        "`attribute_models`, `aspect_review`, `spans_distill`, `small_models`,",
        "`small_model_defaults`) run on their own, an hour or more each on 2 cores.",
        "`benchmarks/README.md` says what",
        "each compares, how, and how long it takes.",
        "",
    ]
    missing = sorted(set(SECTIONS) - {path.stem for path in RESULTS.glob("*.md")})
    if missing:
        raise SystemExit(f"no results for {missing} in {RESULTS}: run make bench")
    for script, (title, figure) in SECTIONS.items():
        body = (RESULTS / f"{script}.md").read_text(encoding="utf-8").splitlines()
        # The result file's own title is the script's name; the page uses a heading
        # whose anchor is that name, so other pages can link to #<script>.
        source = WRITTEN_BY.get(script, script)
        lines += [f"## {title} {{#{script}}}", "", f"`benchmarks/{source}.py`", ""]
        lines += body[1:]
        if figure:
            lines += ["", f"![{title}]({figure})", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(report(), encoding="utf-8")
