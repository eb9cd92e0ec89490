#!/usr/bin/env bash
# Installs Debian's PgBouncer (/usr/sbin/pgbouncer) for the pooler tests
# (tests/plugins/pgbouncer.py). Idempotent: exits at once when it is already there.
# Needs root (CI and developer machines run as root) and Debian's package archive.
set -euo pipefail

if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_pgbouncer: pgbouncer is missing and this is not root; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y pgbouncer" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# One installer at a time (two test processes may ask together).
exec 9>/tmp/.dbos-queue-install-pgbouncer.lock
flock -w 900 9
if [ -x /usr/sbin/pgbouncer ]; then
  exit 0
fi
apt-get update -qq
# The package's own service is never started here (no init system in containers);
# the tests start their own pgbouncer with their own configuration.
apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
test -x /usr/sbin/pgbouncer
/usr/sbin/pgbouncer --version
