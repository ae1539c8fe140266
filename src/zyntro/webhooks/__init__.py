"""Signed webhooks: the model and its rules, signing, the address guard, and delivery.

`model` (what a webhook is and the rules of its fields), `auth` (the credentials it sends),
`signing` (Standard Webhooks headers), `guard` (server-side request forgery), `schedule`
(retries), `sender` (one attempt over httpx) and `worker` (the delivery loop). See
docs/webhooks.md.
"""
