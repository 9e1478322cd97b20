"""A webhook receiver on 127.0.0.1 for the webhook plugin's tests.

It verifies each request's signature the way the plugin's documentation tells
a receiver to (with the standard library only, not the plugin's helpers),
records every request, keeps what it was sent (``store``), answers per-item
results, and misbehaves on demand:

- ``fail_next(status, headers=..., body=..., delay=...)`` scripts the next
  answers (429 with ``Retry-After``, 500, a slow answer ...);
- an item whose key starts with ``status-NNN`` makes the whole request answer
  ``NNN``; an item whose payload has ``"reject"`` gets a per-item ``error``.

The server handles one request at a time in a loop bounded by
``max_requests`` and stops when the test ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

SECRET = "receiver-secret-0123456789abcdef"


@dataclass(frozen=True)
class Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


def receiver_id(object: str, key: str) -> str:
    """The id the receiver gives a record."""
    return "wh-" + hashlib.sha256(f"{object}/{key}".encode()).hexdigest()[:12]


class Receiver:
    def __init__(self, secret: str = SECRET, max_requests: int = 5000) -> None:
        self.secret = secret
        self.max_requests = max_requests
        self.requests: list[Received] = []
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.rate_limit_headers: dict[str, str] = {}
        self._script: deque[Scripted] = deque()
        self._stop = threading.Event()
        self._server = HTTPServer(("127.0.0.1", 0), self._handler())
        self._server.timeout = 0.05
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        assert host == "127.0.0.1"
        return f"http://127.0.0.1:{port}/hook"

    def fail_next(
        self,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        delay: float = 0.0,
    ) -> None:
        self._script.append(Scripted(status, headers or {}, body, delay))

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.server_close()

    def _serve(self) -> None:
        # Bounded: stops at the end of the test or after max_requests requests.
        while not self._stop.is_set() and len(self.requests) < self.max_requests:
            self._server.handle_request()  # returns after server.timeout when idle

    # -- what a real receiver does ------------------------------------------

    def signature_ok(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("X-Hub-Timestamp", "")
        signature = headers.get("X-Hub-Signature-256", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", signature)

    def answer(self, headers: dict[str, str], body: bytes) -> Scripted:
        ok = self.signature_ok(headers, body)
        self.requests.append(Received(headers, body, ok))
        if not ok:
            return Scripted(401, body=b'{"error": "bad signature"}')
        if self._script:
            return self._script.popleft()
        document = json.loads(body)
        for item in document["items"]:
            if item["key"].startswith("status-"):
                status = int(item["key"].split("-")[1])
                retry = {"Retry-After": "3"} if status in (429, 503) else {}
                return Scripted(status, retry, b'{"message": "as you asked"}')
        results = []
        for item in document["items"]:
            where = (document["object"], item["key"])
            reason = item["payload"].get("reject")
            if reason:
                results.append({"key": item["key"], "error": reason})
                continue
            if document["operation"] in ("delete", "unlink"):
                self.store.pop(where, None)
            else:
                self.store[where] = item["payload"]
            results.append({"key": item["key"], "id": receiver_id(*where)})
        return Scripted(
            200,
            {"Content-Type": "application/json", **self.rate_limit_headers},
            json.dumps({"results": results}).encode(),
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                answer = receiver.answer(dict(self.headers.items()), body)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
