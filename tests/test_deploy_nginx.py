"""The deploy recipe of docs/deploy.md, for real: Debian's nginx running the shipped
deploy/nginx files (only their ports, certificate and log paths changed) in front of real
`zyntro serve` nodes, over TLS on loopback with a certificate made by openssl.

Proves: HTTPS (HTTP/2 offered) fetchAudiences; the invalid-key limit counting the address
nginx saw (127.0.0.2 and 127.0.0.3 as two clients), not nginx's own; oversize bodies refused
by nginx and by the server alike, at the same caps; two nodes on PostgreSQL and Redis sharing
the load and refusing a revoked key within a second.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, World, make_world, service_missing
from tests.helpers import PATH, truncate
from tests.live import free_port, live_server, run_cli, wait_for
from zyntro import keys
from zyntro.service import Service
from zyntro.store import Store

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx"
SITE = DEPLOY / "zyntro.conf"
ONE_NODE = DEPLOY / "upstream.conf"
NODES = DEPLOY / "upstream-nodes.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PUBLIC_CAP = 16 * 1024  # api/public.py's MAX_BODY
V1_CAP = 1024 * 1024  # ZYNTRO_MAX_BODY_BYTES's default
# nginx connects to the nodes from loopback's own address: the one proxy they trust.
NODE_ENV = {"ZYNTRO_TRUSTED_PROXIES": "127.0.0.1", "ZYNTRO_LOG_LEVEL": "WARNING"}


@dataclass
class Front:
    """nginx running the shipped site: where it listens, and how to reach it."""

    url: str  # https://127.0.0.1:PORT
    http_url: str  # http://127.0.0.1:PORT (redirects)
    port: int
    context: ssl.SSLContext  # trusts the test's certificate, and it alone
    access_log: Path

    def client(self, source: str = "127.0.0.1") -> httpx.Client:
        """A client connecting from `source` (any 127.x address is this machine's)."""
        transport = httpx.HTTPTransport(verify=self.context, local_address=source)
        return httpx.Client(base_url=self.url, transport=transport, timeout=10)

    def upstreams(self) -> list[str]:
        """The node that served each request so far, from nginx's access log."""
        return re.findall(r"upstream=(\S+)", self.access_log.read_text())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and localhost), and its key."""
    if shutil.which("openssl") is None:
        service_missing("openssl")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key)]
        + ["-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


def templated(path: Path, replacements: dict[str, str]) -> str:
    """The shipped file with these exact strings replaced (each must be there)."""
    text = path.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{path.name} no longer has {old!r}: update the test's substitutions"
        text = text.replace(old, new)
    return text


@contextmanager
def nginx_front(
    directory: Path, certificate: tuple[Path, Path], upstream: Path, nodes: dict[str, str]
) -> Iterator[Front]:
    """nginx with the shipped site and `upstream` (its node addresses replaced by `nodes`),
    as this user, everything under `directory`; stopped afterwards."""
    if not Path(NGINX).exists():
        service_missing(f"nginx at {NGINX} (apt-get install nginx-light)")
    cert, key = certificate
    https_port, http_port = free_port(), free_port()
    site = templated(
        SITE,
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen [::]:80;": f"listen [::1]:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen [::]:443 ssl http2;": f"listen [::1]:{https_port} ssl http2;",
            "/etc/letsencrypt/live/audiences.example.com/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/audiences.example.com/privkey.pem": str(key),
            "/var/log/nginx/": f"{directory}/",
        },
    )
    (directory / "zyntro.conf").write_text(site, encoding="utf-8")
    (directory / "upstream.conf").write_text(templated(upstream, nodes), encoding="utf-8")
    # What Debian's /etc/nginx/nginx.conf gives the site: an http block, and (as root) a user;
    # here the current one, with every path nginx writes under `directory`.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"{user}worker_processes 2;\npid {directory}/nginx.pid;\n"
        f"error_log {directory}/error.log;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n{temp}    include {directory}/upstream.conf;\n"
        f"    include {directory}/zyntro.conf;\n}}\n",
        encoding="utf-8",
    )
    command = [NGINX, "-p", f"{directory}/", "-e", f"{directory}/error.log"]
    command += ["-c", f"{directory}/nginx.conf", "-g", "daemon off;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, f"nginx refuses the shipped configuration: {checked.stderr}"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                error = process.stderr.read() if process.stderr else b""
                raise AssertionError(f"nginx exited: {error.decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("nginx did not listen within 10 s") from None
                time.sleep(0.05)
        context = ssl.create_default_context(cafile=str(cert))
        yield Front(
            f"https://127.0.0.1:{https_port}",
            f"http://127.0.0.1:{http_port}",
            https_port,
            context,
            directory / "zyntro.access.log",
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


def _node(base_url: str) -> str:
    return base_url.removeprefix("http://")


def _padded(body: dict[str, object], size: int) -> bytes:
    """`body` as JSON of exactly `size` bytes (trailing spaces: still the same JSON)."""
    text = json.dumps(body).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def _guess(client: httpx.Client, world: World) -> int:
    # A made-up X-Forwarded-For too: nginx appends the address it saw, which is what counts.
    headers = {"X-Forwarded-For": "192.0.2.1"}
    body = world.body(api_key=keys.generate_key())
    return client.post(PATH, json=body, headers=headers).status_code


# --- one node -------------------------------------------------------------------------------


@pytest.fixture
def one_node(
    tmp_path: Path, sqlite_template: Path, certificate: tuple[Path, Path]
) -> Iterator[tuple[Front, str, World]]:
    """One node on SQLite behind nginx; (nginx, the node's own URL, its data)."""
    path = tmp_path / "zyntro.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    store = Store(url)
    service = Service(store)
    world = make_world(service)
    service.reader.close()
    store.dispose()
    env = {**NODE_ENV, "ZYNTRO_INVALID_KEY_RATE_LIMIT": "3/minute"}
    with live_server(url, env=env) as node:
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        with nginx_front(nginx_dir, certificate, ONE_NODE, {"127.0.0.1:8000": _node(node)}) as f:
            yield f, node, world


def test_https_fetch_audiences_through_nginx(one_node: tuple[Front, str, World]) -> None:
    front, node, world = one_node
    with front.client() as client:
        response = client.post(PATH, json=world.body())
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "success"
        assert response.content == httpx.post(node + PATH, json=world.body()).content
        # The server's headers come through; nginx adds HSTS, and the request id of its log.
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["strict-transport-security"] == "max-age=63072000"
        request_id = response.headers["x-request-id"]
        assert f"request_id={request_id}" in front.access_log.read_text()
        # The caller's own request id is kept.
        mine = client.post(PATH, json=world.body(), headers={"X-Request-Id": "trace-42"})
        assert mine.headers["x-request-id"] == "trace-42"
    # HTTP/2 is offered to clients (ALPN), over TLS 1.2 or later.
    with (
        socket.create_connection(("127.0.0.1", front.port)) as raw,
        _alpn(front.context).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Plain HTTP is sent to HTTPS.
    redirect = httpx.get(front.http_url + "/healthz")
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://127.0.0.1")


def _alpn(context: ssl.SSLContext) -> ssl.SSLContext:
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def test_the_invalid_key_limit_counts_the_address_nginx_saw(
    one_node: tuple[Front, str, World],
) -> None:
    front, node, world = one_node
    with front.client("127.0.0.2") as guesser, front.client("127.0.0.3") as bystander:
        assert [_guess(guesser, world) for _ in range(4)] == [401, 401, 401, 429]
        # Another client of the same nginx: its own quota, and its valid key served.
        assert _guess(bystander, world) == 401
        assert bystander.post(PATH, json=world.body()).status_code == 200
        # The guesser stays refused, whatever X-Forwarded-For it makes up.
        spoofed = {"X-Forwarded-For": "127.0.0.3"}
        body = world.body(api_key=keys.generate_key())
        assert guesser.post(PATH, json=body, headers=spoofed).status_code == 429
    # Straight to the node from an address it does not trust: the header is ignored, and the
    # guesser's count (kept under 127.0.0.2) is not this sender's.
    direct = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.4"), timeout=10)
    with direct:
        body = world.body(api_key=keys.generate_key())
        spoofed = {"X-Forwarded-For": "127.0.0.2"}
        assert direct.post(node + PATH, json=body, headers=spoofed).status_code == 401


def test_oversize_bodies_are_refused_by_nginx_and_by_the_server_alike(
    one_node: tuple[Front, str, World],
) -> None:
    """nginx's caps are the server's, so a body over one is over the other: through nginx,
    nginx refuses it (no request id: it never reached a node) in the server's words; straight
    to the node, the server refuses it the same way. A body at the cap passes both."""
    front, node, world = one_node
    segments = f"/api/v1/brands/{world.brand_id}/segments"
    cases = [
        (PATH, PUBLIC_CAP, "16 KiB", 200, world.body()),
        (segments, V1_CAP, "1 MiB", 401, {"name": "x"}),  # reaches the node: no key
    ]
    with front.client() as client:
        for path, cap, words, at_cap, body in cases:
            headers = {"Content-Type": "application/json"}
            by_nginx = client.post(path, content=_padded(body, cap + 1), headers=headers)
            by_node = httpx.post(node + path, content=_padded(body, cap + 1), headers=headers)
            for refused in (by_nginx, by_node):
                assert refused.status_code == 413, (path, refused.text)
                assert refused.headers["content-type"] == "application/json; charset=utf-8"
                assert refused.json() == {
                    "status": "error",
                    "message": f"The request body is larger than {words}.",
                    "code": "payload_too_large",
                }
            assert "x-request-id" not in by_nginx.headers, "nginx's own refusal"
            assert "x-request-id" in by_node.headers
            # Exactly at the cap: through nginx to the node, and answered there.
            passed = client.post(path, content=_padded(body, cap), headers=headers)
            assert passed.status_code == at_cap, (path, passed.text)
            assert "x-request-id" in passed.headers


# --- several nodes ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_two_nodes_behind_nginx_share_load_and_refuse_a_revoked_key_within_a_second(
    postgres_url: str, redis_prefix: str, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    truncate(postgres_url)
    store = Store(postgres_url)
    service = Service(store)
    world = make_world(service)
    service.reader.close()
    store.dispose()
    env = {**NODE_ENV, "ZYNTRO_REDIS_URL": REDIS_URL, "ZYNTRO_REDIS_PREFIX": redis_prefix}
    with live_server(postgres_url, env=env) as one, live_server(postgres_url, env=env) as two:
        nodes = {"10.0.0.11:8000": _node(one), "10.0.0.12:8000": _node(two)}
        with nginx_front(tmp_path, certificate, NODES, nodes) as front, front.client() as client:
            for _ in range(10):
                assert client.post(PATH, json=world.body()).status_code == 200
            served = front.upstreams()
            assert len(served) == 10
            assert set(served) == {_node(one), _node(two)}, served
            assert min(served.count(_node(one)), served.count(_node(two))) >= 3, served

            created = json.loads(
                run_cli(postgres_url, "key", "create", "--member", world.owner_id, "--json")
            )
            fresh = world.body(api_key=created["api_key"])
            for _ in range(4):  # known to both nodes (round robin)
                assert client.post(PATH, json=fresh).status_code == 200
            run_cli(postgres_url, "key", "revoke", created["key_id"])

            def refused_by_both() -> bool:
                return all(client.post(PATH, json=fresh).status_code == 401 for _ in range(4))

            wait_for(refused_by_both, timeout=1.0, interval=0.05)
            recent = front.upstreams()[-4:]
            assert set(recent) == {_node(one), _node(two)}, recent
