"""Helpers for the daemon's tests: a temp project, a daemon subprocess whose
JSON log is read back, and a signed-webhook receiver on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hub.sync.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[3]
SECRET = "daemon-test-secret-0123456789"

BASE_TOML = """
[sources.users]
kind = "csv"
table = "users"
path = "examples/sample/users.csv"

[sources.accounts]
kind = "csv"
table = "accounts"
path = "examples/sample/accounts.csv"

[sources.memberships]
kind = "csv"
table = "memberships"
path = "examples/sample/memberships.csv"

[sources.tracking]
kind = "segment"
path = "examples/sample/events.jsonl"

[events]
as_of = 2026-11-01T00:00:00Z

# The rollups mappings/crm.toml reads (a reference to a missing one is refused).
[[events.rollups]]
property = "events_30d"
level = "relationship"
window_days = 30

[[events.rollups]]
property = "last_seen_at"
level = "user"
kind = "last_seen"

[[events.rollups]]
property = "invoices_paid_90d"
level = "account"
event = "Invoice Paid"
window_days = 90

[[events.rollups]]
property = "tasks_completed_30d"
level = "account"
event = "Task Completed"
window_days = 30

[destinations.crm]
type = "outbox"
mapping = "mappings/crm.toml"
settings.directory = "outbox/crm"
"""


def make_project(tmp_path: Path, extra: str) -> Path:
    """A copy of the sample project in ``tmp_path``; returns its hub.toml."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, tmp_path / name)
    config = tmp_path / "hub.toml"
    config.write_text(BASE_TOML + extra)
    return config


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def edit_csv(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    """Rewrite a CSV file line by line (atomically, like an export would)."""
    lines = path.read_text().splitlines()
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(change(lines)) + "\n")
    temporary.replace(path)


class DaemonProcess:
    """``python -m hub daemon`` in a subprocess, JSON log to a file.

    Always stopped (SIGKILL if it must) when the ``with`` block ends.
    """

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log = log
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def __enter__(self) -> DaemonProcess:
        self._file = self.log.open("ab")
        self._offset = self.log.stat().st_size
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub",
                "daemon",
                "--config",
                str(self.config),
                "--log-format",
                "json",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._file,
            env=self.env,
            cwd=self.config.parent,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._file.close()

    def events(self) -> list[dict[str, Any]]:
        """The log events this process wrote (complete lines only)."""
        data = self.log.read_bytes()[self._offset :]
        events = []
        for line in data.split(b"\n")[:-1]:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                events.append({"event": "<not json>", "line": line.decode(errors="replace")})
        return events

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events()
            if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
        ]

    def wait_for(
        self, event: str, timeout: float = 20, where: Callable[[dict[str, Any]], bool] = bool
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for item in self.events():
                if item.get("event") == event and where(item):
                    return item
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited: {self.events()[-5:]}")
            return None

        result: dict[str, Any] = wait_until(found, timeout, f"log event {event}")
        return result

    def url(self, path: str) -> str:
        started = self.wait_for("daemon.started")
        return f"http://{started['listen']}{path}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        """Send ``sig``; the exit code and the seconds the daemon took to exit."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - began


@dataclass
class Request:
    run_id: int
    object: str
    operation: str
    #: (key, fingerprint of the payload) of each item, in order.
    items: list[tuple[str, str]]
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    destination: str = ""
    #: When it arrived (monotonic seconds).
    at: float = 0.0


class Receiver:
    """A webhook receiver on 127.0.0.1: checks signatures, keeps every request,
    answers each item ok, sleeping ``delay`` seconds per request.

    ``limit = (requests, seconds)`` enforces a sliding window over every
    signed request, as a rate-limited API would: one more is answered 429
    with ``Retry-After`` (counted in :attr:`throttled`, not kept)."""

    def __init__(self, secret: str = SECRET, limit: tuple[int, float] | None = None) -> None:
        self.secret = secret
        self.delay = 0.0
        self.limit = limit
        self.throttled = 0
        self._window: deque[float] = deque()
        self.requests: list[Request] = []
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def snapshot(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def runs(self) -> set[int]:
        return {request.run_id for request in self.snapshot()}

    def iter_items(self) -> Iterator[tuple[int, str, str, str]]:
        """(run_id, object, key, fingerprint) of every item received."""
        for request in self.snapshot():
            for key, print_ in request.items:
                yield request.run_id, request.object, key, print_

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                timestamp = self.headers.get("X-Hub-Timestamp", "")
                expected = hmac.new(
                    receiver.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                if not hmac.compare_digest(
                    f"sha256={expected}", self.headers.get("X-Hub-Signature-256", "")
                ):
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    self._send(401, b"{}")
                    return
                document = json.loads(body)
                arrived = time.monotonic()
                if receiver.limit is not None:
                    most, seconds = receiver.limit
                    with receiver._lock:
                        window = receiver._window
                        while window and window[0] <= arrived - seconds:
                            window.popleft()
                        full = len(window) >= most
                        if full:
                            receiver.throttled += 1
                            retry = max(window[0] + seconds - arrived, 0.01)
                        else:
                            window.append(arrived)
                    if full:
                        self._send(429, b"{}", {"Retry-After": str(math.ceil(retry))})
                        return
                if receiver.delay:
                    time.sleep(receiver.delay)
                request = Request(
                    document["run_id"],
                    document["object"],
                    document["operation"],
                    [(item["key"], fingerprint(item["payload"])) for item in document["items"]],
                    {item["key"]: item["payload"] for item in document["items"]},
                    document.get("destination", ""),
                    arrived,
                )
                with receiver._lock:
                    receiver.requests.append(request)
                results = [
                    {"key": item["key"], "id": "r-" + item["key"]} for item in document["items"]
                ]
                self._send(200, json.dumps({"results": results}).encode())

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def outbox_lines(directory: Path) -> list[tuple[int, str, str, str]]:
    """(run_id, object, key, fingerprint of the payload) of every outbox line."""
    found = []
    for path in sorted(directory.rglob("run-*.jsonl")):
        run_id = int(path.stem.split("-")[1])
        for line in path.read_text().splitlines():
            if line.strip():
                item = json.loads(line)
                found.append((run_id, path.parent.name, item["key"], fingerprint(item["payload"])))
    return found


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """GET ``url`` (127.0.0.1 only, never through a proxy)."""
    import urllib.error
    import urllib.request

    assert url.startswith("http://127.0.0.1:")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
