"""`zyntro doctor`: one line a check, exit code 1 when any is a problem (docs/operations.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from zyntro.cli.common import JsonOption, handle_errors, state
from zyntro.cli.output import emit_json, show

if TYPE_CHECKING:
    from pydantic import ValidationError

    from zyntro.doctor import Check


@handle_errors
def doctor(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check the database, Redis, the secret, the address, the proxy, disk space and backups."""
    from pydantic import ValidationError

    from zyntro.doctor import Status, run_checks

    try:
        settings = state(ctx).settings
    except ValidationError as error:  # reported like every other problem, not as a crash
        checks = invalid_settings(error)
    else:
        checks = run_checks(settings)
    problems = sum(check.status is Status.PROBLEM for check in checks)
    warnings = sum(check.status is Status.WARNING for check in checks)
    if as_json:
        emit_json(
            {"ok": problems == 0, "problems": problems, "warnings": warnings, "checks": checks}
        )
    else:
        width = max(len(check.name) for check in checks)
        show(
            *(
                f"{check.status.value:<8} {check.name:<{width}}  {check.message}"
                + (f" → {check.action}" if check.action else "")
                for check in checks
            ),
            f"{problems} problem(s), {warnings} warning(s)",
        )
    if problems:
        raise typer.Exit(1)


# The check that reports a setting the environment gives an invalid value.
_CHECK_OF_SETTING = {
    "database_url": "database",
    "redis_url": "redis",
    "secret_key": "secret",
    "host": "bind",
    "port": "bind",
    "trusted_proxies": "proxy",
    "backup_dir": "backup",
}


def invalid_settings(error: ValidationError) -> list[Check]:
    """The settings the environment gives invalid values: one problem each (nothing else can
    be checked until they are fixed; the values themselves are not repeated: they may be
    secrets)."""
    from zyntro.doctor import problem

    checks = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail.get("loc") else ""
        variable = f"ZYNTRO_{field.upper()}" if field else "a ZYNTRO_ setting"
        reason = str(detail.get("msg", "is invalid")).removeprefix("Value error, ")
        checks.append(
            problem(
                _CHECK_OF_SETTING.get(field, "settings"),
                f"{variable} is invalid: {reason}",
                f"fix {variable} (README, Configuration)",
            )
        )
    return checks
