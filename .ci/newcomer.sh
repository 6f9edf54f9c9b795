#!/usr/bin/env bash
# A newcomer on another Node.js line: a fresh clone of this checkout's HEAD, the README's two commands run with that
# runtime — `npm install && npm start` (until /healthz answers on port 8080), then the checks CI runs on the
# machine's Node (lint, type check) and `npm test` — with native addons built against the runtime's own headers.
# Extra arguments go to the test runner.
# Usage: .ci/newcomer.sh <node dir from .ci/node.sh> [vitest arguments]
set -euo pipefail
node_dir=$1
shift
repo=$(pwd)
work=$(mktemp -d)
server=
trap 'if [ -n "$server" ]; then kill -- -"$server" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/gatehouse"
cd "$work/gatehouse"
export PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir"
echo "== Node $(node --version): npm install"
start=$SECONDS
npm install --no-audit --no-fund
echo "   npm install took $((SECONDS - start)) s"
echo "== Node $(node --version): npm start"
setsid npm start >"$work/start.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  if curl -fsS http://localhost:8080/healthz >/dev/null 2>&1; then break; fi
  kill -0 $server 2>/dev/null || { cat "$work/start.log"; echo "npm start exited"; exit 1; }
  sleep 1
done
curl -fsS http://localhost:8080/healthz
echo
kill -- -"$server"
wait "$server" 2>/dev/null || true
server=
echo "== Node $(node --version): lint, type check"
npm run lint
npm run typecheck
echo "== Node $(node --version): npm test $*"
npm test -- "$@"
