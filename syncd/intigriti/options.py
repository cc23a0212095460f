"""The settings the Intigriti adapter needs, as one frozen value (the lead wires config in)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The least syncd needs, requested at login (reference §2.1): the API itself, reads and
#: writes of programs and submissions, and a refresh token. Not the reward-system scopes:
#: syncd never touches payouts. ``[intigriti] scopes`` overrides it.
DEFAULT_SCOPES: tuple[str, ...] = (
    "company_external_api",
    "core_platform:read",
    "core_platform:write",
    "offline_access",
)

DEFAULT_API_URL = "https://api.intigriti.com/external/company/v2.0"
DEFAULT_TOKEN_URL = "https://login.intigriti.com/connect/token"  # noqa: S105 - a URL
DEFAULT_AUTHORIZE_URL = "https://login.intigriti.com/connect/authorize"


@dataclass(frozen=True)
class IntigritiOptions:
    """Where Intigriti is, who we are, and how fast we may call it.

    ``access_token`` is a static, non-expiring token (the integration's "expiring access
    tokens" toggle off); when set, no refresh ever happens. ``refresh_token`` bootstraps
    the token store once when it holds nothing. ``programs`` empty means every program
    visible to the API user. Secrets are kept out of ``repr``.
    """

    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str = ""
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    programs: tuple[str, ...] = ()
    read_rate_per_minute: float = 600
    write_rate_per_minute: float = 200
    timeout_seconds: float = 30.0
    scopes: tuple[str, ...] = DEFAULT_SCOPES
