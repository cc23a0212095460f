"""The simulated identity server: registered clients, authorization codes, tokens.

Behaviour follows reference §2: authorization code (+ PKCE S256), client authentication in
the form body or HTTP Basic, refresh tokens that rotate (a used one is dead: 400
``invalid_grant``), 400 when ``scope`` is sent on refresh, configurable ``expires_in`` and
a non-expiring mode. Tokens are random strings; they are never logged or put in reprs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from syncd.simulators.intigriti.model import Clock, User
from syncd.simulators.intigriti.options import (
    ALL_SCOPES,
    API_SCOPES,
    IntigritiSimulatorOptions,
    RegisteredClient,
)


class OAuthError(Exception):
    """An OAuth error response: ``{"error": code, "error_description": ...}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class TokenRecord:
    client_id: str
    scopes: frozenset[str]
    expires_at: float | None
    user: User
    access_ttl: int | None = None
    revoked: bool = False


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class AuthorizeRequest:
    client: RegisteredClient
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    challenge: str | None


def integration_user(client_id: str) -> User:
    """The company user who authorised the integration (the API acts as this user)."""
    return User(
        user_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"integration:{client_id}")),
        user_name="syncd.integration",
        role="Company admin",
        email="integration@democorp.example",
    )


def _is_localhost(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _Tables:
    access: dict[str, TokenRecord] = field(default_factory=dict)
    refresh: dict[str, TokenRecord] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)


class OAuthServer:
    def __init__(self, clock: Clock, options: IntigritiSimulatorOptions) -> None:
        self._clock = clock
        self._options = options
        self._lock = threading.Lock()
        self._clients: dict[str, RegisteredClient] = {c.client_id: c for c in options.clients}
        self._t = _Tables()

    # ----------------------------------------------------------------- clients

    def register_client(self, client: RegisteredClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def redirect_problem(self, uri: str) -> str | None:
        """Why ``uri`` may not be used as a redirect URL at all (None when acceptable)."""
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "the redirect URL must start with http:// or https://"
        if _is_localhost(parts.hostname) and not self._options.allow_localhost_redirect:
            return "localhost redirect URLs are not allowed"
        return None

    # ----------------------------------------------------------------- authorize

    def check_authorize(self, params: dict[str, str]) -> AuthorizeRequest:
        """Validate an authorize request. Errors here must not redirect (400 page)."""
        client = self._clients.get(params.get("client_id", ""))
        if client is None:
            raise OAuthError(400, "invalid_client", "unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(400, "invalid_request", "redirect_uri is not registered")
        problem = self.redirect_problem(redirect_uri)
        if problem:
            raise OAuthError(400, "invalid_request", problem)
        return AuthorizeRequest(
            client=client,
            redirect_uri=redirect_uri,
            scopes=frozenset(params.get("scope", "").split()),
            state=params.get("state"),
            challenge=params.get("code_challenge"),
        )

    def redirect_error(self, req: AuthorizeRequest, params: dict[str, str]) -> str | None:
        """An OAuth error to send back to the (validated) redirect URL, if any."""
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if not req.scopes or not req.scopes <= set(ALL_SCOPES):
            return "invalid_scope"
        method = params.get("code_challenge_method")
        if req.challenge is not None and method != "S256":
            return "invalid_request"
        if req.challenge is None and self._options.require_pkce:
            return "invalid_request"
        return None

    def issue_code(self, req: AuthorizeRequest) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._t.codes[code] = AuthCode(
                client_id=req.client.client_id,
                redirect_uri=req.redirect_uri,
                scopes=req.scopes,
                challenge=req.challenge,
                expires_at=self._clock.now() + self._options.code_ttl,
            )
        return code

    # ----------------------------------------------------------------- token endpoint

    def _client_auth(self, form: dict[str, str], authorization: str | None) -> RegisteredClient:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError(401, "invalid_client", "malformed Basic credentials") from None
            basic_id, _, basic_secret = raw.partition(":")
            client_id, secret = unquote(basic_id), unquote(basic_secret)
        client = self._clients.get(client_id or "")
        if (
            client is None
            or secret is None
            or not hmac.compare_digest(secret.encode(), client.client_secret.encode())
        ):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return client

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", "unsupported grant_type")
        client = self._client_auth(form, authorization)
        with self._lock:
            if grant == "authorization_code":
                return self._exchange_code(client, form)
            return self._refresh(client, form)

    def _exchange_code(self, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
        code = self._t.codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at < self._clock.now():
            raise OAuthError(400, "invalid_grant", "authorization code is invalid or expired")
        # Single use: even a failed exchange burns the code.
        code.used = True
        if code.client_id != client.client_id:
            raise OAuthError(400, "invalid_grant", "code was issued to another client")
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match")
        if code.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier or not hmac.compare_digest(pkce_challenge(verifier), code.challenge):
                raise OAuthError(400, "invalid_grant", "PKCE verification failed")
        return self._issue(
            client.client_id,
            code.scopes,
            self._options.access_token_ttl,
            with_refresh="offline_access" in code.scopes,
        )

    def _refresh(self, client: RegisteredClient, form: dict[str, str]) -> dict[str, Any]:
        if "scope" in form:
            raise OAuthError(400, "invalid_request", "scope is not allowed on refresh")
        token = form.get("refresh_token", "")
        record = self._t.refresh.get(token)
        if (
            record is None
            or record.revoked
            or (record.expires_at is not None and record.expires_at < self._clock.now())
            or record.client_id != client.client_id
        ):
            raise OAuthError(400, "invalid_grant", "refresh token is invalid or expired")
        # Rotation: the used refresh token is dead from now on.
        del self._t.refresh[token]
        return self._issue(client.client_id, record.scopes, record.access_ttl, with_refresh=True)

    def _issue(
        self, client_id: str, scopes: frozenset[str], ttl: int | None, *, with_refresh: bool
    ) -> dict[str, Any]:
        now = self._clock.now()
        access = secrets.token_urlsafe(32)
        user = integration_user(client_id)
        self._t.access[access] = TokenRecord(
            client_id=client_id,
            scopes=scopes,
            expires_at=None if ttl is None else now + ttl,
            user=user,
        )
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes)),
        }
        if ttl is not None:
            body["expires_in"] = ttl
        if with_refresh:
            refresh = secrets.token_urlsafe(32)
            self._t.refresh[refresh] = TokenRecord(
                client_id=client_id,
                scopes=scopes,
                expires_at=now + self._options.refresh_token_ttl,
                user=user,
                access_ttl=ttl,
            )
            body["refresh_token"] = refresh
        return body

    # ----------------------------------------------------------------- for the API and tests

    def mint(
        self,
        *,
        client_id: str | None = None,
        scopes: tuple[str, ...] | None = None,
        expires_in: int | None = None,
        non_expiring: bool = False,
    ) -> dict[str, Any]:
        """Issue a token pair without the browser flow (control API)."""
        client_id = client_id or next(iter(self._clients))
        if client_id not in self._clients:
            raise OAuthError(400, "invalid_client", "unknown client_id")
        chosen = frozenset(scopes if scopes is not None else (*API_SCOPES, "offline_access"))
        ttl = None if non_expiring else (expires_in or self._options.access_token_ttl)
        with self._lock:
            return self._issue(client_id, chosen, ttl, with_refresh=True)

    def authenticate(self, token: str) -> TokenRecord | None:
        """The live record of an access token, or None (unknown, revoked, expired)."""
        with self._lock:
            record = self._t.access.get(token)
            if record is None or record.revoked:
                return None
            if record.expires_at is not None and record.expires_at <= self._clock.now():
                return None
            return record

    def revoke(self, token: str | None = None, *, client_id: str | None = None) -> int:
        """Revoke one token (access or refresh), or every token of a client, or all."""
        with self._lock:
            count = 0
            for table in (self._t.access, self._t.refresh):
                for value, record in table.items():
                    hit = (
                        value == token
                        if token is not None
                        else client_id is None or record.client_id == client_id
                    )
                    if hit and not record.revoked:
                        record.revoked = True
                        count += 1
            return count

    def reset(self) -> None:
        with self._lock:
            self._t = _Tables()
