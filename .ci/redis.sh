#!/usr/bin/env bash
# Starts a throw-away Redis on 127.0.0.1:${REDIS_PORT:-56379} for the test suite (no persistence, its own folder under
# /tmp) and prints its URL. Installs Debian's redis-server package when it is missing. Fails loudly: CI must not
# skip the tests of the Redis event bus.
set -euo pipefail
port=${REDIS_PORT:-56379}
dir=${REDIS_DIR:-/tmp/gatehouse-redis}
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "installing redis-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq redis-server >&2
fi
if ! redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
  rm -rf "$dir"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" \
    --logfile "$dir/log" --save '' --appendonly no >&2
  for _ in $(seq 1 50); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
    sleep 0.1
  done
  if ! redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
    echo "Redis did not answer on 127.0.0.1:$port (log: $dir/log)" >&2
    cat "$dir/log" >&2 2>/dev/null || true
    exit 1
  fi
fi
echo "redis://127.0.0.1:$port"
