"""A private, throw-away PostgreSQL 15 server for tests.

Usage:

    from pgserver import PgServer, PsqlError

    with PgServer() as pg:                       # initdb + start: about 1 s
        pg.apply_schema(SOURCE / "daemon/fleet/sql")
        pg.add_host("h1", trust_group="A")       # a LOGIN role in vigil_host
        print(pg.psql("SELECT 1"))               # as the superuser "postgres"
        pg.psql("SELECT * FROM vigil.report(...)", user="h1")
        url = pg.url("h1")                       # for libpq clients (vigild)

Guarantees:
  * Everything the server touches (data directory, Unix socket, log) lives
    in one fresh directory under /tmp owned by the server's user, so the
    tests work when the source tree sits in a 0700 directory.
  * The server listens on 127.0.0.1 only, on a free port chosen at start,
    with `-A trust` authentication: any role may connect as itself without a
    password. It is a test server: never point it at real data.
  * Durability is off (fsync=off, initdb --no-sync): a crash loses nothing
    the tests care about, and starting takes about a second.
  * stop() (also run by the context manager, and at interpreter exit as a
    fallback) kills the server (`pg_ctl -m immediate`) and removes the
    directory. Set VIGIL_PG_KEEP=1 to keep the directory (and its log)
    for a post-mortem; its path is in PgServer.dir.
  * Run as root, the server runs as the `postgres` user (runuser); run as
    anyone else, it runs as that user.

psql is always run with -X (no ~/.psqlrc), -A -t -q (bare, unaligned rows,
fields separated by "|") and ON_ERROR_STOP, so that the first error fails
the whole script and is raised as PsqlError.
"""

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("VIGIL_PG_BIN", "/usr/lib/postgresql/15/bin"))
DBNAME = "vigil"
SUPERUSER = "postgres"


class PsqlError(RuntimeError):
    """A psql run that failed: .returncode, .stdout, .stderr (the server's message)."""

    def __init__(self, returncode, stdout, stderr, user):
        super().__init__(f"psql as {user} failed ({returncode}): {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.user = user


def wait_until(condition, timeout=10.0, interval=0.05):
    """Polls condition() until it is true or `timeout` seconds have passed;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One private PostgreSQL server with a database named `vigil`.

    The constructor starts it; use it as a context manager, or call stop().
    """

    def __init__(self, *, start=True, durable=False):
        # durable: fsync on (as a real server; the benchmark's figures need
        # it). Tests leave it off: a crash loses nothing they care about.
        self.durable = durable
        self.dir = None
        self.port = None
        self._as_postgres = os.geteuid() == 0
        if start:
            self.start()

    # -- life cycle ---------------------------------------------------------

    def _run_as_server_user(self, argv, **kw):
        """Runs a server binary as the server's user, from inside self.dir
        (the caller's working directory may be unreadable to that user)."""
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, **kw)

    def start(self):
        if self.dir is not None:
            raise RuntimeError("PgServer already started")
        self.dir = tempfile.mkdtemp(prefix="vigil-pg-", dir="/tmp")
        atexit.register(self.stop)
        try:
            if self._as_postgres:
                pw = pwd.getpwnam("postgres")
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o700)
            data = os.path.join(self.dir, "data")
            r = self._run_as_server_user(
                [str(PG_BIN / "initdb"), "-A", "trust", "--no-sync", "-U", SUPERUSER,
                 "-E", "UTF8", "--locale=C", "-D", data])
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed: {r.stdout}\n{r.stderr}")
            self._start_server()
            self.psql(f"CREATE DATABASE {DBNAME}", dbname="postgres")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self):
        """pg_ctl start on a free port; retried if another process took the
        port between choosing and binding it."""
        data = os.path.join(self.dir, "data")
        log = os.path.join(self.dir, "log")
        last = ""
        for _ in range(5):
            self.port = _free_port()
            opts = (f"-k {self.dir} -c listen_addresses=127.0.0.1 -p {self.port} "
                    f"-c fsync={'on' if self.durable else 'off'} -c synchronous_commit=on "
                    f"-c max_connections=100")
            r = self._run_as_server_user(
                [str(PG_BIN / "pg_ctl"), "-w", "-t", "60", "-D", data, "-l", log,
                 "-o", opts, "start"])
            if r.returncode == 0:
                return
            last = r.stdout + r.stderr + self.log_tail()
            time.sleep(0.2)
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def log_tail(self, n=40):
        """The last n lines of the server's log ("" if none)."""
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except (OSError, TypeError):
            return ""

    def stop(self):
        """Kills the server and removes its directory. Idempotent."""
        if self.dir is None:
            return
        data = os.path.join(self.dir, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            self._run_as_server_user(
                [str(PG_BIN / "pg_ctl"), "-w", "-D", data, "-m", "immediate", "stop"])
        if os.environ.get("VIGIL_PG_KEEP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- clients ------------------------------------------------------------

    def url(self, user=SUPERUSER, dbname=DBNAME):
        """A libpq URL for `user` on this server (no password: trust)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    @staticmethod
    def env():
        """The environment for libpq clients: the caller's, without PG*
        variables that would redirect or alter the connection."""
        return {k: v for k, v in os.environ.items() if not k.startswith("PG")}

    def psql_command(self, user=SUPERUSER, dbname=DBNAME, variables=None):
        """argv of a psql that reads its script on stdin (for Popen, e.g.
        to run several sessions at once). Use with env=PgServer.env()."""
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", dbname]
        for k, v in (variables or {}).items():
            argv += ["-v", f"{k}={v}"]
        return argv + ["-f", "-"]

    def run_psql(self, sql, user=SUPERUSER, dbname=DBNAME, variables=None, timeout=120):
        """Runs the script `sql` (statements and psql meta-commands, each
        statement in its own transaction unless it says BEGIN) and returns
        the CompletedProcess, failed or not."""
        return subprocess.run(self.psql_command(user, dbname, variables), input=sql,
                              capture_output=True, text=True, env=self.env(),
                              timeout=timeout)

    def psql(self, sql, user=SUPERUSER, check=True, dbname=DBNAME, variables=None, timeout=120):
        """Runs `sql` as `user` and returns its stdout: one line per row,
        fields separated by "|". With check, a failure raises PsqlError.
        `variables` are psql variables (-v name=value), to be used quoted
        in the script as :'name' (a literal) or :"name" (an identifier)."""
        r = self.run_psql(sql, user, dbname, variables, timeout)
        if check and r.returncode != 0:
            raise PsqlError(r.returncode, r.stdout, r.stderr, user)
        return r.stdout

    # -- the vigil schema ---------------------------------------------------

    def apply_schema(self, sql_dir):
        """Runs the migrations NNN_*.sql of `sql_dir` in order, each in one
        transaction as the superuser. Returns their names."""
        files = sorted(p for p in Path(sql_dir).glob("[0-9][0-9][0-9]_*.sql"))
        if not files:
            raise RuntimeError(f"no migrations in {sql_dir}")
        for f in files:
            r = subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                 "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", DBNAME,
                 "-f", str(f)],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, env=self.env())
            if r.returncode != 0:
                raise PsqlError(r.returncode, r.stdout, r.stderr, SUPERUSER)
        return [f.name for f in files]

    def add_host(self, name, trust_group="default"):
        """Makes `name` a fleet host: a LOGIN role in vigil_host and a row of
        vigil.host (vigil.add_host)."""
        self.psql("SELECT vigil.add_host(:'name', :'grp')",
                  variables={"name": name, "grp": trust_group})
