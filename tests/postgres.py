"""A real PostgreSQL server for the tests, and a fresh database on it per test.

``GATEKEEPER_TEST_POSTGRES_URL`` names a server to use (CI: ``.ci/run`` starts one): its role
must be allowed to create databases. Without it, :func:`start_cluster` makes a throwaway
cluster: ``initdb`` into a temporary folder, ``pg_ctl start`` on a free localhost port with its
socket in that folder, a superuser and an ordinary role ``gate``, both with passwords (password
authentication everywhere, as on a real site). PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` user (``subprocess``'s ``user=``; ``nobody`` where there is no
``postgres`` user). The cluster is stopped and deleted at the end of the session.

Where neither a URL nor PostgreSQL's programs are found (Debian keeps them in
``/usr/lib/postgresql/<version>/bin``), the PostgreSQL cases skip saying so — except in CI
(``CI=true``), where they fail: a CI run must not go green with them unexecuted.

Every database made here has the ``amcheck`` extension and ``gate`` may run its checks, so
``audit verify`` checks it as a careful site would; :meth:`Server.create_database` with
``template="template0"`` gives one without.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from helpers import in_ci

#: Environment variable naming a server to test against instead of a throwaway cluster.
URL_VARIABLE = "GATEKEEPER_TEST_POSTGRES_URL"
#: The ordinary role Gatekeeper logs in as in a throwaway cluster, and its password.
ROLE, PASSWORD = "gate", "gate-secret-pw"
_ADMIN_PASSWORD = "admin-secret-pw"
#: What ``gate`` may run of amcheck (in ``template1``, so every new database has it).
_AMCHECK_GRANTS = (
    "bt_index_check(regclass, boolean)",
    "verify_heapam(regclass, boolean, boolean, text, bigint, bigint)",
)
_counter = itertools.count(1)


def find_program(name: str) -> Path | None:
    """``name`` (``initdb``, ``pg_ctl``) beside ``initdb`` on ``PATH`` (links resolved), or in
    the newest Debian PostgreSQL, so that every program comes from one installation."""
    found = shutil.which("initdb")
    if found:
        folders = [Path(found).resolve().parent]
    else:
        folders = sorted(
            (Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
            key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
        )[-1:]
    programs = [folder / name for folder in folders if (folder / name).is_file()]
    return programs[0] if programs else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_database(url: str, database: str, *, password: str | None = None) -> str:
    """``url`` naming ``database`` instead (and ``password`` for its user, if given)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if password is not None:
        user_part, _, host = netloc.rpartition("@")
        user = user_part.split(":", 1)[0]
        netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


@dataclass
class Server:
    """A running PostgreSQL server: ``admin_url`` may create databases, ``app_url`` (any
    database) is how Gatekeeper logs in. ``cluster`` is the throwaway cluster's folder, or
    None for a server given by URL (which the tests must not stop)."""

    admin_url: str
    app_url: str
    cluster: Path | None = None
    port: int | None = None
    run_as: str | None = None
    created: list[str] = field(default_factory=list)

    def admin(self) -> psycopg.Connection:
        """An autocommit connection of the administrator (to its own database)."""
        return psycopg.connect(self.admin_url, autocommit=True)

    def create_database(self, *, template: str = "template1", icu_locale: str | None = None) -> str:
        """A new, empty database (UTF8, owned by Gatekeeper's role); returns its URL. With
        ``icu_locale`` (``en-US``) its text sorts by that language's rules, as a site's server
        may (made from ``template0``: no amcheck there)."""
        name = f"gk_{os.getpid()}_{next(_counter)}"
        owner = urlsplit(self.app_url).username
        options = f"TEMPLATE {template}"
        if icu_locale is not None:
            options = (
                f"TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}' LOCALE 'C.UTF-8'"
            )
        with self.admin() as connection:
            connection.execute(
                f'CREATE DATABASE "{name}" OWNER "{owner}" {options} ENCODING \'UTF8\''
            )
        self.created.append(name)
        return with_database(self.app_url, name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by :meth:`create_database`, closing its connections.

        Not ``WITH (FORCE)``: that refuses, for a role that is not a superuser (CI's), when an
        autovacuum worker happens to be in the database. Client connections are terminated
        first; a plain ``DROP DATABASE`` waits for them to go and stops autovacuum itself."""
        name = urlsplit(url).path.lstrip("/")
        with self.admin() as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                (name,),
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.created.remove(name)

    def pg_ctl(self, *args: str) -> None:
        """Run ``pg_ctl`` on the throwaway cluster (as its owner)."""
        assert self.cluster is not None, "a server given by URL is not the tests' to control"
        program = find_program("pg_ctl")
        subprocess.run(
            [str(program), "-D", str(self.cluster / "data"), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
            user=self.run_as,
            cwd=self.cluster,
        )

    @property
    def running(self) -> bool:
        """Whether the throwaway server is running (its postmaster's pid file is there)."""
        return self.cluster is not None and (self.cluster / "data" / "postmaster.pid").exists()

    def stop(self) -> None:
        """Stop the throwaway server (``fast``: connections are closed)."""
        self.pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        """Start the throwaway server again, on the same port."""
        options = (
            f"-p {self.port} -k {self.cluster} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        self.pg_ctl("start", "-l", str(self.cluster / "server.log"), "-o", options)


def _run_as() -> str | None:
    """The user the server must run as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def start_cluster() -> Server:
    """A throwaway cluster (see the module docstring), started; the caller stops it and
    deletes ``server.cluster``."""
    initdb = find_program("initdb")
    assert initdb is not None
    folder = Path(tempfile.mkdtemp(prefix="gatekeeper-pg-"))
    run_as = _run_as()
    password_file = folder / "admin-password"
    password_file.write_text(_ADMIN_PASSWORD + "\n")
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        for path in (folder, password_file):
            os.chown(path, user.pw_uid, user.pw_gid)
    folder.chmod(0o700)
    subprocess.run(
        [
            str(initdb),
            "-D",
            str(folder / "data"),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            f"--pwfile={password_file}",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        user=run_as,
        cwd=folder,
    )
    port = _free_port()
    admin_url = f"postgresql://postgres:{_ADMIN_PASSWORD}@127.0.0.1:{port}/postgres"
    server = Server(
        admin_url,
        f"postgresql://{ROLE}:{PASSWORD}@127.0.0.1:{port}/postgres",
        cluster=folder,
        port=port,
        run_as=run_as,
    )
    server.start()
    with server.admin() as connection:
        connection.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    with psycopg.connect(with_database(admin_url, "template1"), autocommit=True) as template:
        template.execute("CREATE EXTENSION amcheck")
        for function in _AMCHECK_GRANTS:
            template.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {ROLE}")
    return server


def unavailable(reason: str) -> None:
    """Skip a PostgreSQL case for ``reason`` — or fail it in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: the PostgreSQL cases must run)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def postgres_server() -> Iterator[Server | str]:
    """The server for the session, or the reason there is none (see the module docstring)."""
    given = os.environ.get(URL_VARIABLE, "").strip()
    if given:
        yield Server(given, given)
        return
    if find_program("initdb") is None or find_program("pg_ctl") is None:
        yield (
            f"no PostgreSQL server: set {URL_VARIABLE}, or install PostgreSQL "
            "(apt-get install postgresql) so the tests can start one"
        )
        return
    server = start_cluster()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(server.cluster, ignore_errors=True)
