"""`syncd doctor`: run every check of ``syncd.checks`` against the database and both
services, and render the results as a checklist.

Unlike start-up, the doctor does not stop at the first failing group: it checks Jira even
when the mapping is invalid, and reports an unreachable service instead of waiting for it,
so one run shows everything there is to fix.

It writes nothing of its own. The one exception is the Intigriti token: a stored token
due for a refresh is refreshed, and with none stored yet ``intigriti.refresh_token`` is
exchanged, exactly as `syncd run` would, since Intigriti rotates refresh tokens and the
new pair has to be kept.
"""

from __future__ import annotations

import httpx

from syncd.checks import (
    CheckResult,
    conversation_checks,
    failed,
    jira_checks,
    mapped_projects,
    mapping_checks,
    passed,
    program_checks,
    scope_checks,
    settings_checks,
    skipped,
)
from syncd.errors import ConfigError, CredentialError, NotAllowed, RemoteError, StoreError
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.service.webhooks import intigriti_digest, jira_signature
from syncd.settings import Settings, listen_address
from syncd.store.engine import display_url
from syncd.store.repository import Repository
from syncd.sync.mapping import Mapping
from syncd.tracker.adapter import JiraAdapter
from syncd.wiring import (
    NoDatabase,
    assemble_mapping,
    intigriti_options,
    jira_options,
    open_repository,
)

MARKS = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}


def diagnose(settings: Settings) -> list[CheckResult]:
    """Every check, in the order an operator fixes things: config, database, services."""
    where = settings.config_file or "no config file (environment only)"
    results = [passed("configuration", f"loaded {where}")]
    results += settings_checks(settings)
    mapping = assemble_mapping(settings)
    results += mapping_checks(mapping)
    repository, found = _database(settings)
    results += found
    try:
        results += _intigriti(settings, repository)
    finally:
        if repository is not None:
            repository.close()
    results += _jira(settings, mapping)
    results += _webhooks(settings)
    return results


def _webhooks(settings: Settings) -> list[CheckResult]:
    """With a webhook secret set: the running daemon's listener takes a delivery signed
    with this configuration's secret (answered 204: a test event, nothing reconciled).
    This checks syncd's end; that Intigriti and Jira reach the public URL is theirs to
    show (the Intigriti activation's TestEvent, Jira's webhook page)."""
    probes: list[tuple[str, str, bytes]] = []
    if settings.intigriti.webhook_secret is not None:
        probes.append(("intigriti", settings.intigriti.webhook_secret.get_secret_value(), b"{}"))
    if settings.jira.webhook_secret is not None:
        body = b'{"webhookEvent":"syncd_doctor_probe"}'
        probes.append(("jira", settings.jira.webhook_secret.get_secret_value(), body))
    if not probes:
        return []
    if not settings.http.listen:
        return [
            failed(
                f"{side} webhook",
                "http.listen",
                "a webhook secret is set but the listener is off",
                'set [http] listen = "HOST:PORT" (the deliveries arrive there)',
            )
            for side, _secret, _body in probes
        ]
    host, port = listen_address(settings.http.listen)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 (a wildcard)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    results = []
    for side, secret, body in probes:
        name = f"{side} webhook"
        if side == "intigriti":
            headers = {
                "x-intigriti-event": "TestEvent",
                "x-intigriti-digest": intigriti_digest(secret, body),
            }
        else:
            headers = {"x-hub-signature": jira_signature(secret, body)}
        url = f"{base}/webhooks/{side}"
        try:
            answer = httpx.post(url, content=body, headers=headers, timeout=5, trust_env=False)
        except httpx.TransportError as exc:
            results.append(
                skipped(name, f"no daemon answers at {url} ({type(exc).__name__}): run this"
                        " while `syncd run` runs to check it")
            )
            continue
        if answer.status_code == 204:
            results.append(passed(name, f"{url} takes deliveries signed with this secret"))
        elif answer.status_code == 401:
            results.append(
                failed(name, f"{side}.webhook_secret", f"the daemon at {url} refused the"
                       " signature: it runs with another secret",
                       "restart the daemon with this configuration, or correct the secret")
            )
        else:
            results.append(
                failed(name, "http.listen", f"{url} answered HTTP {answer.status_code}",
                       "restart the daemon with this configuration (webhooks on)")
            )
    return results


def render(results: list[CheckResult]) -> str:
    lines = []
    for result in results:
        if result.failed:
            lines.append(f"{MARKS['fail']}  {result.problem()}")
            lines.append(f"      fix: {result.fix}")
        else:
            detail = f": {result.detail}" if result.detail else ""
            lines.append(f"{MARKS[result.outcome]}  {result.name}{detail}")
    bad = sum(1 for r in results if r.failed)
    skips = sum(1 for r in results if r.outcome == "skip")
    lines.append(
        f"{len(results)} checks: {len(results) - bad - skips} passed, {bad} failed,"
        f" {skips} skipped"
    )
    return "\n".join(lines)


def _database(settings: Settings) -> tuple[Repository | None, list[CheckResult]]:
    """The database opens (and is not created: the doctor only looks) and its schema is
    at the newest migration."""
    key = "database.url"
    try:
        repository = open_repository(settings, upgrade=False)
    except NoDatabase as exc:
        reason, _, hint = str(exc).partition("\n")
        fix = "run `syncd db upgrade` (`syncd run` also creates it)"
        return None, [failed("database", key, reason, f"{fix}; {hint.strip()}" if hint else fix)]
    except StoreError as exc:
        return None, [failed("database", key, str(exc), "make it reachable, or correct the key")]
    try:
        repository.ping()
        current = repository.is_current()
    except StoreError as exc:
        repository.close()
        return None, [failed("database", key, str(exc), "make it reachable, or correct the key")]
    results = [passed("database", f"reachable at {display_url(settings.database.url)}")]
    if not current:
        repository.close()
        results.append(
            failed(
                "database migrations",
                key,
                "the schema is missing or not at this version's newest migration",
                "run `syncd db upgrade` (`syncd run` also upgrades on start)",
            )
        )
        return None, results
    results.append(passed("database migrations", "the schema is at the newest migration"))
    return repository, results


def _token_key(settings: Settings) -> str:
    section = settings.intigriti
    if section.access_token is not None:
        return "intigriti.access_token"
    return "intigriti.refresh_token" if section.refresh_token is not None else "intigriti.client_id"


def _intigriti(settings: Settings, repository: Repository | None) -> list[CheckResult]:
    """The token works for one read (GET /programs), carries the scopes syncd needs, and
    sees every program the configuration names."""
    name = "Intigriti token"
    if settings.intigriti.access_token is None and not settings.intigriti.client_id:
        return [skipped(name, "no Intigriti credentials are set (see above)")]
    if repository is None:
        return [skipped(name, "the token is kept in the database, which is not usable")]
    adapter = IntigritiAdapter(intigriti_options(settings), repository.token_store())
    try:
        programs = adapter.list_programs()
        status = adapter.token_status()
    except CredentialError as exc:
        fix = (
            "set a valid intigriti.access_token"
            if settings.intigriti.access_token is not None
            else "run `syncd auth login`"
        )
        return [failed(name, _token_key(settings), str(exc), fix)]
    except NotAllowed as exc:
        return [
            failed(
                name,
                "intigriti.scopes",
                f"Intigriti refused the read ({exc})",
                "grant the integration read access to programs and submissions, then run"
                " `syncd auth login`",
            )
        ]
    except RemoteError as exc:
        return [
            failed(
                "Intigriti API",
                "intigriti.api_url",
                str(exc),
                "check the URL and the network (intigriti.timeout_seconds), then run"
                " `syncd doctor` again",
            )
        ]
    except StoreError as exc:
        return [failed(name, "database.url", str(exc), "make the database writable")]
    finally:
        adapter.close()
    results = [passed(name, f"valid: GET /programs answered, {len(programs)} programs")]
    results += scope_checks(status.scope, static=status.mode == "static")
    results += program_checks(settings, [program.id for program in programs])
    return results


def _jira(settings: Settings, mapping: Mapping) -> list[CheckResult]:
    """The credentials work, then everything the mapping names exists in Jira."""
    name = "Jira credentials"
    section = settings.jira
    if not section.url:
        return [skipped(name, "jira.url is not set (see above)")]
    if not section.personal_access_token and not (section.email and section.api_token):
        return [skipped(name, "no Jira credentials are set (see above)")]
    keys = (
        "jira.personal_access_token"
        if section.personal_access_token
        else "jira.email and jira.api_token"
    )
    try:
        jira = JiraAdapter(jira_options(settings))
    except ConfigError as exc:
        return [failed(name, "jira", str(exc), "correct the [jira] key it names")]
    unreachable = "check jira.url and the network (jira.timeout_seconds), then run again"
    try:
        try:
            jira.warm_up()
        except CredentialError as exc:
            return [failed(name, keys, str(exc), "set working credentials for the syncd user")]
        except RemoteError as exc:
            return [failed("Jira", "jira.url", str(exc), unreachable)]
        results = [passed(name, f"accepted by {section.url}")]
        try:
            results += jira_checks(mapping, jira)
            results += conversation_checks(settings, mapped_projects(mapping), jira)
        except (CredentialError, RemoteError) as exc:
            results.append(failed("Jira", "jira.url", f"Jira failed a check: {exc}", unreachable))
        return results
    finally:
        jira.close()
