"""The frontier of small models: every registered architecture trained on the cleaned
set and set side by side on dev (macro-F1 and accuracy, size on disk, words per second
on one core), so that the user chooses what speed and size buy; never on the test split."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from labelkit.errors import LabelkitError
from labelkit.registry import parameters, resolve, small_models
from labelkit.train.sample import DEFAULT_MAX_EXAMPLES
from labelkit.workspace import Workspace

PICKS = ("smallest-within",)


def frontier_models() -> list[str]:
    """The registered small models that give one label per text: every one but the
    attribute layouts, the models of tasks with attributes and the entity recognizers,
    and ``minilm_finetune`` only where the ``embeddings`` extra is installed; by name,
    the slow ones (``slow``: the MiniLM fine-tune) last, so that the quick ones are done
    before them.

    Examples
    --------
    >>> "spacy_textcat_static" in frontier_models()
    True
    """
    import labelkit.train  # noqa: F401  (registers every small model)

    return sorted(
        (
            name
            for name, factory in small_models.get_all().items()
            if not getattr(factory, "layout", None)
            and getattr(factory, "kind", None) not in ("spans", "attributes")
            and getattr(factory, "available", lambda: True)()
        ),
        key=lambda name: (_slow(name), name),
    )


def _slow(model: str) -> bool:
    """Whether the registered small model ``model`` takes minutes on a CPU where the
    others take seconds (``slow``: the MiniLM fine-tune)."""
    return getattr(resolve(small_models, model), "slow", False)


def train_frontier(
    workspace: Workspace,
    output_dir: str | Path,
    *,
    dev_split: str,
    models: Sequence[str] | None = None,
    seed: int = 0,
    targets: str = "hard",
    verbose: bool = False,
    max_examples: int | None = DEFAULT_MAX_EXAMPLES,
    progress: Callable[[str], None] | None = None,
    **params: Any,
) -> pl.DataFrame:
    """Train each of ``models`` (default: ``frontier_models()``) on the cleaned set into
    ``output_dir/<model>``; return one row per model: ``model``, ``dev_accuracy`` and
    ``dev_macro_f1`` (on ``dev_split``'s gold, which also chose each checkpoint),
    ``dev_ece`` (the expected calibration error of its confidence there), ``size_mb``,
    ``words_per_s`` (one core), ``train_s`` (seconds to train, on every core; the
    MiniLM fine-tune takes minutes where the spaCy models take seconds) and ``path``,
    best macro-F1 first. The table and its plot are saved too (``save_frontier``).
    Each model trains on at most ``max_examples`` texts, as in ``train_on_cleaned``; each of
    ``params`` goes to the models that take it. ``progress`` (``print``, say) gets a line
    as each model starts and one when it is scored: a frontier takes minutes.

    Examples
    --------
    >>> train_frontier(ws, "models/frontier", dev_split="dev").select("model", "dev_accuracy")
    """
    from labelkit.evaluation import evaluate
    from labelkit.train.textcat import train_on_cleaned

    if workspace.task.kind != "classification":
        raise LabelkitError(
            f"the frontier compares one-label-per-text models; a {workspace.task.kind} task "
            "trains with --model"
        )
    # The slow ones last, in a list given too: the quick ones are done before them.
    # Each once: a name given twice was trained and listed twice (trial 45).
    models = sorted(dict.fromkeys(models or frontier_models()), key=_slow)
    taken = {model: _taken(model, params) for model in models}
    unused = set(params) - {name for names in taken.values() for name in names}
    if unused:
        raise LabelkitError(f"no model of the frontier takes the parameter(s) {sorted(unused)}")
    rows = []
    say = progress or (lambda line: None)
    for number, model in enumerate(models, start=1):
        say(
            f"frontier {number}/{len(models)}: training {model}"
            + (" (minutes on a CPU, more on a large set)" if _slow(model) else "")
        )
        started = time.perf_counter()
        path = train_on_cleaned(
            workspace,
            Path(output_dir) / model,
            model=model,
            targets=targets,
            dev_split=dev_split,
            seed=seed,
            verbose=verbose,
            max_examples=max_examples,
            **{name: params[name] for name in taken[model]},
        )
        train_s = time.perf_counter() - started
        summary = evaluate(workspace, path, split=dev_split).summary
        row = summary.filter(pl.col("kind") == "small model").row(0, named=True)
        say(
            f"frontier {number}/{len(models)}: {model} reaches {row['macro_f1']:.3f} "
            f"macro-F1 ({row['accuracy']:.3f} accuracy) on {dev_split} (trained in "
            f"{train_s:.0f} s)"
        )
        rows.append(
            {
                "model": model,
                "dev_accuracy": row["accuracy"],
                # What the pick ranks on: trial 60b's best dev accuracy (0.790, 7 texts
                # ahead) never answered the class of 6%; its macro-F1 was 0.559.
                "dev_macro_f1": row["macro_f1"],
                # How far to trust its confidence: trial J's pick was right 0.97 of the
                # time and sure 0.73 on average, and nothing said so.
                "dev_ece": row["ece"],
                "size_mb": row["size_mb"],
                "words_per_s": row["words_per_s"],
                "train_s": train_s,
                "path": str(path),
            }
        )
    table = pl.DataFrame(rows).sort(
        ["dev_macro_f1", "size_mb", "words_per_s"], descending=[True, False, True]
    )
    save_frontier(table, output_dir, dev_split)
    return table


def _taken(model: str, params: dict[str, Any]) -> list[str]:
    """The names in ``params`` that the registered small model ``model`` takes: a
    ``--param`` of the frontier goes to each model that has it (``max_epochs`` to the
    spaCy models, ``C`` to the n-grams)."""
    known = parameters(small_models, model)
    return [name for name in params if known is None or name in known]


FRONTIER_FILE = "frontier.json"


def save_frontier(
    frontier: pl.DataFrame,
    output_dir: str | Path,
    split: str,
    picked: tuple[str, float, str] | None = None,
) -> Path:
    """Write ``frontier.json`` (the rows and the dev split) and ``frontier.md`` (the
    table and its plot) into ``output_dir``; return the Markdown's path. The evaluation
    report of a model trained there shows the same section. ``picked`` (rule, margin,
    model: what ``pick_model`` chose) is kept in both.

    Examples
    --------
    >>> save_frontier(train_frontier(ws, "models/frontier", dev_split="dev"), "models/frontier", "dev")
    PosixPath('models/frontier/frontier.md')
    """
    from labelkit.report import frontier_markdown

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"split": split, "models": frontier.to_dicts()}
    shown = frontier_markdown(frontier, split)
    if picked is not None:
        # Trial 45: the choice was printed, and nowhere kept.
        rule, margin, model = picked
        data["picked"] = {"rule": rule, "margin": margin, "model": model}
        shown += f"\nPicked by `--pick {rule} {margin}` on {split}: **{model}**.\n"
    (output / FRONTIER_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    markdown = output / "frontier.md"
    markdown.write_text(shown, encoding="utf-8")
    return markdown


def load_frontier(model_path: str | Path) -> tuple[pl.DataFrame, str] | None:
    """The frontier that the model at ``model_path`` (``OUT/<model>/model-best``) was
    trained in by ``train_frontier``, and its dev split; None for a model trained alone.

    Examples
    --------
    >>> load_frontier("models/frontier/spacy_textcat_bow/model-best")[1]
    'dev'
    """
    saved = Path(model_path).resolve().parent.parent / FRONTIER_FILE
    if not saved.is_file():
        return None
    data = json.loads(saved.read_text(encoding="utf-8"))
    return pl.DataFrame(data["models"]), data["split"]


def check_pick(rule: str, margin: float) -> None:
    """Refuse a pick rule ``pick_model`` does not know, or a margin outside [0, 1): before
    the frontier trains, not after (trial J).

    Examples
    --------
    >>> check_pick("best", 0.01)
    Traceback (most recent call last):
    labelkit.errors.LabelkitError: unknown pick rule 'best'; use one of ['smallest-within']
    """
    if rule not in PICKS:
        raise LabelkitError(f"unknown pick rule {rule!r}; use one of {list(PICKS)}")
    if not 0 <= margin < 1:
        raise LabelkitError(f"the margin of {rule} must lie in [0, 1), got {margin}")


def pick_model(frontier: pl.DataFrame, rule: str = "smallest-within", margin: float = 0.01) -> str:
    """The model a rule picks from ``train_frontier``'s rows. ``smallest-within``: of
    the models whose dev macro-F1 is within ``margin`` of the best, the smallest on
    disk, then the fastest. Macro-F1, not accuracy: a model that never answers a rare
    class can lead on accuracy by a few texts.

    Examples
    --------
    >>> pick_model(train_frontier(ws, "models/frontier", dev_split="dev"), margin=0.01)
    'tfidf_char_logreg'
    """
    check_pick(rule, margin)
    best = frontier["dev_macro_f1"].max()
    near = frontier.filter(pl.col("dev_macro_f1") >= best - margin - 1e-12)
    return near.sort(["size_mb", "words_per_s"], descending=[False, True])["model"][0]
