"""Alerts from the daemon: a failed run, or too many records refused.

Each alert is POSTed as JSON to the configured endpoints
(``[daemon.alerts]``, URLs from the environment only):

- ``webhook_url`` gets the alert itself::

      {"kind": "run_failed", "sync": "crm", "destination": "crm", "run_id": 12,
       "status": "failed", "message": "...", "rejected": 0, "sent": 0,
       "rejected_share": null, "threshold": 0.05, "at": "2026-11-01T00:00:00+00:00",
       "text": "hub: sync crm, destination crm: run 12 failed: ..."}

  ``kind`` is ``run_failed``, ``rejected_share`` or ``recovered`` (the first
  good run after an alerted one).
- ``slack_webhook_url`` gets ``{"text": ...}`` (a Slack incoming webhook).

The same alert (sync, destination, kind) is not repeated within
``repeat_after``. Sending never raises: an endpoint that is down, slow or
answering an error is logged (without its URL, which carries a token) and
counted, and the daemon goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import structlog

from hub.config.settings import AlertSettings
from hub.redaction import redact

__all__ = ["Alert", "Alerter"]

log = structlog.get_logger("hub.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    sync: str
    destination: str | None
    status: str
    message: str | None = None
    run_id: int | None = None
    rejected: int = 0
    sent: int = 0
    threshold: float | None = None

    @property
    def rejected_share(self) -> float | None:
        return self.rejected / self.sent if self.sent else None

    def text(self) -> str:
        where = f"sync {self.sync}" + (
            f", destination {self.destination}" if self.destination else ""
        )
        run = f"run {self.run_id}" if self.run_id is not None else "run"
        if self.kind == "rejected_share":
            share = self.rejected_share or 0.0
            return (
                f"hub: {where}: {run} had {self.rejected} of {self.sent} records refused"
                f" ({share:.1%}, over the {self.threshold:.1%} threshold); hub errors shows why"
            )
        if self.kind == "recovered":
            return f"hub: {where}: {run} {self.status} again"
        return f"hub: {where}: {run} {self.status}: {redact(self.message or 'no message')}"

    def document(self, at: float) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sync": self.sync,
            "destination": self.destination,
            "run_id": self.run_id,
            "status": self.status,
            "message": None if self.message is None else redact(self.message),
            "rejected": self.rejected,
            "sent": self.sent,
            "rejected_share": self.rejected_share,
            "threshold": self.threshold,
            "at": datetime.fromtimestamp(at, UTC).isoformat(),
            "text": self.text(),
        }


class Alerter:
    """Sends alerts to the endpoints of ``settings``; never raises.

    ``on_result(channel, ok)`` is told each attempt's outcome (metrics).
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        clock: Callable[[], float] = time.time,
        on_result: Callable[[str, bool], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._on_result = on_result
        self._session = session or requests.Session()
        # Alerts go to the configured endpoints only: no proxy from the environment.
        self._session.trust_env = False
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str | None, str], float] = {}
        #: (sync, destination) pairs with an alerted failure not yet recovered.
        self._failing: set[tuple[str, str | None]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.webhook_url or self.settings.slack_webhook_url)

    def update(self, settings: AlertSettings) -> None:
        """New settings (a reload); what was sent is remembered."""
        self.settings = settings

    def run_finished(
        self,
        sync: str,
        destination: str | None,
        status: str,
        *,
        message: str | None = None,
        run_id: int | None = None,
        rejected: int = 0,
        sent: int = 0,
        failed: bool,
    ) -> list[Alert]:
        """Alert on a finished run if it failed or refused too many records (and
        once when a failing destination recovers); returns the alerts sent."""
        alerts: list[Alert] = []
        threshold = self.settings.rejected_share
        pair = (sync, destination)
        if failed:
            alerts.append(Alert("run_failed", sync, destination, status, message, run_id))
        elif sent and rejected / sent > threshold:
            alerts.append(
                Alert(
                    "rejected_share",
                    sync,
                    destination,
                    status,
                    message,
                    run_id,
                    rejected=rejected,
                    sent=sent,
                    threshold=threshold,
                )
            )
        else:
            with self._lock:
                recovered = pair in self._failing
                self._failing.discard(pair)
                for kind in ("run_failed", "rejected_share"):
                    self._last.pop((sync, destination, kind), None)
            if recovered:
                alerts.append(Alert("recovered", sync, destination, status, message, run_id))
        sent_alerts = []
        for alert in alerts:
            if alert.kind != "recovered":
                with self._lock:
                    self._failing.add(pair)
                    key = (sync, destination, alert.kind)
                    now = self._clock()
                    last = self._last.get(key)
                    if last is not None and now - last < self.settings.repeat_after:
                        log.info(
                            "alert.suppressed", kind=alert.kind, sync=sync, destination=destination
                        )
                        continue
                    self._last[key] = now
            self.send(alert)
            sent_alerts.append(alert)
        return sent_alerts

    def send(self, alert: Alert) -> bool:
        """POST ``alert`` to every configured endpoint; true if all took it."""
        ok = True
        document = alert.document(self._clock())
        if self.settings.webhook_url:
            ok &= self._post("webhook", self.settings.webhook_url, document)
        if self.settings.slack_webhook_url:
            ok &= self._post("slack", self.settings.slack_webhook_url, {"text": alert.text()})
        return ok

    def _post(self, channel: str, url: str, body: dict[str, Any]) -> bool:
        try:
            response = self._session.post(
                url, json=body, timeout=self.settings.timeout, allow_redirects=False
            )
            ok = 200 <= response.status_code < 300
            if not ok:
                log.warning(
                    "alert.refused",
                    channel=channel,
                    status=response.status_code,
                    kind=body.get("kind"),
                )
        except Exception as error:  # never crash the daemon over an alert
            # Only the error's type: its text holds the URL, which holds a token.
            log.warning("alert.failed", channel=channel, error=type(error).__name__)
            ok = False
        if self._on_result is not None:
            self._on_result(channel, ok)
        return ok

    def close(self) -> None:
        self._session.close()
