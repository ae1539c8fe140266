"""A segment as prompt-ready context: a compact, stable text block for a generation prompt.

Stable means the same segment always renders to the same bytes: a fixed order of lines,
empty fields left out, every value on one line (runs of whitespace become one space), and
`<`, `>`, `&` escaped so that no value can end the block early. An example is in docs/ai.md.
"""

from __future__ import annotations

from html import escape

from zyntro.domain import Segment

TAG = "audience_segment"


def _one_line(text: str) -> str:
    return escape(" ".join(text.split()), quote=False)


def segment_context(segment: Segment, brand_name: str) -> str:
    """The block for one segment of the brand called `brand_name`."""
    brand = escape(" ".join(brand_name.split()))  # quotes escaped too: an attribute value
    lines = [f'<{TAG} id="{escape(segment.id)}" brand="{brand}">']
    fields = (
        ("Audience", segment.segment_label),
        ("Type", segment.segment_type),
        ("Tag", segment.segment_tag),
        ("Tone", segment.segment_tone),
        ("Decision drivers", segment.segment_decision_drivers),
        ("Pain points", "; ".join(segment.segment_pain_points)),
        ("Use cases", "; ".join(segment.segment_use_cases)),
        ("Why this audience", segment.reasoning),
    )
    lines += [f"{name}: {_one_line(value)}" for name, value in fields if value.strip()]
    lines.append(f"</{TAG}>")
    return "\n".join(lines)
