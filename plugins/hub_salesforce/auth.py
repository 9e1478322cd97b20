"""Getting an access token from Salesforce's OAuth 2.0 token endpoint.

All three flows post a form to ``{login_url}/services/oauth2/token`` and get
``{"access_token", "instance_url", ...}`` back:

- ``password``: ``grant_type=password`` with the connected app's client id and
  secret, the username, and the password followed by the security token;
- ``client_credentials``: ``grant_type=client_credentials`` with the client id
  and secret (the login URL must be the org's My Domain);
- ``jwt_bearer``: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``
  with an RS256 JWT (issuer the client id, subject the username, audience the
  login URL) signed with the connected app's private key.

One code path for every flow, so the token endpoint of a local fake serves
the tests. Nothing here logs or repeats a credential: errors quote
Salesforce's ``error`` code and description only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from hub_salesforce.settings import AuthFlow, SalesforceSettings

TOKEN_PATH = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Lifetime of the JWT assertion (Salesforce accepts at most 3 minutes).
JWT_LIFETIME = 180


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and the instance it is valid on."""

    access_token: str
    instance_url: str

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r})"


class AuthError(Exception):
    """The token endpoint refused the credentials (the message holds no secret)."""


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


def token_form(settings: SalesforceSettings, now: float | None = None) -> dict[str, str]:
    """The form posted to the token endpoint for the configured flow."""
    client_id = settings.client_id or ""
    if settings.auth is AuthFlow.PASSWORD:
        return {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": _secret(settings.client_secret),
            "username": settings.username or "",
            "password": _secret(settings.password) + _secret(settings.security_token),
        }
    if settings.auth is AuthFlow.CLIENT_CREDENTIALS:
        return {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": _secret(settings.client_secret),
        }
    import jwt  # pyjwt[crypto], a dependency of simple-salesforce

    issued = int(time.time() if now is None else now)
    assertion = jwt.encode(
        {
            "iss": client_id,
            "sub": settings.username or "",
            "aud": settings.login_url.rstrip("/"),
            "exp": issued + JWT_LIFETIME,
        },
        _secret(settings.private_key),
        algorithm="RS256",
    )
    return {"grant_type": JWT_GRANT, "assertion": assertion}


def fetch_token(settings: SalesforceSettings, session: requests.Session, timeout: float) -> Token:
    """A fresh access token; :class:`AuthError` when the credentials are refused."""
    url = settings.login_url.rstrip("/") + TOKEN_PATH
    try:
        form = token_form(settings)
    except Exception as exc:  # a malformed private key (pyjwt / cryptography)
        raise AuthError(f"the JWT could not be signed: {type(exc).__name__}") from None
    response = session.post(url, data=form, headers={"Accept": "application/json"}, timeout=timeout)
    if response.status_code != 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise AuthError(
            f"the Salesforce token endpoint refused the {settings.auth.value} flow: "
            f"{code}{': ' + description if description else ''}"
        )
    document = response.json()
    instance_url = settings.instance_url or document.get("instance_url")
    if not document.get("access_token") or not instance_url:
        raise AuthError("the Salesforce token endpoint answered without a token or instance_url")
    return Token(str(document["access_token"]), str(instance_url).rstrip("/"))
