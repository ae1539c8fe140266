"""Serving segments to AI agents over MCP (docs/ai.md): `zyntro mcp` (stdio) and `/mcp` (HTTP).

`prompt` is plain Python; `server`, `http` and `stdio` import the `mcp` SDK, which costs a
second and ~30 MB, so they are imported only when an agent first connects.
"""
