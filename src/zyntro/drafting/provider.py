"""The client of the provider: any OpenAI-compatible Chat Completions endpoint (OpenAI, Azure,
Ollama, vLLM, llama.cpp's server, LM Studio), through the `openai` package.

One non-streaming request per call, no retries of the library's own (the caller is a person
waiting: a failure becomes 503 `drafting_unavailable` with the provider's Retry-After at once).
Prompts and answers are logged at DEBUG only.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anyio
import openai

from zyntro.errors import DraftingFailed, DraftingUnavailable
from zyntro.settings import Settings

log = logging.getLogger("zyntro.drafting")

StructuredOutput = Literal["auto", "json_schema", "none"]
# Retry-After when the provider gives none: after a timeout or an outage, and after a 429.
RETRY_AFTER_DEFAULT = 10
RETRY_AFTER_RATE_LIMITED = 30
RETRY_AFTER_MAX = 3600
# What a person is told when the provider's content filter stops a draft (Azure OpenAI's 400
# `content_filter` on the prompt, or an answer cut off with finish_reason `content_filter`).
CONTENT_FILTERED = (
    "The AI provider's content filter stopped this draft. Please describe the audience in "
    "other words."
)
# Without a key of its own the library would read OPENAI_API_KEY from the environment: the
# provider gets this instead (Ollama and most local servers take any key).
NO_KEY = "unset"


@dataclass(frozen=True, slots=True)
class Answer:
    """The text of the first choice (None when there was no choice or no content)."""

    content: str | None
    refusal: str | None = None
    finish_reason: str | None = None


@dataclass
class ChatProvider:
    """Where drafting asks, and how: the endpoint, the model, the key, the structured output
    mode (`auto` asks for the JSON schema and stops asking once the endpoint refuses it)."""

    base_url: str
    model: str
    api_key: str | None = None
    structured_output: StructuredOutput = "auto"
    timeout: float = 50.0
    _schema_refused: bool = field(default=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ChatProvider | None:
        if not settings.drafting_configured:
            return None
        assert settings.llm_base_url is not None and settings.llm_model is not None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url.rstrip("/"),
            settings.llm_model,
            key or None,
            settings.llm_structured_output,
            settings.llm_timeout_seconds,
        )

    @property
    def asks_for_schema(self) -> bool:
        if self.structured_output == "auto":
            return not self._schema_refused
        return self.structured_output == "json_schema"

    async def complete(
        self,
        messages: list[dict[str, str]],
        response_format: dict[str, Any],
        timeout: float | None = None,
    ) -> Answer:
        """One completion of `messages` within `timeout` (default: the provider's), asking for
        `response_format` when the endpoint takes it. Raises DraftingUnavailable (try later)
        or DraftingFailed (it will not work)."""
        with_schema = self.asks_for_schema
        seconds = timeout if timeout is not None else self.timeout
        deadline = time.monotonic() + seconds
        try:
            return await self._ask(messages, response_format if with_schema else None, seconds)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            # An endpoint without structured output refuses the parameter (400, sometimes
            # 422): in auto mode, ask once more without it, and from now on never with it.
            if not (with_schema and self.structured_output == "auto" and _about_schema(exc)):
                raise _failed(exc) from None
            log.warning(
                "the AI provider refused the json_schema response format (HTTP %s); drafting "
                "goes on without it",
                exc.status_code,
            )
            self._schema_refused = True
            try:
                return await self._ask(messages, None, max(0.0, deadline - time.monotonic()))
            except (openai.OpenAIError, TimeoutError) as again:
                raise _translated(again) from None
        except (openai.OpenAIError, TimeoutError) as exc:
            raise _translated(exc) from None

    async def _ask(
        self,
        messages: list[dict[str, str]],
        response_format: dict[str, Any] | None,
        timeout: float,
    ) -> Answer:
        log.debug("drafting request to %s: %s", self.model, messages)
        # The client's timeout bounds each read; fail_after bounds the whole answer, so that
        # an endpoint sending its body a few bytes at a time cannot hold the person waiting.
        with anyio.fail_after(timeout):
            async with openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=self.api_key or NO_KEY,
                timeout=timeout,
                max_retries=0,
            ) as client:
                completion = await client.chat.completions.create(
                    model=self.model,
                    messages=cast(Any, messages),
                    stream=False,
                    response_format=cast(Any, response_format) if response_format else openai.omit,
                )
        if not completion.choices:
            log.debug("drafting answer without choices")
            return Answer(None)
        choice = completion.choices[0]
        message = choice.message
        log.debug("drafting answer (%s): %s", choice.finish_reason, message.content)
        return Answer(message.content, getattr(message, "refusal", None), choice.finish_reason)


def _translated(exc: openai.OpenAIError | TimeoutError) -> Exception:
    """The user's error for a failure of the provider."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        log.warning("the AI provider did not answer in time")
        return DraftingUnavailable(
            "The AI provider did not answer in time. Please try again shortly.",
            RETRY_AFTER_DEFAULT,
        )
    if isinstance(exc, openai.APIConnectionError):
        log.warning("the AI provider cannot be reached: %s", type(exc.__cause__ or exc).__name__)
        return DraftingUnavailable(
            "The AI provider cannot be reached. Please try again shortly.", RETRY_AFTER_DEFAULT
        )
    if isinstance(exc, openai.RateLimitError) and exc.code == "insufficient_quota":
        # OpenAI's 429 for an account out of credit: no wait makes it pass, an admin must act.
        log.warning("the AI provider's account is out of quota (HTTP 429 insufficient_quota)")
        wait = _retry_after(exc.response.headers, RETRY_AFTER_MAX)
        return DraftingUnavailable(
            "The AI provider's account has run out of quota. An administrator should check "
            "its plan and billing.",
            wait,
        )
    if isinstance(exc, openai.RateLimitError):
        log.warning("the AI provider is rate limiting drafts (HTTP 429)")
        wait = _retry_after(exc.response.headers, RETRY_AFTER_RATE_LIMITED)
        return DraftingUnavailable(
            "The AI provider is busy with too many requests. Please try again later.", wait
        )
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        log.warning("the AI provider failed (HTTP %s)", exc.status_code)
        wait = _retry_after(exc.response.headers, RETRY_AFTER_DEFAULT)
        return DraftingUnavailable(None, wait)
    if isinstance(exc, openai.APIStatusError):
        return _failed(exc)
    log.warning("the AI provider's answer could not be read: %s", type(exc).__name__)
    return DraftingFailed("The AI provider's answer could not be read. Please try again.")


def _failed(exc: openai.APIStatusError) -> DraftingFailed:
    # 400, 401, 403, 404: the request or the setup is wrong, and trying again will not help.
    log.warning("the AI provider refused the drafting request (HTTP %s)", exc.status_code)
    if exc.code == "content_filter":  # Azure OpenAI's filter on the prompt: the words, not setup
        return DraftingFailed(CONTENT_FILTERED)
    return DraftingFailed(
        f"The AI provider refused the request (HTTP {exc.status_code}). An administrator "
        "should check ZYNTRO_LLM_BASE_URL, ZYNTRO_LLM_MODEL and ZYNTRO_LLM_API_KEY."
    )


def _about_schema(exc: openai.APIStatusError) -> bool:
    """Whether a refusal is about the response format (not, say, a context too long, which
    must not turn structured output off for good)."""
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in ("response_format", "json_schema", "schema", "format"))


def _retry_after(headers: Mapping[str, str], default: int) -> int:
    """The provider's wait in whole seconds, within bounds: `retry-after-ms` (Azure OpenAI,
    and OpenAI at times), else `Retry-After` as seconds or as an HTTP date; else `default`."""
    seconds = math.nan
    try:
        if "retry-after-ms" in headers:
            seconds = float(headers["retry-after-ms"]) / 1000
        elif "retry-after" in headers:
            value = headers["retry-after"].strip()
            try:
                seconds = float(value)
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                seconds = (when - datetime.now(when.tzinfo or UTC)).total_seconds()
    except (ValueError, TypeError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        return default
    return min(RETRY_AFTER_MAX, max(1, math.ceil(seconds)))
