#!/usr/bin/env bash
# Installs Debian's Chromium for the portal's end-to-end tests when it is missing (playwright-core drives
# /usr/bin/chromium; Playwright's own browser download is not used). Fails loudly: CI must not skip the browser suite.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium fonts-dejavu-core >&2
fi
/usr/bin/chromium --version >&2
