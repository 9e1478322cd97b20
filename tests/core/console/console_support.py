"""Helpers for the console's tests: the sample with planted trouble, synced
through ``hub sync``, a ``hub console`` subprocess, and headless Chromium.

The planted trouble:

- the sample's own dirty rows, quarantined with their file:line;
- a ``hubspot`` destination on the fake HubSpot (127.0.0.1), whose portal has
  ``hub_primary_role`` as a dropdown of Owner and Admin only: every contact
  whose primary role is another is refused with HubSpot's own reason;
- a user and an account whose names hold markup (``<script>``, ``<img onerror>``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "hubspot"))

from fake_hubspot import TOKEN as HUBSPOT_TOKEN  # noqa: E402
from fake_hubspot import FakeHubSpot  # noqa: E402

CONSOLE_TOKEN = "console-token-7f3a9c1e5b2d4f60a8e1"
SLACK_URL = "http://127.0.0.1:9/slack-webhook-secret-path"
SCRIPT_NAME = "<script>document.title='pwned'</script>Mallory"
IMG_NAME = "<img src=x onerror=\"document.title='pwned'\">Evil Corp"
#: Every secret the console's process holds: none may ever be rendered.
SECRETS = (CONSOLE_TOKEN, HUBSPOT_TOKEN, SLACK_URL)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

EXTRA_TOML = """
# The fake HubSpot on 127.0.0.1 (the token from the environment).
[destinations.hubspot]
type = "hubspot"
mapping = "mappings/hubspot.toml"

[destinations.hubspot.settings]
tier = "professional"
base_url = "{url}"

[destinations.slack]
type = "slack"

[playbooks]
paths = ["mappings/playbooks/*.toml"]
"""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The process environment of the syncs and consoles: the destinations'
    secrets, no proxy for loopback, no console token unless ``extra`` sets one."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HUB_") and key.lower() not in ("http_proxy", "https_proxy")
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(sys.path),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "HUB_DESTINATIONS__HUBSPOT__SETTINGS__TOKEN": HUBSPOT_TOKEN,
            "HUB_DESTINATIONS__SLACK__SETTINGS__WEBHOOK_URL": SLACK_URL,
        }
    )
    env.update(extra or {})
    return env


def make_project(directory: Path, hubspot_url: str) -> Path:
    """The sample in ``directory`` with the planted trouble; its hub.toml."""
    for name in ("mappings", "examples"):
        shutil.copytree(ROOT / name, directory / name)
    sample = directory / "examples" / "sample"
    with (sample / "users.csv").open("a", encoding="utf-8", newline="") as users:
        quoted = SCRIPT_NAME.replace('"', '""')
        users.write(
            f'u_mallory,mallory@evil.example,"{quoted}",Hacker,CTO,US,2026-01-02T03:04:05Z\n'
        )
    with (sample / "accounts.csv").open("a", encoding="utf-8", newline="") as accounts:
        quoted = IMG_NAME.replace('"', '""')
        accounts.write(f'acc_evil,"{quoted}",evil.example,Trial,Business,0.2,12,2026-01-02\n')
    with (sample / "memberships.csv").open("a", encoding="utf-8", newline="") as memberships:
        memberships.write("u_mallory,acc_evil,Owner,MQL,2026-01-02,0.5,1,,2026-10-30T10:00:00Z\n")
    config = directory / "hub.toml"
    config.write_text(
        (ROOT / "hub.toml").read_text(encoding="utf-8") + EXTRA_TOML.format(url=hubspot_url),
        encoding="utf-8",
    )
    return config


def plant_dropdown(fake: FakeHubSpot) -> None:
    """The portal's admin made ``hub_primary_role`` a dropdown of Owner and
    Admin: HubSpot refuses any other value, per record."""
    fake.properties["contacts"]["hub_primary_role"] = {
        "name": "hub_primary_role",
        "label": "Primary role",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [
            {"label": role, "value": role, "displayOrder": index, "hidden": False}
            for index, role in enumerate(("Owner", "Admin"))
        ],
        "hasUniqueValue": False,
        "hidden": False,
        "formField": True,
    }


def hub(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``hub ARGS --config CONFIG`` in a subprocess, as a person runs it."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env or environment(),
        cwd=config.parent,
        timeout=300,
        check=False,
    )


def hub_json(config: Path, *args: str) -> Any:
    result = hub(config, *args, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


class ConsoleProcess:
    """``hub console`` in a subprocess on a free port; its JSON log in a file."""

    def __init__(
        self, config: Path, *, listen: str = "127.0.0.1:0", env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.listen = listen
        self.env = env or environment()
        self.log = config.parent / f"console-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""

    def __enter__(self) -> ConsoleProcess:
        self._file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hub",
                "console",
                "--config",
                str(self.config),
                "--listen",
                self.listen,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._file,
            env=self.env,
            cwd=self.config.parent,
        )
        started = self.wait_for("console.started")
        url = str(started["url"]).rstrip("/")
        self.base = url.replace("://0.0.0.0:", "://127.0.0.1:")
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._file.close()

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_bytes().split(b"\n")[:-1]:
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                found.append({"event": "<not json>", "line": line.decode(errors="replace")})
        return found

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.events():
                if item.get("event") == event:
                    return item
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"hub console exited {self.process.returncode}: {self.events()}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no {event} in {self.events()}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                http(self.base + "/static/console.css")
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the console never answered")

    def url(self, path: str) -> str:
        return self.base + path


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1 (never through a proxy, no redirect followed)."""
    assert url.startswith("http://127.0.0.1:"), url

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), dict(response.headers), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), dict(error.headers), bytes(error.read())


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def chromium() -> Iterator[Any]:
    """The distribution's Chromium, headless, through Playwright (one per module:
    Playwright's sync API runs one at a time); pages come from :func:`new_page`."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: the console's browser tests need Debian's chromium"
        " (apt-get install chromium; .ci/run installs it)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, *, javascript: bool = True) -> Any:
    """A page in a fresh context (no cookies): a new visitor."""
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
    )
    return context.new_page()
