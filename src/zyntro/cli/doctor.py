"""`zyntro doctor`: one line a check, exit code 1 when any is a problem (docs/operations.md)."""

from __future__ import annotations

import typer

from zyntro.cli.common import JsonOption, handle_errors, state
from zyntro.cli.output import emit_json, show


@handle_errors
def doctor(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check the database, Redis, the secret, the address, the proxy, disk space and backups."""
    from pydantic import ValidationError

    from zyntro.doctor import Status, invalid_settings, run_checks

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
