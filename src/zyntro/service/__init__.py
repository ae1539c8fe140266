"""Use cases: the one place that enforces roles and tenancy; every surface calls it.

The package is split by concept (docs/architecture.md): `rules` (who may do what),
`recording` (the write transaction, change and audit rows), `accounts`, `segments`,
`imports`, `signin` with `throttle` (its attempt counters), `two_factor` (the code after
the password), and `reader` (the public endpoint's cached reads). `Service` joins them.
"""

from __future__ import annotations

from zyntro.errors import unwrap
from zyntro.identity import SYSTEM, Actor, Principal
from zyntro.service.brand_context import BrandContext, DraftingContext
from zyntro.service.events import EventFeed, EventPage
from zyntro.service.history import History
from zyntro.service.imports import ImportResult, Imports, Progress
from zyntro.service.two_factor import TwoFactor

__all__ = [
    "SYSTEM",
    "Actor",
    "DraftingContext",
    "EventPage",
    "ImportResult",
    "Principal",
    "Progress",
    "Service",
]


class Service(Imports, History, TwoFactor, EventFeed, BrandContext):
    """Every use case of the product, over one `Store`."""

    def principal_for_key(self, api_key: str) -> Principal:
        """The member an API key acts for; one error for every way a key can be wrong."""
        return unwrap(self.reader.principals([(api_key, None)])[0])

    def fetch_audiences(self, api_key: str, org_id: str, brand_id: str) -> bytes:
        """The fetchAudiences success body, or the error its checks call for (in order)."""
        principal = self.principal_for_key(api_key)
        return unwrap(self.reader.bodies([(principal, org_id, brand_id)])[0])

    def purge_expired(self) -> tuple[int, int]:
        """Prune events past their retention and purge the trash past its own: (events,
        segments) deleted. The server runs it in the background; every process may."""
        return self.prune_events(), self.purge_trash()
