"""`zyntro member reset-2fa` and `zyntro org require-2fa`: two-factor sign-in, as the
administrator (docs/security.md, "Two-factor sign-in")."""

from __future__ import annotations

import typer

from zyntro.cli.common import JsonOption, handle_errors, service
from zyntro.cli.output import emit
from zyntro.identity import SYSTEM


@handle_errors
def member_reset_two_factor(ctx: typer.Context, member_id: str, as_json: bool = JsonOption) -> None:
    """Turn off a member's two-factor sign-in (phone and recovery codes lost); sessions end."""
    member = service(ctx).reset_two_factor(SYSTEM, member_id)
    emit(
        as_json,
        {"member_id": member.id, "two_factor": False},
        f"Two-factor sign-in of member {member.id} ({member.email}) is reset; their sessions "
        "have ended. They sign in with their password and can set it up again under Me.",
    )


@handle_errors
def org_require_two_factor(
    ctx: typer.Context,
    org_id: str,
    off: bool = typer.Option(False, "--off", help="Stop requiring it."),
    as_json: bool = JsonOption,
) -> None:
    """Require two-factor sign-in of every member of an organization (or stop, with --off)."""
    service(ctx).set_two_factor_required(SYSTEM, org_id, not off)
    if off:
        line = f"Two-factor sign-in is no longer required in {org_id}"
    else:
        line = (
            f"Two-factor sign-in is required in {org_id}: members without it set it up "
            "before they can use the dashboard"
        )
    emit(as_json, {"org_id": org_id, "require_two_factor": not off}, line)
