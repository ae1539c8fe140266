"""The messages drafting sends: the instructions, the brand (name, profile, a bounded list of
its segments) and the person's description; and the repair request after an invalid answer.

The brand's own texts go in as JSON, so that they read as data to draft from and where they
end is never in doubt. docs/ai.md shows what is sent.
"""

from __future__ import annotations

import json
from typing import Any

from zyntro.domain import Segment
from zyntro.service import DraftingContext

# The most existing segments shown to the model, and how much of each: enough for it to see
# what the brand already covers, bounded so that a brand of thousands still fits the context.
CONTEXT_SEGMENTS = 50
_FIELD_CHARS = 200

SYSTEM = """\
You draft audience segments for a brand's marketing team. A segment describes one audience \
the brand writes to: a label, a type, a tag, the drivers of its decisions, its pain points, \
the brand's use cases for it, the tone to write to it in, and the reasoning behind it.

Answer with one JSON object and nothing else: {"segments": [ ... ]}, each segment an object \
with exactly these keys: segment_label, segment_type, segment_tag, segment_decision_drivers, \
segment_pain_points, segment_use_cases, segment_tone, reasoning.

Rules:
- segment_label: a readable name of the audience, 1-200 characters.
- segment_type: lowercase snake_case, 1-40 characters, such as demographic, behavioral, \
psychographic, geographic, firmographic, technographic, transactional or lifecycle.
- segment_tag, segment_tone: short lowercase snake_case, e.g. high_value_prospects, \
professional_friendly.
- segment_decision_drivers: comma-separated words, e.g. "Quality, Price, Customer Service".
- segment_pain_points, segment_use_cases: arrays of 3 to 8 short snake_case strings.
- reasoning: two to four sentences on why this audience matters to the brand.
Draft segments that are distinct from each other and from the brand's existing segments: \
complement them, never repeat them. Write in the language of the description."""


def _clip(text: str) -> str:
    return text if len(text) <= _FIELD_CHARS else text[: _FIELD_CHARS - 1] + "…"


def _existing(segment: Segment) -> dict[str, Any]:
    return {
        "label": _clip(segment.segment_label),
        "type": segment.segment_type,
        "tag": _clip(segment.segment_tag),
        "pain_points": [_clip(item) for item in segment.segment_pain_points[:5]],
    }


def brand_message(context: DraftingContext) -> str:
    """What the model is told of the brand."""
    brand = context.brand
    about: dict[str, str] = {"name": brand.name}
    labels = {"offering": "what_it_sells", "audience": "to_whom", "voice": "its_voice"}
    for part, value in brand.profile.to_public().items():
        if value:
            about[labels[part]] = value
    lines = ["The brand:", json.dumps(about, ensure_ascii=False)]
    shown = context.segments
    if shown:
        more = context.total - len(shown)
        lines.append(
            f"Its existing segments ({context.total} in all"
            + (f"; the first {len(shown)} shown" if more > 0 else "")
            + "), one JSON object a line:"
        )
        lines.extend(json.dumps(_existing(s), ensure_ascii=False) for s in shown)
    else:
        lines.append("It has no segments yet.")
    return "\n".join(lines)


def draft_request(description: str, count: int) -> str:
    noun = "segment" if count == 1 else "segments"
    return (
        f"Draft {count} audience {noun} for this audience, described by a member of the "
        f"brand's team:\n{json.dumps(description, ensure_ascii=False)}"
    )


def messages(context: DraftingContext, description: str, count: int) -> list[dict[str, str]]:
    """The conversation of a first request."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": brand_message(context)},
        {"role": "user", "content": draft_request(description, count)},
    ]


def repair(
    first: list[dict[str, str]], answer: str | None, problems: list[str]
) -> list[dict[str, str]]:
    """The conversation again, with the invalid answer and what was wrong with it."""
    conversation = list(first)
    if answer:
        conversation.append({"role": "assistant", "content": answer})
    listed = "\n".join(f"- {problem}" for problem in problems[:20])
    conversation.append(
        {
            "role": "user",
            "content": "That answer cannot be used:\n"
            + listed
            + '\nAnswer again with only the JSON object {"segments": [...]}, following the rules.',
        }
    )
    return conversation
