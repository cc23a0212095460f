"""Build a consistent, quiet world of N links quickly: both simulators and syncd's database.

    python bench/seed.py --links 100000
    python bench/seed.py --links 2000 --verify
    python bench/seed.py --links 10000 --database postgresql+psycopg://localhost/syncd_bench

The end state is the one a real backfill (`syncd run --reconcile` on N new submissions)
leaves behind, reached in a fraction of its time:

1. a real backfill of a few template submissions (every status and severity the
   benchmarks seed), followed by a second real pass, so that syncd itself decides what an
   issue, a link row, its bases and its audit entries look like;
2. each template cloned N/K times straight into the simulators' in-process stores (no
   HTTP) with a new submission code and a new issue id and key, rewriting what names them
   (the issue's summary, description, tag label and entity property; the submission's
   internal reference and its browse URL), and into the database with SQLAlchemy Core
   executemany: the link row (bases copied, ``base_internal_reference`` and
   ``base_description`` recomputed from the new key and description) and its audit rows;
3. the world made quiet: the templates ran with both simulator clocks an hour back, so
   every timestamp of either side is an hour old, and the watermarks are moved to now, so
   an incremental poll finds nothing.

``--verify`` then proves the world consistent: a real `syncd run --reconcile` must make no
write to either simulator and report nothing failed, blocked or parked; a second one, with
the description synced and every link's Intigriti version forgotten (so each submission's
detail is read and its description compared with the link's base), must make no write
either. The second pass reads every detail, so it is slow at large N (about 20 s per
2,000 links on SQLite). The CLI seeds, verifies if asked, prints the timings and exits.

The benchmarks call :func:`seed_world`. It changes nothing in syncd: it reaches into the
simulators' private stores (``Store._subs``/``_index``, ``JiraState.issues``/``keys``)
under their locks, which only the simulators' own code otherwise touches.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update

from syncd.simulators.intigriti.model import Submission
from syncd.simulators.intigriti.store import Store
from syncd.simulators.jira.model import ChangeGroup, Issue, Text
from syncd.simulators.jira.state import JiraState
from syncd.simulators.world import World, start_world
from syncd.store.engine import make_engine
from syncd.store.tables import AuditRow, CursorRow, LinkRow
from syncd.sync.mapping import canonical_issue_key
from syncd.sync.plan import description_digest

#: the mix of reconcile_bench.seed: status cycles with period 3, severity with period 5
OPEN_STATUSES = ("Triage", "Pending", "Accepted")
SEVERITIES = ("Low", "Medium", "High", "Critical", "Exceptional")
#: templates really backfilled: every (status, severity) pair four times, with the
#: simulator's random vulnerability types, endpoints and researchers among them
TEMPLATES = 60
#: how far back the templates' (and so every clone's) timestamps lie: an hour, as the
#: idle benchmark's "quiet hour" (Jira's change query has minute precision)
QUIET_SECONDS = 3600
#: the access tokens outlive the hour the simulator's clock is set back (1 h by default:
#: a token got an hour "ago" would be expired at once, and the first request of the next
#: run would be a token refresh, a POST)
TOKEN_SECONDS = 86400
#: rows per executemany batch
CHUNK = 10000
#: submission codes: the simulator's alphabet, so clones look like generated codes
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class SeedError(RuntimeError):
    """The seeded world would not be what a real backfill leaves: stop, do not guess."""


@dataclass
class Timings:
    """Seconds per phase of :func:`seed_world`."""

    phases: dict[str, float] = field(default_factory=dict)

    def measure(self, name: str, started: float) -> None:
        self.phases[name] = round(time.monotonic() - started, 2)

    @property
    def total(self) -> float:
        return round(sum(self.phases.values()), 2)


@dataclass
class Template:
    """One really backfilled submission, its issue and its rows, to be cloned."""

    code: str
    key: str
    submission: Submission
    issue: Issue
    link: dict[str, Any]
    audit: list[dict[str, Any]]
    key_pattern: re.Pattern[str]


# -- running syncd ---------------------------------------------------------------------------


def run_syncd(config: Path, *args: str) -> str:
    """`syncd --config CONFIG ARGS...` as a subprocess; its stdout, or SeedError."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    result = subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise SeedError(
            f"syncd {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def outcomes(stdout: str) -> dict[str, int]:
    """The counts of the reconcile summary line ("items 15: converged 15, changed 0, ...")."""
    match = re.search(r"^items (\d+): (.*)$", stdout, re.MULTILINE)
    if match is None:
        raise SeedError(f"no summary in the reconcile output:\n{stdout[-2000:]}")
    counts = {"items": int(match.group(1))}
    for part in match.group(2).split(","):
        name, _, number = part.strip().rpartition(" ")
        counts[name] = int(number)
    return counts


def writes(world: World) -> dict[str, int]:
    """Requests other than GET made to either simulator since its counters were reset."""
    found: dict[str, int] = {}
    for row in world.intigriti.control.counters():
        if row["method"] != "GET":
            name = f"intigriti {row['method']} {row['route']}"
            found[name] = found.get(name, 0) + int(row["count"])
    for route, count in world.jira.control.counters().items():
        if not route.startswith("GET "):
            found[f"jira {route}"] = found.get(f"jira {route}", 0) + int(count)
    return found


def reset_counters(world: World) -> None:
    world.intigriti.control.reset_counters()
    world.jira.control.reset_counters()


# -- the world -------------------------------------------------------------------------------


def _store(world: World) -> Store:
    # the simulator's in-process store: cloning into it costs no HTTP request
    return world.intigriti._ctx.store


def _config_overrides(
    extra: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """reconcile_bench.make_world's overrides (plus the caller's)."""
    overrides: dict[str, dict[str, Any]] = {
        "jira": {"requests_per_minute": 60000},
        "logging": {"level": "warning", "format": "json"},
    }
    for section, values in (extra or {}).items():
        overrides.setdefault(section, {}).update(values)
    return overrides


def _seed_templates(world: World, count: int) -> None:
    control = world.intigriti.control
    program = world.programs[0]
    for n in range(count):
        control.seed_submission(program, status=OPEN_STATUSES[n % 3], severity=SEVERITIES[n % 5])


def _key_pattern(key: str) -> re.Pattern[str]:
    # "SEC-1" but not inside "SEC-12" or "XSEC-1"
    return re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(key)}(?![0-9])")


def _names(template: Template, text: str) -> bool:
    return template.code in text or template.key_pattern.search(text) is not None


def _rewrite(template: Template, value: Any, code: str, key: str) -> Any:
    """``value`` (a string or JSON-shaped data) with the template's code and key replaced."""
    if isinstance(value, str):
        if template.code not in value and template.key not in value:
            return value
        return template.key_pattern.sub(key, value.replace(template.code, code))
    if isinstance(value, (dict, list)):
        return json.loads(_rewrite(template, json.dumps(value), code, key))
    return value  # None, numbers, timestamps


def _load_templates(world: World, engine: Engine, expected: int) -> list[Template]:
    """The templates as the real backfill left them, checked to be cloneable as they are."""
    store = _store(world)
    state = world.jira.state
    links_table = LinkRow.__table__
    audit_table = AuditRow.__table__
    with engine.connect() as connection:
        links = [dict(r) for r in connection.execute(select(links_table)).mappings()]
        audit: dict[str, list[dict[str, Any]]] = {}
        for row in connection.execute(select(audit_table).order_by(audit_table.c.id)).mappings():
            audit.setdefault(str(row["submission_code"]), []).append(dict(row))
    if len(links) != expected:
        raise SeedError(f"the template backfill left {len(links)} links, not {expected}")
    templates = []
    for link in links:
        code, key = str(link["submission_code"]), str(link["issue_key"])
        if link["state"] != "linked":
            raise SeedError(f"template {code} is {link['state']}: {link['error']}")
        submission = store._subs[code]
        issue = state.issues[int(link["issue_id"])]
        template = Template(
            code, key, submission, issue, link, audit.get(code, []), _key_pattern(key)
        )
        _check_template(template)
        templates.append(template)
    return templates


def _check_template(t: Template) -> None:
    """What the cloning relies on; anything else a template carries would need rewriting."""
    sub, core = t.submission, t.issue.core
    if sub.internal_reference != t.key or not (sub.internal_reference_url or "").endswith(
        f"/browse/{t.key}"
    ):
        raise SeedError(f"{t.code}: internal reference {sub.internal_reference!r} is not {t.key}")
    if sub.duplicate_of or sub.duplicate_children or sub.attachments:
        raise SeedError(f"{t.code}: duplicates and attachments are not cloned")
    issue = t.issue
    if issue.comments or issue.remote_links or issue.attachments or issue.former_keys:
        raise SeedError(f"{t.key}: comments, remote links, attachments and moves are not cloned")
    if t.link["base_internal_reference"] != canonical_issue_key(t.key):
        raise SeedError(f"{t.code}: base_internal_reference {t.link['base_internal_reference']!r}")
    # the description base is the digest of the text syncd sent, which Jira keeps as sent:
    # so a clone's base is the digest of its own (rewritten) description
    wiki = core.description.wiki if core.description is not None else None
    base = t.link["base_description"]
    if base is not None and (wiki is None or base != description_digest(wiki)):
        raise SeedError(f"{t.code}: base_description is not the digest of the issue's text")


def _codes(store: Store, program_handle: str) -> Iterator[str]:
    """New submission codes, in the simulator's format, never one already taken."""
    prefix = program_handle.upper()
    number = 0
    while True:
        digits, n = [], number
        for _ in range(8):
            n, digit = divmod(n, len(_ALPHABET))
            digits.append(_ALPHABET[digit])
        number += 1
        code = f"{prefix}-{''.join(reversed(digits))}"
        if code not in store._subs:
            yield code


def _clone_submission(t: Template, code: str, key: str) -> Submission:
    sub = copy.copy(t.submission)
    sub.code = code
    sub.internal_reference = key
    url = t.submission.internal_reference_url or ""
    sub.internal_reference_url = url[: len(url) - len(t.key)] + key
    # the containers a later change appends to are the clone's own; their elements
    # (events, users, the report) are never changed in place, so they are shared
    sub.tags = list(sub.tags)
    sub.duplicate_children = []
    sub.stamps = dict(sub.stamps)
    sub.history = list(sub.history)
    sub.events = list(sub.events)
    sub.messages = list(sub.messages)
    sub.attachments = []
    sub.payouts = list(sub.payouts)
    sub.report = copy.copy(sub.report)
    return sub


def _clone_issue(t: Template, state: JiraState, code: str) -> Issue:
    core = copy.copy(t.issue.core)
    project = state.projects[core.project_id]
    core.id = next(state._ids)
    core.key = f"{project.key}-{project.next_number}"
    project.next_number += 1
    core.summary = _rewrite(t, core.summary, code, core.key)
    if core.description is not None:
        core.description = Text(
            _rewrite(t, core.description.wiki, code, core.key),
            _rewrite(t, core.description.adf, code, core.key),
        )
    core.labels = [_rewrite(t, label, code, core.key) for label in core.labels]
    core.custom = _rewrite(t, core.custom, code, core.key)
    core.properties = _rewrite(t, core.properties, code, core.key)
    changelog = [
        ChangeGroup(next(state._other_ids), g.author_id, g.created, list(g.items))
        for g in t.issue.changelog
    ]
    return Issue(core=core, changelog=changelog, changed_at=t.issue.changed_at)


def _clone_link(t: Template, code: str, issue: Issue) -> dict[str, Any]:
    row = {k: v for k, v in t.link.items() if k != "id"}
    row["submission_code"] = code
    row["issue_id"] = str(issue.core.id)
    row["issue_key"] = issue.core.key
    row["base_internal_reference"] = canonical_issue_key(issue.core.key)
    if row["base_description"] is not None:
        assert issue.core.description is not None
        row["base_description"] = description_digest(issue.core.description.wiki)
    return row


_LINK_REWRITTEN = frozenset(
    {"submission_code", "issue_id", "issue_key", "base_internal_reference", "base_description"}
)


def _check_clone(t: Template, sub: Submission, issue: Issue, link: dict[str, Any]) -> None:
    """The first clone of each template: nothing of the template's code or key is left.

    Guards against a field that names them and that the cloning does not know (a new
    column, a new issue field): it must be rewritten, or it would tie two links together.
    """
    for what, text in (("submission", repr(sub)), ("issue", repr(issue))):
        if _names(t, text):
            raise SeedError(f"a clone's {what} still names {t.code} or {t.key}: {text[:2000]}")
    for column, value in link.items():
        if column not in _LINK_REWRITTEN and isinstance(value, str) and _names(t, value):
            raise SeedError(f"links.{column} names {t.code} or {t.key}: {value!r}")


def _clone(
    world: World, templates: list[Template], count: int
) -> tuple[list[dict[str, Any]], list[tuple[Template, str, str]]]:
    """``count`` clones into both simulators; their link rows, and (template, code, key)."""
    store, state = _store(world), world.jira.state
    program = store._programs[world.programs[0]]
    codes = _codes(store, program.handle)
    rows: list[dict[str, Any]] = []
    made: list[tuple[Template, str, str]] = []
    checked: set[str] = set()
    with store._lock, state.lock:
        for n in range(count):
            t = templates[n % len(templates)]
            code = next(codes)
            issue = _clone_issue(t, state, code)
            sub = _clone_submission(t, code, issue.core.key)
            link = _clone_link(t, code, issue)
            if t.code not in checked:
                _check_clone(t, sub, issue, link)
                checked.add(t.code)
            store._subs[code] = sub
            # appended now, sorted once below: insort per clone would be quadratic
            store._index.append((sub.last_updated_at, code))
            store._program_index[sub.program_id].append((sub.last_updated_at, code))
            state.issues[issue.core.id] = issue
            state.keys[issue.core.key] = issue.core.id
            rows.append(link)
            made.append((t, code, issue.core.key))
        store._index.sort()
        for index in store._program_index.values():
            index.sort()
    return rows, made


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _insert(
    engine: Engine, rows: list[dict[str, Any]], made: list[tuple[Template, str, str]]
) -> int:
    """The clones' link rows, then their audit rows (link ids as the database gave them)."""
    links_table = LinkRow.__table__
    audit_table = AuditRow.__table__
    with engine.begin() as connection:
        for chunk in _chunks(rows):
            connection.execute(links_table.insert(), chunk)
        query = select(links_table.c.submission_code, links_table.c.id)
        ids = {code: link_id for code, link_id in connection.execute(query)}
        audit: list[dict[str, Any]] = []
        for t, code, key in made:
            for entry in t.audit:
                row = {
                    k: _rewrite(t, v, code, key)
                    for k, v in entry.items()
                    if k not in ("id", "link_id", "submission_code")
                }
                row["submission_code"] = code
                row["link_id"] = ids[code] if entry["link_id"] is not None else None
                audit.append(row)
        for chunk in _chunks(audit):
            connection.execute(audit_table.insert(), chunk)
    return len(audit)


def _quiet_cursors(engine: Engine) -> datetime:
    """Both watermarks at now: the last poll found nothing changed in the last hour."""
    now = datetime.now(UTC).replace(microsecond=0)
    cursors = CursorRow.__table__
    with engine.begin() as connection:
        connection.execute(
            update(cursors)
            .where(cursors.c.source.in_(("intigriti", "jira")))
            .values(watermark=now, last_success_at=now)
        )
    return now


def seed_world(
    workdir: Path,
    links: int,
    *,
    database_url: str | None = None,
    write_rate: int = 60000,
    read_rate: int = 60000,
    templates: int = TEMPLATES,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    timings: Timings | None = None,
) -> tuple[World, Path]:
    """Start both simulators and fill them and the database with ``links`` quiet links.

    ``database_url`` (default: SQLite in ``workdir``) must name an empty database; the
    schema is made by syncd's own migrations during the template backfill. Returns the
    running world (stop it when done) and the syncd configuration file for it.
    """
    timings = timings if timings is not None else Timings()
    url = database_url or f"sqlite:///{workdir / 'syncd.db'}"
    started = time.monotonic()
    world = start_world(
        programs=1, read_rate_per_minute=read_rate, write_rate_per_minute=write_rate
    )
    try:
        # both clocks an hour back while syncd works: every timestamp it causes on either
        # side, and every one it records of them, is an hour old once they are reset
        world.intigriti.control.set_clock_offset(-QUIET_SECONDS)
        world.jira.control.configure(clock_offset_seconds=-QUIET_SECONDS)
        world.refresh_token = str(
            world.intigriti.control.mint_token(expires_in=TOKEN_SECONDS)["refresh_token"]
        )
        config = world.write_config(
            workdir / "config.toml", url, overrides=_config_overrides(overrides)
        )
        engine = make_engine(url)
        try:
            timings.measure("start", started)
            started = time.monotonic()
            real = min(links, templates)
            _seed_templates(world, real)
            run_syncd(config, "run", "--reconcile")  # the backfill
            # a second pass, as a running daemon would make: it marks the versions of
            # both sides (after the reference writes) as reconciled
            run_syncd(config, "run", "--reconcile")
            timings.measure(f"real backfill of {real}", started)
            started = time.monotonic()
            loaded = _load_templates(world, engine, real)
            rows, made = _clone(world, loaded, links - real)
            timings.measure(f"clone {links - real} into the simulators", started)
            started = time.monotonic()
            _insert(engine, rows, made)
            timings.measure(f"insert {len(rows)} link rows", started)
            world.intigriti.control.set_clock_offset(0)
            world.jira.control.configure(clock_offset_seconds=0)
            _quiet_cursors(engine)
        finally:
            engine.dispose()
        reset_counters(world)
    except BaseException:
        world.stop()
        raise
    return world, config


# -- verification ----------------------------------------------------------------------------


def _epoch(moment: datetime) -> float:
    # SQLite gives naive UTC back, PostgreSQL an aware value in the session's zone
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _check_quiet(world: World, engine: Engine, overlap_seconds: int = 120) -> None:
    """Nothing either side would list in an incremental poll from the watermarks."""
    cursors = CursorRow.__table__
    with engine.connect() as connection:
        query = select(cursors.c.source, cursors.c.watermark)
        marks = {source: mark for source, mark in connection.execute(query)}
    for source in ("intigriti", "jira"):
        if marks.get(source) is None:
            raise SeedError(f"no {source} watermark")
    since = _epoch(marks["intigriti"]) - overlap_seconds
    store = _store(world)
    with store._lock:
        newest = store._index[-1][0]
    if newest >= since:
        raise SeedError("an Intigriti poll would list submissions")
    state = world.jira.state
    with state.lock:
        newest_issue = max(i.core.updated for i in state.issues.values())
    # minute precision: the query starts at the minute of watermark - overlap
    jira_since = _epoch(marks["jira"]) - overlap_seconds - 60
    if newest_issue.timestamp() >= jira_since:
        raise SeedError("a Jira poll would list issues")


#: bookkeeping of a pass, not state: the claim every pass takes and gives back
_PASS_COLUMNS = frozenset({"claim_token", "claim_instance", "claim_since", "updated_at"})


def _link_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(LinkRow.__table__)).mappings()
        return {str(row["submission_code"]): dict(row) for row in rows}


def _changed_columns(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> dict[str, int]:
    """Per column, how many link rows a pass changed (rows added or lost: "row")."""
    changed: dict[str, int] = {}
    if before.keys() != after.keys():
        changed["row"] = len(before.keys() ^ after.keys())
    for code in before.keys() & after.keys():
        for column, value in before[code].items():
            if column not in _PASS_COLUMNS and after[code].get(column) != value:
                changed[column] = changed.get(column, 0) + 1
    return dict(sorted(changed.items()))


def verify(world: World, config: Path, links: int) -> dict[str, Any]:
    """Real reconciles of the seeded world: they must write nothing anywhere.

    The second one syncs the description and forgets which Intigriti version each link
    reconciled, so every submission's detail is read and its description compared with
    ``base_description`` (the default config leaves the description alone, and a link
    whose version is marked seen is not read in detail).

    No write is not enough: a base both sides agree with but which is wrong is repaired
    in the database without a request (``i == j``: base := i). So the link rows must come
    out of each pass as they went in, column by column.
    """
    from syncd.settings import load_settings  # the database URL as syncd reads it

    url = load_settings(str(config)).database.url
    engine = make_engine(url)
    result: dict[str, Any] = {}
    try:
        with engine.connect() as connection:
            table = LinkRow.__table__
            counted = connection.execute(
                select(func.count()).select_from(table).where(table.c.state == "linked")
            ).scalar_one()
        if counted != links:
            raise SeedError(f"{counted} linked rows, not {links}")
        _check_quiet(world, engine)
        result["quiet"] = True
        before = _link_rows(engine)
        for name, deep in (("plain reconcile", False), ("detail reconcile", True)):
            pass_config = config
            if deep:
                with engine.begin() as connection:
                    connection.execute(update(LinkRow.__table__).values(intigriti_seen_at=None))
                pass_config = config.with_name("config-verify.toml")
                world.write_config(
                    pass_config,
                    url,
                    overrides=_config_overrides(
                        {"mapping": {"fields": {"description": {"direction": "to_jira"}}}}
                    ),
                )
            reset_counters(world)
            started = time.monotonic()
            counts = outcomes(run_syncd(pass_config, "run", "--reconcile"))
            made = writes(world)
            detail = sum(
                int(row["count"])
                for row in world.intigriti.control.counters()
                if row["method"] == "GET" and row["route"] == "/submissions/{submissionCode}"
            )
            result[name] = {
                "seconds": round(time.monotonic() - started, 1),
                "writes": sum(made.values()),
                "write detail": made,
                "detail reads": detail,
                **counts,
            }
            changed = _changed_columns(before, _link_rows(engine))
            result[name]["link columns changed"] = changed
            bad = {k: counts.get(k, 0) for k in ("failed", "blocked", "parked", "changed")}
            if made or changed or any(bad.values()) or counts["items"] != links:
                raise SeedError(f"{name} of the seeded world: {result[name]}")
        reset_counters(world)
    finally:
        engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument(
        "--database", help="an empty database's URL (default: SQLite in a temporary directory)"
    )
    parser.add_argument("--templates", type=int, default=TEMPLATES)
    parser.add_argument("--verify", action="store_true", help="prove no write remains to be made")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings = Timings()
        world, config = seed_world(
            Path(tmp),
            args.links,
            database_url=args.database,
            templates=args.templates,
            timings=timings,
        )
        try:
            print(f"| seeding {args.links} links | seconds |\n| --- | ---: |")
            for phase, seconds in timings.phases.items():
                print(f"| {phase} | {seconds} |")
            print(f"| **total** | **{timings.total}** |")
            if args.verify:
                print(json.dumps(verify(world, config, args.links), indent=2))
        finally:
            world.stop()


if __name__ == "__main__":
    main()
