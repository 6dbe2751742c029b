#!/usr/bin/env bash
# Installs what the test suite needs beyond the .NET SDK: redis-server (the real Redis the
# online-store tests run against), python3-yaml (static checks of the compose file), and chromium with
# chromium-driver (the browser test of the dashboard).
# Safe to run again; does nothing when all is present.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)           # creates the test Redis Cluster
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)   # static compose checks
[ -x /usr/bin/chromium ] || need+=(chromium)                          # dashboard browser test
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The Debian package starts a system-wide redis-server on 6379; tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi
