"""The shipped deploy files agree with the server and with docs/deploy.md: nginx's limits are
the server's, the environment file names real settings, the systemd unit is one systemd
accepts, and the doc quotes each file as it is. (nginx running them: test_deploy_nginx.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from zyntro.api.body import BodyLimits
from zyntro.api.public import MAX_BODY
from zyntro.cli.server import HEADER_READ_TIMEOUT_MS, MAX_BUFFER_BYTES, MAX_STREAMS
from zyntro.errors import PayloadTooLarge
from zyntro.responses import body_for
from zyntro.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SITE = (DEPLOY / "nginx" / "zyntro.conf").read_text(encoding="utf-8")
UNIT = DEPLOY / "systemd" / "zyntro.service"
ENV_EXAMPLE = DEPLOY / "zyntro.env.example"
DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
UNITS = {"k": 1024, "m": 1024 * 1024}


def _directive(name: str, text: str = SITE) -> list[str]:
    return re.findall(rf"^\s*{name} ([^;]+);", text, re.MULTILINE)


def _size(value: str) -> int:
    return int(value[:-1]) * UNITS[value[-1]] if value[-1] in UNITS else int(value)


def test_nginx_limits_are_the_servers() -> None:
    defaults = Settings()
    # The server block's cap (/api/v1, the dashboard), then the public endpoint's.
    assert [_size(v) for v in _directive("client_max_body_size")] == [
        defaults.max_body_bytes,
        MAX_BODY,
    ]
    assert _directive("client_body_timeout") == [f"{defaults.body_timeout_seconds:g}s"]
    assert _directive("client_header_timeout") == [f"{HEADER_READ_TIMEOUT_MS // 1000}s"]
    count, size = _directive("large_client_header_buffers")[0].split()
    assert int(count) * _size(size) == MAX_BUFFER_BYTES
    assert _directive("http2_max_concurrent_streams") == [str(MAX_STREAMS)]
    # nginx's own refusals say what the server says, byte for byte.
    refusals = re.findall(r"return 413 '([^']+)';", SITE)
    limits = BodyLimits(defaults.max_body_bytes, defaults.body_timeout_seconds)
    assert [r.encode() for r in refusals] == [
        body_for(PayloadTooLarge()),
        body_for(limits.too_large()),
    ]


def test_nginx_passes_the_client_address_for_the_trusted_proxy_setting() -> None:
    headers = _directive("proxy_set_header")
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in headers
    assert 'Connection ""' in headers  # keep-alive upstream
    assert _directive("proxy_http_version") == ["1.1"]


def test_the_environment_file_holds_real_settings() -> None:
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    named = set(re.findall(r"\bZYNTRO_[A-Z_]+(?==)", ENV_EXAMPLE.read_text(encoding="utf-8")))
    fields = {f"ZYNTRO_{name.upper()}" for name in Settings.model_fields}
    assert named <= fields, named - fields
    settings = Settings(**{key.removeprefix("ZYNTRO_").lower(): v for key, v in values.items()})
    assert settings.trusted_proxies == "127.0.0.1/32, ::1/128"
    assert settings.max_body_bytes == Settings().max_body_bytes


def test_the_unit_upgrades_the_schema_before_it_serves() -> None:
    unit = UNIT.read_text(encoding="utf-8")
    assert "\nExecStartPre=/opt/zyntro/venv/bin/zyntro db upgrade\n" in unit
    assert "\nExecStart=/opt/zyntro/venv/bin/zyntro serve\n" in unit
    assert "\nEnvironmentFile=/etc/zyntro/zyntro.env\n" in unit
    assert "\nRestart=on-failure\n" in unit


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    unit = tmp_path / "zyntro.service"  # the programs it starts must exist for verify
    unit.write_text(UNIT.read_text().replace("/opt/zyntro/venv/bin/zyntro", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize(
    "path",
    ["nginx/zyntro.conf", "nginx/upstream.conf", "nginx/upstream-nodes.conf"]
    + ["systemd/zyntro.service", "zyntro.env.example"],
)
def test_the_doc_quotes_each_file_as_shipped(path: str) -> None:
    text = (DEPLOY / path).read_text(encoding="utf-8")
    assert f"deploy/{path}" in DOC
    assert text in DOC, f"docs/deploy.md's copy of deploy/{path} differs from the file"


@pytest.mark.parametrize("upstream", ["upstream.conf", "upstream-nodes.conf"])
def test_nginx_lets_go_of_idle_upstream_connections_before_the_node_does(upstream: str) -> None:
    # The node closes a keep-alive connection idle for its header read timeout.
    text = (DEPLOY / "nginx" / upstream).read_text(encoding="utf-8")
    (timeout,) = _directive("keepalive_timeout", text)
    assert int(timeout.removesuffix("s")) * 1000 < HEADER_READ_TIMEOUT_MS
