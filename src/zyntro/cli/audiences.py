"""`zyntro audiences fetch`: the fetchAudiences API from the command line, through the SDK."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from zyntro.cli.common import JsonOption, fail, handle_errors
from zyntro.cli.output import json_text, print_rows, show

if TYPE_CHECKING:
    from zyntro.client import AudienceSegment

audiences_app = typer.Typer(help="Call the fetchAudiences API (a client).", no_args_is_help=True)

_COLUMNS = ("segment_label", "segment_type", "segment_tag", "updated_at")
# The command ships with the server: its default is the local one (`zyntro serve`, make run),
# not the SDK's (the hosted service), so the README's examples run as written.
LOCAL_BASE_URL = "http://127.0.0.1:8000"


@audiences_app.command("fetch")
@handle_errors
def audiences_fetch(
    brand: str = typer.Option(..., "--brand", help="Brand id."),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="ZYNTRO_API_KEY",
        show_envvar=True,
        help="API key. A key written here is discouraged (other users see it in ps, shell "
        "history keeps it): set ZYNTRO_API_KEY, or give --api-key - and write the key to "
        "standard input; on a terminal, leave it out to be asked for it (not echoed).",
    ),
    org: str | None = typer.Option(
        None, "--org", envvar="ZYNTRO_ORG_ID", show_envvar=True, help="Organization id."
    ),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="ZYNTRO_BASE_URL",
        show_envvar=True,
        help=f"API base URL (default {LOCAL_BASE_URL}, the local server).",
    ),
    # The SDK's defaults, named here so that --help need not import the SDK (and httpx).
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.001, help="Seconds per attempt (default 10)."
    ),
    max_retries: int | None = typer.Option(
        None, "--max-retries", min=0, help="Retries on 429, 503, connect errors (default 3)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """The audience segments of a brand: a table, or with --json the API's raw response."""
    if not org:
        raise fail("an organization is required: pass --org or set ZYNTRO_ORG_ID")
    api_key = _api_key(api_key)
    from zyntro.client import ZyntroClient, ZyntroError

    given: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
    options = {name: value for name, value in given.items() if value is not None}
    from zyntro.client.errors import TransportError

    try:
        with ZyntroClient(api_key, org, url or LOCAL_BASE_URL, **options) as client:
            response = client.fetch_audiences_response(brand)
    except TransportError as exc:  # nothing answers there: say what chooses the address
        where = url or f"{LOCAL_BASE_URL} (the default)"
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {cause}" if cause else exc.message
        raise fail(
            f"no answer from {where}: --url or ZYNTRO_BASE_URL chooses the server ({reason})"
        ) from None
    except ZyntroError as exc:  # the SDK's errors (the server's message for API errors)
        raise fail(exc.message) from None
    if as_json:
        # As the server sent it (JSON it parsed; terminal controls as \u escapes); for a
        # brand without segments, the no_segments body (exit 0).
        sys.stdout.write(json_text(response.content.decode("utf-8")) + "\n")
        return
    if response.segments:
        print_rows(("segment_id", *_COLUMNS), [_row(s) for s in response.segments])
    show(response.message)


def _api_key(given: str | None) -> str:
    """The key given (option or environment), read from stdin for `-`, or asked for."""
    if given == "-":
        key = sys.stdin.readline().strip()
        if not key:
            raise fail("no API key on standard input (--api-key -)")
        return key
    if given:
        return given
    if sys.stdin.isatty():
        return str(typer.prompt("API key", hide_input=True, err=True)).strip()
    raise fail(
        "an API key is required: set ZYNTRO_API_KEY, or give --api-key - and write it "
        "to standard input"
    )


def _row(segment: AudienceSegment) -> tuple[str, ...]:
    fields = segment.to_api()
    return (segment.segment_id, *(fields[column] for column in _COLUMNS))
