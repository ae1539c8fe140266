"""Demo data: one organization, brand, owner, key and three seed-shaped segments."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from zyntro.domain import Role
from zyntro.service import SYSTEM, Service
from zyntro.store import Store, migrate

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


def create_demo_data(database_url: str) -> DemoInfo:
    store = Store(database_url)
    try:
        migrate.upgrade(store.engine)
        service = Service(store)
        org = service.create_org(SYSTEM, "Demo Organization")
        brand = service.create_brand(SYSTEM, org.id, "Demo Brand")
        owner = service.add_member(SYSTEM, org.id, DEMO_EMAIL, "Demo Owner", Role.OWNER)
        _key, api_key = service.create_key(SYSTEM, owner.id, "demo")
        password = secrets.token_urlsafe(12)  # new every run: a demo left running stays private
        service.set_password(SYSTEM, owner.id, password)
        actor = service.act_as(owner.id)
        for values in DEMO_SEGMENTS:
            service.add_segment(actor, brand.id, values)
        return DemoInfo(org.id, brand.id, owner.id, owner.email, api_key, password)
    finally:
        store.dispose()
