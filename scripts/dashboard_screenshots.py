"""Fresh screenshots of the dashboard for the docs (docs/img/), at 1280 px and 390 px.

    python scripts/dashboard_screenshots.py [--out docs/img]

Run on request when the dashboard changes (tests never rewrite docs/img): it makes an
organization of real size (23 brands, one with 300 imported segments, members of each role,
live and revoked keys) in a temporary SQLite file, serves it with `zyntro serve` on a free
loopback port, and drives Debian's Chromium (ZYNTRO_TEST_CHROMIUM, default /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

ROOT = Path(__file__).resolve().parent.parent
ZYNTRO = str(Path(sys.executable).with_name("zyntro"))
CHROMIUM = os.environ.get("ZYNTRO_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "screenshot passphrase"
SECRET = "screenshot-secret-0123456789abcdefghijklmnop"
TYPES = ("behavioral", "demographic", "lifecycle", "psychographic", "transactional")


def make_data(url: str) -> dict[str, str]:
    """The organization the screenshots show; returns the ids they need."""
    store = Store(url)
    migrate.upgrade(store.engine)
    service = Service(store)
    org = service.create_org(SYSTEM, "Acme Outdoor")
    brands = [service.create_brand(SYSTEM, org.id, "Acme Trail Shoes")]
    for n in range(22):
        brands.append(service.create_brand(SYSTEM, org.id, f"Acme Line {n + 1:02d}"))
    people = {}
    for role, email, name in (
        (Role.OWNER, "olivia@acme.example", "Olivia Owner"),
        (Role.IN_CHARGE, "ivan@acme.example", "Ivan In-Charge"),
        (Role.MEMBER, "mia@acme.example", "Mia Member"),
    ):
        people[role] = service.add_member(SYSTEM, org.id, email, name, role)
        service.set_password(SYSTEM, people[role].id, PASSWORD)
    owner = people[Role.OWNER]
    for label in ("production", "staging", "old laptop", "ci", "intern test"):
        key, _plain = service.create_key(SYSTEM, owner.id, label)
        if label in ("old laptop", "intern test"):
            service.revoke_key(SYSTEM, key.id)
    rows = [
        {
            "segment_id": f"seg_import_{(n * 37) % 300:03d}",
            "segment_label": f"Imported audience {(n * 37) % 300:03d}",
            "segment_type": TYPES[n % len(TYPES)],
            "segment_tag": "high_value" if n % 7 == 0 else "",
            "segment_pain_points": ["time_constraints", "budget_limitations"],
            "segment_use_cases": ["lead_generation"],
            "created_at": "2026-05-01 09:00:00",
            "updated_at": "2026-05-01 09:00:00",
        }
        for n in range(300)
    ]
    service.import_segments(SYSTEM, brands[0].id, rows, initiated_by=people[Role.IN_CHARGE].id)
    service.close()
    return {"org_id": org.id, "brand_id": brands[0].id, "segment_id": "seg_import_000"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    env.update(ZYNTRO_DATABASE_URL=url, ZYNTRO_SECRET_KEY=SECRET, ZYNTRO_LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [ZYNTRO, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start")


def sign_in(page: Page, email: str) -> None:
    page.goto("/app")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Brands')")


def shoot(page: Page, out: Path, name: str, full_page: bool = False) -> None:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'screens.db'}"
        ids = make_data(url)
        process, base = serve(url)
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                for width, suffix in ((1280, ""), (390, "-phone")):
                    context = browser.new_context(
                        base_url=base, viewport={"width": width, "height": 900}
                    )
                    page = context.new_page()
                    sign_in(page, "olivia@acme.example")
                    brand = f"/app/brands/{ids['brand_id']}"
                    page.goto("/app/brands")
                    shoot(page, args.out, f"dashboard-brands{suffix}")
                    page.goto(brand)
                    shoot(page, args.out, f"dashboard-segments{suffix}")
                    page.goto(f"{brand}?q=high_value&type=behavioral")
                    shoot(page, args.out, f"dashboard-segments-search{suffix}")
                    page.goto(f"{brand}/segments/{ids['segment_id']}")
                    shoot(page, args.out, f"dashboard-segment-form{suffix}")
                    page.goto("/app/me/keys")
                    shoot(page, args.out, f"dashboard-api-keys{suffix}")
                    page.goto("/app/members")
                    shoot(page, args.out, f"dashboard-members{suffix}")
                    page.goto("/app/api")
                    shoot(page, args.out, f"dashboard-api{suffix}")
                    context.close()
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
