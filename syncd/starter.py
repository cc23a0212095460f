"""``syncd init``: a commented starter ``config.toml`` and its secrets layout.

The answers come from flags or, at a terminal, from questions (secrets read without echo).
Secrets never go into the config file: each lives in ``secrets/<section>_<key>`` beside it
(directory 0700, files 0600), named by a ``*_file`` key, which resolves against the config
file's directory, so the pair can be moved together. A secret not given yet gets an empty
file: the config still loads, and ``syncd run`` names the key that is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from syncd.errors import ConfigError

SECRETS_DIR = "secrets"
Deployment = Literal["cloud", "datacenter"]


@dataclass(frozen=True)
class Answers:
    """What a starter config needs; empty strings are left for the operator to fill in."""

    jira_url: str = ""
    jira_deployment: Deployment = "cloud"
    jira_email: str = ""
    jira_project: str = ""
    intigriti_client_id: str = ""
    intigriti_redirect_uri: str = ""
    database_url: str = "sqlite:///syncd.db"
    #: secret file name (``jira_api_token``) -> value; never written into the config
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def jira_secret(self) -> str:
        if self.jira_deployment == "datacenter":
            return "jira_personal_access_token"
        return "jira_api_token"

    @property
    def secret_files(self) -> tuple[str, ...]:
        return ("intigriti_client_secret", self.jira_secret)


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render(answers: Answers) -> str:
    """The starter config.toml: every key commented, values from ``answers``."""
    jira_auth = (
        f"""# Jira Data Center: a personal access token (Bearer), read from this file.
personal_access_token_file = {_q(f"{SECRETS_DIR}/jira_personal_access_token")}"""
        if answers.jira_deployment == "datacenter"
        else f"""# Jira Cloud: the e-mail of the user syncd acts as, and its API token
# (https://id.atlassian.com/manage-profile/security/api-tokens), read from this file.
email = {_q(answers.jira_email)}
api_token_file = {_q(f"{SECRETS_DIR}/jira_api_token")}"""
    )
    return f"""# syncd configuration, written by `syncd init`. Every key is described in
# config.example.toml; each can be overridden as SYNCD_<SECTION>__<KEY> in the environment.
# Relative paths here (the database, the secret files) are relative to this file's folder.

[database]
# SQLite file (created 0600) or PostgreSQL, e.g. "postgresql+psycopg://syncd@db/syncd"
# (PostgreSQL needs the extra: pip install "syncd[postgres]").
url = {_q(answers.database_url)}

[intigriti]
# From Admin > Integrations > Intigriti API in Intigriti. The integration needs the scopes
# company_external_api, core_platform:read, core_platform:write and offline_access.
client_id = {_q(answers.intigriti_client_id)}
# The client secret, read from this file (shown once when the integration is activated).
client_secret_file = {_q(f"{SECRETS_DIR}/intigriti_client_secret")}
# The redirect URL registered for the integration (https://, not localhost; nothing needs
# to listen there). `syncd auth login` asks you to paste the URL the browser lands on.
redirect_uri = {_q(answers.intigriti_redirect_uri)}
# Program ids to sync; empty = every program the API user sees.
programs = []

[jira]
# The Jira site, e.g. "https://example.atlassian.net".
url = {_q(answers.jira_url)}
deployment = {_q(answers.jira_deployment)}
{jira_auth}
# The project new issues go to ([mapping.projects] can send programs elsewhere).
project = {_q(answers.jira_project)}

[sync]
# Seconds between polls of each side; a full sweep runs every 6 hours.
poll_interval_seconds = 60

[logging]
# debug, info, warning or error; "auto" format: readable on a terminal, JSON otherwise.
level = "info"
format = "auto"
"""


def write(path: Path, answers: Answers, *, force: bool) -> list[Path]:
    """Write the config and the secret files; returns the secret files still empty."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already: pass --force to overwrite it")
    secrets_dir = path.parent / SECRETS_DIR
    path.parent.mkdir(parents=True, exist_ok=True)
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(secrets_dir, 0o700)
    empty = []
    for name in answers.secret_files:
        target = secrets_dir / name
        value = answers.secrets.get(name, "")
        if target.exists() and not value:
            if not target.read_text(encoding="utf-8").strip():
                empty.append(target)
            continue  # keep a secret put there earlier
        # created 0600 whatever the umask; the value never passes through a log
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n" if value else "")
        os.chmod(target, 0o600)
        if not value:
            empty.append(target)
    path.write_text(render(answers), encoding="utf-8")
    return empty


Ask = Callable[[str, str], str]
AskSecret = Callable[[str], str]


def ask(answers: Answers, ask_text: Ask, ask_secret: AskSecret) -> Answers:
    """Fill the answers not given (empty) by asking; a blank reply keeps the default."""
    url = answers.jira_url or ask_text("Jira site URL (e.g. https://example.atlassian.net)", "")
    deployment: Deployment = answers.jira_deployment
    if not answers.jira_url:
        cloud = ".atlassian.net" in url or not url
        reply = ask_text("Jira Cloud or Data Center (cloud/datacenter)", "cloud" if cloud else "")
        deployment = "datacenter" if reply.strip().lower().startswith("d") else "cloud"
    email = answers.jira_email
    if deployment == "cloud" and not email:
        email = ask_text("E-mail of the Jira user syncd acts as", "")
    project = answers.jira_project or ask_text("Jira project key for new issues (e.g. SEC)", "")
    client_id = answers.intigriti_client_id or ask_text("Intigriti client id", "")
    redirect = answers.intigriti_redirect_uri or ask_text(
        "Intigriti redirect URL registered for the integration", ""
    )
    filled = replace(
        answers,
        jira_url=url.strip(),
        jira_deployment=deployment,
        jira_email=email.strip(),
        jira_project=project.strip().upper(),
        intigriti_client_id=client_id.strip(),
        intigriti_redirect_uri=redirect.strip(),
    )
    secrets = dict(answers.secrets)
    labels = {
        "intigriti_client_secret": "Intigriti client secret",
        "jira_api_token": "Jira API token",
        "jira_personal_access_token": "Jira personal access token",
    }
    for name in filled.secret_files:
        if name not in secrets:
            value = ask_secret(f"{labels[name]} (not shown; Enter to fill in later): ")
            if value.strip():
                secrets[name] = value.strip()
    return replace(filled, secrets=secrets)
