"""`zyntro segment draft` and `zyntro brand profile`: drafting segments with AI, and the
brand profile it reads (docs/ai.md). Drafts are printed, never saved."""

from __future__ import annotations

from typing import Any

import typer

from zyntro.cli.common import JsonOption, handle_errors, service, state
from zyntro.cli.output import emit, emit_json, error_console, show
from zyntro.errors import DraftingNotConfigured
from zyntro.identity import SYSTEM

_LABELS = {
    "segment_tag": "tag",
    "segment_decision_drivers": "decision drivers",
    "segment_pain_points": "pain points",
    "segment_use_cases": "use cases",
    "segment_tone": "tone",
    "reasoning": "reasoning",
}


@handle_errors
def segment_draft(
    ctx: typer.Context,
    description: str = typer.Argument(..., help="Who the audience is, in a sentence or two."),
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    count: int = typer.Option(3, "--count", min=1, max=5, help="How many drafts, 1-5."),
    member: str | None = typer.Option(
        None, "--member", help="Draft as this member (owner or in_charge; role-checked)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Draft segments with AI from a description; nothing is saved.

    Keep a draft with `segment add`, or save the --json output to a file and `segment
    import` it."""
    import anyio

    from zyntro.drafting.drafter import Drafter
    from zyntro.drafting.provider import ChatProvider

    provider = ChatProvider.from_settings(state(ctx).settings)
    if provider is None:
        raise DraftingNotConfigured()
    svc = service(ctx)
    actor = svc.act_as(member) if member else SYSTEM
    drafter = Drafter(svc, provider)  # no quotas: the administrator's own tool
    with error_console.status("Drafting with the AI provider…", spinner="dots") as status:
        if as_json or not error_console.is_terminal:
            status.stop()
        drafts = anyio.run(drafter.draft, actor, brand, description, count)
    if as_json:
        emit_json(drafts)
        return
    for number, draft in enumerate(drafts, 1):
        show(f"Draft {number}: {draft['segment_label']} ({draft['segment_type']})")
        for name, label in _LABELS.items():
            value = draft[name]
            text = ", ".join(value) if isinstance(value, list) else value
            if text:
                show(f"  {label}: {text}")
    show(
        f"Nothing was saved. Keep a draft with `zyntro segment add --brand {brand} …`, or write "
        "them with --json to a file and `zyntro segment import` it."
    )


@handle_errors
def brand_profile(
    ctx: typer.Context,
    brand_id: str,
    offering: str | None = typer.Option(None, "--offering", help="What the brand sells."),
    audience: str | None = typer.Option(None, "--audience", help="To whom it sells."),
    voice: str | None = typer.Option(None, "--voice", help="How it speaks."),
    member: str | None = typer.Option(None, "--member", help="Act as this member (role-checked)."),
    as_json: bool = JsonOption,
) -> None:
    """Show or change a brand's profile: what it sells, to whom, its voice.

    Only the parts given change ("" clears one). Drafting with AI reads the profile."""
    svc = service(ctx)
    actor = svc.act_as(member) if member else SYSTEM
    given = {"offering": offering, "audience": audience, "voice": voice}
    changes: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if changes:
        brand = svc.set_brand_profile(actor, brand_id, changes)
    else:
        brand = svc.get_brand(actor, brand_id)
    profile = brand.profile.to_public()
    emit(
        as_json,
        {"brand_id": brand.id, "profile": profile},
        *(f"{name}: {value or '-'}" for name, value in profile.items()),
    )
