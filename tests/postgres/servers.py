"""A real PostgreSQL server and an `mlflow server` on it, on loopback: the README's "A lean team server"
recipe as code, used by tests/postgres (a session fixture) and bench/bench_scale.py.

PostgreSQL runs from a fresh temporary data directory as the ``postgres`` user when this process is root
(PostgreSQL refuses to run as root), else as the current user. It listens on 127.0.0.1 only, on a free
port, with its Unix socket in the same temporary directory (never the system cluster's). Loopback TCP
connections need a password (scram-sha-256); the socket trusts its own user, which creates the
``mlflow`` role and database.

Everything started here is stopped by process id: the mlflow server's process tree (helpers.Spawned),
then ``pg_ctl stop -m fast`` (its postmaster's pid, from postmaster.pid, if that fails).
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.reliability import helpers

PG_USER = "postgres"          # the OS user PostgreSQL runs as, when this process is root
DB_NAME = DB_ROLE = "mlflow"
MIGRATION_TIMEOUT_S = 240     # a fresh database: mlflow server runs all its schema migrations first


def pg_bin() -> Path | None:
    """The folder of initdb/pg_ctl: $TAILSWEEP_PG_BIN, else the newest /usr/lib/postgresql/*/bin (Debian),
    else initdb on PATH."""
    if os.environ.get("TAILSWEEP_PG_BIN"):
        return Path(os.environ["TAILSWEEP_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def missing() -> str | None:
    """Why a PostgreSQL-backed server cannot start here, or None."""
    if pg_bin() is None:
        return "PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql)"
    try:
        import psycopg2  # noqa: F401  (mlflow server's driver for postgresql:// URIs)
    except ImportError:
        return "psycopg2 is not installed (pip install 'tailsweep[postgres]')"
    return None


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; ``uri`` is the MLflow backend store URI."""

    def __init__(self, timeout: float = 60):
        self.timeout = timeout
        self.bin = pg_bin()
        self.port = helpers.free_port()
        self.password = secrets.token_hex(16)
        self.folder: Path | None = None
        self.started = False

    # where things are
    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    @property
    def uri(self) -> str:
        # The driver named explicitly: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg (version 3);
        # the postgres extra installs psycopg2-binary.
        return f"postgresql+psycopg2://{DB_ROLE}:{self.password}@127.0.0.1:{self.port}/{DB_NAME}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except (OSError, TypeError):
            return "(no postgres log)"

    # running its programs
    def _as_owner(self) -> list[str]:
        return ["runuser", "-u", PG_USER, "--"] if os.geteuid() == 0 else []

    def _run(self, program: str, *args: str, timeout: float | None = None) -> str:
        argv = [*self._as_owner(), str(self.bin / program), *args]
        done = subprocess.run(argv, cwd=self.folder, capture_output=True, text=True,
                              timeout=timeout or self.timeout, env={**os.environ, "LC_ALL": "C.UTF-8"})
        if done.returncode != 0:
            raise RuntimeError(f"{program} exited {done.returncode}\n{done.stdout}{done.stderr}\n"
                               f"--- postgres log:\n{helpers.tail(self.log_text())}")
        return done.stdout

    def start(self) -> None:
        # A folder of its own under /tmp (not pytest's tmp_path, which is private to root), owned by the
        # user PostgreSQL runs as.
        self.folder = Path(tempfile.mkdtemp(prefix="tailsweep-pg-"))
        self.socket_dir.mkdir()
        pwfile = self.folder / "superuser-password"
        pwfile.write_text(secrets.token_hex(16) + "\n")
        if os.geteuid() == 0:
            import pwd
            owner = pwd.getpwnam(PG_USER)
            for path in (self.folder, self.socket_dir, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "-E", "UTF8", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}")
        pwfile.unlink()
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(self.timeout)),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}", "start")
        self.started = True
        local = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", PG_USER]
        self._run("psql", *local, "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
                  f"CREATE ROLE {DB_ROLE} LOGIN PASSWORD '{self.password}'")
        self._run("createdb", *local, "-O", DB_ROLE, DB_NAME)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    def stop(self) -> None:
        if self.folder is None:
            return
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = self.postmaster_pid()   # our own postmaster: its pid file is in our data folder
                if pid is not None:
                    try:
                        os.kill(pid, signal.SIGQUIT)   # immediate shutdown
                    except ProcessLookupError:
                        pass
                    time.sleep(1)
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


class TeamServer:
    """PostgreSQL + `MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow server --workers 1 --host 127.0.0.1`
    on it; ``uri`` is what sweeps take as ``--tracking-uri``. Artifacts go under ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.postgres = PostgresServer()
        self.mlflow: helpers.MlflowServer | None = None

    @property
    def uri(self) -> str:
        return self.mlflow.uri

    def start(self, timeout: float = MIGRATION_TIMEOUT_S) -> "TeamServer":
        problem = missing()
        if problem:
            raise RuntimeError(problem)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.postgres.start()
            self.mlflow = helpers.MlflowServer(self.folder, backend_uri=self.postgres.uri)
            self.mlflow.start(timeout=timeout)
        except BaseException as err:
            logs = (f"--- mlflow server log:\n{self.mlflow_log()}\n"
                    f"--- postgres log:\n{helpers.tail(self.postgres.log_text())}")
            self.stop()
            if isinstance(err, (AssertionError, RuntimeError)):
                first = (str(err).splitlines() or [type(err).__name__])[0]
                raise RuntimeError(f"team server did not start: {first}\n{logs}") from err
            raise
        return self

    def mlflow_log(self) -> str:
        log = self.folder / "mlflow-server.log"
        return helpers.tail(log.read_text(errors="replace"), 80) if log.exists() else "(none)"

    def stop(self) -> None:
        if self.mlflow is not None:
            process = self.mlflow.process
            if process is not None and process.proc.poll() is None:   # not reaped: the group is still ours
                try:
                    os.killpg(process.pid, signal.SIGTERM)   # its own session: the group is the server's
                    process.proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            self.mlflow.stop()                                # then every process of its tree, by pid
            self.mlflow = None
        self.postgres.stop()

    def __enter__(self) -> "TeamServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
