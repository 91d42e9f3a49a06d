"""The LLM stage: prompts, parsing, the cache, and the labeler that ties them together."""

from labelkit.llm.cache import export_llm_cache, import_llm_cache, request_key
from labelkit.llm.labeler import RESPONSE_FORMATS, LLMConfig, LLMRunStats, label_with_llm
from labelkit.llm.parse import parse_label
from labelkit.llm.prompt import build_messages
from labelkit.llm.recorded import ImportedAnswers, import_answers

__all__ = [
    "RESPONSE_FORMATS",
    "ImportedAnswers",
    "LLMConfig",
    "LLMRunStats",
    "build_messages",
    "export_llm_cache",
    "import_answers",
    "import_llm_cache",
    "label_with_llm",
    "parse_label",
    "request_key",
]
