"""What every command shares: the service and one-line errors (output: `cli/output.py`).

Light on purpose: `zyntro --help` imports every command module, so the server stack
(SQLAlchemy, pydantic, the app) is imported only when a command needs it (`State`).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer

from zyntro.cli.output import show
from zyntro.errors import ZyntroError

if TYPE_CHECKING:
    from zyntro.service import Service
    from zyntro.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
# `Settings.database_url`'s default, repeated so that commands that need nothing else from
# the settings do not build them (pydantic-settings, and the rate limit parser they check
# values with); tests/test_cli_startup.py keeps the two equal.
DEFAULT_DATABASE_URL = "sqlite:///./zyntro.db"


_KEY_CAP_VARIABLE = "ZYNTRO_MAX_KEYS_PER_MEMBER"
_SEGMENT_CAP_VARIABLE = "ZYNTRO_MAX_SEGMENTS_PER_BRAND"
_ALLOW_PRIVATE_VARIABLE = "ZYNTRO_WEBHOOK_ALLOW_PRIVATE"


class State:
    """Per-invocation state: settings and the service, each made when first used."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url or DEFAULT_DATABASE_URL
        self._service: Service | None = None

    @cached_property
    def settings(self) -> Settings:
        """Every setting (the environment's), with this invocation's database."""
        from zyntro.settings import Settings

        return Settings(database_url=self.database_url)

    def service(self) -> Service:
        if self._service is None:
            from zyntro.service import Service
            from zyntro.store import Store, migrate

            store = Store(self.database_url)
            try:
                migrate.prepare(store.engine)
            except BaseException:
                store.dispose()
                raise
            # The two caps are the settings the service takes. Reading every setting costs a
            # read command a third of its start-up (pydantic-settings, the rate-limit parser),
            # so they are read only when a cap is set; their defaults are the Service's own.
            options = {}
            if _KEY_CAP_VARIABLE in os.environ:
                options["max_keys_per_member"] = self.settings.max_keys_per_member
            if _SEGMENT_CAP_VARIABLE in os.environ:
                options["max_segments_per_brand"] = self.settings.max_segments_per_brand
            self._service = Service(store, **options)
            if _ALLOW_PRIVATE_VARIABLE in os.environ:  # the webhook address guard
                self._service.webhook_allow_private = self.settings.webhook_allow_private
        return self._service

    def close(self) -> None:
        """Close the database connections (when the command ends, also when run in-process)."""
        if self._service is not None:
            self._service.close()
            self._service = None


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(None)
    return root.obj


def service(ctx: typer.Context) -> Service:
    return state(ctx).service()


def fail(message: str) -> typer.Exit:
    show(f"error: {message}", stderr=True)
    return typer.Exit(1)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn any failure into one line on stderr and exit code 1: never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was written by the unfinished step") from None
        except Exception as exc:
            raise fail(_error_message(exc)) from None

    return wrapper


def _error_message(exc: Exception) -> str:
    if isinstance(exc, ZyntroError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
    if "sqlalchemy" in sys.modules:  # else the error cannot be one of its own
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.OperationalError):
            return f"the database cannot be reached ({type(exc.orig).__name__})"
    return f"unexpected {type(exc).__name__}: {exc}"
