"""The model client: the `openai` library against any OpenAI-compatible server.

`openai` is imported only when a model is configured: it costs every process some 20 MB.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.settings import Settings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)


class ModelError(Exception):
    """The model did not give a usable answer (timeout, refusal, 429, 5xx, malformed)."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason
        """For the metrics: timeout, rate_limited or error."""


def _reason(error: Exception) -> str:
    import openai

    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.RateLimitError):
        return "rate_limited"
    return "error"


class ModelClient:
    def __init__(self, settings: Settings) -> None:
        self.model = settings.llm_model or ""
        self.enabled = bool(settings.llm_base_url and settings.llm_model)
        self._client: openai.AsyncOpenAI | None = None
        self._errors: tuple[type[Exception], ...] = (ValueError,)
        if self.enabled:
            import openai

            self._client = openai.AsyncOpenAI(
                base_url=settings.llm_base_url,
                api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none",
                timeout=settings.llm_timeout_seconds,
                max_retries=0,  # a late answer is no answer: the learner gets the offline one
            )
            self._errors = (openai.OpenAIError, ValueError)

    async def complete(self, system: str, user: str, max_tokens: int = 400) -> str:
        if self._client is None:
            raise ModelError("no model is configured")
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                temperature=0.2,
                max_tokens=max_tokens,
            )
        except self._errors as error:
            raise ModelError(f"{type(error).__name__}: {error}"[:300], _reason(error)) from error
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, KeyError, TypeError) as error:
            raise ModelError(f"an answer of the wrong shape: {error}"[:300]) from error
        if not isinstance(content, str) or not content.strip():
            raise ModelError("the model gave an empty answer")
        return content.strip()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
