"""Intigriti OAuth 2.0: authorization code + PKCE login, and refresh with rotation.

Authlib's httpx ``OAuth2Client`` builds the authorize URL (PKCE S256 + state) and talks to
the token endpoint. Its automatic refresh is not used: refreshes go through
``TokenStore.rotate`` so that exactly one refresh runs at a time across threads (a lock)
and processes (the store's lock), and the rotated refresh token is committed before the
new access token is used (or, when that commit fails after Intigriti answered, kept and
retried by the store: ``syncd.store.tokens``). The Authlib client is built without a
``scope``, because Authlib adds the client's scope to refresh requests and Intigriti
answers a refresh that carries ``scope`` with 400 (reference §2.3); the scope is passed to
the authorize URL only.

Client authentication at the token endpoint is ``client_secret_post`` (the form body, as
Intigriti's own MCP client does, reference §2.2), or ``none`` for a public client.

A 429 from the token endpoint is reported as such (not as a malformed token answer, which
Authlib would make of its JSON body) and pauses every token call of this session for the
``Retry-After`` it names (1 s when it names none), so retries do not hammer the endpoint.
A refused request does not spend the refresh token, so nothing is lost meanwhile.
"""

from __future__ import annotations

import math
import secrets
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx
import structlog

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import OAuth2Client

from syncd.errors import CredentialError, MalformedResponse, TransientError
from syncd.intigriti.options import IntigritiOptions
from syncd.intigriti.tokens import TokenStore
from syncd.logging import register_secret
from syncd.netcause import connection_cause, safe_url
from syncd.records import OAuthToken
from syncd.retry_after import parse_retry_after

log = structlog.get_logger(__name__)

SYSTEM = "intigriti"
TOKEN_ROUTE = "POST /connect/token"  # noqa: S105 - a route name, not a secret
LOGIN_HINT = "Run `syncd auth login` to authorize syncd again."
INVALID_GRANT_MESSAGE = (
    "Intigriti rejected the stored refresh token (invalid_grant): it expired, was revoked, "
    "or was already used (for example, rotated by a refresh whose result was never saved). "
    + LOGIN_HINT
)

#: Refresh this long before the access token expires, so no request carries a token that
#: dies in flight.
DEFAULT_REFRESH_MARGIN = timedelta(seconds=60)
#: pause after a token-endpoint 429 that names no Retry-After
DEFAULT_TOKEN_PAUSE = timedelta(seconds=1)

ResponseHook = Callable[[str, int], None]


@dataclass(frozen=True)
class LoginRequest:
    """One pending browser login: show ``authorize_url``, keep the rest for completion."""

    authorize_url: str
    state: str
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class TokenStatus:
    """What ``syncd auth status`` shows; never the token itself."""

    mode: Literal["static", "oauth"]
    has_token: bool
    expires_at: datetime | None
    seconds_left: float | None
    has_refresh_token: bool
    scope: str


class OAuthSession:
    """Supplies a valid access token for API calls and refreshes it when needed.

    With ``options.access_token`` set, that static token is used as is, never refreshed,
    and the store is not touched. Otherwise the token comes from ``store``; when the store
    is empty and ``options.refresh_token`` is set, that refresh token is exchanged once
    and the rotated pair stored (bootstrap without a browser).
    """

    def __init__(
        self,
        options: IntigritiOptions,
        store: TokenStore,
        *,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_response: ResponseHook | None = None,
    ) -> None:
        self._options = options
        self._store = store
        self._margin = refresh_margin
        self._clock = clock
        self._on_response = on_response
        self._lock = threading.Lock()
        self._cached: OAuthToken | None = None
        # (access token, lifetime) of the last token this session obtained: a server that
        # issues tokens shorter-lived than twice the margin must not cause a refresh on
        # every call, so the margin shrinks to half the lifetime for such tokens.
        self._issued: tuple[str, timedelta] | None = None
        # no token call before this moment: the token endpoint answered 429
        self._paused_until: datetime | None = None
        register_secret(options.client_secret, options.access_token, options.refresh_token)

    # -- login -------------------------------------------------------------------------

    def begin_login(self) -> LoginRequest:
        """A fresh authorize URL with PKCE (S256) and a random state."""
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)  # 86 chars, within PKCE's 43..128
        with self._oauth_client() as client:
            url, _ = client.create_authorization_url(
                self._options.authorize_url,
                state=state,
                code_verifier=verifier,
                scope=" ".join(self._options.scopes),
            )
        return LoginRequest(authorize_url=str(url), state=state, code_verifier=verifier)

    def complete_login(self, request: LoginRequest, redirected_url: str) -> OAuthToken:
        """Exchange the code in the URL the browser was sent to; store and return the token."""
        query = parse_qs(urlsplit(redirected_url.strip()).query)

        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        error = first("error")
        if error is not None:
            description = first("error_description")
            detail = f" ({description[:200]})" if description else ""
            raise CredentialError(
                f"Intigriti refused the authorization: {error[:100]}{detail}. {LOGIN_HINT}"
            )
        state = first("state")
        if state is None or not secrets.compare_digest(state, request.state):
            raise CredentialError(
                "The pasted URL does not belong to this login attempt (state mismatch). "
                "Paste the URL from the browser window opened for this `syncd auth login`."
            )
        code = first("code")
        if not code:
            raise CredentialError(
                "The pasted URL has no `code` parameter. Paste the full URL the browser was "
                "redirected to after you approved access."
            )
        register_secret(code, request.code_verifier)
        raw = self._token_call(
            lambda client: client.fetch_token(
                self._options.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=request.code_verifier,
            ),
            grant="authorization_code",
        )
        token = self._to_token(raw, previous=None)
        self._store.save(token)
        with self._lock:
            self._cached = token
        log.info("intigriti_login_completed", scope=token.scope, expires_at=token.expires_at)
        return token

    # -- tokens for API calls ----------------------------------------------------------

    @property
    def refreshable(self) -> bool:
        """Whether a 401 may be answered with a refresh (not for a static token)."""
        return self._options.access_token is None

    def access_token(self) -> str:
        """A token valid for at least the refresh margin (refreshing first if needed)."""
        if self._options.access_token is not None:
            return self._options.access_token
        with self._lock:
            token = self._cached if self._cached is not None else self._store.load()
            if token is None or self._needs_refresh(token):
                token = self._store.rotate(self._refresh_if_due)
                if token is None:
                    raise CredentialError(f"No Intigriti token is stored. {LOGIN_HINT}")
            self._cached = token
            return token.access_token

    def refresh_after_unauthorized(self, rejected: str) -> None:
        """The API answered 401 to ``rejected``: get a different token or raise.

        When another thread or process already rotated, its newer token is used without a
        second refresh.
        """
        if self._options.access_token is not None:
            raise CredentialError(
                "Intigriti rejected the configured access token (intigriti.access_token): "
                "it was revoked or the integration was deactivated."
            )

        def refresh(current: OAuthToken | None) -> OAuthToken | None:
            if current is not None and current.access_token != rejected:
                return None
            if current is None or current.refresh_token is None:
                raise CredentialError(f"Intigriti rejected the access token. {LOGIN_HINT}")
            return self._refresh(current)

        with self._lock:
            token = self._store.rotate(refresh)
            if token is None:
                raise CredentialError(f"No Intigriti token is stored. {LOGIN_HINT}")
            self._cached = token

    def token_status(self) -> TokenStatus:
        if self._options.access_token is not None:
            return TokenStatus("static", True, None, None, False, "")
        token = self._store.load()
        if token is None:
            return TokenStatus("oauth", False, None, None, False, "")
        left = None
        if token.expires_at is not None:
            left = round((token.expires_at - self._clock()).total_seconds(), 1)
        return TokenStatus(
            "oauth", True, token.expires_at, left, token.refresh_token is not None, token.scope
        )

    # -- internals ---------------------------------------------------------------------

    def _needs_refresh(self, token: OAuthToken) -> bool:
        if token.expires_at is None:
            return False
        margin = self._margin
        issued = self._issued
        if issued is not None and issued[0] == token.access_token:
            margin = min(margin, issued[1] / 2)
        return token.expires_at - margin <= self._clock()

    def _refresh_if_due(self, current: OAuthToken | None) -> OAuthToken | None:
        """The rotate callback for "make sure the token is fresh" (runs under the lock)."""
        if current is None:
            if self._options.refresh_token is None:
                return None
            log.info("intigriti_token_bootstrap")
            return self._refresh_with(self._options.refresh_token, previous=None)
        if not self._needs_refresh(current):
            return None  # fresh already, perhaps rotated by another process meanwhile
        if current.refresh_token is None:
            raise CredentialError(
                f"The Intigriti access token expired and no refresh token is stored. {LOGIN_HINT}"
            )
        return self._refresh(current)

    def _refresh(self, current: OAuthToken) -> OAuthToken:
        assert current.refresh_token is not None
        return self._refresh_with(current.refresh_token, previous=current)

    def _refresh_with(self, refresh_token: str, previous: OAuthToken | None) -> OAuthToken:
        raw = self._token_call(
            lambda client: client.refresh_token(
                self._options.token_url, refresh_token=refresh_token
            )
        )
        token = self._to_token(raw, previous=previous)
        log.info(
            "intigriti_token_refreshed",
            expires_at=token.expires_at,
            rotated=token.refresh_token != refresh_token,
        )
        return token

    def _to_token(self, raw: Mapping[str, Any], previous: OAuthToken | None) -> OAuthToken:
        access = raw.get("access_token")
        if not isinstance(access, str) or not access:
            raise MalformedResponse(
                "token response has no access_token", system=SYSTEM, route=TOKEN_ROUTE
            )
        refresh = raw.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            refresh = None
        register_secret(access, refresh)
        expires_in = raw.get("expires_in")
        expires_at = None
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            lifetime = timedelta(seconds=float(expires_in))
            expires_at = self._clock() + lifetime
            self._issued = (access, lifetime)
        scope = raw.get("scope")
        if not isinstance(scope, str):
            scope = previous.scope if previous is not None else ""
        return OAuthToken(
            access_token=access, refresh_token=refresh, expires_at=expires_at, scope=scope
        )

    def _oauth_client(self) -> OAuth2Client:
        # Authlib loads only when a token call is made: most runs use the stored token
        with warnings.catch_warnings():
            # Authlib >= 1.7 announces that it will move from httpx to the "httpx2" fork;
            # the httpx integration works unchanged until then (pin noted for the deps).
            warnings.simplefilter("ignore")
            from authlib.integrations.httpx_client import OAuth2Client

        secret = self._options.client_secret
        hooks: dict[str, list[Callable[[httpx.Response], None]]] = {
            "response": [self._count, _refuse_non_oauth_errors]
        }
        return OAuth2Client(
            client_id=self._options.client_id,
            client_secret=secret,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            redirect_uri=self._options.redirect_uri,
            code_challenge_method="S256",
            timeout=self._options.timeout_seconds,
            event_hooks=hooks,
        )

    def _count(self, response: httpx.Response) -> None:
        if self._on_response is not None:
            self._on_response(TOKEN_ROUTE, response.status_code)
        log.debug("intigriti_request", route=TOKEN_ROUTE, status=response.status_code)

    def _token_call(
        self, call: Callable[[OAuth2Client], Any], *, grant: str = "refresh_token"
    ) -> Mapping[str, Any]:
        """Run one token-endpoint call, translating every failure into syncd.errors."""
        from authlib.integrations.base_client import OAuthError

        paused = self._paused_until
        if paused is not None and self._clock() < paused:
            raise self._rate_limited((paused - self._clock()).total_seconds())
        try:
            with self._oauth_client() as client:
                raw = call(client)
        except OAuthError as exc:
            raise self._oauth_error(str(exc.error), exc.description, grant=grant) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status == 429:
                now = self._clock()
                delay = parse_retry_after(exc.response.headers.get("Retry-After"), now)
                pause = DEFAULT_TOKEN_PAUSE if delay is None else timedelta(seconds=delay)
                self._paused_until = now + pause
                log.warning("intigriti_token_rate_limited", pause_s=pause.total_seconds())
                raise self._rate_limited(pause.total_seconds()) from None
            error_type = TransientError if status >= 500 else MalformedResponse
            raise error_type(
                f"the Intigriti token endpoint answered HTTP {status}",
                system=SYSTEM,
                route=TOKEN_ROUTE,
                status=status,
            ) from None
        except httpx.TransportError as exc:
            # After a sent refresh the server may have rotated: if so, the next refresh
            # fails with invalid_grant and the operator gets the login hint.
            where = f"the Intigriti token endpoint {safe_url(self._options.token_url)}"
            raise TransientError(
                f"cannot reach {where}: {connection_cause(exc)}; check intigriti.token_url",
                system=SYSTEM,
                route=TOKEN_ROUTE,
            ) from None
        except ValueError:
            raise MalformedResponse(
                "the Intigriti token endpoint did not answer with a JSON object",
                system=SYSTEM,
                route=TOKEN_ROUTE,
            ) from None
        if not isinstance(raw, Mapping):
            raise MalformedResponse("unexpected token response", system=SYSTEM, route=TOKEN_ROUTE)
        return raw

    @staticmethod
    def _rate_limited(seconds: float) -> TransientError:
        # TransientError, not RateLimited: the client retries RateLimited at once, trusting
        # an API bucket pause that does not exist for the token endpoint
        return TransientError(
            "the Intigriti token endpoint is rate limiting syncd (HTTP 429): no token call"
            f" for {max(1, math.ceil(seconds))} s more. The refused request did not use the"
            " refresh token, so nothing is lost; later requests get a token once the pause"
            " is over.",
            system=SYSTEM,
            route=TOKEN_ROUTE,
            status=429,
        )

    @staticmethod
    def _oauth_error(error: str, description: str | None, *, grant: str) -> CredentialError:
        if error == "invalid_grant" and grant == "authorization_code":
            detail = f" ({description[:200]})" if description else ""
            return CredentialError(
                f"Intigriti refused the authorization code (invalid_grant){detail}: it expired "
                "(codes live about a minute), was already used, or intigriti.redirect_uri "
                "differs from the redirect URL registered for the integration. Run `syncd auth "
                "login` again and paste the URL soon after approving."
            )
        if error == "invalid_grant":
            return CredentialError(INVALID_GRANT_MESSAGE)
        if error in ("invalid_client", "unauthorized_client"):
            return CredentialError(
                f"Intigriti rejected the client credentials ({error}): check "
                "intigriti.client_id and intigriti.client_secret."
            )
        detail = f": {description[:200]}" if description else ""
        return CredentialError(
            f"the Intigriti token endpoint refused the request ({error}){detail}"
        )


def _refuse_non_oauth_errors(response: httpx.Response) -> None:
    """Raise for error answers Authlib would parse as a token: a 429 or 5xx whatever the
    body, and a 4xx whose body is not an OAuth error (no ``error`` member)."""
    status = response.status_code
    if status == 429 or status >= 500:
        response.raise_for_status()
    if status >= 400:
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "error" not in body:
            response.raise_for_status()
