#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium (/usr/bin/chromium) for the dashboard test
# (tests/test_dashboard.py). Idempotent: exits at once when it is already there.
# Needs root (CI and developer machines run as root) and Debian's package archive.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_chromium: /usr/bin/chromium is missing and this is not root; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One installer at a time (two test processes may ask together).
exec 9>/tmp/.dbos-queue-install-chromium.lock
flock -w 900 9
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
/usr/bin/chromium --version
