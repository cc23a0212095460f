"""The Intigriti adapter: the only code that knows Intigriti JSON and talks to its API.

``IntigritiAdapter`` implements ``syncd.sync.ports.IntigritiSide``; ``OAuthSession`` does
the login and token refresh; ``TokenStore`` is where the token pair lives.

Choices made where ``reference/intigriti-api.md`` marks a fact unknown (CHOSEN):

=============================  ==============================================================
Unknown                        Chosen behaviour
=============================  ==============================================================
429 headers (§5)               ``Retry-After`` as seconds or HTTP-date; ``X-RateLimit-Reset``
                               > 10^9 is an epoch instant, else seconds; the longer wins,
                               capped at 300 s; neither header: pause 1 s.
Quota window (§5)              Treated as a strict sliding 60 s window: buckets of size 1 at
                               min(98 %, quota - 1.5)/min, so no window can exceed the quota.
Enum ids vs values (§4.4)      The numeric ``id`` decides (via ``enums``); an unknown id is
                               an item failure; ``value`` spellings are ignored.
Severity id 0 "None"           Read as "no severity" (None), like a null severity.
Close reason on Close (§4.4)   Sent only when the caller gives one; Reject always needs one.
PUT state retries              A trigger is not idempotent: never resent after it may have
                               reached the server (AmbiguousWrite instead).
Client auth at /connect/token  ``client_secret_post`` (``none`` without a secret).
Access-token lifetime (§2.4)   Refreshed 60 s before expiry, or at half-life for tokens
                               shorter-lived than 2 minutes.
=============================  ==============================================================
"""

from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.oauth import LoginRequest, OAuthSession, TokenStatus
from syncd.intigriti.options import DEFAULT_SCOPES, IntigritiOptions
from syncd.intigriti.parse import SubmissionEvent
from syncd.intigriti.tokens import MemoryTokenStore, TokenStore

__all__ = [
    "DEFAULT_SCOPES",
    "IntigritiAdapter",
    "IntigritiOptions",
    "LoginRequest",
    "MemoryTokenStore",
    "OAuthSession",
    "SubmissionEvent",
    "TokenStatus",
    "TokenStore",
]
