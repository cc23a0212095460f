"""Settings of the Jira adapter, as the lead wires them from ``[jira]``.

Frozen; secrets are excluded from ``repr`` so an options object can be logged or shown in
a traceback without leaking the API token or the personal access token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from syncd.errors import ConfigError

#: Jira labels may not contain spaces; we also keep quotes out so a label is always safe
#: inside a quoted JQL string.
_LABEL = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


@dataclass(frozen=True)
class JiraOptions:
    """How to reach Jira and how syncd tags its issues.

    Authentication is Basic (``email`` + ``api_token``, Cloud) or Bearer
    (``personal_access_token``, Data Center); exactly one must be usable.
    ``cvss_field`` is a custom field id (``customfield_10010``) or its name.
    ``label`` tags every syncd issue; ``<label>-<submission code>`` tags one submission.
    ``property_key`` is the entity property holding ``{"submission": code}``.
    The last three knobs bound our own retry layer (the library's is switched off).
    """

    url: str
    email: str = ""
    api_token: str | None = field(default=None, repr=False)
    personal_access_token: str | None = field(default=None, repr=False)
    timeout_seconds: float = 30.0
    requests_per_minute: float = 600
    cvss_field: str | None = None
    label: str = "intigriti"
    property_key: str = "syncd"
    issue_type: str = "Bug"
    #: the issue link type for "closed as a duplicate of" (outward phrase "duplicates")
    duplicate_link_type: str = "Duplicate"
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    retry_attempts: int = 4
    max_retry_wait_seconds: float = 60.0
    backoff_initial_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError("jira.url must be an http(s) URL")
        if not self.personal_access_token and not (self.email and self.api_token):
            raise ConfigError(
                "jira: set either jira.personal_access_token or jira.email + jira.api_token"
            )
        if not _LABEL.match(self.label):
            raise ConfigError("jira.label must be letters, digits, '.', '_', ':' or '-'")
        if not _PROPERTY_KEY.match(self.property_key):
            raise ConfigError("jira.property_key must be letters, digits, '.', '_' or '-'")
        if self.timeout_seconds <= 0 or self.requests_per_minute <= 0:
            raise ConfigError("jira.timeout_seconds and jira.requests_per_minute must be > 0")
        if self.deployment not in ("auto", "cloud", "datacenter"):
            raise ConfigError("jira.deployment must be auto, cloud or datacenter")
        if not self.duplicate_link_type.strip():
            raise ConfigError("jira.duplicate_link_type must name an issue link type")
        if self.retry_attempts < 1:
            raise ConfigError("jira.retry_attempts must be at least 1")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")
