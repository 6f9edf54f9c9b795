#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster on 127.0.0.1:${PGPORT:-55432} for the test suite and prints its URL.
# Installs Debian's postgresql package when the server binaries are missing. Fails loudly: CI must not skip
# the PostgreSQL half of the store contract suite.
set -euo pipefail
port=${PGPORT:-55432}
dir=${PGDATA_DIR:-/tmp/gatehouse-pg}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "installing postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! run "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  run "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  run "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off" start >&2
fi
run "$bindir/psql" -q -h 127.0.0.1 -p "$port" -U postgres -tc "select 1 from pg_database where datname='gatehouse_test'" | grep -q 1 \
  || run "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres gatehouse_test
echo "postgres://postgres@127.0.0.1:$port/gatehouse_test"
