"""The LLM stage: prompts, parsing, the cache, and the labeler that ties them together."""

from labelkit.llm.budget import GROUPS, LLMBudgetPlan
from labelkit.llm.cache import export_llm_cache, import_llm_cache, request_key
from labelkit.llm.labeler import (
    RESPONSE_FORMATS,
    LLMConfig,
    LLMEstimate,
    LLMRunStats,
    estimate_llm_run,
    label_with_llm,
    plan_llm_budget,
)
from labelkit.llm.parse import align_entities, parse_attributes, parse_entities, parse_label
from labelkit.llm.prompt import build_messages, few_shot_examples
from labelkit.llm.recorded import ImportedAnswers, import_answers
from labelkit.llm.suggest import decide_suggestion, suggest_lfs

__all__ = [
    "GROUPS",
    "RESPONSE_FORMATS",
    "ImportedAnswers",
    "LLMBudgetPlan",
    "LLMConfig",
    "LLMEstimate",
    "LLMRunStats",
    "align_entities",
    "build_messages",
    "decide_suggestion",
    "estimate_llm_run",
    "export_llm_cache",
    "few_shot_examples",
    "import_answers",
    "import_llm_cache",
    "label_with_llm",
    "parse_attributes",
    "parse_entities",
    "parse_label",
    "plan_llm_budget",
    "request_key",
    "suggest_lfs",
]
