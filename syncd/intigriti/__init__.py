"""The Intigriti adapter: the only code that knows Intigriti JSON and talks to its API.

``IntigritiAdapter`` implements ``syncd.sync.ports.IntigritiSide``; ``OAuthSession`` does
the login and token refresh; ``TokenStore`` is where the token pair lives.
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
