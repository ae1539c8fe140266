"""The MCP server: read-only tools and resources over the service, for both transports.

Every tool call and resource read goes through `authorize` (the one place that decides what a
key may read) and then through `Service`, which decides tenancy as for every other surface:
another organization's brand or segment is simply not found. `_Observe` writes each call to
the access log. The transports differ only in how they find the key's principal (`Access`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, TypeVar

import anyio.to_thread
import sqlalchemy.exc
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ToolAnnotations
from pydantic import Field

from zyntro import __version__
from zyntro.access import check_scope
from zyntro.agents.models import (
    AgentSegment,
    BrandList,
    BrandSegments,
    BrandSummary,
    SearchResult,
)
from zyntro.agents.prompt import segment_context
from zyntro.cursors import decode_cursor, encode_cursor
from zyntro.domain import Segment
from zyntro.errors import ServiceUnavailable, ZyntroError
from zyntro.identity import Actor, Principal
from zyntro.observability import AccessLog, log
from zyntro.service import Service

T = TypeVar("T")
Kind = Literal["tool", "resource", "prompt"]  # what a read answers, for its errors
Request = ServerRequestContext[Any, Any]

# list_segments' page: its default, and its largest (a page is an agent's context to read).
PAGE = 20
MAX_PAGE = 100
# What every tool and resource reads: the scope `authorize` is asked for (checked there once
# API keys carry scopes).
READ_SCOPE = "segments:read"
_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
_INSTRUCTIONS = (
    "Zyntro Audiences holds the audience segments of your organization's brands: who each "
    "audience is, its pain points, decision drivers, use cases and the tone to write in. "
    "Call list_brands first; list_segments, search_segments and get_segment find segments; "
    "segment_context gives a text block to paste into a prompt that writes for one audience."
)

_READ_ONLY_NOTE = " Every tool is read-only."
_WRITES = (
    " create_segment and update_segment write segments (an owner's or a member in-charge's "
    "key): read the brand's segments first, and do not repeat one."
)


class Access(Protocol):
    """How a transport knows the caller: the principal of the API key behind a request."""

    transport: str  # "http" or "stdio", as the access log names it
    access_log: AccessLog

    async def principal(self, request: Request) -> Principal:
        """The key's principal; raises `InvalidApiKey` or `RateLimited` as the APIs do."""
        ...

    def request_id(self, request: Request) -> str: ...

    def logged(self) -> None:
        """After a call's access line is written (stdio flushes it at once)."""
        ...


async def authorize(access: Access, request: Request, scope: str) -> Actor:
    """The actor a tool call or resource read acts as: the one check every call passes.
    The key is refused here unless it holds `scope` (READ_SCOPE, or WRITE_SCOPE for the
    write tools), on both transports."""
    principal = await access.principal(request)
    check_scope(principal.actor, scope)
    return principal.actor


@dataclass
class _Call:
    request: Request
    status: int = 200  # of the outcome, as an HTTP status: the access log's `status`


_CALL: ContextVar[_Call] = ContextVar("zyntro_mcp_call")
_OBSERVED = frozenset({"tools/call", "resources/read", "prompts/get"})


class _Observe:
    """Server middleware: each tool call and resource read in the access log, and the request
    in a context variable (static resources are not handed the request context)."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def __call__(self, ctx: Request, call_next: CallNext) -> HandlerResult:
        if ctx.method not in _OBSERVED or ctx.request_id is None:
            return await call_next(ctx)
        params = ctx.params or {}
        target = params.get("uri" if ctx.method == "resources/read" else "name")
        call = _Call(ctx)
        token = _CALL.set(call)
        started = time.perf_counter()
        try:
            result = await call_next(ctx)
        except MCPError as exc:  # the SDK's answer: an unknown resource, malformed params
            if call.status == 200:
                not_found = exc.error.code == INVALID_PARAMS and ctx.method != "tools/call"
                call.status = 404 if not_found else 400
            raise
        except Exception:
            call.status = 500 if call.status == 200 else call.status
            raise
        else:
            if _is_error(result) and call.status == 200:  # bad arguments, an unknown tool
                call.status = 400
            return result
        finally:
            _CALL.reset(token)
            self.access.access_log.agent_call(
                ctx.method,
                str(target)[:200],
                call.status,
                time.perf_counter() - started,
                self.access.request_id(ctx),
                self.access.transport,
            )
            self.access.logged()


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    return isinstance(result, dict) and result.get("isError") is True


def _user_error(exc: Exception, request_id: str) -> ZyntroError:
    """What the agent is told: our own errors as raised; the database away as 503; anything
    else as 500, its details in the log only (as api/errors.py does for HTTP)."""
    if isinstance(exc, ZyntroError):
        return exc
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        log.warning("database unavailable: %s", type(exc).__name__)
        return ServiceUnavailable()
    log.error("unexpected error", exc_info=exc, extra={"request_id": request_id})
    return ZyntroError()


class Reads:
    """The reads behind the tools and resources, each as the authorized actor."""

    def __init__(self, service: Service, access: Access) -> None:
        self.service = service
        self.access = access

    async def run(
        self, read: Callable[[Actor], T], *, kind: Kind = "tool", scope: str = READ_SCOPE
    ) -> T:
        """`read(actor)` in a worker thread, as a key with `scope` may; a failure as the agent
        should see it: a tool error, or a protocol error for a resource or a prompt."""
        call = _CALL.get()
        try:
            actor = await authorize(self.access, call.request, scope)
            return await anyio.to_thread.run_sync(read, actor)
        except Exception as exc:
            error = _user_error(exc, self.access.request_id(call.request))
            call.status = error.status
            text = f"{error.message} ({error.code})"
            if kind == "tool":
                raise ToolError(text) from None
            if kind == "resource":
                missing = error.status == 404
                raise (ResourceNotFoundError if missing else ResourceError)(text) from None
            code = INVALID_PARAMS if error.status == 404 else INTERNAL_ERROR
            raise MCPError(code=code, message=text) from None

    # --- what each tool and resource reads (in the worker thread) -----------------------

    def brands(self, actor: Actor) -> BrandList:
        assert actor.org_id is not None
        counts = self.service.segment_counts(actor, actor.org_id)
        return BrandList(
            brands=[
                BrandSummary(brand_id=b.id, name=b.name, segment_count=counts.get(b.id, 0))
                for b in self.service.list_brands(actor, actor.org_id)
            ]
        )

    def brand_segments(
        self, actor: Actor, brand_id: str, limit: int = PAGE, cursor: str | None = None
    ) -> BrandSegments:
        brand = self.service.get_brand(actor, brand_id)
        after = decode_cursor(cursor, (brand.id,)) if cursor else None
        found, more = self.service.segments_page(actor, brand.id, limit=limit, after=after)
        last = found[-1] if more and found else None
        return BrandSegments(
            brand_id=brand.id,
            name=brand.name,
            segments=[agent_segment(s) for s in found],
            next_cursor=encode_cursor((last.created_at, last.id), (brand.id,)) if last else None,
        )

    def segment(self, actor: Actor, segment_id: str) -> AgentSegment:
        return agent_segment(self.service.get_segment(actor, segment_id))

    def context(self, actor: Actor, segment_id: str) -> str:
        segment = self.service.get_segment(actor, segment_id)
        return segment_context(segment, self.service.get_brand(actor, segment.brand_id).name)


F = TypeVar("F", bound=Callable[..., Any])


def plain_doc(fn: F) -> F:
    """The docstring on one line: the SDK hands an agent the raw docstring as the tool's or
    prompt's description, the source's indentation and line breaks included."""
    fn.__doc__ = " ".join((fn.__doc__ or "").split())
    return fn


def agent_segment(segment: Segment) -> AgentSegment:
    return AgentSegment(brand_id=segment.brand_id, **segment.to_public())


BrandId = Annotated[
    str, Field(description="A brand_id from list_brands, e.g. brand_01JH8Z4XKQ…", max_length=64)
]
SegmentId = Annotated[
    str,
    Field(description="A segment_id from another tool's results, e.g. seg_01JH8Z…", max_length=64),
]


def build_server(service: Service, access: Access, *, writes: bool = False) -> MCPServer[Any]:
    """The MCP server of `service`, for the transport `access` describes; read-only unless
    `writes` (docs/ai.md)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    server: MCPServer[Any] = MCPServer(
        "zyntro",
        title="Zyntro Audiences",
        instructions=_INSTRUCTIONS + (_WRITES if writes else _READ_ONLY_NOTE),
        version=__version__,
        log_level="WARNING",
        middleware=[_Observe(access)],
    )
    # The SDK configures the root logger (a rich handler, its level); the host process's
    # logging is the app's (observability.py), so it is put back as it was.
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("mcp").setLevel(logging.WARNING)  # its INFO lines repeat the access log
    reads = Reads(service, access)

    @server.tool(title="List brands", annotations=_READ_ONLY)
    @plain_doc
    async def list_brands() -> BrandList:
        """List the brands of your organization, each with its brand_id and how many
        audience segments it has. Start here: the other tools take these brand_ids."""
        return await reads.run(reads.brands)

    @server.tool(title="List a brand's segments", annotations=_READ_ONLY)
    @plain_doc
    async def list_segments(
        brand_id: BrandId,
        limit: Annotated[
            int, Field(description="At most this many segments in a page.", ge=1, le=MAX_PAGE)
        ] = PAGE,
        cursor: Annotated[
            str | None,
            Field(
                description="next_cursor of the previous page of this brand; leave it out "
                "for the first page.",
                max_length=512,
            ),
        ] = None,
    ) -> BrandSegments:
        """The audience segments of one brand, oldest first, a page at a time: label, type,
        tag, tone, decision drivers, pain points, use cases and the reasoning behind each.
        To find particular segments, search_segments is quicker."""
        return await reads.run(lambda actor: reads.brand_segments(actor, brand_id, limit, cursor))

    @server.tool(title="Get a segment", annotations=_READ_ONLY)
    @plain_doc
    async def get_segment(segment_id: SegmentId) -> AgentSegment:
        """One audience segment, with every field and the brand_id it belongs to."""
        return await reads.run(lambda actor: reads.segment(actor, segment_id))

    @server.tool(title="Search segments", annotations=_READ_ONLY)
    @plain_doc
    async def search_segments(
        query: Annotated[
            str,
            Field(
                description="Words to find anywhere in a segment's text (label, tag, type, "
                "tone, drivers, pain points, use cases, reasoning); every word must appear, in "
                'any case. Empty: any segment. Example: "budget parents".',
                max_length=500,
            ),
        ] = "",
        segment_type: Annotated[
            str | None,
            Field(
                description="Only this type, exactly (lowercase snake_case, e.g. "
                "demographic, behavioral, psychographic, firmographic, lifecycle).",
                max_length=40,
            ),
        ] = None,
        segment_tag: Annotated[
            str | None,
            Field(description="Only this tag, exactly, e.g. high_value_prospects.", max_length=200),
        ] = None,
        brand_id: Annotated[
            str | None,
            Field(description="Only this brand (a brand_id from list_brands).", max_length=64),
        ] = None,
        limit: Annotated[int, Field(description="At most this many segments.", ge=1, le=100)] = 20,
    ) -> SearchResult:
        """Find audience segments across all of your organization's brands (or one), by words
        in their text, by type and by tag. Results are grouped by brand, oldest first."""

        def search(actor: Actor) -> SearchResult:
            assert actor.org_id is not None
            found, more = service.search_segments(
                actor,
                actor.org_id,
                text=query,
                segment_type=segment_type,
                segment_tag=segment_tag,
                brand_id=brand_id,
                limit=limit,
            )
            return SearchResult(segments=[agent_segment(s) for s in found], more=more)

        return await reads.run(search)

    @server.tool(title="Segment as prompt context", annotations=_READ_ONLY)
    @plain_doc
    async def segment_context(segment_id: SegmentId) -> str:
        """One audience segment as a compact text block to paste into a prompt that writes for
        that audience (copy, emails, ads, personas). The same segment always gives the same
        text; fields that are empty are left out."""
        return await reads.run(lambda actor: reads.context(actor, segment_id))

    from zyntro.agents.resources import add_prompts, add_resources  # imports this module

    add_resources(server, reads)
    add_prompts(server, reads)
    if writes:
        from zyntro.agents.writes import add_write_tools  # imports this module

        add_write_tools(server, reads)
    return server
