"""Members: everyone sees the list; an owner adds members, changes roles, deactivates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from zyntro.domain import Role
from zyntro.errors import Conflict, ValidationFailed
from zyntro.passwords import validate_password
from zyntro.web.context import PREFIX, CheckedForm, Dashboard, DashboardRoute, SignedIn, text
from zyntro.web.listing import ListQuery, list_query, page_of
from zyntro.web.templating import ROLE_LABELS, role_label

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
ROLES = tuple(ROLE_LABELS.items())


def _members_page(
    dash: Dashboard,
    status: int = 200,
    errors: dict[str, str] | None = None,
    query: ListQuery | None = None,
    **values: Any,
) -> Response:
    members = dash.service.list_members(dash.actor, dash.org_id)
    page = page_of(
        members,
        query or ListQuery(),
        position=lambda member: (member.created_at, member.id),
        text=lambda member: f"{member.name} {member.email} {member.id} {role_label(member.role)}",
        kind=lambda member: member.role.value,
    )
    page.kind_labels = {role.value: label for role, label in ROLE_LABELS.items()}
    can_sign_in = dash.service.members_with_password(dash.actor, dash.org_id)
    # Owners also see each member's last sign-in and two-factor state (web/two_factor.py).
    facts = dash.service.sign_in_facts(dash.actor, dash.org_id) if dash.is_owner else {}
    return dash.render(
        "members.html",
        status,
        section="members",
        page=page,
        all_count=len(members),
        can_sign_in=can_sign_in,
        sign_in_facts=facts,
        two_factor_required=dash.service.two_factor_required(dash.actor, dash.org_id),
        roles=ROLES,
        errors=errors or {},
        values={"email": "", "name": "", "role": Role.MEMBER.value, **values},
    )


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed("role", "must be owner, in_charge or member") from None


@router.get(PREFIX + "/members")
def members_page(request: Request, dash: Dashboard = SignedIn) -> Response:
    return _members_page(dash, query=list_query(request))


@router.post(PREFIX + "/members")
def add_member(dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    email, name, role = text(form, "email"), text(form, "name"), text(form, "role")
    password = text(form, "password")
    errors: dict[str, str] = {}
    if password:
        try:
            validate_password(password)
        except ValidationFailed as error:
            errors["password"] = error.reason
    if not errors:
        try:
            member = dash.service.add_member(dash.actor, dash.org_id, email, name, _role(role))
        except ValidationFailed as error:
            errors[error.field] = error.reason
        except Conflict as error:
            errors["email"] = error.message
        else:
            notice = f"{member.name} ({member.email}) added as {role_label(member.role)}."
            if password:
                dash.service.set_password(dash.actor, member.id, password)
                notice += " They can sign in with the password you chose."
            return dash.redirect("/members", notice)
    return _members_page(dash, 422, errors, email=email, name=name, role=role)


@router.post(PREFIX + "/members/{member_id}/role")
def set_role(member_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm) -> Response:
    member = dash.service.set_role(dash.actor, member_id, _role(text(form, "role")))
    return dash.redirect("/members", f"{member.name} is now {role_label(member.role)}.")


@router.post(PREFIX + "/members/{member_id}/deactivate")
def deactivate(
    member_id: str, dash: Dashboard = SignedIn, form: FormData = CheckedForm
) -> Response:
    member = dash.service.deactivate_member(dash.actor, member_id)
    return dash.redirect(
        "/members", f"{member.name} deactivated. Their API keys and sessions stop working."
    )
