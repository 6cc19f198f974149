"""Private PgBouncer and HAProxy in front of the service's servers, for one test run or drill.

What runs in front of the service in production (docs/contract.md §11), from
the machine's Debian packages (``pgbouncer``, ``haproxy``), configured here
and started like :mod:`erp_testing.servers`: a temporary directory, a
free port of 127.0.0.1 only, stopped and removed at the end. PgBouncer
refuses to run as root, so as root it runs as the ``postgres`` account.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import make_url

from erp_testing.servers import POSTGRES_ACCOUNT, ServerProcess

PGBOUNCER_USERS = ("postgres",)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError(f"no {name} found (Debian: apt-get install {name})")
    return found


class PgBouncerServer(ServerProcess):
    """PgBouncer in transaction pooling mode in front of ``host:port``; ``url_for()`` reaches it.

    Every database of the server is reachable through it. The server sees at
    most ``pool_size`` connections per database and user, however many
    clients connect. Local trust authentication, as the private PostgreSQL.
    """

    name = "pgbouncer"

    def __init__(self, server_host: str, server_port: int, *, pool_size: int = 4) -> None:
        self.binary = _binary("pgbouncer")
        self.pool_size = pool_size
        super().__init__()
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_ACCOUNT)  # KeyError: no account to run as
            self._account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
            os.chown(self.datadir, account.pw_uid, account.pw_gid)
        users = self.datadir / "userlist.txt"
        users.write_text("".join(f'"{user}" ""\n' for user in PGBOUNCER_USERS), encoding="utf-8")
        self.config_path = self.datadir / "pgbouncer.ini"
        self.config_path.write_text(
            "[databases]\n"
            f"* = host={server_host} port={server_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = {self.host}\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {pool_size}\n"
            f"max_db_connections = {pool_size}\n"
            "reserve_pool_size = 0\n"
            "max_client_conn = 1000\n"
            "server_login_retry = 1\n",
            encoding="utf-8",
        )

    def url_for(self, url: str) -> str:
        """``url`` (a database of the server behind) pointed at PgBouncer, password kept."""
        return make_url(url).set(host=self.host, port=self.port).render_as_string(hide_password=False)

    def _argv(self) -> Sequence[str]:
        return [self.binary, str(self.config_path)]

    def _ready(self) -> bool:
        return _listening(self.host, self.port)


class HAProxyServer(ServerProcess):
    """HAProxy balancing HTTP over ``backends`` (name → port on 127.0.0.1), checking ``/healthz/ready``.

    As a Kubernetes readiness probe: every ``check_interval_ms``, each check
    given ``check_timeout_ms`` (more than the service's
    ``HEALTH_CHECK_TIMEOUT_S``), out after 3 failures, back after 1 success.

    The runtime API (:meth:`command`) drains, disables and re-points a
    backend server, as an orchestrator takes a pod out of a Service's
    endpoints before stopping it. Idempotent requests that meet a closed
    connection or an empty answer are retried on another server
    (``retry-on``, ``option redispatch``); a 5xx answer is never retried,
    so it reaches the client and counts.
    """

    name = "haproxy"
    BACKEND = "replicas"

    def __init__(
        self, backends: Mapping[str, int], *, check_interval_ms: int = 1000, check_timeout_ms: int = 4000
    ) -> None:
        self.binary = _binary("haproxy")
        super().__init__()
        self.socket_path = self.datadir / "admin.sock"
        self.config_path = self.datadir / "haproxy.cfg"
        servers = "".join(f"    server {name} {self.host}:{port} check\n" for name, port in backends.items())
        self.config_path.write_text(
            "global\n"
            f"    stats socket {self.socket_path} mode 600 level admin\n"
            "    maxconn 2000\n"
            "defaults\n"
            "    mode http\n"
            "    timeout connect 1s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            "    timeout http-keep-alive 5s\n"
            # Without it a check must answer within `inter`: a busy replica would flap.
            f"    timeout check {check_timeout_ms}ms\n"
            "    retries 3\n"
            "    option redispatch 1\n"
            "    retry-on conn-failure empty-response response-timeout\n"
            "frontend api\n"
            f"    bind {self.host}:{self.port}\n"
            f"    default_backend {self.BACKEND}\n"
            f"backend {self.BACKEND}\n"
            "    balance roundrobin\n"
            "    option httpchk GET /healthz/ready\n"
            "    http-check expect status 200\n"
            f"    default-server inter {check_interval_ms}ms fall 3 rise 1\n"
            f"{servers}",
            encoding="utf-8",
        )

    def command(self, line: str) -> str:
        """One runtime API command (``set server replicas/r1 state drain``, ...); its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(5)
            admin.connect(str(self.socket_path))
            admin.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := admin.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server_stats(self, server: str) -> dict[str, str]:
        """The ``show stat`` row of one backend server, by column name (``scur``, ``status``, ...)."""
        header, *rows = self.command("show stat").lstrip("# ").splitlines()
        names = header.split(",")
        for row in rows:
            values = dict(zip(names, row.split(","), strict=False))
            if values.get("pxname") == self.BACKEND and values.get("svname") == server:
                return values
        raise KeyError(server)

    def _argv(self) -> Sequence[str]:
        return [self.binary, "-db", "-f", str(self.config_path)]

    def _ready(self) -> bool:
        return _listening(self.host, self.port) and Path(self.socket_path).exists()
