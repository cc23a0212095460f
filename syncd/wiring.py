"""Build the runtime pieces from settings: mapping, adapters, executor, engine.

The only place where ``Settings`` meets the adapters' option objects and the sync core's
``Mapping``; everything below it reads no configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any

from syncd.checks import (
    conversation_checks,
    jira_checks,
    mapped_projects,
    mapping_checks,
    missing_sync_settings,
    raise_for_failures,
)
from syncd.errors import ConfigError, CredentialError, StoreError
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.intigriti.options import IntigritiOptions
from syncd.records import CommentVisibility
from syncd.settings import Settings, no_config_file_hint
from syncd.store.conversation import ConversationLedger
from syncd.store.engine import missing_database
from syncd.store.repository import ClaimTerms, Repository
from syncd.sync.conversation import ConversationOptions
from syncd.sync.conversation_runner import ConversationRunner
from syncd.sync.engine import Engine, EngineOptions
from syncd.sync.executor import Executor, ExecutorOptions
from syncd.sync.mapping import (
    FieldRule,
    FieldRules,
    Mapping,
    SyncState,
    default_mapping,
    pairs,
)
from syncd.tracker.adapter import JiraAdapter
from syncd.tracker.markup import escape_wiki
from syncd.tracker.options import JiraOptions


class NoDatabase(ConfigError, StoreError):
    """A read-only command found no database to read (and created none): exit 2, since
    the usual cause is a config pointing elsewhere or a first run still to do."""


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def open_repository(settings: Settings, *, upgrade: bool) -> Repository:
    """The repository; with ``upgrade`` the schema is created or upgraded first.

    Without ``upgrade`` (the read-only commands) a missing database is NoDatabase, and
    nothing is created: opening a SQLite URL would leave an empty file behind.
    """
    if not upgrade:
        reason = missing_database(settings.database.url)
        if reason is not None:
            if settings.config_file is None:
                where = no_config_file_hint()
            else:
                where = f"if syncd has run before, check database.url in {settings.config_file}"
            raise NoDatabase(
                f"{reason}; `syncd db upgrade` (or `syncd run`) creates it\n  {where}"
            )
    key = settings.database.token_key
    repository = Repository(
        settings.database.url,
        token_key=key.get_secret_value() if key is not None else None,
        busy_timeout_seconds=settings.database.busy_timeout_seconds,
    )
    if upgrade:
        repository.upgrade()
    return repository


def require_sync_settings(settings: Settings) -> None:
    """ConfigError naming every key a sync run needs but lacks (and where it looked)."""
    missing = [f"{key}: {what}" for key, what in missing_sync_settings(settings)]
    if missing:
        where = (
            no_config_file_hint()
            if settings.config_file is None
            else f"set in {settings.config_file}"
        )
        raise ConfigError(
            "these settings are missing:\n  " + "\n  ".join(missing) + f"\n{where}"
        )


def build_mapping(settings: Settings) -> Mapping:
    """The mapping from ``[mapping]`` over the built-in defaults; ConfigError if invalid
    (inconsistent, or naming an Intigriti status, close reason or severity that does not
    exist)."""
    mapping = assemble_mapping(settings)
    raise_for_failures(mapping_checks(mapping), "invalid mapping")
    return mapping


def assemble_mapping(settings: Settings) -> Mapping:
    """The mapping from ``[mapping]`` over the built-in defaults, not yet validated (the
    doctor checks it and goes on to check Jira with it)."""
    section = settings.mapping
    base = default_mapping(
        default_project=settings.jira.project,
        project_for_program=tuple(section.projects.items()),
    )
    defaults = base.fields

    def rule(name: str, default: FieldRule) -> FieldRule:
        configured = getattr(section.fields, name)
        return FieldRule(
            direction=(
                configured.direction if configured.direction is not None else default.direction
            ),
            policy=configured.policy if configured.policy is not None else default.policy,
        )

    return replace(
        base,
        severity_to_priority=(
            pairs(section.severity_to_priority)
            if section.severity_to_priority is not None
            else base.severity_to_priority
        ),
        priority_to_severity=(
            pairs(section.priority_to_severity)
            if section.priority_to_severity is not None
            else base.priority_to_severity
        ),
        states=(
            tuple(
                SyncState(
                    name=state.name,
                    intigriti=state.intigriti,
                    jira=state.jira,
                    jira_resolution=state.jira_resolution,
                    intigriti_writable=state.intigriti_writable,
                )
                for state in section.states
            )
            if section.states is not None
            else base.states
        ),
        fields=FieldRules(
            severity=rule("severity", defaults.severity),
            status=rule("status", defaults.status),
            internal_reference=rule("internal_reference", defaults.internal_reference),
            cvss=rule("cvss", defaults.cvss),
            duplicate=rule("duplicate", defaults.duplicate),
            payouts=rule("payouts", defaults.payouts),
            description=rule("description", defaults.description),
        ),
        statuses_to_create=(
            section.statuses_to_create
            if section.statuses_to_create is not None
            else base.statuses_to_create
        ),
        label=settings.sync.label,
        include_report=settings.sync.include_report,
        issue_type=settings.jira.issue_type,
        cvss_field=settings.jira.cvss_field or None,
        payout_target=settings.jira.payout_field or None,
        duplicate_link_type=settings.jira.duplicate_link_type,
        upload_attachments=settings.sync.upload_attachments,
        attachment_max_bytes=settings.sync.attachment_max_bytes,
    )


def claim_terms(settings: Settings, instance: str) -> ClaimTerms:
    return ClaimTerms(
        instance=instance,
        instance_timeout=timedelta(seconds=settings.sync.instance_timeout_seconds),
    )


def takeover_check_seconds(settings: Settings) -> float:
    """How often a standby tries the leader lease: well inside one poll interval, so a
    takeover happens within two (the lease itself frees at once when the leader dies)."""
    interval = min(settings.sync.poll_interval_seconds, settings.sync.jira_poll_interval_seconds)
    return max(0.5, min(5.0, interval / 2))


def intigriti_options(settings: Settings) -> IntigritiOptions:
    section = settings.intigriti
    return IntigritiOptions(
        api_url=section.api_url,
        token_url=section.token_url,
        authorize_url=section.authorize_url,
        client_id=section.client_id,
        client_secret=_secret(section.client_secret),
        redirect_uri=section.redirect_uri,
        access_token=_secret(section.access_token),
        refresh_token=_secret(section.refresh_token),
        programs=section.programs,
        scopes=section.scopes,
        read_rate_per_minute=section.read_rate_per_minute,
        write_rate_per_minute=section.write_rate_per_minute,
        timeout_seconds=section.timeout_seconds,
    )


def jira_options(settings: Settings) -> JiraOptions:
    section = settings.jira
    if not section.url:
        raise ConfigError("jira.url is not set")
    return JiraOptions(
        url=section.url,
        email=section.email,
        api_token=_secret(section.api_token),
        personal_access_token=_secret(section.personal_access_token),
        timeout_seconds=section.timeout_seconds,
        requests_per_minute=section.requests_per_minute,
        cvss_field=section.cvss_field,
        label=settings.sync.label,
        issue_type=section.issue_type,
        duplicate_link_type=section.duplicate_link_type,
        deployment=section.deployment,
    )


def _without_bootstrap(options: IntigritiOptions, repository: Repository) -> IntigritiOptions:
    """The options for a dry run, which must not exchange ``intigriti.refresh_token``.

    Intigriti rotates refresh tokens: exchanging the configured one uses it up, and the new
    pair has to be stored, which is a write. A stored token is refreshed as usual (without
    storing its successor it would be lost).
    """
    if options.access_token is not None or options.refresh_token is None:
        return options
    if repository.token_store().load() is None:
        raise CredentialError(
            "a dry run writes nothing, but the database holds no Intigriti token yet, and "
            "exchanging intigriti.refresh_token would use it up and store a new one. Run "
            "`syncd auth login`, or one `syncd run --reconcile` without --dry-run, first."
        )
    return replace(options, refresh_token=None)


def validate_against_jira(
    mapping: Mapping, jira: JiraAdapter, settings: Settings | None = None
) -> None:
    """The start-up half of `syncd doctor`: every Jira project, issue type, status,
    priority, resolution and field named exists; every state is reachable.

    Raises ConfigError naming the offending key, so `syncd run` refuses to start (exit 2).
    A transient failure (5xx, 429, timeout, connection refused) propagates as
    TransientError: the caller retries (see ``syncd.startup``).
    """
    results = jira_checks(mapping, jira)
    if settings is not None:
        results += conversation_checks(settings, mapped_projects(mapping), jira)
    raise_for_failures(results, "mapping does not fit Jira")


def runtime_stats(intigriti: IntigritiAdapter, jira: JiraAdapter) -> dict[str, Any]:
    """Quota use and request counts, stored with each cycle for `syncd status`."""
    buckets = [asdict(stats) for stats in intigriti.quota_stats().values()]
    jira_state = jira.rate_limit_state()
    buckets.append(
        {
            "name": "jira",
            "rate_per_minute": jira.options.requests_per_minute,
            "granted": jira_state.get("bucket_granted", 0),
            "waited_seconds": 0,
            "paused_by_server": jira_state.get("bucket_paused_by_server", 0),
        }
    )
    return {
        "quota": buckets,
        "intigriti_requests": {
            f"{route} {outcome}": count
            for (route, outcome), count in sorted(intigriti.request_counts().items())
        },
    }


def build_conversation(
    settings: Settings,
    repository: Repository,
    intigriti: IntigritiAdapter,
    jira: JiraAdapter,
    *,
    claims: ClaimTerms,
    may_write: Callable[[], bool],
) -> ConversationRunner | None:
    """The messages <-> comments runner, or None when ``[conversation]`` is off."""
    section = settings.conversation
    if section.direction == "off":
        return None
    options = ConversationOptions(
        to_jira=section.direction in ("both", "to_jira"),
        to_intigriti=section.direction in ("both", "to_intigriti"),
        marker=section.to_researcher_marker,
        settle=timedelta(seconds=settings.sync.create_settle_seconds),
    )
    return ConversationRunner(
        repository,
        ConversationLedger(repository),
        intigriti,
        jira,
        options,
        visibility=CommentVisibility(
            section.internal_visibility_type, section.internal_visibility
        ),
        escape=escape_wiki,
        claims=claims,
        overlap=timedelta(seconds=settings.sync.overlap_seconds),
        may_write=may_write,
    )


@dataclass
class Runtime:
    """Everything a command needs, closed together."""

    settings: Settings
    repository: Repository
    intigriti: IntigritiAdapter
    jira: JiraAdapter
    mapping: Mapping
    executor: Executor
    engine: Engine

    def close(self) -> None:
        self.intigriti.close()
        self.jira.close()
        self.repository.close()


def build_runtime(
    settings: Settings,
    repository: Repository,
    *,
    claims: ClaimTerms,
    dry_run: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    may_write: Callable[[], bool] = lambda: True,
    validate: bool = True,
    deferred_wait: timedelta = timedelta(0),
) -> Runtime:
    require_sync_settings(settings)
    mapping = build_mapping(settings)
    options = intigriti_options(settings)
    if dry_run:
        options = _without_bootstrap(options, repository)
    intigriti = IntigritiAdapter(options, repository.token_store())
    try:
        jira = JiraAdapter(jira_options(settings))
    except Exception:
        intigriti.close()
        raise
    try:
        if validate:
            validate_against_jira(mapping, jira, settings)
        executor = Executor(
            repository,
            intigriti,
            jira,
            mapping,
            escape=escape_wiki,
            claims=claims,
            may_write=may_write,
            options=ExecutorOptions(
                create_settle=timedelta(seconds=settings.sync.create_settle_seconds),
                dry_run=dry_run,
            ),
        )
        engine = Engine(
            repository,
            intigriti,
            jira,
            executor,
            options=EngineOptions(
                overlap=timedelta(seconds=settings.sync.overlap_seconds),
                max_attempts=settings.sync.max_attempts,
                deferred_wait=deferred_wait,
            ),
            stats=lambda: runtime_stats(intigriti, jira),
            should_stop=should_stop,
            conversation=build_conversation(
                settings, repository, intigriti, jira, claims=claims, may_write=may_write
            ),
        )
    except Exception:
        intigriti.close()
        jira.close()
        raise
    return Runtime(settings, repository, intigriti, jira, mapping, executor, engine)
