"""`zyntro org|brand|member|key …`: the account model, as the administrator."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import timedelta

import typer

from zyntro.cli.common import JsonOption, fail, handle_errors, service
from zyntro.cli.output import emit, emit_table
from zyntro.domain import ApiKey, Role, format_timestamp
from zyntro.events import key_view
from zyntro.identity import SYSTEM

org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
brand_app = typer.Typer(help="Brands of an organization.", no_args_is_help=True)
member_app = typer.Typer(help="Members of an organization and their roles.", no_args_is_help=True)
key_app = typer.Typer(
    help="API keys: a member's (Me > API Keys) or an organization's.", no_args_is_help=True
)


@org_app.command("create")
@handle_errors
def org_create(ctx: typer.Context, name: str, as_json: bool = JsonOption) -> None:
    """Create an organization."""
    org = service(ctx, create=True).create_org(SYSTEM, name)  # may start a new database
    emit(
        as_json, {"org_id": org.id, "name": org.name}, f"Created organization {org.id} ({org.name})"
    )


@org_app.command("list")
@handle_errors
def org_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List organizations."""
    rows = [
        {"org_id": o.id, "name": o.name, "created_at": o.created_at}
        for o in service(ctx).list_orgs(SYSTEM)
    ]
    emit_table(as_json, rows, ["org_id", "name", "created_at"])


@brand_app.command("create")
@handle_errors
def brand_create(
    ctx: typer.Context,
    name: str,
    org: str = typer.Option(..., "--org", help="Organization id."),
    as_json: bool = JsonOption,
) -> None:
    """Create a brand in an organization."""
    brand = service(ctx).create_brand(SYSTEM, org, name)
    emit(
        as_json,
        {"brand_id": brand.id, "org_id": brand.org_id, "name": brand.name},
        f"Created brand {brand.id} ({brand.name}) in {brand.org_id}",
    )


@brand_app.command("list")
@handle_errors
def brand_list(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    as_json: bool = JsonOption,
) -> None:
    """List the brands of an organization."""
    rows = [
        {"brand_id": b.id, "org_id": b.org_id, "name": b.name, "created_at": b.created_at}
        for b in service(ctx).list_brands(SYSTEM, org)
    ]
    emit_table(as_json, rows, ["brand_id", "name", "created_at"])


@brand_app.command("rename")
@handle_errors
def brand_rename(ctx: typer.Context, brand_id: str, name: str, as_json: bool = JsonOption) -> None:
    """Rename a brand."""
    brand = service(ctx).rename_brand(SYSTEM, brand_id, name)
    emit(
        as_json,
        {"brand_id": brand.id, "name": brand.name},
        f"Renamed brand {brand.id} to {brand.name}",
    )


@brand_app.command("delete")
@handle_errors
def brand_delete(ctx: typer.Context, brand_id: str, as_json: bool = JsonOption) -> None:
    """Delete a brand and its segments."""
    service(ctx).delete_brand(SYSTEM, brand_id)
    emit(as_json, {"brand_id": brand_id, "deleted": True}, f"Deleted brand {brand_id}")


def _member_row(member: object) -> dict[str, object]:
    row = asdict(member)  # type: ignore[call-overload]
    row["member_id"] = row.pop("id")
    return dict(row)


@member_app.command("add")
@handle_errors
def member_add(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    email: str = typer.Option(..., "--email"),
    name: str = typer.Option(..., "--name"),
    role: Role = typer.Option(..., "--role", help="owner, in_charge or member."),
    as_json: bool = JsonOption,
) -> None:
    """Add a member to an organization."""
    member = service(ctx).add_member(SYSTEM, org, email, name, role)
    emit(
        as_json,
        _member_row(member),
        f"Added member {member.id} ({member.email}, {member.role.value})",
    )


@member_app.command("list")
@handle_errors
def member_list(
    ctx: typer.Context,
    org: str = typer.Option(..., "--org", help="Organization id."),
    as_json: bool = JsonOption,
) -> None:
    """List the members of an organization, with their two-factor state and last sign-in."""
    found = service(ctx).list_members(SYSTEM, org)
    facts = service(ctx).sign_in_facts(SYSTEM, org)
    rows = [
        {
            **_member_row(m),
            "two_factor": facts[m.id].two_factor,
            "last_sign_in_at": facts[m.id].last_sign_in_at,
        }
        for m in found
    ]
    columns = ["member_id", "email", "name", "role", "active", "two_factor", "last_sign_in_at"]
    emit_table(as_json, rows, columns)


@member_app.command("set-role")
@handle_errors
def member_set_role(
    ctx: typer.Context, member_id: str, role: Role, as_json: bool = JsonOption
) -> None:
    """Change a member's role."""
    member = service(ctx).set_role(SYSTEM, member_id, role)
    emit(as_json, _member_row(member), f"Member {member.id} is now {member.role.value}")


@member_app.command("deactivate")
@handle_errors
def member_deactivate(ctx: typer.Context, member_id: str, as_json: bool = JsonOption) -> None:
    """Deactivate a member; their API keys stop working at once."""
    member = service(ctx).deactivate_member(SYSTEM, member_id)
    emit(as_json, _member_row(member), f"Deactivated member {member.id}")


@member_app.command("set-password")
@handle_errors
def member_set_password(
    ctx: typer.Context,
    member_id: str,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (for scripts)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Set a member's dashboard password (asked twice, hidden); old sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():  # getpass would warn and echo: no terminal to ask on
        raise fail(
            "no terminal to ask for the password on: give --password-stdin and write it "
            "to standard input"
        )
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    service(ctx).set_password(SYSTEM, member_id, password)
    emit(
        as_json,
        {"member_id": member_id, "password_set": True},
        f"Password set for member {member_id}: they can sign in to the dashboard at /app",
    )


def _key_row(ctx: typer.Context, key: ApiKey) -> dict[str, object]:
    """The key as `/api/v1` shows it (the same fields, names and order), its scopes those it
    has now (a personal key's: all its member's role allows unless narrowed)."""
    return key_view(key, service(ctx).scopes_of(key))


def _grace(text: str) -> timedelta:
    """`24h`, `30m`, `90s`, `2d` or `0` (seconds when no unit is given)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    number, unit = (value[:-1], value[-1]) if value[-1:] in units else (value, "s")
    if not number.isdigit():
        raise typer.BadParameter("a duration like 24h, 30m, 90s or 0", param_hint="--grace")
    return timedelta(seconds=int(number) * units[unit])


@key_app.command("create")
@handle_errors
def key_create(
    ctx: typer.Context,
    member: str | None = typer.Option(None, "--member", help="Member id (a personal key)."),
    org: str | None = typer.Option(None, "--org", help="Organization id (an organization key)."),
    label: str = typer.Option("", "--label"),
    expires_in: int | None = typer.Option(None, "--expires-in", help="Days until it expires."),
    scope: list[str] | None = typer.Option(
        None, "--scope", help="A scope it may use (repeat); default: all the role allows."
    ),
    brand: list[str] | None = typer.Option(None, "--brand", help="Only this brand (repeat)."),
    allow: list[str] | None = typer.Option(
        None, "--allow", help="Only from this IPv4/IPv6 address or CIDR (repeat)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create an API key, personal (--member) or the organization's (--org); the key is
    printed this once and never stored."""
    from zyntro.service.keys import KeyLimits  # the service is imported by commands that run

    if (member is None) == (org is None):
        raise typer.BadParameter("give --member MEMBER or --org ORG", param_hint="--member")
    limits = KeyLimits(scope or None, brand or None, allow or None)
    if org is not None:
        key, plain_key = service(ctx).create_org_key(SYSTEM, org, label, expires_in, limits)
    else:
        assert member is not None
        key, plain_key = service(ctx).create_key(SYSTEM, member, label, expires_in, limits)
    emit(
        as_json,
        {**_key_row(ctx, key), "api_key": plain_key},
        f"Created key {key.id}: {plain_key}",
        "Store it now: it is shown only once.",
    )


@key_app.command("list")
@handle_errors
def key_list(
    ctx: typer.Context,
    member: str | None = typer.Option(None, "--member", help="Member id."),
    org: str | None = typer.Option(None, "--org", help="Organization id: its own keys."),
    as_json: bool = JsonOption,
) -> None:
    """List a member's keys, or an organization's own keys (prefixes only)."""
    if (member is None) == (org is None):
        raise typer.BadParameter("give --member MEMBER or --org ORG", param_hint="--member")
    found = (
        service(ctx).list_org_keys(SYSTEM, org)
        if org is not None
        else service(ctx).list_keys(SYSTEM, member or "")
    )
    emit_table(
        as_json,
        [_key_row(ctx, k) for k in found],
        ["key_id", "kind", "prefix", "label", "scopes", "created_at", "last_used_at", "revoked_at"],
    )


@key_app.command("revoke")
@handle_errors
def key_revoke(ctx: typer.Context, key_id: str, as_json: bool = JsonOption) -> None:
    """Revoke a key; every server refuses it within a second."""
    key = service(ctx).revoke_key(SYSTEM, key_id)
    emit(as_json, _key_row(ctx, key), f"Revoked key {key.id}")


@key_app.command("roll")
@handle_errors
def key_roll(
    ctx: typer.Context,
    key_id: str,
    grace: str = typer.Option(
        "24h", "--grace", help="How long the current secret keeps working: 24h, 30m, 0, …"
    ),
    as_json: bool = JsonOption,
) -> None:
    """A new secret for the key (same id); the current one works for the grace period."""
    key, plain_key = service(ctx).roll_key(SYSTEM, key_id, _grace(grace))
    until = key.previous_until
    emit(
        as_json,
        {**_key_row(ctx, key), "api_key": plain_key},
        f"Rolled key {key.id}: {plain_key}",
        "Store it now: it is shown only once. The previous secret "
        + (f"works until {format_timestamp(until)} UTC." if until else "no longer works."),
    )


@key_app.command("usage")
@handle_errors
def key_usage(ctx: typer.Context, key_id: str, as_json: bool = JsonOption) -> None:
    """Requests and errors a day over the last 30 days (UTC)."""
    rows = [
        {"day": day.isoformat(), "requests": requests, "errors": errors}
        for day, requests, errors in service(ctx).key_usage(SYSTEM, key_id)
    ]
    emit_table(as_json, rows, ["day", "requests", "errors"])
