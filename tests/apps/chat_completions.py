"""A Chat Completions endpoint on loopback that answers as OpenAI's (and Ollama's, vLLM's,
llama.cpp's) servers do, from a script of replies, and records every request it got.

Drafting's tests talk to it through the real `openai` client over real HTTP: what it records
is what a provider would have received, and its replies are shaped like recorded ones.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a status, a JSON body (or raw bytes), headers; or, with `hang`,
    no answer at all until the server stops (the client's timeout); with `trickle`, the
    headers at once and then the body a few bytes every `trickle` seconds (each read of
    the client's is quick, the whole answer is not)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    trickle: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def completion(
    content: str | None,
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    finish_reason: str = "stop",
    ollama: bool = False,
) -> dict[str, Any]:
    """A non-streaming `chat.completion` as OpenAI sends it (or, with `ollama`, as Ollama's
    OpenAI-compatible endpoint does: no refusal, annotations or token details)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    usage: dict[str, Any] = {"prompt_tokens": 812, "completion_tokens": 403, "total_tokens": 1215}
    body: dict[str, Any] = {
        "id": "chatcmpl-AbC123dEf456",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }
    if ollama:
        body["system_fingerprint"] = "fp_ollama"
        del body["choices"][0]["logprobs"]
        return body
    message.update(refusal=None, annotations=[])
    usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
    usage["completion_tokens_details"] = {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    body.update(service_tier="default", system_fingerprint="fp_7a8b9c0d1e")
    return body


def no_choices(model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    """An answer with an empty `choices` array (seen from content filters and some proxies)."""
    body = completion(None, model=model)
    body["choices"] = []
    return body


def error(status: int, message: str, kind: str, code: str | None) -> dict[str, Any]:
    """OpenAI's error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


RATE_LIMITED = Reply(
    429,
    error(
        429,
        "Rate limit reached for gpt-4o-mini in organization org-xyz on requests per min "
        "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
        "requests",
        "rate_limit_exceeded",
    ),
    {"retry-after": "20", "x-ratelimit-remaining-requests": "0"},
)
SERVER_ERROR = Reply(
    500,
    error(500, "The server had an error while processing your request.", "server_error", None),
)
OVERLOADED = Reply(503, b"upstream connect error or disconnect/reset before headers")
SCHEMA_REFUSED = Reply(  # what servers without structured output answer (llama.cpp, older vLLM)
    400,
    error(
        400,
        "Unsupported value: 'response_format.type' does not support 'json_schema'.",
        "invalid_request_error",
        "unsupported_value",
    ),
)


class ChatCompletionsServer:
    """The endpoint: `base_url` ends in /v1, as a client is configured with."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.received: list[Received] = []
        self._release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                owner.received.append(
                    Received(
                        "POST",
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw or b"{}"),
                    )
                )
                if self.path != "/v1/chat/completions":  # as OpenAI answers, scripts untouched
                    reply = Reply(
                        404,
                        error(
                            404, f"Invalid URL (POST {self.path})", "invalid_request_error", None
                        ),
                    )
                elif owner.replies:
                    reply = owner.replies.popleft()
                else:
                    reply = Reply(500, {"error": {}})
                if reply.hang:
                    owner._release.wait(30)
                    self.close_connection = True
                    return
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                kind = "text/plain" if isinstance(reply.body, bytes) else "application/json"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not reply.trickle:
                    self.wfile.write(payload)
                    return
                for start in range(0, len(payload), 4):
                    self.wfile.write(payload[start : start + 4])
                    self.wfile.flush()
                    if owner._release.wait(reply.trickle):
                        self.close_connection = True
                        return

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """The next answers, in order (after them: 500)."""
        self.replies.extend(replies)

    def json_reply(self, content: Any, **options: Any) -> Reply:
        """A completion whose content is `content` written as JSON."""
        return Reply(200, completion(json.dumps(content), **options))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def chat_completions_server() -> Iterator[ChatCompletionsServer]:
    server = ChatCompletionsServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
