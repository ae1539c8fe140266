"""Search, filter and paging of every dashboard list, the same way on every page.

A list page reads its `ListQuery` from the URL (`?q=…&type=…&cursor=…&start=…`), gets one
`Page` of rows, and renders it with the macros of `templates/listing.html` (controls, summary,
pager). The cursor is the management API's (zyntro/cursors.py): the last row's (created_at, id),
bound to the filters it was made with. Segments are paged in the database (`segments_page`);
short lists (brands, members, keys) are filtered and paged in memory with `page_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from zyntro.cursors import decode_cursor, encode_cursor
from zyntro.errors import ValidationFailed

T = TypeVar("T")
PAGE_SIZE = 25
MAX_SEARCH = 200
Position = tuple[datetime, str]


@dataclass(frozen=True)
class ListQuery:
    """What the person asked the list for: a search text, a type (or role, or status), and
    where the page starts."""

    q: str = ""
    type: str = ""
    cursor: str = ""
    start: int = 0  # how many rows came before this page (for "26-50 of 300")
    size: int = PAGE_SIZE

    @property
    def filtered(self) -> bool:
        return bool(self.q or self.type)

    @property
    def filters(self) -> tuple[str | None, ...]:
        return (self.type or None, self.q.casefold() or None)

    def after(self) -> Position | None:
        """The cursor's position; None (the first page) for none, or one that does not fit."""
        if not self.cursor:
            return None
        try:
            return decode_cursor(self.cursor, self.filters)
        except ValidationFailed:  # an old link, or filters changed: start again
            return None

    def url(self, **changes: object) -> str:
        """This list's URL with some parameters changed (empty ones left out)."""
        values = {"q": self.q, "type": self.type, "cursor": self.cursor, "start": self.start}
        values.update(changes)
        kept = {k: v for k, v in values.items() if v not in ("", None, 0)}
        return "?" + urlencode(kept) if kept else "?"


def list_query(request: Request, size: int = PAGE_SIZE) -> ListQuery:
    """The list parameters of a request, bounded (a search of at most 200 characters)."""
    params = request.query_params
    start = params.get("start", "")
    query = ListQuery(
        q=params.get("q", "").strip()[:MAX_SEARCH],
        type=params.get("type", "").strip()[:MAX_SEARCH],
        cursor=params.get("cursor", "")[:512],
        start=int(start) if start.isascii() and start.isdigit() and len(start) < 9 else 0,
        size=size,
    )
    return query if query.after() is not None else replace(query, cursor="", start=0)


@dataclass
class Page(Generic[T]):
    """One page of a list, and what the controls and the pager show about it."""

    items: list[T]
    query: ListQuery
    total: int  # rows matching the filters
    next_cursor: str | None = None
    kinds: list[str] = field(default_factory=list)  # the choices of the type filter
    kind_labels: dict[str, str] = field(default_factory=dict)  # how a choice reads, if not as is

    @property
    def first_number(self) -> int:
        return self.query.start + 1 if self.items else 0

    @property
    def last_number(self) -> int:
        return self.query.start + len(self.items)

    @property
    def next_url(self) -> str | None:
        if self.next_cursor is None:
            return None
        return self.query.url(cursor=self.next_cursor, start=self.last_number)

    @property
    def first_url(self) -> str | None:
        return self.query.url(cursor="", start=0) if self.query.cursor else None


def next_cursor(last: Position, query: ListQuery) -> str:
    return encode_cursor(last, query.filters)


def page_of(
    rows: Sequence[T],
    query: ListQuery,
    position: Callable[[T], Position],
    text: Callable[[T], str],
    kind: Callable[[T], str] | None = None,
) -> Page[T]:
    """A page of an in-memory list kept in the order of `position` (created_at, then id):
    rows whose `text` contains the search (case-insensitively) and whose `kind` is the type."""
    needle = query.q.casefold()
    kinds = sorted({kind(row) for row in rows}) if kind else []
    matching = [
        row
        for row in sorted(rows, key=position)
        if (not needle or needle in text(row).casefold())
        and (not query.type or kind is None or kind(row) == query.type)
    ]
    after = query.after()
    remaining = [row for row in matching if after is None or position(row) > after]
    items = remaining[: query.size]
    more = len(remaining) > query.size
    cursor = next_cursor(position(items[-1]), query) if more and items else None
    return Page(items, query, len(matching), cursor, kinds)
