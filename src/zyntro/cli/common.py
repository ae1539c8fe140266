"""What every command shares: the service and one-line errors (output: `cli/output.py`).

Light on purpose: `zyntro --help` imports every command module, so the server stack
(SQLAlchemy, pydantic, the app) is imported only when a command needs it (`State`).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

from zyntro.cli.output import show
from zyntro.errors import ValidationFailed, ZyntroError
from zyntro.wording import requirement

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
DEMO_DATABASE = "zyntro-demo.db"  # `zyntro demo`'s file (make run), in the current directory


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

    def service(self, create: bool = False) -> Service:
        """The service over this invocation's database; a missing SQLite file is an error
        unless `create` (a command that starts a database), never silently made."""
        if self._service is None:
            from zyntro.service import Service
            from zyntro.store import Store, migrate

            check_database_url(self.database_url, create)
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


def service(ctx: typer.Context, create: bool = False) -> Service:
    return state(ctx).service(create)


SUPPORTED_URLS = "sqlite:///FILE or postgresql://user@host/db"


def check_database_url(url: str, create: bool = False) -> None:
    """Refuse a URL of a database Zyntro does not run on, and (unless `create`) a SQLite file
    that does not exist: a read there would make an empty database and show nothing."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ZyntroError(
            f"{shown_url(url)} is not a database Zyntro runs on: use {SUPPORTED_URLS}"
        )
    if scheme != "sqlite" or create:
        return
    from sqlalchemy.engine import make_url

    path = make_url(url).database
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
        demo = Path(DEMO_DATABASE).resolve()
        hint = (
            f"the demo's data is sqlite:///{demo}"
            if demo.exists()
            else "zyntro org create or zyntro db upgrade starts a new one"
        )
        raise ZyntroError(
            f"no database at {path}; ZYNTRO_DATABASE_URL or --database-url chooses it ({hint})"
        )


def shown_url(url: str) -> str:
    """The URL as it may be shown: its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show the scheme alone
        return url.split("://", 1)[0] + "://…" if "://" in url else "the URL given"


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
        except ValidationFailed as exc:
            option = _option_of(exc.field, args, kwargs)
            raise fail(f"{option} {exc.reason}" if option else exc.message) from None
        except Exception as exc:
            raise fail(_error_message(exc, _database_of(args, kwargs))) from None

    return wrapper


def _option_of(field: str, args: tuple[object, ...], kwargs: dict[str, object]) -> str | None:
    """The option of this command that sets `field` (`--expires-in`; `--type (segment_type)`
    where the names differ), so that a rule's message names what the operator typed."""
    for value in (*args, *kwargs.values()):
        for param in getattr(getattr(value, "command", None), "params", ()):
            name = str(param.name)
            spelled = (name, f"segment_{name}", f"segment_{name}s", f"segment_decision_{name}")
            if field not in spelled:
                continue
            options = [opt for opt in param.opts if opt.startswith("--")] or [name.upper()]
            same = options[0].removeprefix("--").replace("-", "_").lower() == field
            return options[0] if same else f"{options[0]} ({field})"
    return None


def _database_of(args: tuple[object, ...], kwargs: dict[str, object]) -> str:
    for value in (*args, *kwargs.values()):
        root = value.find_root() if hasattr(value, "find_root") else None  # the command's ctx
        if root is not None and isinstance(root.obj, State):
            return root.obj.database_url
    return DEFAULT_DATABASE_URL


def _error_message(exc: Exception, database_url: str) -> str:
    if isinstance(exc, ZyntroError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")
    if "sqlalchemy" in sys.modules:  # else the error cannot be one of its own
        import sqlalchemy.exc

        if isinstance(exc, sqlalchemy.exc.OperationalError):
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            return f"cannot reach the database {shown_url(database_url)}: {reason}"
        if isinstance(exc, sqlalchemy.exc.ArgumentError | sqlalchemy.exc.NoSuchModuleError):
            return f"{shown_url(database_url)} is not a database URL: use {SUPPORTED_URLS}"
    if "pydantic" in sys.modules:  # a setting out of its range (the server does not start)
        import pydantic

        if isinstance(exc, pydantic.ValidationError) and exc.title == "Settings":
            return "; ".join(_setting_error(error) for error in exc.errors())
    return f"unexpected {type(exc).__name__}: {exc}"


def _setting_error(error: Mapping[str, Any]) -> str:
    """`ZYNTRO_NAME must be at least 30`, for one setting a pydantic check refused, in our
    words (zyntro/wording.py); never its value: it may be a secret or a URL with a password."""
    name = "ZYNTRO_" + "_".join(str(part) for part in error["loc"]).upper()
    return f"{name} {requirement(error)}"
