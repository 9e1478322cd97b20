"""Talking to one Salesforce org: the metered session, the login (any of the
three OAuth flows, :mod:`hub_salesforce.auth`), one session refresh on
``INVALID_SESSION_ID``, the daily quota read from ``Sforce-Limit-Info``, and
whole-request failures classified (retryable, permanent or fatal).

simple-salesforce (1.12) is imported lazily: ``sf.restful`` for collections and
queries, ``sf.bulk2`` for ingest jobs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from hub.contract import FatalDestinationError, Outcome, RateBudget, RecordResult
from hub_salesforce.auth import AuthError, fetch_token
from hub_salesforce.errors import QUOTA_CODE, SESSION_CODE, error_code, request_error_text
from hub_salesforce.settings import SalesforceSettings

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ``Sforce-Limit-Info: api-usage=N/M``.
_API_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class RequestFailed(Exception):
    """A whole request failed in a way that is every one of its records' problem."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason

    def result(self, key: str) -> RecordResult:
        if self.outcome is Outcome.RETRYABLE:
            return RecordResult.retryable(key, self.reason)
        return RecordResult.permanent(key, self.reason)


class MeteredSession(requests.Session):
    """A session with a default timeout that tells the destination about every
    request before it goes and every response once it is back."""

    def __init__(
        self,
        timeout: float,
        before: Callable[[], None],
        after: Callable[[requests.Response], None],
    ) -> None:
        super().__init__()
        self._default_timeout = timeout
        self._before = before
        self._after = after

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self._default_timeout)
        self._before()
        response = super().request(method, url, *args, **kwargs)
        self._after(response)
        return response


class SalesforceClient:
    """One org's session and what its answers say (see the module)."""

    def __init__(
        self,
        settings: SalesforceSettings,
        name: str,
        budget: RateBudget,
        timeout: float,
        credential_settings: str,
    ) -> None:
        self.settings = settings
        self.name = name
        self._budget = budget
        self._timeout = timeout
        self._credential_settings = credential_settings
        self._session = MeteredSession(timeout, self._before_request, self._after_response)
        self._sf: Any = None
        self._requests_in_send = 0
        self._usage: tuple[int, int] | None = None
        #: True once the org's usage reached ``max_api_share``.
        self.over_quota = False

    def begin_send(self) -> None:
        """A batch starts: the engine paid its first request; stop if over quota."""
        self._requests_in_send = 0
        self._stop_if_over_quota()

    def close(self) -> None:
        self._session.close()

    def _before_request(self) -> None:
        self._requests_in_send += 1
        if self._requests_in_send > 1:
            # The engine acquired one request for the batch; the rest are ours.
            self._budget.acquire(1)

    def _after_response(self, response: requests.Response) -> None:
        match = _API_USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match is None:
            return
        used, total = int(match.group(1)), int(match.group(2))
        self._usage = (used, total)
        self._budget.observe(daily_remaining=max(total - used, 0))
        if total and used / total >= self.settings.max_api_share:
            self.over_quota = True

    def quota_reason(self) -> str:
        used, total = self._usage or (0, 0)
        return (
            f"Salesforce reports {used} of the org's {total} daily API requests used "
            f"({used / total:.0%}), reaching max_api_share = {self.settings.max_api_share:g}: "
            "stopping before the org's quota is spent"
        )

    def _stop_if_over_quota(self) -> None:
        if self.over_quota:
            raise FatalDestinationError(
                self.quota_reason(), setting=f"destinations.{self.name}.settings.max_api_share"
            )

    def _login(self) -> None:
        from simple_salesforce.api import Salesforce

        try:
            token = fetch_token(self.settings, self._session, self._timeout)
        except AuthError as error:
            raise FatalDestinationError(str(error), setting=self._credential_settings) from None
        except requests.RequestException as error:
            raise RequestFailed(
                Outcome.RETRYABLE, f"could not reach the token endpoint: {type(error).__name__}"
            ) from None
        sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token,
            session=self._session,
            version=self.settings.api_version,
        )
        if urlsplit(token.instance_url).scheme == "http":
            # simple-salesforce always builds https:// URLs; a local fake speaks http.
            for attribute in ("base_url", "bulk2_url", "apex_url", "oauth2_url"):
                url = getattr(sf, attribute)
                setattr(sf, attribute, "http://" + url.removeprefix("https://"))
        self._sf = sf

    def call(self, operation: Callable[[Any], T]) -> T:
        """Run ``operation(sf)``; refresh the session once on ``INVALID_SESSION_ID``;
        map whole-request failures to :class:`RequestFailed` or a fatal error."""
        from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

        if self._sf is None:
            self._login()
        for attempt in (1, 2):
            try:
                return operation(self._sf)
            except SalesforceExpiredSession as error:
                if error_code(error.content) == SESSION_CODE and attempt == 1:
                    logger.info("%s: session expired; getting a new one", self.name)
                    self._login()
                    continue
                raise FatalDestinationError(
                    "Salesforce refused the session even after a refresh "
                    f"({request_error_text(error.content)})",
                    setting=self._credential_settings,
                ) from None
            except SalesforceError as error:
                raise self._request_error(error.status, error.content) from None
            except (requests.Timeout, requests.ConnectionError) as error:
                raise RequestFailed(
                    Outcome.RETRYABLE, f"no answer from Salesforce: {type(error).__name__}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _request_error(self, status: int, content: Any) -> Exception:
        code = error_code(content)
        text = request_error_text(content)
        if code == QUOTA_CODE:
            return FatalDestinationError(
                f"the org's daily API request limit is exhausted ({text}); it frees up "
                "over a rolling 24 hours",
                setting=f"destinations.{self.name}.settings.max_api_share",
            )
        if status == 403:
            return FatalDestinationError(
                f"Salesforce refused the integration user (HTTP 403 {text})",
                setting=self._credential_settings,
            )
        if status >= 500 or code in ("UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"):
            return RequestFailed(Outcome.RETRYABLE, f"HTTP {status} {text}")
        return RequestFailed(Outcome.PERMANENT, f"HTTP {status} {text}")

    def restful(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        return self.call(lambda sf: sf.restful(path, method=method, **kwargs))

    def query(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query, following ``nextRecordsUrl``."""
        answer = self.restful("query/", params={"q": soql})
        records: list[dict[str, Any]] = list(answer.get("records", []))
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            path = str(answer["nextRecordsUrl"]).split(f"/v{self.settings.api_version}/", 1)[-1]
            answer = self.restful(path)
            records.extend(answer.get("records", []))
        return records
