"""Start and stop the real servers the integration tests use: Redis, FerretDB (MongoDB protocol, on PostgreSQL),
MinIO, Mosquitto.

Each server runs on a free loopback port with its data in a fresh temporary folder, logs to a file in
that folder, and is stopped (terminate, then kill) and its folder removed by ``RunningServer.stop``.
Binaries come from ``scripts/install-servers``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pymongo
import redis
from minio import Minio

MINIO_ACCESS_KEY = "facetag"
MINIO_SECRET_KEY = "facetag-test-secret"  # MinIO wants at least 8 characters
MINIO_BUCKET = "facetag-test"
MONGO_DATABASE = "facetag_test"
MQTT_USER = "facetag"
MQTT_PASSWORD = "facetag-test-mqtt-password"

LOG_TAIL_LINES = 40


def server_cache_bin() -> Path:
    """Where scripts/install-servers puts the binaries it builds."""
    cache = os.environ.get("FACETAG_SERVER_CACHE") or str(Path.home() / ".cache" / "facetag" / "servers")
    return Path(cache) / "bin"


def find_binary(name: str) -> Path | None:
    """The server binary: the install-servers cache first, then PATH (Debian puts redis-server there)."""
    cached = server_cache_bin() / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    # /usr/sbin too: Debian puts mosquitto there, and it is not on a normal user's PATH.
    found = shutil.which(name, path=f"{os.environ.get('PATH', os.defpath)}{os.pathsep}/usr/sbin")
    return Path(found) if found else None


def free_port() -> int:
    """A port the kernel considers free now; the caller retries if it is taken before use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the tail of its log."""


def _die_with_parent() -> None:
    # Linux: a server gets SIGTERM when the test process dies, even by SIGKILL, so none is left behind.
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


@dataclass
class RunningServer:
    """One server process, its folder and the URL the tests connect with."""

    name: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    port: int
    argv: list[str]
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    probe: Callable[[RunningServer], bool] | None = None
    what: str = ""
    companions: list[RunningServer] = field(default_factory=list)  # servers it needs, stopped after it

    def log_tail(self) -> str:
        return tail(self.log_path)

    def crash(self) -> None:
        """SIGKILL the process, as a crash or a pulled plug would; its folder and port stay for start_again."""
        self.process.kill()
        self.process.wait(10)

    def start_again(self, timeout: float = 60.0) -> None:
        """Start the same command on the same port and data, and wait until it answers again."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=self.env, preexec_fn=_die_with_parent)
        assert self.probe is not None
        _wait_ready(self, functools.partial(self.probe, self), timeout, self.what)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate, kill if it lingers, then remove the folder. Safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)
        for companion in self.companions:
            companion.stop(timeout)


def _wait_ready(server: RunningServer, probe: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``probe`` until it is true; fail early if the process exits, with its log tail."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise ServerStartError(
                f"{server.name} exited with code {code} before {what}.\n"
                f"command: {shlex.join(server.argv)}\n"
                f"last lines of its log:\n{server.log_tail()}"
            )
        try:
            if probe():
                return
        except Exception as exc:  # any failure here just means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise ServerStartError(
        f"{server.name} did not answer ({what}) within {timeout:.0f} s; last error: {last_error or 'none'}\n"
        f"last lines of its log:\n{server.log_tail()}"
    )


def _launch(
    name: str,
    command: Callable[[Path, int], Sequence[str | os.PathLike[str]]],
    probe: Callable[[RunningServer], bool],
    what: str,
    timeout: float,
    env: dict[str, str] | None = None,
    attempts: int = 3,
    user: str | None = None,
) -> RunningServer:
    """Start a server in a new temporary folder on a free port and wait until ``probe`` passes.

    Retries on a fresh port, since another process may grab the port between choosing and binding it.
    """
    error: ServerStartError | None = None
    for attempt in range(1, attempts + 1):
        workdir = Path(tempfile.mkdtemp(prefix=f"facetag-{name}-"))
        if user is not None:
            shutil.chown(workdir, user)
        log_path = workdir / f"{name}.log"
        port = free_port()
        argv = [str(part) for part in command(workdir, port)]
        full_env = {**os.environ, **(env or {})}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                preexec_fn=_die_with_parent,
                user=user,
            )
        server = RunningServer(
            name=name, process=process, workdir=workdir, log_path=log_path, port=port, argv=argv, env=full_env,
            probe=probe, what=what,
        )
        try:
            _wait_ready(server, functools.partial(probe, server), timeout, what)
        except ServerStartError as exc:
            error = exc
            server.stop()
            if attempt < attempts:  # in pytest's warnings summary: a start that a retry saved still says why
                warnings.warn(f"{name}: start attempt {attempt} of {attempts} failed, trying again on a fresh port: "
                              f"{exc}", stacklevel=2)
            continue
        except BaseException:
            server.stop()
            raise
        return server
    assert error is not None
    raise error


def start_redis(binary: Path, extra_args: Sequence[str] = (), timeout: float = 20.0) -> RunningServer:
    """Redis without persistence; ready when PING answers."""

    def command(workdir: Path, port: int) -> list[str]:
        return [
            str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "", "--appendonly", "no", "--daemonize", "no", *extra_args,
        ]  # fmt: skip

    def probe(server: RunningServer) -> bool:
        client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    server = _launch("redis", command, probe, "PING", timeout)
    server.url = f"redis://127.0.0.1:{server.port}/0"
    return server


def start_mosquitto(binary: Path, timeout: float = 20.0) -> RunningServer:
    """Mosquitto on loopback that lets in only ``MQTT_USER`` with ``MQTT_PASSWORD`` (a password file made with
    mosquitto_passwd, so tests also prove credentials work); ready when it accepts a TCP connection."""
    passwd_tool = find_binary("mosquitto_passwd")
    if passwd_tool is None:
        raise ServerStartError("mosquitto_passwd not found (Debian package mosquitto); run scripts/install-servers")

    def command(workdir: Path, port: int) -> list[str]:
        passwords = workdir / "passwd"
        subprocess.run([str(passwd_tool), "-b", "-c", str(passwords), MQTT_USER, MQTT_PASSWORD], check=True,
                       capture_output=True)
        config = workdir / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence false\n"
            "log_dest stdout\n"
            # Started as root it would switch to the mosquitto user, who cannot read this private folder.
            f"user {getpass.getuser()}\n"
        )
        return [str(binary), "-c", str(config)]

    def probe(server: RunningServer) -> bool:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            return True

    server = _launch("mosquitto", command, probe, "TCP connect", timeout)
    server.url = f"mqtt://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{server.port}"
    return server


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (they are not on PATH), the newest if several."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


def start_postgres(timeout: float = 60.0) -> RunningServer:
    """PostgreSQL on loopback only, in a fresh cluster (``initdb``) made for it, durable (fsync off: a test's data
    outlives a crash of the processes, not of the machine). PostgreSQL refuses to run as root: as root it runs as
    the ``postgres`` user Debian's package makes."""
    programs = postgres_bin()
    if programs is None:
        raise ServerStartError("PostgreSQL not found in /usr/lib/postgresql (Debian package postgresql); "
                               "run scripts/install-servers")
    user = "postgres" if os.geteuid() == 0 else None

    def command(workdir: Path, port: int) -> list[str]:
        data = workdir / "data"
        if not data.exists():
            subprocess.run([str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                            "--locale=C.UTF-8", "--no-sync"], check=True, capture_output=True, user=user)
        return [str(programs / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"]

    def probe(server: RunningServer) -> bool:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            return True

    server = _launch("postgres", command, probe, "TCP connect", timeout, user=user)
    server.url = f"postgres://postgres@127.0.0.1:{server.port}/postgres"
    return server


def start_ferretdb(binary: Path, timeout: float = 30.0) -> RunningServer:
    """FerretDB 1.x on its own PostgreSQL; ready when a TCP connect and a real ``ping`` command both succeed.

    Why PostgreSQL and not FerretDB's SQLite store: that one pushes down nothing but an ``_id``: it decodes the
    whole collection for every other query. On PostgreSQL, FerretDB 1.24 hands a top-level
    equality down (evaluated there without an index, ``@>`` on jsonb) and decodes only the documents that match;
    any other filter, sort or range it evaluates itself over the whole collection. MongoDB uses the catalog's
    indexes for all of them (``services/core/catalog/indexes.py``).
    """
    postgres = start_postgres()

    def command(workdir: Path, port: int) -> list[str]:
        return [
            str(binary),
            "--handler=postgresql",
            f"--postgresql-url={postgres.url}",
            f"--listen-addr=127.0.0.1:{port}",
            f"--state-dir={workdir}",
            "--telemetry=disable",
            # "-" turns off the debug HTTP listener, whose fixed default port would clash across runs.
            "--debug-addr=-",
        ]

    def probe(server: RunningServer) -> bool:
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
            "127.0.0.1",
            server.port,
            serverSelectionTimeoutMS=2000,
            connectTimeoutMS=2000,
            directConnection=True,
        )
        try:
            reply = client.admin.command("ping")
            return float(reply.get("ok", 0)) == 1.0
        finally:
            client.close()

    try:
        server = _launch("ferretdb", command, probe, "TCP connect and ping", timeout)
    except BaseException:
        postgres.stop()
        raise
    server.url = f"mongodb://127.0.0.1:{server.port}/{MONGO_DATABASE}"
    server.companions.append(postgres)
    return server


def start_minio(binary: Path, bucket: str = MINIO_BUCKET, timeout: float = 60.0) -> RunningServer:
    """MinIO on one folder; ready when /minio/health/live answers 200, then ``bucket`` is created."""
    console_ports: dict[int, int] = {}

    def command(workdir: Path, port: int) -> list[str]:
        console_ports[port] = free_port()
        return [
            str(binary), "server", str(workdir / "data"),
            "--address", f"127.0.0.1:{port}",
            "--console-address", f"127.0.0.1:{console_ports[port]}",
        ]  # fmt: skip

    def probe(server: RunningServer) -> bool:
        url = f"http://127.0.0.1:{server.port}/minio/health/live"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status) == 200
        except urllib.error.HTTPError:
            return False

    env = {
        "MINIO_ROOT_USER": MINIO_ACCESS_KEY,
        "MINIO_ROOT_PASSWORD": MINIO_SECRET_KEY,
        # No update checks or anonymous reports from a test server.
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
    }
    server = _launch("minio", command, probe, "GET /minio/health/live", timeout, env=env)
    try:
        client = Minio(f"127.0.0.1:{server.port}", MINIO_ACCESS_KEY, MINIO_SECRET_KEY, secure=False)
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except BaseException:
        server.stop()
        raise
    server.extra = {"bucket": bucket, "console_port": str(console_ports[server.port])}
    server.url = f"s3://{MINIO_ACCESS_KEY}:{MINIO_SECRET_KEY}@127.0.0.1:{server.port}/{bucket}"
    return server
