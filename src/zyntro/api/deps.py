"""What a route takes from the application it runs in."""

from __future__ import annotations

from starlette.requests import Request

from zyntro.service import Service


def service_of(request: Request) -> Service:
    """The application's service (`ZyntroApp` puts it on the app's state)."""
    service: Service = request.app.state.service
    return service
