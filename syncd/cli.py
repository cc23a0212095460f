"""The ``syncd`` command line: parse, build, call one function, map errors to exit codes.

Exit codes: 0 success (every item converged); 1 some item failed or is blocked;
2 configuration or credential error (the message says what to fix).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import structlog

from syncd import __version__
from syncd.errors import ConfigError, CredentialError, StoreError, SyncdError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncd",
        description="Keep Intigriti submissions and Jira issues in two-way sync.",
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=None,
        help="config file (default: $SYNCD_CONFIG, then ./config.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
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
        help="show the stored token's state (never the token)",
        description="Show whether a token is stored, when it expires, and its scopes.",
    )
    auth_status.set_defaults(handler=_cmd_auth_status)

    status = commands.add_parser(
        "status",
        help="links, blocked items, conflicts, last cycles, quota use",
        description=(
            "Show link counts by state, blocked and parked items with reasons, recent "
            "conflicts, the last successful cycle per side and quota use."
        ),
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_cmd_status)

    db = commands.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_commands.add_parser(
        "upgrade",
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
                f"Run the {system.capitalize()} simulator and print its base URL "
                "(port 0 picks a free port)."
            ),
        )
        one.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
        one.set_defaults(handler=_cmd_sim, system=system)
    return parser


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


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from syncd import app

    return app.db_upgrade(args.config)


def _cmd_demo(args: argparse.Namespace) -> int:
    from syncd import app

    return app.demo(duration=args.duration)


def _cmd_sim(args: argparse.Namespace) -> int:
    from syncd import app

    return app.simulator(args.system, args.port)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        log.error("command_failed", error=str(exc), error_type=type(exc).__name__)
        print(f"syncd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: report it through the redacting log, not a raw traceback
        log.exception("unexpected_error", error_type=type(exc).__name__)
        print(f"syncd: unexpected {type(exc).__name__}; see the log for details", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
