"""Drafting segments with AI (docs/ai.md): `schema` (the answer's shape and its parse),
`prompt` (what the model is told), `provider` (the Chat Completions client, the only module
that loads `openai`), `drafter` (the use case: context, quotas, one repair).

Nothing is imported here, so that the routes can name the limits without loading the client.
"""
