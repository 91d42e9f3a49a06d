"""One chat completion over HTTP: its deadline, its size cap, retries, and response formats.

The labeler (a request per prompt) and ``suggest-lfs`` (a request per run) both ask
through ``complete``, so the two retry, fail and fall back to a plainer response
format alike.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import functools
import importlib
import json
import math
import os
import random
import re
import socket
import ssl
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelkit.errors import LabelkitError, LabelkitWarning
from labelkit.report import first_named

if TYPE_CHECKING:
    import openai

    from labelkit.llm.labeler import LLMConfig

# What labelkit sends where no key is needed (a local server), and is no secret.
_NO_KEYS = ("unused", "local")
# The longest wait a Retry-After may ask before a retry.
MAX_RETRY_AFTER_S = 60.0


class UnusableResponse(Exception):
    """A response that is no answer: too large, not JSON, an error, or without a message.
    ``read_whole``: the body was read as sent, a JSON object the endpoint meant (an error,
    no message); else it was cut off, too large or not JSON, an answer broken off."""

    def __init__(self, message: str, *, read_whole: bool = False) -> None:
        super().__init__(message)
        self.read_whole = read_whole


@dataclass(frozen=True)
class Completion:
    """How one request ended, after its retries: the first choice of the answer, or why
    there is none. ``refused``: the endpoint refused the response format asked for;
    ``timed_out``: how many attempts ran past the deadline, and ``broken_off`` how many
    ended without a readable answer (a connection dropped once the request was sent, a
    body cut off or not JSON): the endpoint may have answered, and billed, either."""

    choice: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    refused: bool = False
    timed_out: int = 0
    broken_off: int = 0

    @property
    def content(self) -> str | None:
        return None if self.choice is None else self.choice["message"]["content"]


def async_client(base_url: str | None, api_key: str | None) -> openai.AsyncOpenAI:
    """The client every request goes through.

    aiohttp carries the requests: against a fast server, httpx's own work per request
    capped the stage near 500 a second at any concurrency. The client neither retries
    nor times out: ``complete`` does both, each attempt within the deadline and counted
    against the run's limits, and a spent quota is not retried.

    Examples
    --------
    >>> client = async_client("http://127.0.0.1:8080/v1", "unused")
    """
    import openai

    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        max_retries=0,
        timeout=None,
        http_client=openai.DefaultAioHttpClient(),
    )


def format_refusals() -> tuple[type[Exception], ...]:
    """The errors with which an endpoint says it does not support a response format."""
    import openai

    return (
        openai.BadRequestError,
        openai.UnprocessableEntityError,
        openai.InternalServerError,
        openai.NotFoundError,
    )


def format_arguments(response_format: str, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The request arguments that ask for ``response_format`` ("json_schema",
    "json_object" or "text") with ``schema``.

    Examples
    --------
    >>> format_arguments("json_object", "label", {"type": "object"})
    {'response_format': {'type': 'json_object', 'schema': {'type': 'object'}}}
    """
    if response_format == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            }
        }
    if response_format == "json_object":
        return {"response_format": {"type": "json_object", "schema": schema}}
    return {}


async def complete(
    client: openai.AsyncOpenAI,
    config: LLMConfig,
    arguments: dict[str, Any],
    *,
    retries: int,
    may_send: Callable[[], bool] = lambda: True,
    refusals: tuple[type[Exception], ...] = (),
) -> Completion | None:
    """Ask once, retrying 429s, 5xx, timeouts and dropped connections up to ``retries``
    times, each attempt within ``config``'s deadline and size cap.

    ``may_send`` is asked before every attempt (a run's request and spending limits);
    None when it refused the first. An error in ``refusals`` that may be about the format
    (``_refuses_format``) ends at once with ``refused`` set, so that the caller can ask
    again in a plainer format; a 500 among them, only when a second attempt gets one too.
    """
    import openai

    failure: Completion | None = None
    attempt, doubted, timed_out, broken_off = 0, False, 0, 0
    while attempt <= retries:
        if not may_send():
            return failure
        body: dict[str, Any] = {}
        try:
            body = await _post(client, config, arguments)
            choice = _first_choice(body)
        except (openai.APIError, TimeoutError, UnusableResponse) as error:
            if isinstance(error, refusals) and _refuses_format(error):
                if isinstance(error, openai.InternalServerError) and not doubted:
                    # A server that cannot take the format answers 500 again; one that
                    # failed by chance answers (trial 47: one 500 dropped schemas for a
                    # whole run).
                    doubted = True
                    await asyncio.sleep(_retry_delay(error, attempt))
                    continue
                return Completion(refused=True, timed_out=timed_out, broken_off=broken_off)
            # The client has no deadline of its own: its APITimeoutError is aiohttp's
            # dropped connection (trial 61c: "ran past the deadline" in 2 s of 20).
            timed_out += isinstance(error, TimeoutError)
            broken_off += _broken_off(error)
            failure = Completion(
                error=_describe(error, config, str(client.base_url)),
                # A 200 without a message (a refusal, a filter) was billed: its usage says
                # how much (the second read: counted $0).
                usage=_usage(body),
                timed_out=timed_out,
                broken_off=broken_off,
            )
            if attempt == retries or not _retryable(error):
                return failure
            await asyncio.sleep(_retry_delay(error, attempt))
            attempt += 1
            continue
        return Completion(
            choice=choice, usage=_usage(body), timed_out=timed_out, broken_off=broken_off
        )
    return failure


def _usage(body: dict[str, Any]) -> dict[str, Any]:
    return body["usage"] if isinstance(body.get("usage"), dict) else {}


def _broken_off(error: Exception) -> bool:
    """Whether an attempt may have been answered, and billed, without an answer read: a
    body cut off, too large or not JSON (trial 61c: 35% of a run's bill was counted
    $0), or a connection lost once open; not one that could not open (refused, a name
    not found), nor an error the endpoint sent."""
    import openai

    if isinstance(error, UnusableResponse):
        return not error.read_whole
    if not isinstance(error, openai.APIConnectionError):
        return False
    # aiohttp's ClientConnectorError (and its SSL, certificate and DNS kinds) is a
    # connection that never opened: nothing was sent (the second read: a TLS error and
    # "no route to host" were charged).
    cause: BaseException | None = error
    while cause is not None:
        if type(cause).__name__.startswith("ClientConnector") or isinstance(
            cause, ConnectionRefusedError | socket.gaierror | ssl.SSLError
        ):
            return False
        cause = cause.__cause__
    return True


def api_key_of(config: LLMConfig) -> str | None:
    """The key a request sends: the config's, else ``$OPENAI_API_KEY``; None if neither
    (a local server needs none, and is sent ``unused``).

    Examples
    --------
    >>> api_key_of(dataclasses.replace(config, api_key="sk-test"))
    'sk-test'
    """
    return config.api_key or os.environ.get("OPENAI_API_KEY")


def warn_if_model_unlisted(config: LLMConfig) -> None:
    """Warn where the endpoint lists its models and ``config.model`` is not among them:
    a server with one model may answer any name with it, under a source of that name
    (trial 34: ``--model smolLM-wrong`` made a new source). Listing is free; an endpoint
    that cannot list within 5 s is passed over in silence.

    Examples
    --------
    >>> warn_if_model_unlisted(dataclasses.replace(config, model="gpt-4o-mni"))
    """
    import openai

    base_url = config.base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = api_key_of(config) or "unused"
    try:
        with openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=5) as client:
            listed = [model.id for model in client.models.list()]
    except (openai.OpenAIError, ValueError):
        return
    if listed and config.model not in listed:
        shown = first_named(listed)
        warnings.warn(
            f"model {config.model!r} is not among the models the endpoint lists ({shown}): "
            "a typo? A server with one model may answer any name with it",
            LabelkitWarning,
            stacklevel=3,
        )


def require_endpoint(config: LLMConfig, missing: int, total: int) -> None:
    """Refuse to ask when no endpoint is configured, saying what else would do, or when
    a base URL holds credentials, which the client cannot send beside the API key
    (trial 61c: aiohttp's ValueError, a 60-line traceback)."""
    given = [(url, "--base-url") for url in config.endpoints if url]
    if "" in config.endpoints:
        # The client reads it only where no --base-url is given.
        given.append((os.environ.get("OPENAI_BASE_URL", ""), "OPENAI_BASE_URL"))
    for url, where in given:
        try:
            parts = urllib.parse.urlsplit(url)
            credentials = parts.username or parts.password
        except ValueError as error:
            raise LabelkitError(f"{where} is no URL ({error}): {url!r}") from None
        if credentials:
            shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
            raise LabelkitError(
                f"{where} holds credentials (user:password@ before {shown}): the requests "
                "carry the API key as a bearer token and cannot carry a password beside it: "
                "give the key with --api-key or OPENAI_API_KEY"
            )
    if config.base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        return
    raise LabelkitError(
        f"{missing} of {total} prompts are not in the LLM cache and no endpoint is configured: "
        "set OPENAI_BASE_URL and OPENAI_API_KEY (or --base-url / --api-key), use --local, or "
        "import recorded answers"
    )


async def _post(
    client: openai.AsyncOpenAI, config: LLMConfig, arguments: dict[str, Any]
) -> dict[str, Any]:
    """The JSON body of one chat completion, read within the deadline and the size cap."""
    limit = config.max_response_bytes
    async with asyncio.timeout(config.timeout_s):
        create = client.chat.completions.with_streaming_response.create
        # Every argument goes out in extra_body, merged over the typed ones as given: the
        # client checks each typed message against every message type it knows, a fifth
        # of the stage's time against a fast server. The JSON sent is the same.
        async with create(model=arguments["model"], messages=[], extra_body=arguments) as response:
            length = response.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit:
                raise UnusableResponse(f"the response has {length} bytes, over the cap of {limit}")
            body = bytearray()
            try:
                async for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise UnusableResponse(f"the response is over the cap of {limit} bytes")
            except _transport_errors() as error:
                # A body that ends before its length (the second read: httpx's ReadError
                # ended the run in a traceback).
                raise UnusableResponse(
                    f"the response was cut off after {len(body)} bytes: {error}"
                ) from error
    try:
        data = json.loads(body)
    except ValueError:
        raise UnusableResponse(f"the response is not JSON: {bytes(body[:200])!r}") from None
    if not isinstance(data, dict):
        raise UnusableResponse(f"the response is not a JSON object: {bytes(body[:200])!r}")
    return data


@functools.cache
def _transport_errors() -> tuple[type[Exception], ...]:
    """The errors of the HTTP layers under the client while a body is read: httpx's (or
    httpx2's, which the openai client's aiohttp transport imports as httpx) and aiohttp's."""
    errors: list[type[Exception]] = []
    for module, name in (("httpx", "TransportError"), ("httpx2", "TransportError"),
                         ("aiohttp", "ClientError")):  # fmt: skip
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _first_choice(body: dict[str, Any]) -> dict[str, Any]:
    """The first choice of a chat completion, if it holds a message with text."""
    if body.get("error"):
        raise UnusableResponse(
            f"an error came back as HTTP 200: {json.dumps(body['error'])[:300]}", read_whole=True
        )
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        raise UnusableResponse(
            f"the response holds no message: {json.dumps(body)[:300]}", read_whole=True
        )
    return choice


def _describe(error: Exception, config: LLMConfig, endpoint: str) -> str:
    """``error`` in words for the cache and the summary, the API key masked: an endpoint
    that echoes it in an error would put it on screen and in the workspace (trial 50c)."""
    described = _described(error, config, endpoint)
    key = api_key_of(config)
    if not key or key in _NO_KEYS:
        return described
    if len(key) >= 8:
        return described.replace(key, "<api key>")
    # A short shared secret in front of a self-hosted server is a key too (trial 61c:
    # "tok-777" was shown and stored), masked where it stands alone: a short word is
    # often part of others (the second read: "test" in "test-model").
    return re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", "<api key>", described)


def _described(error: Exception, config: LLMConfig, endpoint: str) -> str:
    if isinstance(error, TimeoutError):
        # Trial 47c: with replicas, a timeout did not say which endpoint was slow.
        return (
            f"Timeout: no complete answer from {endpoint.rstrip('/')} within {config.timeout_s:g} s"
        )
    if isinstance(error, UnusableResponse):
        return f"UnusableResponse: {error}"
    import openai

    if isinstance(error, openai.APIConnectionError):
        # openai's own words say little ("Connection error.", and through aiohttp even a
        # refused connection reads "Request timed out."): the first cause says refused,
        # reset or unresolved. The client has no timeout of its own to report.
        root: BaseException = error
        while root.__cause__ is not None:
            root = root.__cause__
        return f"APIConnectionError: {type(root).__name__}: {root}"
    cause = error.__cause__
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    code = getattr(error, "code", None)
    described = f"{type(error).__name__}: {error}{detail}" + (f" (code {code})" if code else "")
    if isinstance(error, openai.NotFoundError):
        # Trial 34: a base URL without /v1 said only "Error code: 404".
        request = getattr(error, "request", None)
        url = f" at {request.url}" if request is not None else ""
        described += (
            f"; no chat completions{url}: an OpenAI-compatible base URL usually ends in /v1, "
            "and the model name must be one the server serves"
        )
    return described


# Words with which endpoints refuse a response format (OpenAI's response_format and
# json_schema, llama.cpp's grammar, vLLM's guided decoding).
_FORMAT_WORDS = ("format", "schema", "json_object", "grammar", "guided")
# "Unsupported parameter: 'max_tokens'", "unknown field `temperature`": a parameter named.
_REQUEST_PARAMETERS = (
    "model",
    "messages",
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "logprobs",
    "top_logprobs",
)
_PARAMETER_NAMED = re.compile(r"(?:parameter|argument|field)s?:?\s*['\"`]([A-Za-z_.]+)['\"`]")


def _refuses_format(error: Exception) -> bool:
    """Whether an error among ``format_refusals`` may say the response format is refused:
    not a 502-504 (an outage, retried as any), nor a prompt over the context length, which
    fails in every format (trial 50c: four 503s, or one long first text, sent a whole run
    without its schema); a 500 only where it names the format (trial 61c: an outage of
    500s was said to refuse two formats), and a 4xx not where it names another
    parameter (trial 61c: a reasoning model's "Unsupported parameter: 'max_tokens'")."""
    import openai

    said = f"{getattr(error, 'code', '') or ''} {getattr(error, 'param', '') or ''} {error}"
    if over_context(said):
        return False
    names_format = any(word in said.lower() for word in _FORMAT_WORDS)
    if isinstance(error, openai.InternalServerError):
        return error.status_code == 500 and names_format
    param = getattr(error, "param", None) or next(iter(_PARAMETER_NAMED.findall(said)), None)
    # Only a parameter of the request itself is another than the format: a field inside
    # the format ("unknown field `strict`") refuses it (the second read).
    return param not in _REQUEST_PARAMETERS


def over_context(error: str) -> bool:
    """Whether an endpoint's error says the prompt is longer than its model's context
    (OpenAI's ``context_length_exceeded``, llama.cpp's and vLLM's wordings).

    Examples
    --------
    >>> over_context("BadRequestError: ... maximum context length is 8192 tokens")
    True
    >>> over_context("RateLimitError: slow down")
    False
    """
    said = error.lower()
    return any(words in said for words in ("context_length", "context length", "too long"))


def _retryable(error: Exception) -> bool:
    import openai

    if isinstance(error, (openai.APIConnectionError, TimeoutError)):
        return True
    if isinstance(error, openai.APIStatusError):
        if (
            error.code == "insufficient_quota"
            or getattr(error, "type", None) == "insufficient_quota"
        ):
            return False
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


def _retry_delay(error: Exception, attempt: int) -> float:
    """Retry-After when the server gives one, a minute at most (trial 47: an hour's was
    dropped for half-second retries), else exponential with jitter.

    Examples
    --------
    >>> _retry_delay(rate_limited(retry_after="3600"), attempt=0)
    60.0
    """
    import openai

    if isinstance(error, openai.APIStatusError):
        after = _seconds_after(error.response.headers.get("retry-after", ""))
        if after is not None:
            return min(after, MAX_RETRY_AFTER_S)
    return min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())


def _seconds_after(retry_after: str) -> float | None:
    """A Retry-After header's wait: seconds, or an HTTP date (trial 50c: a date was
    ignored, and retries came at once); None if it has neither.

    Examples
    --------
    >>> _seconds_after("3"), _seconds_after("Wed, 21 Oct 2015 07:28:00 GMT"), _seconds_after("")
    (3.0, 0.0, None)
    """
    try:
        seconds = float(retry_after)
    except ValueError:
        pass
    else:
        # "nan" and "inf" parse as numbers, and no wait (the second read).
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max((when - datetime.datetime.now(datetime.UTC)).total_seconds(), 0.0)
