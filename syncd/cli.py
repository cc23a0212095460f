"""The ``syncd`` command line: parse, build, call one function, map errors to exit codes.

Exit codes: 0 success (every item converged); 1 some item failed or is blocked;
2 configuration or credential error (the message says what to fix).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import structlog

from syncd import __version__
from syncd.errors import ConfigError, CredentialError, StoreError, SyncdError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace], int]


CONFIG_HELP = "config file (default: $SYNCD_CONFIG, then ./config.toml)"


def _config_option() -> argparse.ArgumentParser:
    """``--config`` for a subcommand, so it works after the command name too.

    SUPPRESS as the default keeps a ``--config`` given before the command when none is
    given after it.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=CONFIG_HELP)
    _log_options(parent, default=argparse.SUPPRESS)
    return parent


LOG_LEVELS = ("debug", "info", "warning", "error")


def _log_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``-v`` and ``--log-level``: they beat [logging] level and $SYNCD_LOGGING__LEVEL."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const="debug",
        default=default,
        help="log at debug level (same as --log-level debug)",
    )
    group.add_argument(
        "--log-level", choices=LOG_LEVELS, default=default, help="(default: [logging] level)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Keep Intigriti submissions and Jira issues in two-way sync.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument("--config", metavar="PATH", default=None, help=CONFIG_HELP)
    _log_options(parser, default=None)
    config = [_config_option()]
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init",
        parents=config,
        help="write a commented starter config.toml and its secrets folder",
        description=(
            "Write a commented starter config.toml (at --config, $SYNCD_CONFIG or "
            "./config.toml) and a secrets/ folder beside it (0700) holding one file per "
            "secret (0600). At a terminal, asks for every value not given as a flag "
            "(secrets without echo); --no-input asks nothing."
        ),
    )
    init.add_argument("--jira-url", default="", metavar="URL", help="the Jira site")
    init.add_argument(
        "--jira-deployment", choices=("cloud", "datacenter"), default="cloud", help="(cloud)"
    )
    init.add_argument("--jira-email", default="", metavar="EMAIL", help="Jira Cloud user")
    init.add_argument("--jira-project", default="", metavar="KEY", help="project for new issues")
    init.add_argument("--intigriti-client-id", default="", metavar="ID")
    init.add_argument("--intigriti-redirect-uri", default="", metavar="URL")
    init.add_argument(
        "--database-url", default="sqlite:///syncd.db", metavar="URL", help="(sqlite:///syncd.db)"
    )
    init.add_argument("--no-input", action="store_true", help="ask nothing, even at a terminal")
    init.add_argument("--force", action="store_true", help="overwrite an existing config file")
    init.set_defaults(handler=_cmd_init)

    run = commands.add_parser(
        "run",
        parents=config,
        help="run the daemon until SIGTERM/SIGINT/SIGHUP",
        description=(
            "Run the sync daemon (scheduled polls of both sides and a periodic full sweep) "
            "until SIGTERM, SIGINT or SIGHUP. With --reconcile, make one full pass and exit: "
            "0 when every item converged, 1 when any failed or is blocked, 2 on a "
            "configuration or credential error."
        ),
    )
    run.add_argument(
        "--reconcile",
        action="store_true",
        help="one full pass (backfill + reconcile every link), then exit",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="with --reconcile: print the plan as a diff and write nothing",
    )
    run.set_defaults(handler=_cmd_run)

    auth = commands.add_parser(
        "auth",
        help="Intigriti OAuth: log in, show token state",
        description="Manage the Intigriti OAuth 2.0 authorization.",
    )
    auth_commands = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    login = auth_commands.add_parser(
        "login",
        parents=config,
        help="authorize syncd (authorization code + PKCE)",
        description=(
            "Print the Intigriti authorize URL; open it in a browser, approve, then paste "
            "back the full URL the browser was redirected to. The tokens are stored in "
            "the database."
        ),
    )
    login.set_defaults(handler=_cmd_auth_login)
    auth_status = auth_commands.add_parser(
        "status",
        parents=config,
        help="show the stored token's state (never the token)",
        description="Show whether a token is stored, when it expires, and its scopes.",
    )
    auth_status.set_defaults(handler=_cmd_auth_status)

    status = commands.add_parser(
        "status",
        parents=config,
        help="links, blocked items, conflicts, last cycles, quota use",
        description=(
            "Show link counts by state, blocked and parked items with reasons, recent "
            "conflicts, the last successful cycle per side and quota use."
        ),
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_cmd_status)

    doctor = commands.add_parser(
        "doctor",
        parents=config,
        help="check the configuration against the database, Intigriti and Jira",
        description=(
            "Check the configuration, the database and its migrations, the Intigriti token "
            "and its scopes, the Jira credentials, and every project, issue type, status, "
            "resolution, priority, field and Intigriti name the mapping uses. Prints one "
            "line per check, each failure with its config key and the fix; exit 0 when "
            "all pass, 1 otherwise."
        ),
    )
    doctor.set_defaults(handler=_cmd_doctor)

    explain = commands.add_parser(
        "explain",
        parents=config,
        help="one submission: its link, both sides now, the plan, its history",
        description=(
            "Show one submission's link (state, reason, base values), both sides' current "
            "values (read live), the plan syncd would execute now, and the audit history. "
            "Writes nothing."
        ),
    )
    explain.add_argument("code", metavar="CODE", help="the Intigriti submission code")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.set_defaults(handler=_cmd_explain)

    resync = commands.add_parser(
        "resync",
        parents=config,
        help="release a blocked, parked or failing submission and sync it now",
        description=(
            "Clear one submission's blocked, parked or failing state (audited as an "
            "operator's act) and sync it now. Exit 0 when it converged, 1 otherwise."
        ),
    )
    resync.add_argument("code", metavar="CODE", help="the Intigriti submission code")
    resync.set_defaults(handler=_cmd_resync)

    webhooks = commands.add_parser(
        "webhooks", help="webhook set-up", description="Set up the services' webhooks."
    )
    webhook_commands = webhooks.add_subparsers(
        dest="webhooks_command", metavar="ACTION", required=True
    )
    register = webhook_commands.add_parser(
        "register",
        parents=config,
        help="create the Jira admin webhook; print the Intigriti steps",
        description=(
            "Create (or update) the Jira admin webhook that sends issue events of the "
            "synced projects, signed with jira.webhook_secret, to URL/webhooks/jira (Jira "
            "administrator credentials needed), and print the steps that set up the "
            "Intigriti company webhook (Intigriti has no API for it)."
        ),
    )
    register.add_argument(
        "--url",
        required=True,
        metavar="URL",
        help="the public https address of syncd's listener, e.g. https://syncd.example.com",
    )
    register.set_defaults(handler=_cmd_webhooks_register)

    db = commands.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
        parents=config,
        help="apply the schema migrations (Alembic)",
        description="Create or upgrade the database schema to the newest revision.",
    )
    upgrade.set_defaults(handler=_cmd_db_upgrade)

    demo = commands.add_parser(
        "demo",
        help="run everything against built-in simulators (no credentials needed)",
        description=(
            "Start both simulators with seeded data, run a reconcile, then the daemon "
            "while a scripted human edits both sides, printing each change and its "
            "propagation."
        ),
    )
    demo.add_argument(
        "--duration", type=float, default=60.0, metavar="SECONDS", help="how long (default 60)"
    )
    demo.set_defaults(handler=_cmd_demo)

    sim = commands.add_parser(
        "sim",
        help="run one API simulator on loopback",
        description="Run an API simulator on 127.0.0.1 until Ctrl-C/SIGTERM.",
    )
    sim_commands = sim.add_subparsers(dest="sim_command", metavar="SYSTEM", required=True)
    for system in ("intigriti", "jira"):
        one = sim_commands.add_parser(
            system,
            help=f"the {system.capitalize()} simulator",
            description=(
                f"Run the {system.capitalize()} simulator on 127.0.0.1 until Ctrl-C. It "
                "prints its base URL first, then its URLs and credentials and a config.toml "
                "snippet that works unchanged (with the other simulator's snippet)."
            ),
        )
        one.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
        if system == "intigriti":
            seed_help = (
                "start with N submissions in mixed states over two programs (default 12)"
            )
            default_seed = 12
        else:
            seed_help = "start with N human-made issues in SEC and APP (default 0)"
            default_seed = 0
        one.add_argument("--seed", type=_count, default=default_seed, metavar="N", help=seed_help)
        one.set_defaults(handler=_cmd_sim, system=system)
    return parser


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _cmd_init(args: argparse.Namespace) -> int:
    from syncd import app
    from syncd.starter import Answers

    answers = Answers(
        jira_url=args.jira_url,
        jira_deployment=args.jira_deployment,
        jira_email=args.jira_email,
        jira_project=args.jira_project,
        intigriti_client_id=args.intigriti_client_id,
        intigriti_redirect_uri=args.intigriti_redirect_uri,
        database_url=args.database_url,
    )
    interactive = not args.no_input and sys.stdin.isatty()
    return app.init(args.config, answers, interactive=interactive, force=args.force)


def _cmd_run(args: argparse.Namespace) -> int:
    from syncd import app

    if args.dry_run and not args.reconcile:
        raise ConfigError("--dry-run works with --reconcile only")
    if args.reconcile:
        return app.reconcile(args.config, dry_run=args.dry_run)
    return app.run_daemon(args.config)


def _cmd_auth_login(args: argparse.Namespace) -> int:
    from syncd import app

    return app.auth_login(args.config)


def _cmd_auth_status(args: argparse.Namespace) -> int:
    from syncd import app

    return app.auth_status(args.config)


def _cmd_status(args: argparse.Namespace) -> int:
    from syncd import app

    return app.status(args.config, as_json=args.json)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from syncd import app

    return app.doctor(args.config)


def _cmd_explain(args: argparse.Namespace) -> int:
    from syncd import app

    return app.explain(args.config, args.code, as_json=args.json)


def _cmd_resync(args: argparse.Namespace) -> int:
    from syncd import app

    return app.resync(args.config, args.code)


def _cmd_webhooks_register(args: argparse.Namespace) -> int:
    from syncd import app

    return app.webhooks_register(args.config, args.url)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from syncd import app

    return app.db_upgrade(args.config)


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncd import app

    return app.demo(duration=args.duration)


def _cmd_sim(args: argparse.Namespace) -> int:
    from syncd import app

    return app.simulator(args.system, args.port, seed=args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "log_level", None):
        # through the environment, which beats the config file: every command that loads
        # settings then logs at this level, with no flag to thread through each of them
        os.environ["SYNCD_LOGGING__LEVEL"] = args.log_level
    handler: Handler = args.handler
    log = structlog.get_logger("syncd.cli")
    try:
        return handler(args)
    except (ConfigError, CredentialError) as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except SyncdError as exc:
        if not sys.stderr.isatty():
            # for log collectors; on a terminal the line below says it once
            log.error("command_failed", error=str(exc), error_type=type(exc).__name__)
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`syncd status | head -3`): nothing more to tell it, and
        # Python's flush at exit must not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # a bug: report it through the redacting log, not a raw traceback
        log.exception("unexpected_error", error_type=type(exc).__name__)
        print(f"syncd: unexpected {type(exc).__name__}; see the log for details", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
