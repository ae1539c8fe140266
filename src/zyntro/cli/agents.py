"""`zyntro mcp`: the MCP server over stdio, for AI agents (docs/ai.md).

The `mcp` SDK is imported only when the command runs (`zyntro --help` stays quick).
"""

from __future__ import annotations

import typer

from zyntro.cli.common import fail, handle_errors, state


@handle_errors
def mcp(
    ctx: typer.Context,
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="ZYNTRO_API_KEY",
        show_envvar=True,
        help="The API key the agent acts with: its member's organization, role and rate "
        "limit. Set ZYNTRO_API_KEY in the agent's configuration rather than writing the key "
        "here (other users see command lines in ps).",
    ),
    allow_writes: bool = typer.Option(
        False,
        "--allow-writes",
        envvar="ZYNTRO_MCP_WRITES",
        show_envvar=True,
        help="Also offer the write tools (create_segment, update_segment); the key's role "
        "still decides. Without it the server is read-only.",
    ),
) -> None:
    """Serve your organization's brands and segments to an AI agent over stdio (MCP).

    An agent starts it: MCP on stdin/stdout, the log on stderr. See docs/ai.md.
    """
    if not api_key:
        raise fail("an API key is required: set ZYNTRO_API_KEY (or pass --api-key)")
    if api_key == "-":  # standard input is the protocol's channel
        raise fail("zyntro mcp cannot read the key from standard input: set ZYNTRO_API_KEY")
    import anyio

    from zyntro.agents.stdio import serve

    current = state(ctx)
    anyio.run(serve, current.service(), current.settings, api_key, allow_writes)
