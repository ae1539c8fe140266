"""The headers every response carries, whichever surface answers (docs/security.md).

The policy lets a page load scripts, stylesheets, images and connections from the server's
own origin only (data: images too: the dashboard's blank favicon, Swagger UI's icons), run no
inline script or style, post forms only to the server, and be framed by no one. Nothing the
server sends needs more: the dashboard and /docs load every file from the package.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
)
# The same, as ASGI carries headers.
SECURITY_HEADERS_RAW: tuple[tuple[bytes, bytes], ...] = tuple(
    (name.encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS
)
