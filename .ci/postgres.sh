#!/usr/bin/env bash
# A private PostgreSQL server for the tests (`make test`), independent of any packaged cluster.
#
#   .ci/postgres.sh start   create (first time) and start it; print the DSN on stdout
#   .ci/postgres.sh env     print `export DSSD_TEST_PG_DSN=...` (for eval); the server must be running
#   .ci/postgres.sh stop    stop it (the data stays for the next start)
#   .ci/postgres.sh status  exit 0 when it is running
#
# It installs nothing (`.ci/deps.sh test` installs the Debian package postgresql). Data directory
# and unix socket live under var/pg (git-ignored), owned by the `postgres` user when run as root
# (PostgreSQL refuses to run as root); it listens on 127.0.0.1 only, on DSSD_PG_PORT (default
# 55432), with trust authentication, and has a database dssd_test. Every command is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${DSSD_PG_PORT:-55432}
root=$(pwd)/var/pg
# The server runs as the postgres user, which must reach the data directory, and its unix socket
# path must stay under the kernel's 107-byte limit. When the checkout is in a folder the postgres
# user cannot enter, or deep enough to make the socket path too long, use a private folder under
# /tmp named after the checkout instead.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
  # var/ may exist already with mode 0700 (dssd serve --dev creates var/dev so).
  if ! runuser -u postgres -- test -x "$(pwd)" 2>/dev/null ||
     { [ -d var ] && ! runuser -u postgres -- test -x "$(pwd)/var" 2>/dev/null; } || [ ${#root} -gt 60 ]; then
    root=/tmp/dssd-pg-$(printf '%s' "$(pwd)" | sha256sum | cut -c1-12)
  fi
elif [ ${#root} -gt 60 ]; then
  root=/tmp/dssd-pg-$(id -u)-$(printf '%s' "$(pwd)" | sha256sum | cut -c1-12)
fi
data=$root/data
sock=$root/run
log=$root/server.log
db=dssd_test

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "postgres.sh: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); install the Debian package: apt-get install -y postgresql (or run .ci/deps.sh test as root)" >&2
  exit 1
fi

# as_pg runs a command as the server's owner: the postgres user when we are root, else ourselves.
if [ "$(id -u)" = 0 ]; then
  owner=postgres
  id "$owner" >/dev/null 2>&1 || { echo "postgres.sh: no 'postgres' user (install the postgresql package)" >&2; exit 1; }
  as_pg() { runuser -u "$owner" -- "$@"; }
else
  owner=$(id -un)
  as_pg() { "$@"; }
fi

dsn="postgres://${owner}@127.0.0.1:${port}/${db}?sslmode=disable"

running() { [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  if [ -L "$root" ]; then
    echo "postgres.sh: $root is a symbolic link; refusing to use it" >&2
    exit 1
  fi
  mkdir -p "$root"
  if [ "$(id -u)" = 0 ]; then
    chown "$owner" "$root"
    chmod 700 "$root"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data"
    as_pg mkdir -p "$data" "$sock"
    as_pg "$bin/initdb" -D "$data" -U "$owner" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 ||
      { echo "postgres.sh: initdb failed; see $root/initdb.log" >&2; exit 1; }
  fi
  as_pg mkdir -p "$sock"
  if ! running; then
    # -o: private port, loopback only, socket under var/pg; fsync stays on (the audit tests rely on it).
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $sock -c max_connections=200" start >/dev/null ||
      { echo "postgres.sh: the server did not start; see $log" >&2; tail -n 20 "$log" >&2 || true; exit 1; }
  fi
  if ! as_pg "$bin/psql" -h "$sock" -p "$port" -U "$owner" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as_pg "$bin/createdb" -h "$sock" -p "$port" -U "$owner" "$db"
  fi
  echo "$dsn"
}

case ${1:-} in
  start) start ;;
  env)
    running || { echo "postgres.sh: not running; run .ci/postgres.sh start" >&2; exit 1; }
    echo "export DSSD_TEST_PG_DSN='$dsn'"
    ;;
  stop)
    if running; then as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  status) running ;;
  *)
    echo "usage: $0 start|env|stop|status" >&2
    exit 2
    ;;
esac
