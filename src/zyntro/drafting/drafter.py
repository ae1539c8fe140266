"""Drafting: a description of an audience in, proposed segments out, nothing written.

The service decides who may draft for which brand and what the model may see of it
(`Service.drafting_context`); the quotas count per member and per organization; the provider
answers; every draft passes the domain's field rules, and an invalid answer is sent back once
with what was wrong before the request is refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from zyntro.drafting import prompt
from zyntro.drafting.provider import CONTENT_FILTERED, ChatProvider
from zyntro.drafting.schema import (
    DEFAULT_COUNT,
    DESCRIPTION_MAX,
    MAX_DRAFTS,
    InvalidOutput,
    parse_drafts,
    response_format,
)
from zyntro.errors import (
    DraftingFailed,
    DraftingRateLimited,
    DraftingUnavailable,
    ValidationFailed,
)
from zyntro.identity import Actor
from zyntro.ratelimit import Headers, Quota, RateLimits
from zyntro.service import Service
from zyntro.settings import Settings

log = logging.getLogger("zyntro.drafting")
# Less than this share of the budget left after the first answer: no repair is attempted.
MIN_REPAIR_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Quotas:
    """Drafts per member and per organization (ZYNTRO_DRAFT_*_RATE_LIMIT)."""

    member: Quota
    org: Quota

    @classmethod
    def from_settings(cls, settings: Settings, limits: RateLimits) -> Quotas:
        return cls(
            Quota("draft-member", settings.draft_member_rate_limit, limits),
            Quota("draft-org", settings.draft_org_rate_limit, limits),
        )

    async def hit(self, actor: Actor) -> None:
        """Count one draft; DraftingRateLimited when the member or the organization is over."""
        counted = actor.member_id or actor.key_id  # an organization key counts as a member
        if counted is None or actor.org_id is None:
            return  # the administrator at the CLI
        allowed, headers = await self.member.hit(counted)
        if not allowed:
            raise DraftingRateLimited(
                "You have drafted too often. Please wait before drafting again.", _wait(headers)
            )
        allowed, headers = await self.org.hit(actor.org_id)
        if not allowed:
            raise DraftingRateLimited(
                "Your organization has drafted too often. Please wait before drafting again.",
                _wait(headers),
            )


def _wait(headers: Headers) -> int:
    return next((int(value) for name, value in headers if name == "retry-after"), 60)


def check_request(description: Any, count: Any) -> tuple[str, int]:
    """The description (1-2000 characters) and the number of drafts (1-5) asked for."""
    if not isinstance(description, str) or not description.strip():
        raise ValidationFailed("description", "is required: describe the audience in a sentence")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX or "\x00" in description:
        raise ValidationFailed("description", f"must be at most {DESCRIPTION_MAX} characters")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_DRAFTS:
        raise ValidationFailed("count", f"must be a whole number from 1 to {MAX_DRAFTS}")
    return description, count


class Drafter:
    """Drafts segments for a brand with the configured provider."""

    def __init__(
        self, service: Service, provider: ChatProvider, quotas: Quotas | None = None
    ) -> None:
        self.service = service
        self.provider = provider
        self.quotas = quotas

    async def draft(
        self, actor: Actor, brand_id: str, description: Any, count: Any = DEFAULT_COUNT
    ) -> list[dict[str, Any]]:
        """Up to `count` drafts in the shape a create call takes; nothing is saved."""
        description, count = check_request(description, count)
        context = await anyio.to_thread.run_sync(
            self.service.drafting_context, actor, brand_id, prompt.CONTEXT_SEGMENTS
        )
        if self.quotas is not None:  # after the checks: a refused request costs nothing
            await self.quotas.hit(actor)
        # One budget for the whole draft, repair included: the answer must reach the person
        # (and any proxy in between, which gives up after 60 s by default) in time.
        deadline = time.monotonic() + self.provider.timeout
        first = prompt.messages(context, description, count)
        answer = await self.provider.complete(first, response_format())
        if answer.refusal:
            raise DraftingFailed(f"The AI provider declined to draft: {answer.refusal[:300]}")
        if answer.finish_reason == "content_filter":  # asking again gets the same
            raise DraftingFailed(CONTENT_FILTERED)
        try:
            return parse_drafts(answer.content, count)
        except InvalidOutput as invalid:
            log.info("drafting answer invalid, asking once more (%d)", len(invalid.problems))
            problems = invalid.problems
        left = deadline - time.monotonic()
        if left < self.provider.timeout * MIN_REPAIR_SHARE:
            raise DraftingUnavailable(
                "The AI provider answered too slowly to correct its drafts. Please try again.",
            )
        again = await self.provider.complete(
            prompt.repair(first, answer.content, problems), response_format(), left
        )
        try:
            return parse_drafts(again.content, count)
        except InvalidOutput as invalid:
            log.warning("drafting answer invalid after a repair: %s", invalid.problems[:3])
            raise DraftingFailed(
                "The AI provider's drafts broke the segment rules twice ("
                + "; ".join(invalid.problems[:3])
                + "). Please try again, perhaps with a clearer description."
            ) from None


def drafter_for(settings: Settings, service: Service, limits: RateLimits) -> Drafter | None:
    """The server's drafter, or None when no provider is configured (the feature is off)."""
    provider = ChatProvider.from_settings(settings)
    if provider is None:
        return None
    return Drafter(service, provider, Quotas.from_settings(settings, limits))
