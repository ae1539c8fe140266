"""The requests and answers of drafting and of the brand's profile, none of it doing I/O:
the clients send what these build and hand the answers back (docs/sdk.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from zyntro.client._base import _BaseClient, _list, _mapping
from zyntro.client.models import Brand, SegmentDraft

# A provider may take tens of seconds to write five drafts: more than a read's timeout.
_DRAFT_TIMEOUT = 120.0


def _draft_request(
    client: _BaseClient, brand_id: str, description: str, count: int, timeout: float | None
) -> httpx.Request:
    request = client._v1_request(
        "POST",
        f"/brands/{quote(brand_id, safe='')}/segments/draft",
        body={"description": description, "count": count},
    )
    seconds = timeout if timeout is not None else max(client.timeout, _DRAFT_TIMEOUT)
    request.extensions["timeout"] = httpx.Timeout(seconds).as_dict()
    return request


def _read_drafts(client: _BaseClient, response: httpx.Response) -> list[SegmentDraft]:
    body = client._read_v1(response) or {}
    try:
        return [SegmentDraft.from_api(_mapping(item)) for item in _list(body.get("data"))]
    except ValueError as exc:
        raise client._v1_unexpected(response, f" ({exc})") from exc


def _brand_update_request(
    client: _BaseClient, brand_id: str, name: str | None, profile: Mapping[str, str] | None
) -> httpx.Request:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if profile is not None:
        body["profile"] = dict(profile)
    return client._v1_request("PATCH", f"/brands/{quote(brand_id, safe='')}", body=body)


def _read_brand(client: _BaseClient, response: httpx.Response) -> Brand:
    body = client._read_v1(response) or {}
    try:
        return Brand.from_api(_mapping(body.get("data")))
    except ValueError as exc:
        raise client._v1_unexpected(response, f" ({exc})") from exc
