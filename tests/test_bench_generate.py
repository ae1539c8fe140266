"""The benchmark's dataset generator (bench/generate.py), at a tiny scale, on both databases.

It writes rows past the service layer for speed, so this checks they read back through the
service exactly as `make bench` expects: every key, organization and brand of the sidecar is
served, and the error cases the error mix relies on are refused with their codes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.generate import Scale, generate
from zyntro.errors import BrandNotFound, NoSegments, OrgMismatch
from zyntro.service import Service
from zyntro.store import Store


def test_generated_dataset_reads_back_through_the_service(
    empty_database_url: str, tmp_path: Path
) -> None:
    sidecar = tmp_path / "dataset.json"
    generate(empty_database_url, sidecar, Scale(orgs=2, brands_per_org=3, segments_per_brand=4))
    data = json.loads(sidecar.read_text())
    assert len(data["cold"]) == 6 and len(data["empty_brands"]) == 2

    service = Service(Store(empty_database_url))
    try:
        warm = json.loads(service.fetch_audiences(*data["warm"]))
        assert warm["status"] == "success" and len(warm["data"]) == 3
        for key, org, brand in data["cold"]:
            body = json.loads(service.fetch_audiences(key, org, brand))
            assert [s["segment_label"][-1] for s in body["data"]] == ["1", "2", "3", "4"]
            assert body["message"].startswith("4 audience segments have been defined")
        (key, org, brand), (_, other_org, other_brand) = data["cold"][0], data["cold"][-1]
        empty = dict(data["empty_brands"])
        with pytest.raises(NoSegments):
            service.fetch_audiences(key, org, empty[org])
        with pytest.raises(OrgMismatch):
            service.fetch_audiences(key, other_org, other_brand)
        with pytest.raises(BrandNotFound):
            service.fetch_audiences(key, org, other_brand)
    finally:
        service.close()
