"""Jinja2 templates of the dashboard, with the filters they use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2
from starlette.templating import Jinja2Templates

from zyntro import __version__
from zyntro.domain import Role, format_timestamp

# One label per role, wherever the dashboard names one (the top bar, members, notices).
ROLE_LABELS = {Role.OWNER: "Owner", Role.IN_CHARGE: "Member in-charge", Role.MEMBER: "Member"}


def role_label(role: Role | str) -> str:
    return ROLE_LABELS[Role(role)]


TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def _when(moment: datetime | None, empty: str = "—") -> str:
    return format_timestamp(moment) if moment is not None else empty


def _day(moment: datetime | None, empty: str = "—") -> str:
    return format_timestamp(moment)[:10] if moment is not None else empty


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template is HTML
        undefined=jinja2.StrictUndefined,  # a typo in a template fails a test, not a page
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["role"] = role_label
    env.globals["version"] = __version__
    return env


templates = Jinja2Templates(env=_environment())
