"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries (installed by `make test` when missing),
a cluster in a temporary directory on a free port, stopped by its postmaster's pid.

initdb refuses to run as root: as root the cluster belongs to the `postgres` user the package creates, and the
server runs as that user (`runuser`). Without the binaries, or as root without that user, the caller skips.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.e2e import free_port

USER = "postgres"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """Why no server can be started here (None: it can)."""
    if binaries() is None:
        return "PostgreSQL is not installed (make test installs Debian's postgresql package when root)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            return f"running as root and there is no {USER!r} user for initdb, which refuses root"
        if shutil.which("runuser") is None:
            return "running as root without runuser to start PostgreSQL as another user"
    return None


@dataclass
class Postgres:
    port: int
    bin: Path
    folder: Path
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://cxsla@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str, input: str | None = None) -> str:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True, text=True,
                              input=input, timeout=120, cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()[:500]}")
        return done.stdout

    def create_database(self, name: str) -> str:
        self.run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "cxsla", "-d", "postgres", "-v",
                 "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def dump(self, database: str) -> str:
        return self.run("pg_dump", "-h", "127.0.0.1", "-p", str(self.port), "-U", "cxsla", database)


@contextmanager
def postgres() -> Iterator[Postgres]:
    bin_ = binaries()
    assert bin_ is not None, unavailable()
    folder = Path(tempfile.mkdtemp(prefix="cxsla-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam(USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", USER, "--"]
    data = folder / "data"
    server = Postgres(free_port(), bin_, folder, as_user)
    try:
        server.run("initdb", "-D", str(data), "-U", "cxsla", "--auth=trust", "--encoding=UTF8", "--no-sync")
        server.run("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-w", "-t", "60", "-o",
                   f"-p {server.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        pid = int((data / "postmaster.pid").read_text().split()[0])
        try:
            yield server
        finally:
            os.kill(pid, signal.SIGINT)  # fast shutdown, by the postmaster's pid
            for _ in range(300):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
