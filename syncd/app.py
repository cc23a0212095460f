"""Wiring: build the pieces from settings and run one command. The CLI calls only this."""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import rich.console
import structlog

from syncd import starter
from syncd.errors import ConfigError, CredentialError, StoreError
from syncd.intigriti.adapter import IntigritiAdapter
from syncd.logging import configure_logging, logs_above_live_display, register_secret
from syncd.memory import freeze_start_up
from syncd.presence import Presence
from syncd.settings import DEFAULT_CONFIG_PATH, Settings, load_settings
from syncd.starter import Answers
from syncd.startup import Interrupted, Target, run_with_retries
from syncd.status import (
    SCHEMA_HINT,
    format_instant,
    gather,
    render_json,
    render_text,
    render_token_status,
)
from syncd.store.instances import new_instance_id
from syncd.store.lease import leader_lease
from syncd.sync.engine import Progress
from syncd.sync.executor import Summary
from syncd.wiring import (
    NoDatabase,
    Runtime,
    build_mapping,
    build_runtime,
    claim_terms,
    intigriti_options,
    jira_options,
    open_repository,
    require_sync_settings,
    takeover_check_seconds,
    validate_against_jira,
)

if TYPE_CHECKING:  # the service layer (Starlette, prometheus-client) loads for `run` only
    from syncd.service.assemble import Service

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def bootstrap(config_path: str | None, *, sync: bool = False) -> Settings:
    """Settings, logging and secret masking; with ``sync``, also check that everything a
    sync run needs is configured, before anything (a database) is created."""
    settings = load_settings(config_path)
    configure_logging(settings.logging.level, settings.logging.format)
    register_secret(*settings.secret_values())
    if sync:
        require_sync_settings(settings)
    return settings


def db_upgrade(config_path: str | None) -> int:
    settings = bootstrap(config_path)
    repository = open_repository(settings, upgrade=True)
    try:
        print("database schema is up to date")
    finally:
        repository.close()
    return EXIT_OK


def status(config_path: str | None, *, as_json: bool) -> int:
    """Read-only: never creates a database (a missing one is NoDatabase, exit 2)."""
    settings = bootstrap(config_path)
    repository = open_repository(settings, upgrade=False)
    try:
        report = gather(
            repository, stale_after=timedelta(seconds=settings.sync.instance_timeout_seconds)
        )
    finally:
        repository.close()
    print(render_json(report) if as_json else render_text(report))
    return EXIT_OK if report.schema_current else EXIT_CONFIG


def _progress_reporter(stack: contextlib.ExitStack) -> Progress:
    """A rich progress bar on a terminal; structured progress events otherwise.

    While the bar shows, log lines below WARNING stay off the terminal and the others are
    printed above the bar (through its console), never into it.
    """
    if sys.stderr.isatty():
        from rich import progress  # a terminal only

        console = rich.console.Console(stderr=True)
        bar = progress.Progress(
            progress.TextColumn("reconcile"),
            progress.BarColumn(),
            progress.MofNCompleteColumn(),
            progress.TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        stack.enter_context(bar)
        stack.enter_context(logs_above_live_display(console))
        task = bar.add_task("reconcile", total=None)

        def on_tty(done: int, total: int, code: str) -> None:
            bar.update(task, completed=done, total=total)

        return on_tty
    log = structlog.get_logger("syncd.reconcile")
    step = [0]

    def on_log(done: int, total: int, code: str) -> None:
        every = max(1, total // 20)
        if done == total or done - step[0] >= every:
            step[0] = done
            log.info("reconcile_progress", done=done, total=total, submission=code)

    return on_log


def render_summary(summary: Summary, *, dry_run: bool) -> str:
    lines = ["dry run: nothing was written" if dry_run else "reconcile finished"]
    if dry_run:
        lines.extend(f"  {line}" for line in summary.plan_lines or ["(no changes)"])
    outcomes = summary.outcomes
    lines.append(
        f"items {summary.items}: converged {outcomes['converged']}, changed {outcomes['changed']},"
        f" pending {outcomes['pending']}, failed {outcomes['failed']},"
        f" blocked {outcomes['blocked']}, parked {outcomes['parked']},"
        f" skipped {outcomes['skipped']}, deferred {outcomes['deferred']},"
        f" unmapped {outcomes['unmapped']}"
    )
    if not dry_run:
        lines.append(f"created {summary.created}, linked to existing {summary.adopted}")
        for key, count in sorted(summary.writes.items()):
            field_name, direction = key.split(":", 1)
            lines.append(f"updated {field_name} {direction.replace('_', ' ')}: {count}")
        lines.append(f"conflicts {summary.conflicts}")
    for code, reason in sorted(summary.blocked.items()):
        lines.append(f"blocked {code}: {reason}")
    for code, reason in sorted(summary.failures.items()):
        lines.append(f"failed {code}: {reason}")
    for code, what in sorted(summary.unmapped.items()):
        lines.append(f"unmapped {code}: {what}")
    for code, reason in sorted(summary.deferred.items()):
        lines.append(f"deferred {code}: {reason}; left to that process")
    for code, keys in sorted(summary.duplicates.items()):
        lines.append(
            f"duplicate {code}: {len(keys)} Jira issues carry its tag: {', '.join(keys)}"
            f" (syncd keeps syncing the linked one; remove the tag from the others)"
        )
    return "\n".join(lines)


def _describe_company(presence: Presence) -> str:
    """Who else syncs this database right now, for the one-shot's output."""
    others = presence.others()
    active = next((i for i in others if i.role == "active"), None)
    if active is not None:
        return (
            f"running alongside the active daemon on {active.describe()}:"
            " claims keep each submission to one process"
        )
    if others:
        names = "; ".join(i.describe() for i in others)
        return f"running alongside {names}: claims keep each submission to one process"
    return "no other syncd process is syncing this database"


def reconcile(config_path: str | None, *, dry_run: bool) -> int:
    settings = bootstrap(config_path, sync=True)
    repository = open_repository(settings, upgrade=not dry_run)
    if dry_run and not repository.is_current():
        repository.close()
        raise ConfigError("the database schema is not current: run `syncd db upgrade` first")
    if dry_run:
        # a dry run writes nothing, claims nothing and needs no registration
        claims = claim_terms(settings, new_instance_id())
        presence = None
    else:
        presence = Presence(
            repository,
            command="reconcile",
            instance_timeout=timedelta(seconds=settings.sync.instance_timeout_seconds),
        )
        presence.start("oneshot")
        claims = presence.claims
    try:
        runtime = build_runtime(
            settings,
            repository,
            claims=claims,
            dry_run=dry_run,
            may_write=presence.may_write if presence is not None else lambda: False,
            deferred_wait=timedelta(seconds=settings.sync.reconcile_wait_seconds),
            validate=False,
        )
    except BaseException:
        if presence is not None:
            presence.stop()
        raise
    log = structlog.get_logger("syncd.reconcile")
    freeze_start_up()
    try:
        _start_up_checks(runtime, budget_seconds=settings.sync.startup_wait_seconds)
        company = _describe_company(presence) if presence is not None else None
        if company is not None:
            log.info("reconcile_started", company=company)
        with contextlib.ExitStack() as stack:
            progress = _progress_reporter(stack)
            summary = runtime.engine.full_pass(progress)
        log.info("reconcile_summary", **summary.as_dict())
        output = render_summary(summary, dry_run=dry_run)
        print(output if company is None else f"{company}\n{output}")
        pending = summary.outcomes["pending"] > 0
        return EXIT_OK if summary.ok and not pending else EXIT_FAILED
    finally:
        if presence is not None:
            presence.stop()
        runtime.close()


def _start_up_checks(
    runtime: Runtime, *, budget_seconds: float | None, stop: threading.Event | None = None
) -> None:
    run_with_retries(
        lambda: validate_against_jira(runtime.mapping, runtime.jira, runtime.settings),
        Target("Jira", runtime.jira.options.url),
        budget_seconds=budget_seconds,
        stop=stop or threading.Event(),
    )


def run_daemon(config_path: str | None) -> int:
    # the scheduler is the daemon's alone: a one-shot run never loads it
    from syncd.daemon import Daemon, Supervisor, install_signal_handlers

    settings = bootstrap(config_path, sync=True)
    repository = open_repository(settings, upgrade=True)
    stop = threading.Event()
    presence = Presence(
        repository,
        command="run",
        instance_timeout=timedelta(seconds=settings.sync.instance_timeout_seconds),
        lease=leader_lease(settings.database.url),
    )
    try:
        runtime = build_runtime(
            settings,
            repository,
            claims=presence.claims,
            should_stop=lambda: stop.is_set() or not presence.leader,
            may_write=presence.may_write,
            validate=False,
        )
    except BaseException:
        repository.close()
        raise
    install_signal_handlers(stop)
    freeze_start_up()
    presence.start("starting")
    try:
        service = _start_service(runtime, presence)
    except BaseException:
        presence.stop()
        runtime.close()
        raise
    try:
        try:
            # a Jira outage at start is waited out (the instance shows as "starting");
            # only a definite configuration or credential error ends the daemon (exit 2)
            _start_up_checks(runtime, budget_seconds=None, stop=stop)
        except Interrupted:
            return EXIT_OK
        presence.registry.set_role("standby")
        supervisor = Supervisor(
            presence,
            lambda: Daemon(
                runtime.engine,
                poll_interval=settings.sync.poll_interval_seconds,
                jira_poll_interval=settings.sync.jira_poll_interval_seconds,
                sweep_interval=settings.sync.full_sweep_interval_seconds,
                stop_event=stop,
                keep_running=lambda: presence.leader,
                hooks=service.hooks,
                poll_due=service.poll_due,
            ),
            stop_event=stop,
            takeover_check_seconds=takeover_check_seconds(settings),
            hooks=service.hooks,
        )
        supervisor.run_until_stopped()
        if supervisor.credential_error is not None:
            raise supervisor.credential_error
        return EXIT_OK
    finally:
        service.hooks.tick("stopping")
        service.close()
        presence.stop()
        runtime.close()


def _start_service(runtime: Runtime, presence: Presence) -> Service:
    """Probes, metrics, systemd notify and (with [http] listen) the HTTP listener."""
    from syncd.service.assemble import start_service

    def describe_active() -> str:
        try:
            active = presence.active_instance()
        except StoreError:
            return "unknown (the database did not answer)"
        return active.describe() if active is not None else "none yet"

    return start_service(
        runtime,
        takeover_check_seconds=takeover_check_seconds(runtime.settings),
        describe_active=describe_active,
    )


def explain(config_path: str | None, code: str, *, as_json: bool) -> int:
    """Read-only: the link, both sides live, the plan a sync would make now, the history."""
    from syncd.explain import explain as look
    from syncd.explain import explanation_json, render_explanation

    settings = bootstrap(config_path, sync=True)
    repository = open_repository(settings, upgrade=False)
    if not repository.is_current():
        repository.close()
        raise ConfigError(SCHEMA_HINT)
    runtime = build_runtime(
        settings,
        repository,
        claims=claim_terms(settings, new_instance_id()),
        dry_run=True,
        may_write=lambda: False,
        validate=False,
    )
    try:
        found = look(runtime, code)
    finally:
        runtime.close()
    print(explanation_json(found) if as_json else render_explanation(found))
    return EXIT_OK


def resync(config_path: str | None, code: str) -> int:
    """Release one submission's blocked, parked or failing state and sync it now."""
    from syncd.explain import render_resync
    from syncd.explain import resync as release_and_sync

    settings = bootstrap(config_path, sync=True)
    repository = open_repository(settings, upgrade=True)
    presence = Presence(
        repository,
        command="resync",
        instance_timeout=timedelta(seconds=settings.sync.instance_timeout_seconds),
    )
    presence.start("oneshot")
    try:
        runtime = build_runtime(
            settings,
            repository,
            claims=presence.claims,
            may_write=presence.may_write,
            validate=False,
        )
    except BaseException:
        presence.stop()
        raise
    try:
        _start_up_checks(runtime, budget_seconds=settings.sync.startup_wait_seconds)
        result = release_and_sync(runtime, code)
    finally:
        presence.stop()
        runtime.close()
    print(render_resync(code, result))
    return EXIT_OK if result.outcome in ("converged", "changed") else EXIT_FAILED


#: the Jira events a targeted reconcile acts on
JIRA_WEBHOOK_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")


def webhooks_register(config_path: str | None, public_url: str) -> int:
    """Register the Jira admin webhook; print the Intigriti set-up steps."""
    from syncd.checks import mapped_projects
    from syncd.tracker.adapter import JiraAdapter
    from syncd.tracker.jql import quote as jql_quote

    settings = bootstrap(config_path, sync=True)
    base = public_url.rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ConfigError(f"--url must be an http(s) address, not {public_url!r}")
    lines = []
    if settings.jira.webhook_secret is None:
        lines.append("jira: skipped (set jira.webhook_secret first)")
    else:
        projects = sorted(mapped_projects(build_mapping(settings)))
        jql = f"project in ({', '.join(jql_quote(p) for p in projects)})"
        jira = JiraAdapter(jira_options(settings))
        try:
            where, created = jira.register_webhook(
                "syncd",
                f"{base}/webhooks/jira",
                jql,
                JIRA_WEBHOOK_EVENTS,
                settings.jira.webhook_secret.get_secret_value(),
            )
        finally:
            jira.close()
        lines.append(
            f"jira: webhook {'created' if created else 'updated'} ({where}): "
            f"{', '.join(JIRA_WEBHOOK_EVENTS)} for {jql} -> {base}/webhooks/jira"
        )
    lines += [
        "intigriti: in the Intigriti UI (there is no API for it):",
        "  1. Admin > Integrations > Webhooks: add one named syncd, Connect, and put the",
        "     secret it shows in intigriti.webhook_secret (then restart syncd)",
        "  2. for each synced program: Program > Integrations > Webhooks, choose syncd,",
        "     select submission creation, status changes, severity updates and new messages,",
        f"     with the URL {base}/webhooks/intigriti, and Activate (syncd answers the test",
        "     event with 204, which activates it)",
    ]
    print("\n".join(lines))
    return EXIT_OK


def auth_login(config_path: str | None) -> int:
    settings = bootstrap(config_path)
    if not settings.intigriti.client_id or not settings.intigriti.redirect_uri:
        raise ConfigError("set intigriti.client_id and intigriti.redirect_uri before logging in")
    repository = open_repository(settings, upgrade=True)
    adapter = IntigritiAdapter(intigriti_options(settings), repository.token_store())
    try:
        request = adapter.begin_login()
        print("Open this URL in a browser, log in and approve syncd:\n")
        print(f"  {request.authorize_url}\n")
        print("Then paste the full URL the browser was redirected to:")
        try:
            redirected = input("> ").strip()
        except EOFError:
            raise CredentialError(
                "no URL was pasted (the input ended): run `syncd auth login` at a terminal, "
                "and paste the URL the browser was sent to after approving"
            ) from None
        if not redirected:
            raise CredentialError(
                "nothing was pasted: run `syncd auth login` again and paste the full URL the "
                "browser was sent to after approving"
            )
        token = adapter.complete_login(request, redirected)
        print(
            f"logged in; access token expires {format_instant(token.expires_at)}; "
            f"scopes: {token.scope or '-'}"
        )
        return EXIT_OK
    finally:
        adapter.close()
        repository.close()


def auth_status(config_path: str | None) -> int:
    """Read-only: shows the token state; never creates a database."""
    settings = bootstrap(config_path)
    if settings.intigriti.access_token is not None:
        print(render_token_status(None, static=True))
        return EXIT_OK
    try:
        repository = open_repository(settings, upgrade=False)
    except NoDatabase as exc:
        print(render_token_status(None, static=False, missing=str(exc)))
        return EXIT_FAILED
    try:
        if not repository.is_current():
            print(render_token_status(None, static=False, missing=SCHEMA_HINT))
            return EXIT_FAILED
        adapter = IntigritiAdapter(intigriti_options(settings), repository.token_store())
        try:
            state = adapter.token_status()
        finally:
            adapter.close()
        print(render_token_status(state, static=False))
        return EXIT_OK if state.has_token else EXIT_FAILED
    finally:
        repository.close()


def init(
    config_path: str | None, answers: Answers, *, interactive: bool, force: bool
) -> int:
    """Write a starter config.toml (and its secrets folder), asking when at a terminal."""
    path = Path(config_path or os.environ.get("SYNCD_CONFIG") or DEFAULT_CONFIG_PATH)
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already: pass --force to overwrite it")
    if interactive:
        print(f"Writing {path.absolute()}; press Enter to leave a value for later.")
        answers = starter.ask(answers, _ask_text, getpass.getpass)
    empty = starter.write(path, answers, force=force)
    load_settings(str(path))  # what we wrote must load: a failure here is a bug
    print(f"wrote {path.absolute()}")
    print(f"wrote {(path.parent / starter.SECRETS_DIR).absolute()}/ (mode 0700, files 0600)")
    for secret in empty:
        print(f"  empty, put the value in: {secret.absolute()}")
    shown = "" if config_path is None else f" --config {path}"
    print("next:")
    print(f"  syncd{shown} auth login                  (authorize syncd at Intigriti)")
    print(f"  syncd{shown} run --reconcile --dry-run   (see what a first pass would do)")
    return EXIT_OK


def _ask_text(question: str, default: str) -> str:
    shown = f" [{default}]" if default else ""
    try:
        reply = input(f"{question}{shown}: ").strip()
    except EOFError:
        raise ConfigError(
            "the input ended: pass the values as flags (see `syncd init --help`)"
        ) from None
    return reply or default


def doctor(config_path: str | None) -> int:
    """A checklist of everything `syncd run` depends on: 0 when all pass, 1 otherwise (a
    config file that does not load at all is still ConfigError, exit 2)."""
    from syncd.doctor import diagnose, render

    settings = bootstrap(config_path)
    results = diagnose(settings)
    print(render(results))
    return EXIT_FAILED if any(result.failed for result in results) else EXIT_OK


def demo(*, duration: float) -> int:
    from syncd.demo import run_demo

    return run_demo(duration=duration)


def simulator(system: str, port: int, *, seed: int) -> int:
    from syncd.simulators import standalone

    if system == "intigriti":
        standalone.run_intigriti(port, seed, sys.stdout)
    else:
        standalone.run_jira(port, seed, sys.stdout)
    return EXIT_OK
