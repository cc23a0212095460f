"""Configuration of the Intigriti simulator: registered OAuth clients, lifetimes, quotas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The demo integration. The client id follows Intigriti's `externalapi_<company>_<suffix>`
# format (reference §2.5); the secret is a well-known demo value, not a real credential.
DEMO_CLIENT_ID = "externalapi_demo_syncd"
DEMO_CLIENT_SECRET = "demo-secret-not-for-production"
DEMO_REDIRECT_URI = "https://syncd.example/callback"

ALL_SCOPES = (
    "company_external_api",
    "core_platform:read",
    "core_platform:write",
    "reward_system:read",
    "reward_system:write",
    "offline_access",
)
API_SCOPES = ("company_external_api", "core_platform:read", "core_platform:write")


@dataclass(frozen=True)
class RegisteredClient:
    """One External API integration (Admin > Integrations > External API)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]

    def __repr__(self) -> str:
        # The secret never shows up in reprs or logs.
        return (
            f"RegisteredClient(client_id={self.client_id!r}, redirect_uris={self.redirect_uris!r})"
        )


DEMO_CLIENT = RegisteredClient(
    client_id=DEMO_CLIENT_ID,
    client_secret=DEMO_CLIENT_SECRET,
    redirect_uris=(DEMO_REDIRECT_URI,),
)


@dataclass(frozen=True)
class IntigritiSimulatorOptions:
    """How the simulator behaves.

    ``access_token_ttl`` is ``expires_in`` in seconds; ``None`` is the "non-expiring access
    tokens" mode of the integration page (reference §2.4), where tokens live until revoked
    and the token response carries no ``expires_in``. ``rate_limit_key`` says whether the
    read/write quotas are counted per integration (``client``, as the announcement states
    the limit) or per access token.
    """

    clients: tuple[RegisteredClient, ...] = (DEMO_CLIENT,)
    allow_localhost_redirect: bool = False
    require_pkce: bool = False
    access_token_ttl: int | None = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    code_ttl: int = 60
    read_rate_per_minute: int = 600
    write_rate_per_minute: int = 200
    rate_limit_key: Literal["client", "token"] = "client"
    seed: int = 1
    host: str = "127.0.0.1"
    port: int = 0
