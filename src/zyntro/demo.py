"""Demo data: one organization, brand, owner, key and three seed-shaped segments."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from zyntro.domain import Member, Role
from zyntro.errors import Conflict
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate, queries

DEMO_EMAIL = "owner@demo.zyntro.example"

DEMO_SEGMENTS = (
    {
        "segment_label": "Primary Target Audience",
        "segment_tag": "high_value_prospects",
        "segment_type": "demographic",
        "segment_decision_drivers": "Quality, Price, Customer Service",
        "segment_pain_points": ["time_constraints", "budget_limitations", "complex_solutions"],
        "segment_use_cases": ["lead_generation", "customer_retention", "upselling"],
        "segment_tone": "professional_friendly",
        "reasoning": "This segment represents our ideal customers based on market research "
        "and past conversion data.",
    },
    {
        "segment_label": "Weekend Bargain Hunters",
        "segment_tag": "deal_seekers",
        "segment_type": "behavioral",
        "segment_decision_drivers": "Price, Promotions",
        "segment_pain_points": ["price_sensitivity", "limited_time"],
        "segment_use_cases": ["flash_sales", "reactivation"],
        "segment_tone": "upbeat_casual",
        "reasoning": "Orders spike on weekends when discounts run.",
    },
    {
        "segment_label": "Sustainability Advocates",
        "segment_tag": "eco_conscious",
        "segment_type": "psychographic",
        "segment_decision_drivers": "Sustainability, Transparency, Quality",
        "segment_pain_points": ["greenwashing", "lack_of_information"],
        "segment_use_cases": ["brand_storytelling", "community_building"],
        "segment_tone": "sincere_informative",
        "reasoning": "Survey answers show a third of buyers weigh environmental impact first.",
    },
)


@dataclass(frozen=True)
class DemoInfo:
    org_id: str
    brand_id: str
    member_id: str
    email: str
    api_key: str
    password: str  # the demo owner's dashboard password, printed by `zyntro demo`
    reused: bool = False  # the data of an earlier run, kept (with a new key and password)


def create_demo_data(database_url: str) -> DemoInfo:
    store = Store(database_url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        org = service.create_org(SYSTEM, "Demo Organization")
        brand = service.create_brand(SYSTEM, org.id, "Demo Brand")
        owner = service.add_member(SYSTEM, org.id, DEMO_EMAIL, "Demo Owner", Role.OWNER)
        api_key, password = _credentials(service, owner)
        actor = service.act_as(owner.id)
        for values in DEMO_SEGMENTS:
            service.add_segment(actor, brand.id, values)
        return DemoInfo(org.id, brand.id, owner.id, owner.email, api_key, password)
    finally:
        store.dispose()


def reuse_demo_data(database_url: str) -> DemoInfo | None:
    """The demo of an earlier run, with a new key and password; None when it is not one.

    Everything typed into it is kept. Its owner must still be an active owner; its first
    brand is the one shown (a new "Demo Brand" when every brand was deleted).
    """
    store = Store(database_url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        with store.read() as conn:
            owner = queries.get_member_by_email(conn, None, DEMO_EMAIL)
        if owner is None or not owner.active or owner.role is not Role.OWNER:
            return None
        brands = service.list_brands(SYSTEM, owner.org_id)
        brand = brands[0] if brands else service.create_brand(SYSTEM, owner.org_id, "Demo Brand")
        api_key, password = _credentials(service, owner)
        return DemoInfo(owner.org_id, brand.id, owner.id, owner.email, api_key, password, True)
    finally:
        store.dispose()


def _credentials(service: Service, owner: Member) -> tuple[str, str]:
    """A new API key (the oldest demo key revoked when the owner is at the key cap) and a new
    dashboard password: new every run, so a demo left running stays private."""
    try:
        _key, api_key = service.create_key(SYSTEM, owner.id, "demo")
    except Conflict:
        active = [k for k in service.list_keys(SYSTEM, owner.id) if k.revoked_at is None]
        oldest = min(active, key=lambda k: (k.label != "demo", k.created_at))
        service.revoke_key(SYSTEM, oldest.id)
        _key, api_key = service.create_key(SYSTEM, owner.id, "demo")
    password = secrets.token_urlsafe(12)
    service.set_password(SYSTEM, owner.id, password)
    return api_key, password
