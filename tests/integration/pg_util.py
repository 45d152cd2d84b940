"""pg_util.py - a private PostgreSQL for the fleet tests: initdb + pg_ctl as the `postgres` user
(PostgreSQL refuses to run as root) in a temporary directory, on its own loopback port and unix
socket directory, with a database and a role for fngate. Stopped and removed at exit, even when a
test failed. `kill9()` and `start()` on the same data directory serve the failure tests.
`Postgres(primary=p)` is a streaming standby of p (`pg_basebackup -R`, its own port and socket
directory), `promote()` makes it a primary; `conninfo_multi()` names several servers in one
libpq multi-host conninfo (failover).

Debian's `postgresql` package is installed with apt-get when missing; a test never skips.
"""

import atexit
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from fngate_it import free_port

_SERVERS = []


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
                       check=True, env=env)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed and could not be installed")
    return os.path.dirname(found[-1])


def _as_postgres():
    """preexec_fn for commands that must run as the postgres user."""
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.setgroups([])
        os.setuid(pw.pw_uid)
    return drop


class Postgres:
    """One private server. conninfo(): a libpq connection string for the fngate role.
    primary: make this server a streaming standby of that one (pg_basebackup -R) instead of
    a new cluster; the standby has the primary's database and role. conf: more lines for
    postgresql.conf (e.g. synchronous_standby_names)."""

    def __init__(self, dbname="fngate", user="fngate", password="fngate-test", primary=None,
                 conf=""):
        self.bin = _bindir()
        self.dir = tempfile.mkdtemp(prefix="fngate-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        if primary is not None:
            dbname, user, password = primary.dbname, primary.user, primary.password
        self.dbname, self.user, self.password = dbname, user, password
        pw = pwd.getpwnam("postgres")
        for d in (self.data, self.sock):
            os.mkdir(d, 0o700)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        open(self.log, "w").close()
        os.chown(self.log, pw.pw_uid, pw.pw_gid)
        _SERVERS.append(self)
        if primary is not None:
            # initdb's pg_hba.conf trusts replication connections from 127.0.0.1; -R writes
            # primary_conninfo and standby.signal; the copied postgresql.conf names the
            # primary's port and socket directory: the lines appended below override them
            self._pg(["pg_basebackup", "-D", self.data, "-R", "-X", "stream", "-c", "fast",
                      "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"])
        else:
            self._pg(["initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "fsync = on\nmax_connections = 100\n%s\n" % (self.port, self.sock, conf))
        self.start()
        if primary is None:
            self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (user, password), db="postgres")
            self.psql("CREATE DATABASE %s OWNER %s" % (dbname, user), db="postgres")

    def _pg(self, argv, check=True, **kw):
        argv = [os.path.join(self.bin, argv[0])] + argv[1:]
        return subprocess.run(argv, preexec_fn=_as_postgres(), cwd=self.dir, check=check,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def conninfo(self, **extra):
        """libpq conninfo over TCP loopback for the fngate role (extra: more key=value pairs)."""
        kv = {"host": "127.0.0.1", "port": str(self.port), "dbname": self.dbname,
              "user": self.user, "password": self.password, "connect_timeout": "2"}
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def start(self, timeout=30):
        """Start (or restart after kill9) on the same data directory; wait until it accepts."""
        self._pg(["pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", str(timeout), "start"])

    def promote(self, timeout=30):
        """Make a standby the primary (pg_ctl promote); returns once it accepts writes."""
        self._pg(["pg_ctl", "-D", self.data, "-w", "-t", str(timeout), "promote"])

    def reload_conf(self, lines):
        """Append lines to postgresql.conf and have the server read it again."""
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(lines + "\n")
        self._pg(["pg_ctl", "-D", self.data, "reload"])

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9(self):
        """kill -9 the postmaster and every backend (a crash, not a shutdown)."""
        pid = self.pid()
        children = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE,
                                  text=True).stdout.split()
        os.kill(pid, signal.SIGKILL)
        for c in children:
            try:
                os.kill(int(c), signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        # The backends exit on their own once the postmaster is gone; wait so a restart can bind.
        for c in children:
            while time.time() < deadline:
                try:
                    os.kill(int(c), 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._pg(["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], check=False)

    def psql(self, sql, db=None):
        """Run sql as the superuser over the unix socket; returns stdout (tuples only, unaligned)."""
        r = self._pg(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                      "-p", str(self.port), "-U", "postgres", "-d", db or self.dbname, "-c", sql],
                     check=False)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (sql, r.stdout))
        return r.stdout

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def conninfo_multi(servers, **extra):
    """One libpq conninfo naming every server of `servers` in order (multi-host: libpq tries
    them in turn; with target_session_attrs=read-write it keeps the one that takes writes)."""
    kv = {"host": ",".join("127.0.0.1" for _ in servers),
          "port": ",".join(str(s.port) for s in servers), "dbname": servers[0].dbname,
          "user": servers[0].user, "password": servers[0].password, "connect_timeout": "2",
          "target_session_attrs": "read-write"}
    kv.update({k: str(v) for k, v in extra.items()})
    return " ".join("%s=%s" % (k, v) for k, v in kv.items())


@atexit.register
def _cleanup():
    for s in _SERVERS:
        try:
            s.close()
        except Exception:  # noqa: BLE001 - cleanup of the others must still run
            pass
