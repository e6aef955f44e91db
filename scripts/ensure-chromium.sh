#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/browser, Playwright with executable_path).
# Idempotent: installs only where /usr/bin/chromium is missing; never downloads a browser build.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: /usr/bin/chromium is missing; run: sudo apt-get install -y chromium" >&2
    exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
