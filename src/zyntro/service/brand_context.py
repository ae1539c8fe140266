"""The brand profile (what a brand sells, to whom, its voice) and what drafting may read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from zyntro.domain import Brand, BrandProfile, Segment, utcnow, validate_brand_profile
from zyntro.identity import Actor
from zyntro.service.recording import record_audit
from zyntro.service.rules import require_content_role
from zyntro.service.segments import Segments
from zyntro.store import queries


@dataclass(frozen=True, slots=True)
class DraftingContext:
    """What the model is shown of a brand: the brand, up to a bound of its segments, and how
    many it has in all."""

    brand: Brand
    segments: list[Segment]
    total: int


class BrandContext(Segments):
    """The brand profile's edits, and the brand as drafting sees it."""

    def set_brand_profile(self, actor: Actor, brand_id: str, values: Mapping[str, Any]) -> Brand:
        """Change the given parts of the profile (`offering`, `audience`, `voice`); the others
        keep theirs. Owners and members in-charge only."""
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        parts = validate_brand_profile(dict(values))
        profile = replace(brand.profile, **parts)
        if not parts or profile == brand.profile:
            return brand
        now = utcnow()
        with self._write() as conn:  # the served body holds no profile: nothing to rebuild
            queries.set_brand_profile(conn, brand.id, parts)
            record_audit(conn, actor, "brand.profile", ("brand", brand.id), brand.org_id, now)
        return replace(brand, profile=profile)

    def drafting_context(self, actor: Actor, brand_id: str, limit: int) -> DraftingContext:
        """The brand and its first `limit` segments, for a member who may create segments
        (a draft is a proposal to create one)."""
        brand = self.get_brand(actor, brand_id)
        require_content_role(actor, brand.org_id)
        with self.store.read() as conn:
            found = queries.segments_page(conn, brand.id, limit=limit)
            total = len(found)
            if total == limit:  # there may be more: count them
                total = queries.segment_counts(conn, brand.org_id).get(brand.id, total)
        return DraftingContext(brand, found, total)


__all__ = ["BrandContext", "BrandProfile", "DraftingContext"]
