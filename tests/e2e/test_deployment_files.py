"""The deployment files: the systemd units (and the README's `systemd-run` for `auth login`)
pass `systemd-analyze verify`, the Dockerfile's HEALTHCHECK asks /healthz on the port the
image configures, and the compose and Kubernetes manifests use the secret names, port,
probes and update strategy syncd needs."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.settings import _secret_file_names, listen_address

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
UNITS = ("syncd.service", "syncd-reconcile.service", "syncd-reconcile.timer")
#: where the units expect syncd; it does not exist on a test machine
INSTALLED_SYNCD = "/opt/syncd/bin/syncd"

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (no systemd here)"
)


# -- systemd -----------------------------------------------------------------------------


def unit_settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment of a unit file, in order."""
    settings = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append((section, key.strip(), value.strip()))
    return settings


def values(text: str, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_settings(text) if s == section and k == key]


def existing_executable() -> str:
    """The venv's syncd entry point (an executable that exists), else this Python."""
    candidate = Path(sys.executable).parent / "syncd"
    return str(candidate) if candidate.is_file() else sys.executable


def verify(unit_dir: Path, names: list[str]) -> None:
    """`systemd-analyze verify`, failing on any complaint about these units: it exits 0
    after a setting it could not parse ("..., ignoring"), so its output is checked too."""
    assert SYSTEMD_ANALYZE is not None
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *(str(unit_dir / n) for n in names)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # offline: nothing here talks to a running systemd
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )
    output = (result.stdout + result.stderr).strip()
    about_ours = [
        line
        for line in output.splitlines()
        if str(unit_dir) in line or any(name in line for name in names)
    ]
    assert result.returncode == 0, output
    assert not about_ours, output


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at an executable that exists on this machine."""
    for name in UNITS:
        text = (CONTRIB / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace(INSTALLED_SYNCD, existing_executable()), encoding="utf-8"
        )
    return tmp_path


@needs_systemd_analyze
def test_the_units_pass_systemd_analyze_verify(unit_dir: Path) -> None:
    verify(unit_dir, list(UNITS))


@needs_systemd_analyze
def test_a_misspelled_setting_fails_the_check(unit_dir: Path) -> None:
    """The check itself catches what `systemd-analyze verify` only warns about."""
    unit = unit_dir / "syncd.service"
    unit.write_text(
        unit.read_text(encoding="utf-8").replace("WatchdogSec=120s", "WatchdogSec=two minutes"),
        encoding="utf-8",
    )
    with pytest.raises(AssertionError, match=r"WatchdogSec|parse"):
        verify(unit_dir, ["syncd.service"])


def test_the_daemon_unit_uses_the_notify_protocol() -> None:
    text = (CONTRIB / "syncd.service").read_text(encoding="utf-8")
    assert values(text, "Type") == ["notify"]
    assert values(text, "NotifyAccess") == ["main"]
    # READY=1 follows the first cycle, and a Jira outage at start is waited out
    assert values(text, "TimeoutStartSec") == ["infinity"]
    (watchdog,) = values(text, "WatchdogSec")
    assert re.fullmatch(r"\d+s", watchdog) and int(watchdog[:-1]) >= 60
    assert values(text, "Restart") == ["on-failure"]
    assert values(text, "RestartPreventExitStatus") == ["2"]
    # syncd exits within 10 s of SIGTERM, 15 s more while a rotated token waits
    (stop,) = values(text, "TimeoutStopSec")
    assert int(stop) >= 25
    for hardening in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "CapabilityBoundingSet"):
        assert values(text, hardening), hardening


def test_both_units_run_as_one_identity_with_one_state_directory() -> None:
    daemon = (CONTRIB / "syncd.service").read_text(encoding="utf-8")
    oneshot = (CONTRIB / "syncd-reconcile.service").read_text(encoding="utf-8")
    for key in ("DynamicUser", "User", "Group", "StateDirectory", "StateDirectoryMode", "UMask"):
        assert values(daemon, key) == values(oneshot, key), key
    assert values(daemon, "LoadCredential") == values(oneshot, "LoadCredential")
    assert values(oneshot, "Type") == ["oneshot"]


def readme_login_command() -> list[str]:
    """The README's `systemd-run ... auth login`, as arguments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.DOTALL)
    (block,) = [b for b in blocks if "systemd-run" in b]
    joined = re.sub(r"\\\n\s*", " ", block.strip())
    (command,) = [line for line in joined.splitlines() if line.startswith("systemd-run")]
    return shlex.split(command)


def parse_systemd_run(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(properties, environment, command) of a systemd-run command line."""
    properties: list[str] = []
    environment: list[str] = []
    rest = args[1:]
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("-p", "--property"):
            properties.append(rest.pop(0))
        elif option in ("-E", "--setenv"):
            environment.append(rest.pop(0))
        else:
            assert option in ("--wait", "--pty", "--collect", "-t", "-G"), option
    return properties, environment, rest


@needs_systemd_analyze
def test_the_readme_login_command_is_valid_and_matches_the_unit(tmp_path: Path) -> None:
    """The properties of the documented `systemd-run` are valid unit settings (the same
    names as systemd-run's -p), and give the login the daemon's user, state directory,
    credentials, database and configuration."""
    properties, environment, command = parse_systemd_run(readme_login_command())
    assert command[0] == INSTALLED_SYNCD and command[-2:] == ["auth", "login"]
    lines = ["[Service]", f"ExecStart={shlex.join([existing_executable(), *command[1:]])}"]
    lines += properties
    lines += [f"Environment={assignment}" for assignment in environment]
    (tmp_path / "syncd-auth-login.service").write_text("\n".join(lines) + "\n")
    verify(tmp_path, ["syncd-auth-login.service"])

    unit = (CONTRIB / "syncd.service").read_text(encoding="utf-8")
    given: dict[str, list[str]] = {}
    for prop in properties:
        key, _, value = prop.partition("=")
        given.setdefault(key, []).append(value)
    for key in ("DynamicUser", "User", "Group", "StateDirectory", "StateDirectoryMode", "UMask"):
        assert given.get(key) == values(unit, key), key
    assert set(given["LoadCredential"]) <= set(values(unit, "LoadCredential"))
    assert "intigriti_client_secret" in " ".join(given["LoadCredential"])
    # the unit's database, with %S (the state directory root) as systemd expands it
    (unit_url,) = [v for v in values(unit, "Environment") if v.startswith("SYNCD_DATABASE__URL=")]
    assert unit_url.replace("%S", "/var/lib") in environment
    (exec_start,) = values(unit, "ExecStart")
    assert shlex.split(exec_start)[:3] == command[:3]  # the binary and --config PATH


# -- Dockerfile ------------------------------------------------------------------------


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions with line continuations joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical = re.sub(r"\\\n", "", text)
    return [line for line in logical.splitlines() if line.strip() and not line.startswith("#")]


def healthcheck_command() -> list[str]:
    (line,) = [i for i in dockerfile_instructions() if i.startswith("HEALTHCHECK ")]
    _, _, exec_form = line.partition(" CMD ")
    command = json.loads(exec_form)
    assert isinstance(command, list) and command[0] == "python"
    return [sys.executable, *command[1:]]


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in dockerfile_instructions():
        if instruction.startswith("ENV "):
            for assignment in shlex.split(instruction[4:]):
                key, _, value = assignment.partition("=")
                env[key] = value
    return env


def test_the_image_turns_the_listener_on_and_exposes_its_port() -> None:
    host, port = listen_address(image_environment()["SYNCD_HTTP__LISTEN"])
    assert host == "0.0.0.0"  # reachable by probes from outside the container
    assert f"EXPOSE {port}" in dockerfile_instructions()
    assert any(i.startswith("USER 10001") for i in dockerfile_instructions())


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        body = json.dumps({"status": code}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[int, type[_Health]]]:
    handler = type("Handler", (_Health,), {"status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(listen: str | None, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("SYNCD_HTTP__LISTEN", None)
    if listen is not None:
        env["SYNCD_HTTP__LISTEN"] = listen
    env.update(extra)
    return subprocess.run(
        healthcheck_command(), env=env, capture_output=True, text=True, timeout=30, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_healthcheck_passes_on_200(health_server: tuple[int, type[_Health]]) -> None:
    port, _ = health_server
    assert run_healthcheck(f"127.0.0.1:{port}").returncode == 0
    # the image's wildcard address is asked on loopback
    assert run_healthcheck(f"0.0.0.0:{port}").returncode == 0


def test_healthcheck_fails_on_503(health_server: tuple[int, type[_Health]]) -> None:
    port, handler = health_server
    handler.status = 503
    result = run_healthcheck(f"0.0.0.0:{port}")
    assert result.returncode == 1, result.stderr
    assert "503" in result.stderr


def test_healthcheck_fails_when_nothing_listens() -> None:
    assert run_healthcheck(f"0.0.0.0:{free_port()}").returncode == 1


def test_healthcheck_ignores_proxies(health_server: tuple[int, type[_Health]]) -> None:
    """A proxy set for the outbound APIs must not carry the probe."""
    port, _ = health_server
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    result = run_healthcheck(f"0.0.0.0:{port}", http_proxy=dead_proxy, HTTP_PROXY=dead_proxy)
    assert result.returncode == 0, result.stderr


def test_healthcheck_passes_with_the_listener_off() -> None:
    """SYNCD_HTTP__LISTEN= switches the listener off: nothing to ask (documented)."""
    assert run_healthcheck("").returncode == 0


# -- compose and Kubernetes ----------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    # PyYAML is no dependency of syncd's; the test extra brings it (through openapi-core)
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def test_compose_runs_syncd_on_postgresql_with_secret_files() -> None:
    (compose,) = load_all(CONTRIB / "compose.yaml")
    syncd, db = compose["services"]["syncd"], compose["services"]["db"]
    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in db["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert syncd["depends_on"]["db"]["condition"] == "service_healthy"
    assert syncd["environment"]["SYNCD_DATABASE__URL"].startswith("postgresql+psycopg://")
    assert "./config.toml:/etc/syncd/config.toml:ro" in syncd["volumes"]
    # each becomes /run/secrets/<name>, where syncd looks for <section>_<key>
    names = set(_secret_file_names())
    assert set(syncd["secrets"]) <= names
    assert set(compose["secrets"]) == set(syncd["secrets"])
    _, port = listen_address(syncd["environment"]["SYNCD_HTTP__LISTEN"])
    assert any(p.endswith(f":{port}") for p in syncd["ports"])


def kubernetes(kind: str) -> dict[str, Any]:
    docs = [d for p in sorted((CONTRIB / "kubernetes").glob("*.yaml")) for d in load_all(p)]
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def env_value(container: dict[str, Any], name: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [e for e in container["env"] if e["name"] == name]
    (entry,) = entries
    return entry


def test_kubernetes_deployment_runs_an_active_and_a_standby() -> None:
    deployment = kubernetes("Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    # a standby is never ready, so a rolling update could never replace the leader
    assert spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 15
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["args"] == ["run"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]

    _, port = listen_address(env_value(container, "SYNCD_HTTP__LISTEN")["value"])
    (named,) = container["ports"]
    assert named["containerPort"] == port
    for probe, path in (
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": named["name"]}, probe

    url = env_value(container, "SYNCD_DATABASE__URL")["valueFrom"]["secretKeyRef"]
    secret = kubernetes("Secret")
    assert url["name"] == secret["metadata"]["name"]
    assert secret["stringData"][url["key"]].startswith("postgresql+psycopg://")
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["mountPath"] == "/run/secrets"
    files = {item["path"] for item in volume["secret"]["items"]}
    assert files <= set(_secret_file_names())
    assert files <= set(secret["stringData"])
    config = kubernetes("ConfigMap")
    assert "config.toml" in config["data"]


def test_kubernetes_login_pod_matches_the_deployment() -> None:
    deployment = kubernetes("Deployment")["spec"]["template"]["spec"]
    login = kubernetes("Pod")["spec"]
    assert login["volumes"] == deployment["volumes"]
    (daemon,) = deployment["containers"]
    (shell,) = login["containers"]
    assert shell["image"] == daemon["image"]
    assert env_value(shell, "SYNCD_DATABASE__URL") == env_value(daemon, "SYNCD_DATABASE__URL")
    assert shell["volumeMounts"] == daemon["volumeMounts"]
