"""Standard Webhooks signatures (the `standardwebhooks` library): secrets and headers."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks import Webhook as StandardWebhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret, `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    event_id: str, moment: datetime, payload: str, secrets_in_use: Iterable[str]
) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp` and `webhook-signature`; with a rotated secret still
    in its grace period, one `v1,` signature per secret, space-separated."""
    signatures = [
        StandardWebhook(secret).sign(event_id, moment, payload) for secret in secrets_in_use
    ]
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
